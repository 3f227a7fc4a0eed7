//! The virtual IDT and the guest's entry points (Xen's `pv/callback.c`): `set_trap_table`,
//! `set_callbacks` and `callback_op`. Every address is checked canonical before it is kept,
//! since the hypervisor later loads it into RIP when it bounces an exception or event.

use crate::arch::x86_64::guest::GuestVa;
use crate::domain::{Callback, TrapEntry, Vcpu};
use crate::pv::read_guest_struct;
use xen_abi::arch_x86::TrapInfo;
use xen_abi::callback::{
    CallbackFlags, CallbackOp, CallbackRegister, CallbackType, CallbackUnregister,
};
use xen_abi::{Errno, XenResult};

/// The NMI vector of the virtual IDT.
const NMI_VECTOR: usize = 2;
/// `TI_SET_IF` in a trap entry's flags: an interrupt gate, events masked on entry.
const TRAP_MASK_EVENTS: u8 = 4;

/// `set_trap_table`: entries until one with address 0 (a null table clears them all). A
/// non-canonical handler is -EINVAL, with the entries before it kept, as Xen's
/// `do_set_trap_table`; an unreadable entry is -EFAULT. At most one entry per vector is read
/// (Xen would continue through preemption points).
pub fn set_trap_table(v: &Vcpu, table: u64) -> XenResult<u64> {
    if table == 0 {
        v.state.lock().traps = [TrapEntry::default(); 256];
        return Ok(0);
    }
    let mut va = table;
    for _ in 0..=256 {
        let t: TrapInfo = read_guest_struct(va)?;
        if t.address == 0 {
            return Ok(0);
        }
        GuestVa::new(t.address).ok_or(Errno::EINVAL)?;
        v.state.lock().traps[usize::from(t.vector)] = TrapEntry {
            address: t.address,
            flags: t.flags,
        };
        va = va.wrapping_add(core::mem::size_of::<TrapInfo>() as u64);
    }
    Ok(0)
}

/// Xen's `register_guest_callback`: a canonical address for a known type, -ENOSYS for an
/// unknown one.
fn register(v: &Vcpu, reg: &CallbackRegister) -> XenResult<u64> {
    GuestVa::new(reg.address).ok_or(Errno::EINVAL)?;
    let ty = CallbackType::try_from(u32::from(reg.r#type)).map_err(|_| Errno::ENOSYS)?;
    let cb = Callback {
        address: reg.address,
        mask_events: CallbackFlags::from_bits_truncate(reg.flags)
            .contains(CallbackFlags::MASK_EVENTS),
    };
    let mut st = v.state.lock();
    match ty {
        CallbackType::Event => {
            // The event callback always masks upcalls on entry.
            st.event_callback = Callback {
                mask_events: true,
                ..cb
            };
        }
        CallbackType::Failsafe => st.failsafe_callback = cb,
        CallbackType::Syscall => st.syscall_callback = cb,
        // Xen's `register_guest_nmi_callback`: the NMI entry of the virtual IDT, an interrupt
        // gate (events masked on entry) at DPL 0.
        CallbackType::Nmi => {
            st.traps[NMI_VECTOR] = TrapEntry {
                address: reg.address,
                flags: TRAP_MASK_EVENTS,
            };
        }
        // Accepted and never delivered: no 32-bit user mode.
        CallbackType::Syscall32 | CallbackType::Sysenter => {}
        CallbackType::SysenterDeprecated => return Err(Errno::ENOSYS),
    }
    Ok(0)
}

/// `set_callbacks(event, failsafe, syscall)`: registers each as `callback_op` would and, as
/// Xen's `do_set_callbacks`, returns 0 whatever those registrations answered (a non-canonical
/// address leaves that callback as it was).
pub fn set_callbacks(v: &Vcpu, event: u64, failsafe: u64, syscall: u64) -> XenResult<u64> {
    for (ty, address) in [
        (CallbackType::Event, event),
        (CallbackType::Failsafe, failsafe),
        (CallbackType::Syscall, syscall),
    ] {
        let reg = CallbackRegister {
            r#type: ty as u16,
            flags: 0,
            _pad0: 0,
            address,
        };
        let _ = register(v, &reg);
    }
    Ok(0)
}

/// `callback_op`: `CALLBACKOP_register` as [`register`]; `CALLBACKOP_unregister` is -EINVAL for
/// the entry points a PV kernel cannot be without and succeeds only for the NMI callback, as
/// Xen's `unregister_guest_callback`.
pub fn callback_op(v: &Vcpu, cmd: u64, arg: u64) -> XenResult<u64> {
    match CallbackOp::try_from(u32::try_from(cmd).map_err(|_| Errno::ENOSYS)?)? {
        // CALLBACKOP_register
        CallbackOp::Register => register(v, &read_guest_struct::<CallbackRegister>(arg)?),
        // CALLBACKOP_unregister
        CallbackOp::Unregister => {
            let u: CallbackUnregister = read_guest_struct(arg)?;
            match CallbackType::try_from(u32::from(u.r#type)).map_err(|_| Errno::ENOSYS)? {
                // `unregister_guest_nmi_callback`: the NMI entry cleared.
                CallbackType::Nmi => {
                    v.state.lock().traps[NMI_VECTOR] = TrapEntry::default();
                    Ok(0)
                }
                CallbackType::SysenterDeprecated => Err(Errno::ENOSYS),
                _ => Err(Errno::EINVAL),
            }
        }
    }
}
