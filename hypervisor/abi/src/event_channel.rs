//! `event_channel.h` (and the `VIRQ_*` list of `xen.h`): the `EVTCHNOP_*` sub-ops and their argument structs.
//!
//! Every struct is the C layout of Xen 4.17's `xen/include/public/event_channel.h` on x86_64, with
//! the implicit C padding spelled out as `_pad*` fields so that `zerocopy` can check there is none
//! left. The two C unions (`evtchn_status.u` and `evtchn_op.u`) are kept as plain little-endian
//! word arrays with typed accessors, because a guest may put any bit pattern in them.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::errno::Errno;
use crate::types::{DomId, Port};

sub_op_enum! {
    /// The `EVTCHNOP_*` sub-op numbers of `HYPERVISOR_event_channel_op` (`enum event_channel_op`).
    ///
    /// `TryFrom<u32>` answers `ENOSYS` for an unknown number, as `do_event_channel_op` does.
    #[doc(alias = "event_channel_op")]
    pub enum EvtchnOp {
        /// `EVTCHNOP_bind_interdomain` → [`EvtchnBindInterdomain`].
        #[doc(alias = "EVTCHNOP_bind_interdomain")]
        BindInterdomain = 0,
        /// `EVTCHNOP_bind_virq` → [`EvtchnBindVirq`].
        #[doc(alias = "EVTCHNOP_bind_virq")]
        BindVirq = 1,
        /// `EVTCHNOP_bind_pirq` → [`EvtchnBindPirq`].
        #[doc(alias = "EVTCHNOP_bind_pirq")]
        BindPirq = 2,
        /// `EVTCHNOP_close` → [`EvtchnClose`].
        #[doc(alias = "EVTCHNOP_close")]
        Close = 3,
        /// `EVTCHNOP_send` → [`EvtchnSend`].
        #[doc(alias = "EVTCHNOP_send")]
        Send = 4,
        /// `EVTCHNOP_status` → [`EvtchnStatus`].
        #[doc(alias = "EVTCHNOP_status")]
        Status = 5,
        /// `EVTCHNOP_alloc_unbound` → [`EvtchnAllocUnbound`].
        #[doc(alias = "EVTCHNOP_alloc_unbound")]
        AllocUnbound = 6,
        /// `EVTCHNOP_bind_ipi` → [`EvtchnBindIpi`].
        #[doc(alias = "EVTCHNOP_bind_ipi")]
        BindIpi = 7,
        /// `EVTCHNOP_bind_vcpu` → [`EvtchnBindVcpu`].
        #[doc(alias = "EVTCHNOP_bind_vcpu")]
        BindVcpu = 8,
        /// `EVTCHNOP_unmask` → [`EvtchnUnmask`].
        #[doc(alias = "EVTCHNOP_unmask")]
        Unmask = 9,
        /// `EVTCHNOP_reset` → [`EvtchnReset`].
        #[doc(alias = "EVTCHNOP_reset")]
        Reset = 10,
        /// `EVTCHNOP_init_control` → [`EvtchnInitControl`] (FIFO ABI).
        #[doc(alias = "EVTCHNOP_init_control")]
        InitControl = 11,
        /// `EVTCHNOP_expand_array` → [`EvtchnExpandArray`] (FIFO ABI).
        #[doc(alias = "EVTCHNOP_expand_array")]
        ExpandArray = 12,
        /// `EVTCHNOP_set_priority` → [`EvtchnSetPriority`] (FIFO ABI).
        #[doc(alias = "EVTCHNOP_set_priority")]
        SetPriority = 13,
        /// `EVTCHNOP_reset_cont`: the hypervisor's continuation of a preempted `EVTCHNOP_reset`.
        ///
        /// Defined only `#ifdef __XEN__`, but Xen's `do_event_channel_op` accepts it from any guest
        /// (with [`EvtchnReset`] as argument), so a Xen-compatible hypervisor decodes it too.
        #[doc(alias = "EVTCHNOP_reset_cont")]
        ResetCont = 14,
    }
}

/// `EVTCHNOP_alloc_unbound`: allocate a port in `dom` accepting a binding from `remote_dom`.
#[doc(alias = "evtchn_alloc_unbound")]
#[doc(alias = "evtchn_alloc_unbound_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnAllocUnbound {
    /// IN: the domain to allocate in (`DOMID_SELF` unless privileged).
    pub dom: DomId,
    /// IN: the domain allowed to bind (`DOMID_SELF` allowed: loopback).
    pub remote_dom: DomId,
    /// OUT: the fresh port.
    pub port: Port,
}

