//! `do_event_channel_op`: decode a guest's `EVTCHNOP_*` argument bytes into the `xen-abi`
//! struct, run the sub-op on an [`EvtchnHub`], and write the OUT fields back into the bytes.
//!
//! The hypervisor's part: `EvtchnOp::try_from(cmd)` (`ENOSYS` first, as Xen), copy
//! [`arg_size`] bytes from the guest (`EFAULT`), call [`EvtchnHub::event_channel_op`], and on
//! success copy the bytes back if [`writes_back`] says so (`EFAULT`), then act on the effects.

use xen_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindIpi, EvtchnBindPirq, EvtchnBindVcpu,
    EvtchnBindVirq, EvtchnClose, EvtchnExpandArray, EvtchnInitControl, EvtchnOp, EvtchnReset,
    EvtchnSend, EvtchnSetPriority, EvtchnStatus, EvtchnUnmask,
};
use xen_abi::{DomId, Errno, XenResult};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::hub::{Effects, EvtchnHub};
use crate::words::EventWords;

/// Size of the argument struct of `op` (what `copy_from_guest(&arg, arg, 1)` reads).
pub fn arg_size(op: EvtchnOp) -> usize {
    use core::mem::size_of;
    match op {
        EvtchnOp::BindInterdomain => size_of::<EvtchnBindInterdomain>(),
        EvtchnOp::BindVirq => size_of::<EvtchnBindVirq>(),
        EvtchnOp::BindPirq => size_of::<EvtchnBindPirq>(),
        EvtchnOp::Close => size_of::<EvtchnClose>(),
        EvtchnOp::Send => size_of::<EvtchnSend>(),
        EvtchnOp::Status => size_of::<EvtchnStatus>(),
        EvtchnOp::AllocUnbound => size_of::<EvtchnAllocUnbound>(),
        EvtchnOp::BindIpi => size_of::<EvtchnBindIpi>(),
        EvtchnOp::BindVcpu => size_of::<EvtchnBindVcpu>(),
        EvtchnOp::Unmask => size_of::<EvtchnUnmask>(),
        EvtchnOp::Reset | EvtchnOp::ResetCont => size_of::<EvtchnReset>(),
        EvtchnOp::InitControl => size_of::<EvtchnInitControl>(),
        EvtchnOp::ExpandArray => size_of::<EvtchnExpandArray>(),
        EvtchnOp::SetPriority => size_of::<EvtchnSetPriority>(),
    }
}

/// True if Xen copies the argument back to the guest after a successful `op`.
pub fn writes_back(op: EvtchnOp) -> bool {
    matches!(
        op,
        EvtchnOp::AllocUnbound
            | EvtchnOp::BindInterdomain
            | EvtchnOp::BindVirq
            | EvtchnOp::BindIpi
            | EvtchnOp::BindPirq
            | EvtchnOp::Status
            | EvtchnOp::InitControl
    )
}

fn read<T: FromBytes>(arg: &[u8]) -> XenResult<T> {
    T::read_from_bytes(arg).map_err(|_| Errno::EFAULT)
}

fn write<T: IntoBytes + Immutable>(arg: &mut [u8], v: &T) -> XenResult<()> {
    v.write_to(arg).map_err(|_| Errno::EFAULT)
}

