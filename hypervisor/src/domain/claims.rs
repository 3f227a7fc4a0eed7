//! Memory claims (Xen's `outstanding_pages`, `XENMEM_claim_pages`): the toolstack stakes a
//! domain's future allocation before building it, so that memory it needs cannot go to others
//! meanwhile. Allocations for a domain consume its claim; an allocation not covered by a claim
//! may not take memory another domain has claimed.

use super::Domain;
use core::sync::atomic::Ordering;
use xen_abi::{Errno, XenResult};

/// Every domain's outstanding claim together (`outstanding_claims`), and the lock under which
/// a domain's own `outstanding` changes.
static CLAIMS: spin::Mutex<u64> = spin::Mutex::new(0);

/// All claims outstanding.
pub fn outstanding() -> u64 {
    *CLAIMS.lock()
}

/// `domain_set_outstanding_pages(d, pages)`: 0 cancels the domain's claim; otherwise a claim
/// to hold `pages` in all — `-EINVAL` with one in force, at or below what it holds already, or
/// above its `max_pages`; `-ENOMEM` if what it lacks is more than the free memory not claimed.
pub fn set(d: &Domain, pages: u64) -> XenResult<()> {
    let mut all = CLAIMS.lock();
    let mine = d.outstanding.load(Ordering::Acquire);
    if pages == 0 {
        *all -= mine;
        d.outstanding.store(0, Ordering::Release);
        return Ok(());
    }
    let tot = d.tot_pages.load(Ordering::Acquire);
    if mine != 0 || pages <= tot || pages > d.max_pages.load(Ordering::Acquire) {
        return Err(Errno::EINVAL);
    }
    let avail = crate::mm::free_frames().saturating_sub(*all);
    let claim = pages - tot;
    if claim > avail {
        return Err(Errno::ENOMEM);
    }
    d.outstanding.store(claim, Ordering::Release);
    *all += claim;
    Ok(())
}

/// Whether `d` may take `request` more frames (`alloc_heap_pages`): claimed memory is
/// unavailable unless the domain's own claim covers the request.
pub fn may_allocate(d: &Domain, request: u64) -> bool {
    let all = CLAIMS.lock();
    *all + request <= crate::mm::free_frames() || d.outstanding.load(Ordering::Acquire) >= request
}

/// `domain_adjust_tot_pages`'s part for claims: `pages` frames gained (or, negative, given
/// back) move the domain's claim the other way, never below 0.
pub fn adjust(d: &Domain, pages: i64) {
    let mut all = CLAIMS.lock();
    let before = d.outstanding.load(Ordering::Acquire);
    if before == 0 {
        return;
    }
    let after = (before as i64 - pages).max(0) as u64;
    d.outstanding.store(after, Ordering::Release);
    *all = (*all + after).saturating_sub(before);
}