/// `EVTCHNOP_bind_interdomain`: connect a fresh local port to `<remote_dom, remote_port>`.
#[doc(alias = "evtchn_bind_interdomain")]
#[doc(alias = "evtchn_bind_interdomain_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnBindInterdomain {
    /// IN: the remote domain (`DOMID_SELF` allowed: loopback).
    pub remote_dom: DomId,
    /// Implicit C padding before `remote_port`.
    pub _pad0: u16,
    /// IN: the remote port, unbound and accepting the caller.
    pub remote_port: Port,
    /// OUT: the fresh local port.
    pub local_port: Port,
}

/// `EVTCHNOP_bind_virq`: bind a fresh port to VIRQ `virq` on vCPU `vcpu`.
#[doc(alias = "evtchn_bind_virq")]
#[doc(alias = "evtchn_bind_virq_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnBindVirq {
    /// IN: `VIRQ_*` (`enum virq`).
    pub virq: u32,
    /// IN: the vCPU (0 for a global VIRQ).
    pub vcpu: u32,
    /// OUT: the fresh port.
    pub port: Port,
}

/// `BIND_PIRQ__WILL_SHARE`: the guest is willing to share the physical IRQ.
#[doc(alias = "BIND_PIRQ__WILL_SHARE")]
pub const BIND_PIRQ_WILL_SHARE: u32 = 1;

/// `EVTCHNOP_bind_pirq`: bind a fresh port to physical IRQ `pirq`.
#[doc(alias = "evtchn_bind_pirq")]
#[doc(alias = "evtchn_bind_pirq_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnBindPirq {
    /// IN: the PIRQ.
    pub pirq: u32,
    /// IN: `BIND_PIRQ__*`.
    pub flags: u32,
    /// OUT: the fresh port.
    pub port: Port,
}

/// `EVTCHNOP_bind_ipi`: bind a fresh port for IPIs to vCPU `vcpu`.
#[doc(alias = "evtchn_bind_ipi")]
#[doc(alias = "evtchn_bind_ipi_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnBindIpi {
    /// IN: the vCPU to notify.
    pub vcpu: u32,
    /// OUT: the fresh port.
    pub port: Port,
}

/// `EVTCHNOP_close`: close local port `port` (an interdomain peer becomes unbound).
#[doc(alias = "evtchn_close")]
#[doc(alias = "evtchn_close_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnClose {
    /// IN: the local port.
    pub port: Port,
}

/// `EVTCHNOP_send`: notify the remote end of local port `port`.
#[doc(alias = "evtchn_send")]
#[doc(alias = "evtchn_send_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnSend {
    /// IN: the local port.
    pub port: Port,
}

/// `EVTCHNSTAT_closed`: the channel is not in use.
#[doc(alias = "EVTCHNSTAT_closed")]
pub const EVTCHNSTAT_CLOSED: u32 = 0;
/// `EVTCHNSTAT_unbound`: the channel waits for an interdomain connection.
#[doc(alias = "EVTCHNSTAT_unbound")]
pub const EVTCHNSTAT_UNBOUND: u32 = 1;
/// `EVTCHNSTAT_interdomain`: the channel is connected to a remote domain.
#[doc(alias = "EVTCHNSTAT_interdomain")]
pub const EVTCHNSTAT_INTERDOMAIN: u32 = 2;
/// `EVTCHNSTAT_pirq`: the channel is bound to a physical IRQ.
#[doc(alias = "EVTCHNSTAT_pirq")]
pub const EVTCHNSTAT_PIRQ: u32 = 3;
/// `EVTCHNSTAT_virq`: the channel is bound to a virtual IRQ.
#[doc(alias = "EVTCHNSTAT_virq")]
pub const EVTCHNSTAT_VIRQ: u32 = 4;
/// `EVTCHNSTAT_ipi`: the channel is bound to a virtual IPI.
#[doc(alias = "EVTCHNSTAT_ipi")]
pub const EVTCHNSTAT_IPI: u32 = 5;

/// The union `u` of `struct evtchn_status` (8 bytes, 4-aligned), kept as two native-endian words.
///
/// Layout (x86_64, little-endian): `unbound.dom` and `interdomain.dom` are the low 16 bits of
/// word 0, `interdomain.port` is word 1, `pirq` and `virq` are word 0.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnStatusU {
    /// The raw words of the union.
    pub words: [u32; 2],
}

