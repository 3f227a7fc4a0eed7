//! Grant-table calls for test kernels: `grant_table_op` over typed argument arrays, and the
//! v1 entry protocol a granter follows (`gnttab_grant_foreign_access`,
//! `gnttab_end_foreign_access_ref`) on a table mapped at a virtual address.

use core::sync::atomic::{AtomicU64, Ordering};
use xen_abi::grant_table::{
    GnttabCopy, GnttabMapGrantRef, GnttabOp, GnttabSetupTable, GnttabUnmapGrantRef, GTF_READING,
    GTF_WRITING,
};
use xen_abi::xen::Hypercall as H;
use xen_abi::{DomId, GrantHandle, GrantRef};
use zerocopy::IntoBytes;

/// `grant_table_op(cmd, ops, ops.len())` over an array of argument structs.
pub fn op<T: IntoBytes + zerocopy::FromBytes>(cmd: GnttabOp, ops: &mut [T]) -> i64 {
    // SAFETY: a live, exclusively borrowed array of `ops.len()` argument structs of the layout
    // sub-op `cmd` takes; the hypervisor reads and writes only them.
    unsafe {
        crate::hypercall(
            H::GrantTableOp as u32,
            cmd as u64,
            ops.as_mut_ptr() as u64,
            ops.len() as u64,
            0,
            0,
        )
    }
}

/// `GNTTABOP_setup_table` for `dom`: `(rc, status, first frame)`.
pub fn setup_table(dom: DomId, nr_frames: u32, frames: &mut [u64]) -> (i64, i16) {
    let mut s = [GnttabSetupTable {
        dom,
        _pad0: [0; 2],
        nr_frames,
        status: 0,
        _pad1: [0; 6],
        frame_list: frames.as_mut_ptr() as u64,
    }];
    let rc = op(GnttabOp::SetupTable, &mut s);
    (rc, s[0].status)
}

/// `GNTTABOP_map_grant_ref`: `(rc, status, handle)`.
pub fn map(dom: DomId, gref: u32, host_addr: u64, flags: u32) -> (i64, i16, GrantHandle) {
    let mut m = [GnttabMapGrantRef {
        host_addr,
        flags,
        r#ref: GrantRef(gref),
        dom,
        status: 0,
        handle: GrantHandle(u32::MAX),
        dev_bus_addr: 0,
    }];
    let rc = op(GnttabOp::MapGrantRef, &mut m);
    (rc, m[0].status, m[0].handle)
}

/// `GNTTABOP_unmap_grant_ref`: `(rc, status)`.
pub fn unmap(handle: GrantHandle, host_addr: u64) -> (i64, i16) {
    let mut u = [GnttabUnmapGrantRef {
        host_addr,
        dev_bus_addr: 0,
        handle,
        status: 0,
        _pad: [0; 2],
    }];
    let rc = op(GnttabOp::UnmapGrantRef, &mut u);
    (rc, u[0].status)
}

/// One `GNTTABOP_copy`: `(rc, status)`.
pub fn copy(c: GnttabCopy) -> (i64, i16) {
    let mut a = [c];
    let rc = op(GnttabOp::Copy, &mut a);
    (rc, a[0].status)
}

/// A v1 grant table mapped at `va`.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    /// Where it is mapped (writable).
    pub va: u64,
}

impl Table {
    fn word(&self, gref: u32) -> &AtomicU64 {
        // SAFETY: the caller mapped the table's frames writable at `va`; entries are 8-byte
        // aligned words shared with the hypervisor, so they are only accessed atomically.
        unsafe { &*((self.va + u64::from(gref) * 8) as *const AtomicU64) }
    }

    /// `gnttab_grant_foreign_access`: frame and domain first, then the flags.
    pub fn grant(&self, gref: u32, dom: DomId, mfn: u64, flags: u16) {
        let w = self.word(gref);
        w.store((mfn << 32) | (u64::from(dom.0) << 16), Ordering::SeqCst);
        w.store(
            (mfn << 32) | (u64::from(dom.0) << 16) | u64::from(flags),
            Ordering::SeqCst,
        );
    }

    /// The entry's flags.
    pub fn flags(&self, gref: u32) -> u16 {
        self.word(gref).load(Ordering::SeqCst) as u16
    }

    /// `gnttab_end_foreign_access_ref`: revokes the grant unless it is in use (`GTF_reading`
    /// or `GTF_writing` set); true if revoked.
    pub fn end_access(&self, gref: u32) -> bool {
        let w = self.word(gref);
        let mut cur = w.load(Ordering::SeqCst);
        loop {
            if cur as u16 & (GTF_READING | GTF_WRITING) != 0 {
                return false;
            }
            match w.compare_exchange(cur, cur & !0xffff, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }
}