impl<W: EventWords> EvtchnHub<W> {
    /// Run sub-op `op` for `caller` on `arg`, the guest's argument bytes (exactly
    /// [`arg_size`]`(op)` of them, else `EFAULT`). On success the OUT fields are in `arg`.
    /// `guest_bind` is `pirq_guest_bind` for `EVTCHNOP_bind_pirq`.
    pub fn event_channel_op(
        &mut self,
        caller: DomId,
        op: EvtchnOp,
        arg: &mut [u8],
        guest_bind: impl FnOnce(u32, bool) -> XenResult<()>,
    ) -> XenResult<Effects> {
        if arg.len() != arg_size(op) {
            return Err(Errno::EFAULT);
        }
        match op {
            EvtchnOp::AllocUnbound => {
                let mut a: EvtchnAllocUnbound = read(arg)?;
                a.port = self.alloc_unbound(caller, a.dom, a.remote_dom)?;
                write(arg, &a)?;
                Ok(Effects::new())
            }
            EvtchnOp::BindInterdomain => {
                let mut a: EvtchnBindInterdomain = read(arg)?;
                let (port, fx) = self.bind_interdomain(caller, a.remote_dom, a.remote_port)?;
                a.local_port = port;
                write(arg, &a)?;
                Ok(fx)
            }
            EvtchnOp::BindVirq => {
                let mut a: EvtchnBindVirq = read(arg)?;
                a.port = self.bind_virq(caller, a.virq, a.vcpu)?;
                write(arg, &a)?;
                Ok(Effects::new())
            }
            EvtchnOp::BindIpi => {
                let mut a: EvtchnBindIpi = read(arg)?;
                a.port = self.bind_ipi(caller, a.vcpu)?;
                write(arg, &a)?;
                Ok(Effects::new())
            }
            EvtchnOp::BindPirq => {
                let mut a: EvtchnBindPirq = read(arg)?;
                a.port = self.bind_pirq(caller, a.pirq, a.flags, guest_bind)?;
                write(arg, &a)?;
                Ok(Effects::new())
            }
            EvtchnOp::Close => self.close(caller, read::<EvtchnClose>(arg)?.port),
            EvtchnOp::Send => self.send(caller, read::<EvtchnSend>(arg)?.port),
            EvtchnOp::Status => {
                let mut a: EvtchnStatus = read(arg)?;
                self.status(caller, a.dom, a.port)?.write_to(&mut a);
                write(arg, &a)?;
                Ok(Effects::new())
            }
            EvtchnOp::BindVcpu => {
                let a: EvtchnBindVcpu = read(arg)?;
                self.bind_vcpu(caller, a.port, a.vcpu)
            }
            EvtchnOp::Unmask => self.unmask(caller, read::<EvtchnUnmask>(arg)?.port),
            EvtchnOp::Reset => self.reset(caller, read::<EvtchnReset>(arg)?.dom),
            EvtchnOp::ResetCont => self.reset_cont(caller, read::<EvtchnReset>(arg)?.dom),
            EvtchnOp::InitControl => {
                let mut a: EvtchnInitControl = read(arg)?;
                a.link_bits = self.init_control(caller, &a)?;
                write(arg, &a)?;
                Ok(Effects::new())
            }
            EvtchnOp::ExpandArray => {
                let a: EvtchnExpandArray = read(arg)?;
                self.expand_array(caller, a.array_gfn)
            }
            EvtchnOp::SetPriority => {
                let a: EvtchnSetPriority = read(arg)?;
                self.set_priority(caller, a.port, a.priority)?;
                Ok(Effects::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::DomainConfig;
    use crate::words::VecEventWords;
    use alloc::vec;
    use xen_abi::event_channel::EVTCHNSTAT_UNBOUND;
    use xen_abi::{Port, SubOp};

    fn hub() -> EvtchnHub<VecEventWords> {
        let mut h = EvtchnHub::new();
        for d in [DomId(1), DomId(2)] {
            h.domain_create(d, DomainConfig::default(), VecEventWords::new(1))
                .unwrap();
        }
        h
    }

    #[test]
    fn event_channel_op_alloc_unbound_writes_port_back() {
        // do_event_channel_op: EVTCHNOP_alloc_unbound copies the struct back with `port` set.
        let mut h = hub();
        let a = EvtchnAllocUnbound {
            dom: DomId::SELF,
            remote_dom: DomId(2),
            port: Port(0),
        };
        let mut bytes = vec![0u8; arg_size(EvtchnOp::AllocUnbound)];
        a.write_to(&mut bytes[..]).unwrap();
        h.event_channel_op(DomId(1), EvtchnOp::AllocUnbound, &mut bytes, |_, _| Ok(()))
            .unwrap();
        let out = EvtchnAllocUnbound::read_from_bytes(&bytes).unwrap();
        assert_eq!(out.port, Port(1));
        assert!(writes_back(EvtchnOp::AllocUnbound));
    }

    #[test]
    fn event_channel_op_status_fills_out_fields() {
        // do_event_channel_op: EVTCHNOP_status copies back status, vcpu and u.
        let mut h = hub();
        h.alloc_unbound(DomId(1), DomId::SELF, DomId(2)).unwrap();
        let s = EvtchnStatus {
            dom: DomId::SELF,
            port: Port(1),
            ..EvtchnStatus::default()
        };
        let mut bytes = vec![0u8; arg_size(EvtchnOp::Status)];
        s.write_to(&mut bytes[..]).unwrap();
        h.event_channel_op(DomId(1), EvtchnOp::Status, &mut bytes, |_, _| Ok(()))
            .unwrap();
        let out = EvtchnStatus::read_from_bytes(&bytes).unwrap();
        assert_eq!(out.status, EVTCHNSTAT_UNBOUND);
        assert_eq!(out.u.dom(), DomId(2));
    }

    #[test]
    fn event_channel_op_wrong_arg_length_is_efault() {
        // copy_from_guest of a short argument fails → -EFAULT.
        let mut h = hub();
        for &op in <EvtchnOp as SubOp>::ALL {
            let mut bytes = vec![0u8; arg_size(op) + 1];
            assert_eq!(
                h.event_channel_op(DomId(1), op, &mut bytes, |_, _| Ok(())),
                Err(Errno::EFAULT),
                "{op:?}"
            );
        }
    }

    #[test]
    fn event_channel_op_error_leaves_arg_untouched() {
        // do_event_channel_op copies back only when the sub-op returned 0.
        let mut h = hub();
        let a = EvtchnBindVirq {
            virq: 99,
            vcpu: 0,
            port: Port(0x55),
        };
        let mut bytes = vec![0u8; arg_size(EvtchnOp::BindVirq)];
        a.write_to(&mut bytes[..]).unwrap();
        assert_eq!(
            h.event_channel_op(DomId(1), EvtchnOp::BindVirq, &mut bytes, |_, _| Ok(())),
            Err(Errno::EINVAL)
        );
        assert_eq!(EvtchnBindVirq::read_from_bytes(&bytes).unwrap(), a);
    }

    #[test]
    fn event_channel_op_send_and_close_reach_the_hub() {
        // EVTCHNOP_send / EVTCHNOP_close take only `port`.
        let mut h = hub();
        let p = h.bind_ipi(DomId(1), 0).unwrap();
        let mut bytes = p.0.to_le_bytes().to_vec();
        let fx = h
            .event_channel_op(DomId(1), EvtchnOp::Send, &mut bytes, |_, _| Ok(()))
            .unwrap();
        assert_eq!(fx.kicks().count(), 1);
        h.event_channel_op(DomId(1), EvtchnOp::Close, &mut bytes, |_, _| Ok(()))
            .unwrap();
        assert_eq!(
            h.event_channel_op(DomId(1), EvtchnOp::Close, &mut bytes, |_, _| Ok(())),
            Err(Errno::EINVAL)
        );
        let mut r = DomId::SELF.0.to_le_bytes().to_vec();
        assert_eq!(
            h.event_channel_op(DomId(1), EvtchnOp::ResetCont, &mut r, |_, _| Ok(())),
            Err(Errno::EBUSY)
        );
    }
}
