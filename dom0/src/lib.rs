//! Ferrite's dom0 userspace (toolstack, xenstored, backends). Only the ABI re-export exists so far.
#![forbid(unsafe_code)]

pub use xen_abi as abi;
