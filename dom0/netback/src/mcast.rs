//! Multicast control (`feature-multicast-control`; Linux's `xenvif_mcast_add`/`del`/`match` in
//! `drivers/net/xen-netback/interface.c`): a frontend keeps a list of up to
//! [`MCAST_MAX`] multicast addresses with TX requests that carry a `MCAST_ADD` or `MCAST_DEL`
//! extra (dummy requests: nothing is sent); when it wrote `request-multicast-control=1`, only
//! multicast frames to a listed address reach it (broadcast and unicast always do). The list
//! is the vif's, shared by its queues, and starts empty at each connection.

use crate::tx::McastOp;
use std::sync::Mutex;

/// Addresses a frontend may list (`XEN_NETBK_MCAST_MAX`).
pub const MCAST_MAX: usize = 64;

/// A vif's multicast filter.
#[derive(Debug, Default)]
pub struct McastFilter {
    /// `request-multicast-control` was 1 at connection: filter.
    enabled: bool,
    list: Mutex<Vec<[u8; 6]>>,
}

impl McastFilter {
    /// A filter that filters (`enabled`) or only keeps the list.
    pub fn new(enabled: bool) -> McastFilter {
        McastFilter {
            enabled,
            list: Mutex::new(Vec::new()),
        }
    }

    /// Whether frames are filtered.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// An `MCAST_ADD` or `MCAST_DEL` request: `true` for `NETIF_RSP_OKAY`, `false` (an add
    /// with the list full) for `NETIF_RSP_ERROR`. As Linux, an add does not look for the
    /// address first (a second add lists it twice), and a delete removes one listing, if any.
    pub fn apply(&self, op: McastOp, addr: [u8; 6]) -> bool {
        let Ok(mut l) = self.list.lock() else {
            return false;
        };
        match op {
            McastOp::Add => {
                if l.len() >= MCAST_MAX {
                    return false;
                }
                l.push(addr);
                true
            }
            McastOp::Del => {
                if let Some(i) = l.iter().position(|a| *a == addr) {
                    l.remove(i);
                }
                true
            }
        }
    }

    /// Whether a frame with Ethernet destination `dest` goes to the guest: anything unless
    /// filtering; else unicast and broadcast, and multicast only to a listed address.
    pub fn admits(&self, dest: &[u8]) -> bool {
        let Some(d) = dest.get(..6) else {
            return true;
        };
        let multicast = d[0] & 1 == 1 && d != [0xff; 6];
        if !self.enabled || !multicast {
            return true;
        }
        self.list
            .lock()
            .map(|l| l.iter().any(|a| a[..] == *d))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M1: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01];
    const M2: [u8; 6] = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01];
    const UNI: [u8; 6] = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x01];
    const BCAST: [u8; 6] = [0xff; 6];

    #[test]
    fn filtering_passes_unicast_broadcast_and_listed_multicast_only() {
        let f = McastFilter::new(true);
        assert!(f.admits(&UNI) && f.admits(&BCAST));
        assert!(!f.admits(&M1) && !f.admits(&M2));
        assert!(f.apply(McastOp::Add, M1));
        assert!(f.admits(&M1) && !f.admits(&M2));
        assert!(f.apply(McastOp::Del, M1));
        assert!(!f.admits(&M1));
        assert!(
            f.apply(McastOp::Del, M2),
            "deleting what is not listed is OKAY"
        );
        assert!(f.admits(&[1, 2, 3]), "a runt is not judged here");
    }

    #[test]
    fn without_request_multicast_control_everything_passes_but_the_list_is_kept() {
        let f = McastFilter::new(false);
        assert!(f.admits(&M1) && f.admits(&M2));
        for i in 0..MCAST_MAX {
            assert!(f.apply(McastOp::Add, [1, 0, 0, 0, 0, i as u8]));
        }
        assert!(!f.apply(McastOp::Add, M1), "the 65th add is an error");
    }

    #[test]
    fn the_list_holds_64_and_a_delete_makes_room() {
        let f = McastFilter::new(true);
        for i in 0..MCAST_MAX {
            assert!(f.apply(McastOp::Add, [1, 0, 0, 0, 0, i as u8]));
        }
        assert!(!f.apply(McastOp::Add, M1));
        assert!(!f.admits(&M1));
        assert!(f.apply(McastOp::Del, [1, 0, 0, 0, 0, 7]));
        assert!(f.apply(McastOp::Add, M1));
        assert!(f.admits(&M1));
        assert!(!f.admits(&[1, 0, 0, 0, 0, 7]));
    }

    #[test]
    fn a_double_add_needs_two_deletes() {
        let f = McastFilter::new(true);
        assert!(f.apply(McastOp::Add, M1) && f.apply(McastOp::Add, M1));
        assert!(f.apply(McastOp::Del, M1));
        assert!(f.admits(&M1));
        assert!(f.apply(McastOp::Del, M1));
        assert!(!f.admits(&M1));
    }
}
