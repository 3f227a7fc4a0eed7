//! `XEN_DOMCTL_shadow_op` for a PV domain (Xen's `paging_domctl`), as Debian's Xen 4.17
//! answers it: that Xen is built without shadow paging (`# CONFIG_SHADOW_PAGING is not set`),
//! so a PV domain has no log-dirty mode — enabling it is `-EOPNOTSUPP` (the log-dirty ops of
//! `mm/shadow/none.c`) and every shadow sub-op reaches the stub `shadow_domctl`: `-EINVAL`.
//! Reading the (never kept) dirty bitmap still works as Xen's `paging_log_dirty_op` does with
//! no bitmap: the caller's buffer is cleared for `pages` bits, in slices that make way for
//! interrupts and events (the progress kept in the domain), and the statistics are zero.
//! Ferrite has no shadow paging either, so this is also what it can honestly offer: live
//! migration and save of a PV domain fail at the start, as on that Xen.

use crate::domain::{Domain, LogDirtyProgress as Progress};
use xen_abi::domctl::{
    XenDomctlShadowOp, XenDomctlShadowOpStats, XEN_DOMCTL_SHADOW_ENABLE_LOG_DIRTY,
    XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL, XEN_DOMCTL_SHADOW_OP_CLEAN, XEN_DOMCTL_SHADOW_OP_ENABLE,
    XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, XEN_DOMCTL_SHADOW_OP_GET_ALLOCATION,
    XEN_DOMCTL_SHADOW_OP_PEEK,
};
use xen_abi::{DomId, Errno, XenResult};

/// The leaves of Xen's four-level log-dirty tree (`LOGDIRTY_NODE_ENTRIES`^3), each a page
/// of bitmap: a read never goes past them.
const LEAVES: u64 = 512 * 512 * 512;
/// Bits in one leaf.
const LEAF_BITS: u64 = 4096 * 8;
/// Leaves between two preemption checks (Xen checks after each L3 slot: 512 leaves).
const LEAVES_PER_CHECK: u64 = 512;

/// What a `shadow_op` did: finished (the struct is written back either way, as Xen's
/// `copyback`), or stopped to be made again.
pub enum Step {
    Done(XenResult<()>),
    Again,
}

/// `paging_domctl(d, sc)` by `caller`, with `should_yield` asked between slices of a
/// bitmap read.
pub fn shadow_op(
    caller: &Domain,
    d: &Domain,
    sc: &mut XenDomctlShadowOp,
    should_yield: &mut dyn FnMut() -> bool,
) -> Step {
    use core::sync::atomic::Ordering;
    if d.id == caller.id {
        return Step::Done(Err(Errno::EINVAL));
    }
    if *d.state.lock() == crate::domain::DomainState::Dying {
        return Step::Done(Ok(()));
    }
    if d.vcpus.is_empty() || !d.vcpus_ready.load(Ordering::Acquire) {
        return Step::Done(Err(Errno::EINVAL));
    }
    {
        let p = d.log_dirty_progress.lock();
        if p.is_some_and(|p| (p.by, p.op) != (caller.id, sc.op))
            && sc.op != XEN_DOMCTL_SHADOW_OP_GET_ALLOCATION
        {
            return Step::Done(Err(Errno::EBUSY));
        }
    }
    match sc.op {
        XEN_DOMCTL_SHADOW_OP_ENABLE if sc.mode & XEN_DOMCTL_SHADOW_ENABLE_LOG_DIRTY != 0 => {
            Step::Done(Err(Errno::EOPNOTSUPP))
        }
        XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY => Step::Done(Err(Errno::EOPNOTSUPP)),
        XEN_DOMCTL_SHADOW_OP_CLEAN | XEN_DOMCTL_SHADOW_OP_PEEK => {
            if sc.mode & !XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL != 0 {
                return Step::Done(Err(Errno::EINVAL));
            }
            read_bitmap(caller.id, d, sc, should_yield)
        }
        // OFF (log-dirty was never on), GET/SET_ALLOCATION, ENABLE without log-dirty,
        // ENABLE_TEST and unknown ops: the stub `shadow_domctl`.
        _ => Step::Done(Err(Errno::EINVAL)),
    }
}

/// `paging_log_dirty_op` with no log-dirty bitmap: leaf by leaf, zero bits into the
/// caller's buffer (unless it is null) up to `pages` rounded up to whole bytes, statistics
/// zero; `-EFAULT` where the buffer cannot be written, the bytes before it written. Xen's
/// arithmetic is kept exactly: a leaf takes `(pages - done + 7) / 8` bytes at most, which
/// wraps to nothing for `pages` within 7 of 2^64 (Xen then walks every leaf doing nothing and
/// answers `pages` 0), and the tree's 2^42 bits cut a larger count. (Xen keeps a preempted
/// walk's progress in a 40-bit field, so past 2^40 pages its answer depends on where it was
/// preempted; here it is always the cut count.)
fn read_bitmap(
    by: DomId,
    d: &Domain,
    sc: &mut XenDomctlShadowOp,
    should_yield: &mut dyn FnMut() -> bool,
) -> Step {
    let mut progress = d.log_dirty_progress.lock();
    let mut done = progress.map_or(0, |p| p.done);
    sc.stats = XenDomctlShadowOpStats::default();
    let zeros = [0u8; 512];
    let mut fresh = true;
    while done < sc.pages && done < LEAVES * LEAF_BITS {
        let leaf = done / LEAF_BITS;
        if !fresh && leaf.is_multiple_of(LEAVES_PER_CHECK) && should_yield() {
            *progress = Some(Progress {
                by,
                op: sc.op,
                done,
            });
            return Step::Again;
        }
        let bytes = ((sc.pages - done).wrapping_add(7) >> 3).min(4096);
        if bytes == 0 {
            // Every later leaf is the same: nothing.
            break;
        }
        fresh = false;
        if sc.dirty_bitmap == 0 {
            // Nothing to write: the count is all that is left to find.
            done = (sc.pages.div_ceil(8) * 8).min(LEAVES * LEAF_BITS);
            break;
        }
        for at in (0..bytes).step_by(zeros.len()) {
            let n = (bytes - at).min(zeros.len() as u64) as usize;
            let va = sc.dirty_bitmap.wrapping_add(done / 8 + at);
            if crate::arch::x86_64::guest::copy_to_guest(va, &zeros[..n]).is_err() {
                *progress = None;
                return Step::Done(Err(Errno::EFAULT));
            }
        }
        done += bytes * 8;
    }
    *progress = None;
    if done < sc.pages {
        sc.pages = done;
    }
    Step::Done(Ok(()))
}
