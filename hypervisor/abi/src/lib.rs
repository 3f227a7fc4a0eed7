//! `xen-abi`: Xen 4.17's public interface (`xen/include/public`) as Rust types and constants.
//!
//! One module per public header, named after it. Every struct that crosses a privilege boundary is
//! `#[repr(C)]`, derives `zerocopy`'s traits and carries its C name as a doc alias; the layout test
//! (`tests/layout.rs`) checks each one against the C headers Debian's `libxen-dev` installs.
#![no_std]
#![forbid(unsafe_code)]

#[macro_use]
pub mod sub_op;

pub mod arch_x86;
pub mod bitmap;
pub mod callback;
pub mod cpu_policy;
pub mod domctl;
pub mod elfnote;
pub mod errno;
pub mod event_channel;
pub mod features;
pub mod grant_table;
pub mod hvm_params;
pub mod io;
pub mod mca;
pub mod memory;
pub mod physdev;
pub mod platform;
pub mod sched;
pub mod sysctl;
pub mod types;
pub mod vcpu;
pub mod version;
pub mod xen;

pub use errno::{Errno, XenResult};
pub use sub_op::SubOp;
pub use types::{
    DomId, Gfn, GrantHandle, GrantRef, Maddr, Mfn, Pfn, Port, VcpuId, PAGE_SHIFT, PAGE_SIZE,
};
