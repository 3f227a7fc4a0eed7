//! The per-ABI port operations (Xen's `struct evtchn_port_ops`) and the 2-level implementation
//! (`xen/common/event_2l.c`). The FIFO ABI keeps per-port queue state and lives in `fifo`.

use xen_abi::event_channel::EVTCHN_2L_NR_CHANNELS;
use xen_abi::{Errno, Port, VcpuId, XenResult};

use crate::words::{EventWords, BITS_PER_EVTCHN_WORD};

/// What `set_pending` did (`evtchn_port_set_pending`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The port was already pending: nothing changed, nobody to wake.
    AlreadyPending,
    /// The pending bit was newly set. Pollers of the port must be checked
    /// (`evtchn_check_pollers`); `kick` is the vCPU whose upcall was newly raised
    /// (`vcpu_mark_events_pending` → `vcpu_kick`).
    Pending {
        /// The vCPU to kick, if its `evtchn_upcall_pending` went from 0 to 1.
        kick: Option<VcpuId>,
    },
}

/// Low-level event port operations of one event-channel ABI (`struct evtchn_port_ops`).
///
/// `vcpu` is the port's notify vCPU; `port` is below [`EvtchnPortOps::max_channels`].
pub trait EvtchnPortOps<W: EventWords> {
    /// `set_pending`: mark `port` pending and notify `vcpu` if it is deliverable.
    fn set_pending(&self, words: &mut W, vcpu: VcpuId, port: Port) -> Delivery;
    /// `clear_pending`: clear `port`'s pending state (done when a port is freed).
    fn clear_pending(&self, words: &mut W, port: Port);
    /// `unmask`: unmask `port`; returns the vCPU to kick if a pending event became deliverable.
    fn unmask(&self, words: &mut W, vcpu: VcpuId, port: Port) -> Option<VcpuId>;
    /// `is_pending`.
    fn is_pending(&self, words: &W, port: Port) -> bool;
    /// `is_masked`.
    fn is_masked(&self, words: &W, port: Port) -> bool;
    /// `set_priority`: `ENOSYS` for an ABI without priorities (`evtchn_port_set_priority`).
    fn set_priority(&self, _words: &mut W, _port: Port, _priority: u32) -> XenResult<()> {
        Err(Errno::ENOSYS)
    }
    /// Number of ports this ABI can address (`max_evtchns`).
    fn max_channels(&self) -> u32;
}

/// The 2-level ABI (`evtchn_port_ops_2l`): one pending and one mask bit per port in
/// `shared_info`, one selector bit per 64 ports in each vCPU's `vcpu_info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TwoLevel;

/// `vcpu_mark_events_pending`: raise the upcall; kick only on a 0 → 1 transition.
fn mark_events_pending<W: EventWords>(words: &mut W, vcpu: VcpuId) -> Option<VcpuId> {
    if words.upcall_pending_test_and_set(vcpu) {
        None
    } else {
        Some(vcpu)
    }
}

impl<W: EventWords> EvtchnPortOps<W> for TwoLevel {
    /// `evtchn_2l_set_pending`: the order of the three bit operations is the protocol.
    fn set_pending(&self, words: &mut W, vcpu: VcpuId, port: Port) -> Delivery {
        if words.pending_test_and_set(port) {
            return Delivery::AlreadyPending;
        }
        let kick = if !words.mask_test(port)
            && !words.pending_sel_test_and_set(vcpu, port.0 / BITS_PER_EVTCHN_WORD)
        {
            mark_events_pending(words, vcpu)
        } else {
            None
        };
        Delivery::Pending { kick }
    }

    /// `evtchn_2l_clear_pending`.
    fn clear_pending(&self, words: &mut W, port: Port) {
        words.pending_clear(port);
    }

    /// `evtchn_2l_unmask`: clear the mask; if it was set and the port is pending, set the
    /// selector bit and, if that was clear, raise the upcall.
    fn unmask(&self, words: &mut W, vcpu: VcpuId, port: Port) -> Option<VcpuId> {
        if words.mask_test_and_clear(port)
            && words.pending_test(port)
            && !words.pending_sel_test_and_set(vcpu, port.0 / BITS_PER_EVTCHN_WORD)
        {
            mark_events_pending(words, vcpu)
        } else {
            None
        }
    }

    /// `evtchn_2l_is_pending`.
    fn is_pending(&self, words: &W, port: Port) -> bool {
        port.0 < EVTCHN_2L_NR_CHANNELS && words.pending_test(port)
    }

