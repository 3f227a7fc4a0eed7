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

/// A copy operand: a grant reference of `domid`, or (with `DOMID_SELF`) a frame of one's own.
pub fn copy_ptr(u: u64, domid: DomId, offset: u16) -> xen_abi::grant_table::GnttabCopyPtr {
    xen_abi::grant_table::GnttabCopyPtr {
        u,
        domid,
        offset,
        _pad: [0; 4],
    }
}

/// One `GNTTABOP_copy` of `len` bytes from `source` to `dest`: `(rc, status)`.
pub fn copy_between(
    source: xen_abi::grant_table::GnttabCopyPtr,
    dest: xen_abi::grant_table::GnttabCopyPtr,
    len: u16,
    flags: u16,
) -> (i64, i16) {
    copy(GnttabCopy {
        source,
        dest,
        len,
        flags,
        status: 0,
        _pad: [0; 2],
    })
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

/// `GNTTABOP_set_version`: `(rc, version in force afterwards)`.
pub fn set_version(version: u32) -> (i64, u32) {
    let mut v = [xen_abi::grant_table::GnttabSetVersion { version }];
    let rc = op(GnttabOp::SetVersion, &mut v);
    (rc, v[0].version)
}

/// `GNTTABOP_get_version` of `dom`: `(rc, version)`.
pub fn get_version(dom: DomId) -> (i64, u32) {
    let mut v = [xen_abi::grant_table::GnttabGetVersion {
        dom,
        pad: 0,
        version: 0,
    }];
    let rc = op(GnttabOp::GetVersion, &mut v);
    (rc, v[0].version)
}

/// `GNTTABOP_get_status_frames` of `dom` into the list at `frame_list` (a guest address, so a
/// test can pass a bad one): `(rc, status)`.
pub fn get_status_frames(dom: DomId, nr_frames: u32, frame_list: u64) -> (i64, i16) {
    let mut g = [xen_abi::grant_table::GnttabGetStatusFrames {
        nr_frames,
        dom,
        status: 0,
        frame_list,
    }];
    let rc = op(GnttabOp::GetStatusFrames, &mut g);
    (rc, g[0].status)
}

/// `GNTTABOP_swap_grant_ref`: `(rc, status)`.
pub fn swap(a: u32, b: u32) -> (i64, i16) {
    let mut s = [xen_abi::grant_table::GnttabSwapGrantRef {
        ref_a: GrantRef(a),
        ref_b: GrantRef(b),
        status: 0,
        _pad: [0; 2],
    }];
    let rc = op(GnttabOp::SwapGrantRef, &mut s);
    (rc, s[0].status)
}

/// A v2 grant table mapped at `va`, its status frame at `status_va` (read-only is enough).
#[derive(Clone, Copy, Debug)]
pub struct TableV2 {
    /// Where the shared frames are mapped (writable).
    pub va: u64,
    /// Where the status frame is mapped.
    pub status_va: u64,
}

impl TableV2 {
    fn words(&self, gref: u32) -> (&AtomicU64, &AtomicU64) {
        let at = self.va + u64::from(gref) * 16;
        // SAFETY: the caller mapped the table's frames writable at `va`; v2 entries are 16-byte
        // aligned pairs of words shared with the hypervisor, accessed only atomically.
        unsafe { (&*(at as *const AtomicU64), &*((at + 8) as *const AtomicU64)) }
    }

    /// Writes an entry as a granter does: the body first, the header (flags) last.
    pub fn write(&self, gref: u32, header_rest: u64, second: u64, flags: u16) {
        let (w0, w1) = self.words(gref);
        w0.store(header_rest, Ordering::SeqCst);
        w1.store(second, Ordering::SeqCst);
        w0.store(header_rest | u64::from(flags), Ordering::SeqCst);
    }

    /// A `full_page` grant of `mfn` to `dom`.
    pub fn grant(&self, gref: u32, dom: DomId, mfn: u64, flags: u16) {
        self.write(gref, u64::from(dom.0) << 16, mfn, flags);
    }

    /// A `sub_page` grant (`GTF_sub_page` is added) of `len` bytes at `off` of `mfn`.
    pub fn grant_sub(&self, gref: u32, dom: DomId, mfn: u64, off: u16, len: u16, flags: u16) {
        let rest = (u64::from(dom.0) << 16) | (u64::from(off) << 32) | (u64::from(len) << 48);
        self.write(gref, rest, mfn, flags | xen_abi::grant_table::GTF_SUB_PAGE);
    }

    /// A `transitive` grant to `dom` of `trans_gref` of `trans_dom`.
    pub fn grant_transitive(&self, gref: u32, dom: DomId, trans_dom: DomId, trans_gref: u32) {
        let rest = (u64::from(dom.0) << 16) | (u64::from(trans_dom.0) << 32);
        self.write(
            gref,
            rest,
            u64::from(trans_gref),
            xen_abi::grant_table::GTF_TRANSITIVE,
        );
    }

    /// The entry's header flags.
    pub fn flags(&self, gref: u32) -> u16 {
        self.words(gref).0.load(Ordering::SeqCst) as u16
    }

    /// The entry's two words.
    pub fn raw(&self, gref: u32) -> (u64, u64) {
        let (w0, w1) = self.words(gref);
        (w0.load(Ordering::SeqCst), w1.load(Ordering::SeqCst))
    }

    /// The entry's status word (`GTF_reading`/`GTF_writing`).
    pub fn status(&self, gref: u32) -> u16 {
        let at = self.status_va + u64::from(gref) * 2;
        // SAFETY: the status frame is mapped at `status_va`; a u16 the hypervisor updates
        // atomically, read once.
        unsafe { core::ptr::read_volatile(at as *const u16) }
    }

    /// `gnttab_end_foreign_access_ref` for v2: clear the flags, then the grant is revoked
    /// unless the status word shows it in use; true if revoked.
    pub fn end_access(&self, gref: u32) -> bool {
        let w0 = self.words(gref).0;
        w0.fetch_and(!0xffff, Ordering::SeqCst);
        self.status(gref) & (GTF_READING | GTF_WRITING) == 0
    }
}