impl EvtchnStatusU {
    /// `u.unbound = { dom }`.
    pub const fn unbound(dom: DomId) -> Self {
        Self {
            words: [dom.0 as u32, 0],
        }
    }
    /// `u.interdomain = { dom, port }`.
    pub const fn interdomain(dom: DomId, port: Port) -> Self {
        Self {
            words: [dom.0 as u32, port.0],
        }
    }
    /// `u.pirq`.
    pub const fn pirq(pirq: u32) -> Self {
        Self { words: [pirq, 0] }
    }
    /// `u.virq`.
    pub const fn virq(virq: u32) -> Self {
        Self { words: [virq, 0] }
    }
    /// Read `u.unbound.dom` / `u.interdomain.dom`.
    pub const fn dom(&self) -> DomId {
        DomId(self.words[0] as u16)
    }
    /// Read `u.interdomain.port`.
    pub const fn port(&self) -> Port {
        Port(self.words[1])
    }
    /// Read `u.pirq` / `u.virq`.
    pub const fn irq(&self) -> u32 {
        self.words[0]
    }
}

/// `EVTCHNOP_status`: the state of `<dom, port>`.
#[doc(alias = "evtchn_status")]
#[doc(alias = "evtchn_status_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnStatus {
    /// IN: the domain (`DOMID_SELF` unless privileged).
    pub dom: DomId,
    /// Implicit C padding before `port`.
    pub _pad0: u16,
    /// IN: the port.
    pub port: Port,
    /// OUT: `EVTCHNSTAT_*`.
    pub status: u32,
    /// OUT: the vCPU the channel notifies.
    pub vcpu: u32,
    /// OUT: per-status detail.
    pub u: EvtchnStatusU,
}

/// `EVTCHNOP_bind_vcpu`: make local port `port` notify vCPU `vcpu`.
#[doc(alias = "evtchn_bind_vcpu")]
#[doc(alias = "evtchn_bind_vcpu_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnBindVcpu {
    /// IN: the local port.
    pub port: Port,
    /// IN: the vCPU.
    pub vcpu: u32,
}

/// `EVTCHNOP_unmask`: unmask local port `port`, delivering it if pending.
#[doc(alias = "evtchn_unmask")]
#[doc(alias = "evtchn_unmask_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnUnmask {
    /// IN: the local port.
    pub port: Port,
}

/// `EVTCHNOP_reset`: close every event channel of `dom`.
#[doc(alias = "evtchn_reset")]
#[doc(alias = "evtchn_reset_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnReset {
    /// IN: the domain (`DOMID_SELF` unless privileged).
    pub dom: DomId,
}

/// `EVTCHNOP_init_control`: register vCPU `vcpu`'s FIFO control block.
#[doc(alias = "evtchn_init_control")]
#[doc(alias = "evtchn_init_control_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnInitControl {
    /// IN: the guest frame holding the control block.
    pub control_gfn: u64,
    /// IN: the control block's offset in that frame (8-aligned, not crossing the page).
    pub offset: u32,
    /// IN: the vCPU.
    pub vcpu: u32,
    /// OUT: `EVTCHN_FIFO_LINK_BITS`.
    pub link_bits: u8,
    /// Explicit C padding.
    pub _pad: [u8; 7],
}

/// `EVTCHNOP_expand_array`: add a page to the FIFO event array.
#[doc(alias = "evtchn_expand_array")]
#[doc(alias = "evtchn_expand_array_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnExpandArray {
    /// IN: the guest frame of the new event-array page.
    pub array_gfn: u64,
}

/// `EVTCHNOP_set_priority`: set a port's FIFO priority.
#[doc(alias = "evtchn_set_priority")]
#[doc(alias = "evtchn_set_priority_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnSetPriority {
    /// IN: the local port.
    pub port: Port,
    /// IN: 0 (highest) to 15 (lowest).
    pub priority: u32,
}

/// The union `u` of `struct evtchn_op` (24 bytes, 4-aligned), kept as raw words.
///
/// Use [`EvtchnOpU::read`] / [`EvtchnOpU::write`] with the argument struct `cmd` names.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnOpU {
    /// The raw words of the union.
    pub words: [u32; 6],
}

impl EvtchnOpU {
    /// Read the union as argument struct `T` (a copy of its first `size_of::<T>()` bytes).
    ///
    /// `T` must fit (every `evtchn_op` member does); otherwise `None`.
    pub fn read<T: FromBytes>(&self) -> Option<T> {
        T::read_from_prefix(self.words.as_bytes())
            .ok()
            .map(|(t, _)| t)
    }

