//! A vCPU's runstate accounting (`vcpu_runstate_info`): the state it is in since when, and the
//! time spent in each state, as `VCPUOP_get_runstate_info` and the registered runstate area show.

/// `RUNSTATE_running`.
pub const RUNNING: u32 = 0;
/// `RUNSTATE_runnable`.
pub const RUNNABLE: u32 = 1;
/// `RUNSTATE_blocked`.
pub const BLOCKED: u32 = 2;
/// `RUNSTATE_offline`.
pub const OFFLINE: u32 = 3;
/// `XEN_RUNSTATE_UPDATE`: set in `state_entry_time` while the area is being rewritten.
pub const UPDATE_FLAG: u64 = 1 << 63;

/// Runstate accounting in system time (ns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Runstate {
    /// `RUNSTATE_*`.
    pub state: u32,
    /// When it entered `state`.
    pub entry: u64,
    /// Time spent in each state before `entry`.
    pub time: [u64; 4],
}

impl Runstate {
    /// A vCPU entering `state` at `now`.
    pub fn new(state: u32, now: u64) -> Runstate {
        Runstate {
            state,
            entry: now,
            time: [0; 4],
        }
    }

    /// Moves to `state` at `now` (Xen's `vcpu_runstate_change`), charging the time since the
    /// last change to the old state. Time never runs backwards here.
    pub fn change(&mut self, state: u32, now: u64) {
        let delta = now.saturating_sub(self.entry);
        if let Some(t) = self.time.get_mut(self.state as usize) {
            *t = t.saturating_add(delta);
        }
        self.state = state.min(OFFLINE);
        self.entry = self.entry.max(now);
    }

    /// What `VCPUOP_get_runstate_info` reports at `now` (`vcpu_runstate_get`): the current state's
    /// time includes the time since `entry`; `entry` itself is unchanged.
    pub fn at(&self, now: u64) -> Runstate {
        let mut r = *self;
        if let Some(t) = r.time.get_mut(r.state as usize) {
            *t = t.saturating_add(now.saturating_sub(r.entry));
        }
        r
    }

    /// The 48-byte `vcpu_runstate_info`, with `XEN_RUNSTATE_UPDATE` in `state_entry_time` if
    /// `updating`.
    pub fn to_bytes(&self, updating: bool) -> [u8; 48] {
        let info = xen_abi::vcpu::VcpuRunstateInfo {
            state: self.state as i32,
            _pad0: 0,
            state_entry_time: self.entry | if updating { UPDATE_FLAG } else { 0 },
            time: self.time,
        };
        let mut b = [0u8; 48];
        b.copy_from_slice(zerocopy::IntoBytes::as_bytes(&info));
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_charge_the_state_left() {
        let mut r = Runstate::new(RUNNABLE, 100);
        r.change(RUNNING, 150);
        r.change(BLOCKED, 400);
        r.change(RUNNABLE, 1000);
        r.change(RUNNING, 1010);
        assert_eq!(r.time, [250, 60, 600, 0]);
        assert_eq!((r.state, r.entry), (RUNNING, 1010));
        let now = r.at(1100);
        assert_eq!(now.time[RUNNING as usize], 340);
        assert_eq!(now.entry, 1010);
        assert_eq!(
            r.time[RUNNING as usize], 250,
            "at() does not change the record"
        );
    }

    #[test]
    fn time_going_backwards_is_not_charged() {
        let mut r = Runstate::new(RUNNING, 500);
        r.change(BLOCKED, 400);
        assert_eq!(r.time, [0; 4]);
        assert_eq!(r.entry, 500);
        assert_eq!(r.at(100).time, [0; 4]);
    }

    #[test]
    fn bytes_match_vcpu_runstate_info() {
        let r = Runstate {
            state: BLOCKED,
            entry: 0x1122,
            time: [1, 2, 3, 4],
        };
        let b = r.to_bytes(true);
        assert_eq!(u32::from_le_bytes(b[..4].try_into().unwrap()), 2);
        assert_eq!(
            u64::from_le_bytes(b[8..16].try_into().unwrap()),
            0x1122 | UPDATE_FLAG
        );
        assert_eq!(u64::from_le_bytes(b[40..48].try_into().unwrap()), 4);
        assert_eq!(r.to_bytes(false)[15], 0);
    }
}
