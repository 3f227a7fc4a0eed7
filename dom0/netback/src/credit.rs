//! The guest's transmit rate limit: the backend's `rate` node (`"<bytes>,<usec>"`, written by
//! libxl from xl's `vif=… rate=10Mb/s@20ms`) as Linux's netback enforces it (`xen_net_read_rate`
//! in `xenbus.c`; `tx_credit_exceeded`, `tx_add_credit` and the credit timer in `netback.c`):
//! every `usec` µs the vif gets `bytes` of credit, up to a burst of the larger of `bytes` and
//! 128 KiB (so a 64 KiB GSO packet always fits); a packet is taken from the ring only when its
//! size is within the credit left, and otherwise waits, with everything behind it, until the
//! window ends. Only the guest's transmit side is limited, as in Linux.

/// The least a refill leaves room for: one maximal packet (Linux's 131072).
pub const MIN_BURST: u64 = 131_072;

/// The `rate` node's value: `(bytes, usec)`, or `None` (no node, or not two decimal numbers
/// joined by a comma: Linux then warns and leaves the vif unlimited).
pub fn parse_rate(s: &str) -> Option<(u64, u64)> {
    let (b, u) = s.trim_end_matches('\0').split_once(',')?;
    let num = |x: &str| {
        (!x.is_empty() && x.bytes().all(|c| c.is_ascii_digit()))
            .then(|| x.parse::<u64>().ok())
            .flatten()
    };
    Some((num(b)?, num(u)?))
}

/// A vif's transmit credit. Times are µs on any monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credit {
    /// Credit added per window (`credit_bytes`); `u64::MAX`: unlimited.
    bytes: u64,
    /// The window (`credit_usec`).
    usec: u64,
    /// What may still be sent (`remaining_credit`).
    remaining: u64,
    /// When the current window began (`credit_window_start`).
    window_start: u64,
    /// When the pending refill is due, while one is (Linux's `credit_timeout` timer).
    refill_at: Option<u64>,
}

impl Credit {
    /// No limit (no `rate` node).
    pub fn unlimited() -> Credit {
        Credit {
            bytes: u64::MAX,
            usec: 0,
            remaining: u64::MAX,
            window_start: 0,
            refill_at: None,
        }
    }

    /// `bytes` every `usec` µs from `now`, starting with one window's credit.
    pub fn new(bytes: u64, usec: u64, now: u64) -> Credit {
        Credit {
            bytes,
            usec,
            remaining: bytes,
            window_start: now,
            refill_at: None,
        }
    }

    /// From the `rate` node's value (absent or malformed: unlimited).
    pub fn from_node(rate: Option<&str>, now: u64) -> Credit {
        match rate.and_then(parse_rate) {
            Some((b, u)) => Credit::new(b, u, now),
            None => Credit::unlimited(),
        }
    }

    /// Whether there is a limit at all.
    pub fn is_limited(&self) -> bool {
        self.bytes != u64::MAX
    }

    /// `tx_add_credit`.
    fn add(&mut self) {
        let max_burst = self.bytes.max(MIN_BURST);
        self.remaining = self.remaining.saturating_add(self.bytes).min(max_burst);
    }

