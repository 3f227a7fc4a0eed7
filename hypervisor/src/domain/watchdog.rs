//! Domain watchdogs (`SCHEDOP_watchdog`, Xen's `domain_watchdog` in `common/sched/core.c`):
//! each domain has two; one armed and not kicked again within its timeout shuts the domain
//! down with `SHUTDOWN_watchdog` (what a toolstack then does with it is its `on_watchdog`;
//! a boot-module domU is torn down, and rebuilt if it has restarts left).
//!
//! The timers live in the domain ([`Watchdogs`]); one earliest deadline over all domains,
//! [`NEXT_DUE`], keeps the tick's check to one load until something is due.

use core::sync::atomic::{AtomicU64, Ordering};
use xen_abi::Errno;

/// Watchdogs per domain (Xen's `NR_DOMAIN_WATCHDOG_TIMERS`).
pub const NR_WATCHDOGS: usize = 2;

/// One watchdog: free, or in use (armed until its deadline, or expired and left in use, as
/// Xen leaves the bit set when the timer fires).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Slot {
    #[default]
    Free,
    InUse(Option<u64>),
}

/// What `SCHEDOP_watchdog` answers when both watchdogs are in use: -ENOSPC as a 32-bit
/// unsigned value (4294967268), positive in the 64-bit return register. Xen 4.17's
/// `domain_watchdog` returns `id == NR_DOMAIN_WATCHDOG_TIMERS ? -ENOSPC : id + 1` with `id` a
/// `uint32_t`; Linux's `xen_wdt` reads it through an `int` and sees -ENOSPC.
pub const ENOSPC_AS_U32: u64 = Errno::ENOSPC.to_ret() as u32 as u64;

/// A domain's watchdogs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watchdogs([Slot; NR_WATCHDOGS]);

impl Watchdogs {
    /// `SCHEDOP_watchdog` with `id` and `timeout` (seconds) at system time `now` (ns): id 0
    /// takes a free watchdog, armed for `timeout` (0 included: it expires at once), and
    /// returns its id (1-based); with both in use it returns [`ENOSPC_AS_U32`], as Xen 4.17
    /// does (its `-ENOSPC` meets the unsigned id in one `?:`); a watchdog's id re-arms it
    /// for `timeout`, or with 0 stops and frees it (0); an id not in use, or past the last,
    /// is `-EINVAL`.
    pub fn op(&mut self, id: u32, timeout: u32, now: u64) -> Result<u64, Errno> {
        let deadline = now.saturating_add(u64::from(timeout) * 1_000_000_000);
        if id as usize > NR_WATCHDOGS {
            return Err(Errno::EINVAL);
        }
        if id == 0 {
            let Some((i, slot)) = self
                .0
                .iter_mut()
                .enumerate()
                .find(|(_, s)| **s == Slot::Free)
            else {
                return Ok(ENOSPC_AS_U32);
            };
            *slot = Slot::InUse(Some(deadline));
            return Ok(i as u64 + 1);
        }
        let slot = &mut self.0[id as usize - 1];
        if *slot == Slot::Free {
            return Err(Errno::EINVAL);
        }
        *slot = if timeout == 0 {
            Slot::Free
        } else {
            Slot::InUse(Some(deadline))
        };
        Ok(0)
    }

    /// The watchdogs due at `now`, as a bit mask (bit `i`: id `i + 1`), disarmed (they stay in
    /// use until stopped).
    pub fn expire(&mut self, now: u64) -> u32 {
        let mut fired = 0;
        for (i, s) in self.0.iter_mut().enumerate() {
            if let Slot::InUse(Some(t)) = *s {
                if t <= now {
                    *s = Slot::InUse(None);
                    fired |= 1 << i;
                }
            }
        }
        fired
    }

    /// The earliest armed deadline, if any.
    pub fn next(&self) -> Option<u64> {
        self.0
            .iter()
            .filter_map(|s| match s {
                Slot::InUse(t) => *t,
                Slot::Free => None,
            })
            .min()
    }
}

/// The earliest deadline of any domain's watchdog (`u64::MAX`: none armed). May be early
/// (a deadline since moved or stopped): the tick then finds nothing and recomputes it.
static NEXT_DUE: AtomicU64 = AtomicU64::new(u64::MAX);

/// The least time between two state dumps asked for by watchdogs (ns).
const DUMP_INTERVAL: u64 = 10_000_000_000;

/// When a watchdog last asked for a dump (0: never).
static LAST_DUMP: AtomicU64 = AtomicU64::new(0);