    /// Write argument struct `T` into the union's first bytes; `EINVAL` if it does not fit.
    pub fn write<T: IntoBytes + Immutable>(&mut self, value: &T) -> Result<(), Errno> {
        let src = value.as_bytes();
        let dst = self
            .words
            .as_mut_bytes()
            .get_mut(..src.len())
            .ok_or(Errno::EINVAL)?;
        dst.copy_from_slice(src);
        Ok(())
    }
}

/// `struct evtchn_op`: the argument of the old `HYPERVISOR_event_channel_op_compat`.
#[doc(alias = "evtchn_op")]
#[doc(alias = "evtchn_op_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnOpCompat {
    /// `EVTCHNOP_*` (decode with [`EvtchnOp::try_from`]).
    pub cmd: u32,
    /// The sub-op's argument struct.
    pub u: EvtchnOpU,
}

/// `EVTCHN_2L_NR_CHANNELS`: ports of the 2-level ABI for a 64-bit guest (64 × 64).
pub const EVTCHN_2L_NR_CHANNELS: u32 = 64 * 64;

/// `EVTCHN_FIFO_PRIORITY_MAX`: the highest FIFO priority.
pub const EVTCHN_FIFO_PRIORITY_MAX: u32 = 0;
/// `EVTCHN_FIFO_PRIORITY_DEFAULT`.
pub const EVTCHN_FIFO_PRIORITY_DEFAULT: u32 = 7;
/// `EVTCHN_FIFO_PRIORITY_MIN`: the lowest FIFO priority.
pub const EVTCHN_FIFO_PRIORITY_MIN: u32 = 15;
/// `EVTCHN_FIFO_MAX_QUEUES`.
pub const EVTCHN_FIFO_MAX_QUEUES: usize = EVTCHN_FIFO_PRIORITY_MIN as usize + 1;

/// `event_word_t`: one FIFO event word.
#[doc(alias = "event_word_t")]
pub type EventWord = u32;

/// `EVTCHN_FIFO_PENDING`: bit number of the pending bit in an event word.
pub const EVTCHN_FIFO_PENDING: u32 = 31;
/// `EVTCHN_FIFO_MASKED`.
pub const EVTCHN_FIFO_MASKED: u32 = 30;
/// `EVTCHN_FIFO_LINKED`.
pub const EVTCHN_FIFO_LINKED: u32 = 29;
/// `EVTCHN_FIFO_BUSY`.
pub const EVTCHN_FIFO_BUSY: u32 = 28;
/// `EVTCHN_FIFO_LINK_BITS`.
pub const EVTCHN_FIFO_LINK_BITS: u32 = 17;
/// `EVTCHN_FIFO_LINK_MASK`.
pub const EVTCHN_FIFO_LINK_MASK: u32 = (1 << EVTCHN_FIFO_LINK_BITS) - 1;
/// `EVTCHN_FIFO_NR_CHANNELS`.
pub const EVTCHN_FIFO_NR_CHANNELS: u32 = 1 << EVTCHN_FIFO_LINK_BITS;

/// `struct evtchn_fifo_control_block`: one per vCPU in guest memory (FIFO ABI).
#[doc(alias = "evtchn_fifo_control_block")]
#[doc(alias = "evtchn_fifo_control_block_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct EvtchnFifoControlBlock {
    /// Bitmap of queues with events ready.
    pub ready: u32,
    /// Reserved.
    pub _rsvd: u32,
    /// Head port of each priority queue.
    pub head: [u32; EVTCHN_FIFO_MAX_QUEUES],
}

/// `enum virq`: the virtual interrupts of `xen.h` (`V.` = per vCPU, `G.` = global), gathered
/// for event-channel users. The numbers `xen.h`'s module already mirrors are re-exported from
/// [`crate::xen`], not copied; the remaining architecture slots are defined here.
pub mod virq {
    pub use crate::xen::{
        NR_VIRQS, VIRQ_ARCH_0, VIRQ_ARCH_7, VIRQ_ARGO, VIRQ_CONSOLE, VIRQ_CON_RING, VIRQ_DEBUG,
        VIRQ_DEBUGGER, VIRQ_DOM_EXC, VIRQ_ENOMEM, VIRQ_MEM_EVENT, VIRQ_PCPU_STATE, VIRQ_TBUF,
        VIRQ_TIMER, VIRQ_XENOPROF, VIRQ_XENPMU,
    };