    /// Takes `size` bytes of credit for a packet at `now`: `Ok` if it may be sent, else
    /// `Err(t)`: nothing more is sent before `t` (the packet waits, credit untouched).
    pub fn take(&mut self, size: u64, now: u64) -> Result<(), u64> {
        if size > self.remaining {
            if let Some(t) = self.refill_at {
                if now < t {
                    return Err(t);
                }
                // The timer's callback: the window's credit.
                self.refill_at = None;
                self.add();
            }
            let next = self.window_start.saturating_add(self.usec);
            if now >= next {
                self.window_start = now;
                self.add();
            }
            if size > self.remaining {
                self.refill_at = Some(next);
                self.window_start = next;
                return Err(next);
            }
        }
        self.remaining -= size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_node_is_two_decimal_numbers_or_nothing() {
        assert_eq!(parse_rate("25000,20000"), Some((25_000, 20_000)));
        assert_eq!(parse_rate("0,0"), Some((0, 0)));
        assert_eq!(parse_rate("25000,20000\0"), Some((25_000, 20_000)));
        for bad in [
            "",
            ",",
            "25000",
            "25000,",
            ",20000",
            "25000;20000",
            "-1,5",
            "1,2,3",
            " 1,2",
            "1 ,2",
            "0x10,5",
            "99999999999999999999,1",
        ] {
            assert_eq!(parse_rate(bad), None, "{bad:?}");
        }
        assert!(!Credit::from_node(Some("junk"), 0).is_limited());
        assert!(!Credit::from_node(None, 0).is_limited());
        assert!(Credit::from_node(Some("1000,1000"), 0).is_limited());
    }

    #[test]
    fn unlimited_takes_anything() {
        let mut c = Credit::unlimited();
        for _ in 0..1000 {
            assert_eq!(c.take(65_535, 0), Ok(()));
        }
    }

    #[test]
    fn a_window_sends_its_credit_then_waits_for_the_next() {
        // 10 kB per 20 ms.
        let mut c = Credit::new(10_000, 20_000, 1_000);
        for _ in 0..6 {
            assert_eq!(c.take(1_500, 1_000), Ok(()));
        }
        // 9,000 sent: 1,500 more does not fit; the next window starts at 21,000.
        assert_eq!(c.take(1_500, 2_000), Err(21_000));
        assert_eq!(c.take(1_500, 20_999), Err(21_000), "no refill before it");
        assert_eq!(c.take(100, 20_999), Ok(()), "what fits still goes");
        assert_eq!(c.take(1_500, 21_000), Ok(()), "refilled");
    }

    #[test]
    fn the_long_run_rate_is_the_configured_one() {
        // 25,000 bytes per 20 ms = 1.25 MB/s; a sender that always has 1,514-byte frames.
        let mut c = Credit::new(25_000, 20_000, 0);
        let (mut now, mut sent) = (0u64, 0u64);
        while now < 10_000_000 {
            match c.take(1_514, now) {
                Ok(()) => sent += 1_514,
                Err(t) => now = t,
            }
        }
        let rate = sent as f64 / 10.0;
        assert!((1_240_000.0..=1_265_000.0).contains(&rate), "{rate} B/s");
    }

    #[test]
    fn a_packet_larger_than_a_window_still_goes_within_the_burst() {
        // 1,000 bytes per ms: a 64 KiB GSO packet needs the 128 KiB burst to ever fit.
        let mut c = Credit::new(1_000, 1_000, 0);
        let mut now = 0;
        let mut waits = 0;
        loop {
            match c.take(65_535, now) {
                Ok(()) => break,
                Err(t) => {
                    now = t;
                    waits += 1;
                    assert!(waits < 100, "never fits");
                }
            }
        }
        assert!(
            (60_000..70_000).contains(&now),
            "fits after about 65 windows: {now}"
        );
    }

    #[test]
    fn absurd_rates_saturate_instead_of_overflowing() {
        let mut c = Credit::from_node(Some("18446744073709551615,18446744073709551615"), 5);
        assert_eq!(c.take(1, 5), Ok(()));
        let mut c = Credit::from_node(Some("0,18446744073709551615"), u64::MAX - 1);
        assert_eq!(
            c.take(60, u64::MAX - 1),
            Err(u64::MAX),
            "a window that never ends"
        );
        assert_eq!(c.take(60, u64::MAX), Err(u64::MAX));
    }

    #[test]
    fn idle_time_does_not_bank_more_than_the_burst() {
        let mut c = Credit::new(200_000, 1_000, 0);
        assert_eq!(c.take(200_000, 0), Ok(()));
        // After a long idle, at most max(bytes, 128 KiB) = 200,000 at once.
        assert_eq!(c.take(150_000, 10_000_000), Ok(()));
        assert_eq!(c.take(60_000, 10_000_000), Err(10_001_000));
    }
}