    /// `evtchn_2l_is_masked`: a port beyond the ABI counts as masked.
    fn is_masked(&self, words: &W, port: Port) -> bool {
        port.0 >= EVTCHN_2L_NR_CHANNELS || words.mask_test(port)
    }

    fn max_channels(&self) -> u32 {
        EVTCHN_2L_NR_CHANNELS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::VecEventWords;

    #[test]
    fn set_pending_unmasked_clear_word_kicks() {
        // event_2l.c evtchn_2l_set_pending: pending 0→1, unmasked, selector 0→1 → upcall → kick.
        let mut w = VecEventWords::new(2);
        let d = TwoLevel.set_pending(&mut w, VcpuId(1), Port(65));
        assert_eq!(
            d,
            Delivery::Pending {
                kick: Some(VcpuId(1))
            }
        );
        assert_eq!(w.pending_sel[1], 0b10);
        assert!(w.upcall_pending[1]);
    }

    #[test]
    fn set_pending_already_pending_does_nothing() {
        // evtchn_2l_set_pending: `if ( guest_test_and_set_bit(..pending) ) return;`
        let mut w = VecEventWords::new(1);
        TwoLevel.set_pending(&mut w, VcpuId(0), Port(3));
        w.pending_sel[0] = 0;
        w.upcall_pending[0] = false;
        assert_eq!(
            TwoLevel.set_pending(&mut w, VcpuId(0), Port(3)),
            Delivery::AlreadyPending
        );
        assert_eq!(w.pending_sel[0], 0);
    }

    #[test]
    fn set_pending_masked_sets_only_pending() {
        // evtchn_2l_set_pending: a masked port gets its pending bit but no selector/upcall.
        let mut w = VecEventWords::new(1);
        w.guest_mask(Port(3));
        assert_eq!(
            TwoLevel.set_pending(&mut w, VcpuId(0), Port(3)),
            Delivery::Pending { kick: None }
        );
        assert_eq!(w.pending_sel[0], 0);
        assert!(!w.upcall_pending[0]);
    }

    #[test]
    fn set_pending_selector_already_set_no_kick() {
        // evtchn_2l_set_pending: selector bit already set → no upcall change, no kick.
        let mut w = VecEventWords::new(1);
        TwoLevel.set_pending(&mut w, VcpuId(0), Port(1));
        assert_eq!(
            TwoLevel.set_pending(&mut w, VcpuId(0), Port(2)),
            Delivery::Pending { kick: None }
        );
    }

    #[test]
    fn unmask_pending_masked_port_redelivers() {
        // evtchn_2l_unmask: mask 1→0, pending, selector 0→1 → vcpu_mark_events_pending.
        let mut w = VecEventWords::new(1);
        w.guest_mask(Port(7));
        TwoLevel.set_pending(&mut w, VcpuId(0), Port(7));
        assert_eq!(TwoLevel.unmask(&mut w, VcpuId(0), Port(7)), Some(VcpuId(0)));
        assert!(w.upcall_pending[0]);
        assert!(!TwoLevel.is_masked(&w, Port(7)));
    }

    #[test]
    fn unmask_not_masked_does_not_redeliver() {
        // evtchn_2l_unmask: `guest_test_and_clear_bit(mask)` false → nothing else happens.
        let mut w = VecEventWords::new(1);
        w.pending[0] = 1 << 7;
        assert_eq!(TwoLevel.unmask(&mut w, VcpuId(0), Port(7)), None);
        assert_eq!(w.pending_sel[0], 0);
    }

    #[test]
    fn set_priority_two_level_is_enosys() {
        // event.h evtchn_port_set_priority: no ->set_priority op → -ENOSYS.
        let mut w = VecEventWords::new(1);
        assert_eq!(
            EvtchnPortOps::<VecEventWords>::set_priority(&TwoLevel, &mut w, Port(1), 3),
            Err(Errno::ENOSYS)
        );
    }

    #[test]
    fn is_masked_beyond_abi_is_true() {
        // event_2l.c evtchn_2l_is_masked: `port >= max_ports ||` test_bit(mask).
        let w = VecEventWords::new(1);
        assert!(TwoLevel.is_masked(&w, Port(EVTCHN_2L_NR_CHANNELS)));
        assert!(!TwoLevel.is_pending(&w, Port(EVTCHN_2L_NR_CHANNELS)));
    }
}