    /// `VIRQ_ARCH_1`.
    pub const VIRQ_ARCH_1: u32 = VIRQ_ARCH_0 + 1;
    /// `VIRQ_ARCH_2`.
    pub const VIRQ_ARCH_2: u32 = VIRQ_ARCH_0 + 2;
    /// `VIRQ_ARCH_3`.
    pub const VIRQ_ARCH_3: u32 = VIRQ_ARCH_0 + 3;
    /// `VIRQ_ARCH_4`.
    pub const VIRQ_ARCH_4: u32 = VIRQ_ARCH_0 + 4;
    /// `VIRQ_ARCH_5`.
    pub const VIRQ_ARCH_5: u32 = VIRQ_ARCH_0 + 5;
    /// `VIRQ_ARCH_6`.
    pub const VIRQ_ARCH_6: u32 = VIRQ_ARCH_0 + 6;
    /// `VIRQ_MCA` (`arch-x86/xen-mca.h`, G., dom0): machine check architecture.
    pub const VIRQ_MCA: u32 = VIRQ_ARCH_0;

    const _: () = assert!(VIRQ_ARCH_6 + 1 == VIRQ_ARCH_7);
}

pub use virq::*;

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<EvtchnAllocUnbound>() == 8);
    assert!(size_of::<EvtchnBindInterdomain>() == 12);
    assert!(offset_of!(EvtchnBindInterdomain, remote_port) == 4);
    assert!(size_of::<EvtchnBindVirq>() == 12);
    assert!(size_of::<EvtchnBindPirq>() == 12);
    assert!(size_of::<EvtchnBindIpi>() == 8);
    assert!(size_of::<EvtchnClose>() == 4);
    assert!(size_of::<EvtchnSend>() == 4);
    assert!(size_of::<EvtchnStatusU>() == 8);
    assert!(size_of::<EvtchnStatus>() == 24);
    assert!(offset_of!(EvtchnStatus, port) == 4);
    assert!(offset_of!(EvtchnStatus, u) == 16);
    assert!(size_of::<EvtchnBindVcpu>() == 8);
    assert!(size_of::<EvtchnUnmask>() == 4);
    assert!(size_of::<EvtchnReset>() == 2);
    assert!(size_of::<EvtchnInitControl>() == 24);
    assert!(align_of::<EvtchnInitControl>() == 8);
    assert!(offset_of!(EvtchnInitControl, link_bits) == 16);
    assert!(size_of::<EvtchnExpandArray>() == 8);
    assert!(size_of::<EvtchnSetPriority>() == 8);
    assert!(size_of::<EvtchnOpU>() == 24);
    assert!(size_of::<EvtchnOpCompat>() == 28);
    assert!(offset_of!(EvtchnOpCompat, u) == 4);
    assert!(size_of::<EvtchnFifoControlBlock>() == 72);
    // Every member of `evtchn_op.u` fits in the union.
    assert!(size_of::<EvtchnStatus>() <= size_of::<EvtchnOpU>());
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evtchn_op_try_from_round_trips_every_op() {
        crate::sub_op::assert_sub_op::<EvtchnOp>();
        for &op in <EvtchnOp as crate::SubOp>::ALL {
            assert_eq!(EvtchnOp::try_from(u32::from(op)), Ok(op));
        }
    }

    #[test]
    fn evtchn_op_try_from_unknown_is_enosys() {
        // do_event_channel_op: `default: rc = -ENOSYS;`
        assert_eq!(EvtchnOp::try_from(15), Err(Errno::ENOSYS));
        assert_eq!(EvtchnOp::try_from(u32::MAX), Err(Errno::ENOSYS));
    }

    #[test]
    fn status_union_accessors_match_c_layout() {
        let s = EvtchnStatus {
            dom: DomId(1),
            port: Port(5),
            status: EVTCHNSTAT_INTERDOMAIN,
            u: EvtchnStatusU::interdomain(DomId(7), Port(9)),
            ..Default::default()
        };
        let b = s.as_bytes();
        assert_eq!(&b[16..18], &7u16.to_le_bytes());
        assert_eq!(&b[20..24], &9u32.to_le_bytes());
        assert_eq!(s.u.dom(), DomId(7));
        assert_eq!(s.u.port(), Port(9));
        assert_eq!(EvtchnStatusU::virq(VIRQ_TIMER).irq(), 0);
    }

    #[test]
    fn op_union_reads_and_writes_members() {
        let mut op = EvtchnOpCompat {
            cmd: EvtchnOp::Status as u32,
            ..Default::default()
        };
        let st = EvtchnStatus {
            dom: DomId::SELF,
            port: Port(3),
            ..Default::default()
        };
        assert_eq!(op.u.write(&st), Ok(()));
        assert_eq!(op.u.read::<EvtchnStatus>(), Some(st));
        assert_eq!(
            op.u.read::<EvtchnSend>(),
            Some(EvtchnSend { port: Port(0x7FF0) })
        );
    }
}