/// Whether a watchdog firing at `now` may ask for a dump (and, if so, that it did).
fn may_dump(now: u64) -> bool {
    let last = LAST_DUMP.load(Ordering::Acquire);
    (last == 0 || now.saturating_sub(last) >= DUMP_INTERVAL)
        && LAST_DUMP
            .compare_exchange(last, now.max(1), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
}

/// `SCHEDOP_watchdog` for `dom`.
#[cfg(target_os = "none")]
pub fn op(dom: &super::Domain, id: u32, timeout: u32) -> Result<u64, Errno> {
    let now = crate::time::now();
    let mut w = dom.watchdogs.lock();
    let r = w.op(id, timeout, now)?;
    if let Some(t) = w.next() {
        NEXT_DUE.fetch_min(t, Ordering::AcqRel);
    }
    Ok(r)
}

/// From every CPU's tick: once something may be due, one CPU looks at every domain's
/// watchdogs and shuts down the domains whose watchdog expired (Xen's
/// `domain_watchdog_timeout`: not one already shutting down or dying).
#[cfg(target_os = "none")]
pub fn tick() {
    let due = NEXT_DUE.load(Ordering::Acquire);
    if due == u64::MAX {
        return;
    }
    let now = crate::time::now();
    if now < due
        || NEXT_DUE
            .compare_exchange(due, u64::MAX, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return;
    }
    // The tick may come while this CPU's idle loop or boot code holds the list: try again
    // at the next one.
    let Some(doms) = super::DOMAINS.try_lock() else {
        NEXT_DUE.fetch_min(due, Ordering::AcqRel);
        return;
    };
    let list: alloc::vec::Vec<_> = doms.values().cloned().collect();
    drop(doms);
    let mut next = u64::MAX;
    for d in list {
        let fired = {
            let mut w = d.watchdogs.lock();
            let fired = w.expire(now);
            next = next.min(w.next().unwrap_or(u64::MAX));
            fired
        };
        if fired == 0 || *d.state.lock() != super::DomainState::Running {
            continue;
        }
        log::warn!(
            "Watchdog timer {} fired for d{}; the state dump follows (where each CPU was)",
            fired.trailing_zeros() + 1,
            d.id.0
        );
        // What the domain was doing when it stopped kicking: each CPU says what it runs at
        // its next tick, CPU 0 every vCPU's state. A guest can fire its watchdog at will (one
        // armed for 0 s), so at most one dump in [`DUMP_INTERVAL`].
        if may_dump(now) {
            crate::debug::request();
        }
        crate::hypercall::sched::shutdown(&d, xen_abi::sched::ShutdownReason::Watchdog);
    }
    NEXT_DUE.fetch_min(next, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn id_0_takes_the_free_watchdogs_in_turn_then_enospc() {
        let mut w = Watchdogs::default();
        assert_eq!(w.op(0, 5, 100), Ok(1));
        assert_eq!(w.op(0, 7, 100), Ok(2));
        assert_eq!(w.op(0, 1, 100), Ok(ENOSPC_AS_U32));
        assert_eq!(ENOSPC_AS_U32, 4_294_967_268);
        assert_eq!(w.next(), Some(100 + 5 * S));
    }

    #[test]
    fn a_kick_rearms_timeout_0_frees_and_unknown_ids_are_einval() {
        let mut w = Watchdogs::default();
        assert_eq!(w.op(1, 5, 0), Err(Errno::EINVAL), "not in use");
        assert_eq!(w.op(3, 5, 0), Err(Errno::EINVAL), "past the last");
        assert_eq!(w.op(u32::MAX, 5, 0), Err(Errno::EINVAL));
        assert_eq!(w.op(0, 5, 0), Ok(1));
        assert_eq!(w.op(1, 10, 3 * S), Ok(0));
        assert_eq!(w.next(), Some(13 * S));
        assert_eq!(w.op(1, 0, 4 * S), Ok(0));
        assert_eq!(w.next(), None);
        assert_eq!(w.op(1, 5, 0), Err(Errno::EINVAL), "freed");
        assert_eq!(w.op(0, 5, 0), Ok(1), "and free again");
    }

    #[test]
    fn an_expired_watchdog_fires_once_and_stays_in_use_until_stopped() {
        let mut w = Watchdogs::default();
        assert_eq!(w.op(0, 0, 50), Ok(1), "timeout 0 on creation: due at once");
        assert_eq!(w.op(0, 2, 50), Ok(2));
        assert_eq!(w.expire(49), 0);
        assert_eq!(w.expire(50), 0b01);
        assert_eq!(w.expire(50), 0, "fires once");
        assert_eq!(w.expire(50 + 2 * S), 0b10);
        assert_eq!(w.next(), None);
        assert_eq!(w.op(0, 1, 0), Ok(ENOSPC_AS_U32), "both still in use");
        assert_eq!(w.op(2, 1, 0), Ok(0), "a kick re-arms an expired one");
        assert_eq!(w.next(), Some(S));
    }

    #[test]
    fn watchdog_dumps_are_at_most_one_per_interval() {
        let t0 = 5 * S;
        assert!(may_dump(t0), "the first");
        assert!(!may_dump(t0 + 1));
        assert!(!may_dump(t0 + DUMP_INTERVAL - 1));
        assert!(may_dump(t0 + DUMP_INTERVAL));
        assert!(!may_dump(t0), "time going back asks for none");
    }

    #[test]
    fn huge_timeouts_saturate() {
        let mut w = Watchdogs::default();
        assert_eq!(w.op(0, u32::MAX, u64::MAX - 1), Ok(1));
        assert_eq!(w.next(), Some(u64::MAX));
    }
}
