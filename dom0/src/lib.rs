//! Ferrite's dom0 userspace beyond the backends: so far the ABI re-export and `console-peek`
//! (`src/bin`), a domain's console ring read through a privcmd foreign mapping. The toolstack
//! (`fxl`) and xenstored are to come here.
#![forbid(unsafe_code)]

pub use xen_abi as abi;
