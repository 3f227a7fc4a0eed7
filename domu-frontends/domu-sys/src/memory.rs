//! `memory_op` calls for test kernels: the reservation sub-ops and the per-domain queries.

use xen_abi::xen::Hypercall as H;

/// `DOMID_SELF`.
pub const SELF: u16 = 0x7ff0;

/// `memory_op(cmd, xen_memory_reservation{extents, extents.len(), order, dom})`: `cmd` is the
/// sub-op with any start extent in its bits above 6; the result is the extents done (or the
/// error).
pub fn reservation(cmd: u64, dom: u16, order: u32, extents: &mut [u64]) -> i64 {
    let mut r = [0u8; 32];
    r[..8].copy_from_slice(&(extents.as_mut_ptr() as u64).to_le_bytes());
    r[8..16].copy_from_slice(&(extents.len() as u64).to_le_bytes());
    r[16..20].copy_from_slice(&order.to_le_bytes());
    r[24..26].copy_from_slice(&dom.to_le_bytes());
    crate::hypercall_buf(H::MemoryOp as u32, cmd, &mut r)
}

/// A `memory_op` sub-op whose argument is a domain id: `XENMEM_current_reservation` (3),
/// `XENMEM_maximum_reservation` (4).
pub fn of_domain(cmd: u64, dom: u16) -> i64 {
    let mut d = dom.to_le_bytes();
    crate::hypercall_buf(H::MemoryOp as u32, cmd, &mut d)
}

/// `XENMEM_current_reservation` of this domain.
pub fn current() -> i64 {
    of_domain(3, SELF)
}
