//! The guest side of Xen PV, shared by Ferrite's test kernels: hypercalls, start_info, console, events.
//!
//! Only the ABI re-export exists so far; the runtime arrives with the PV-execution work.
#![no_std]
#![forbid(unsafe_code)]

pub use xen_abi as abi;
