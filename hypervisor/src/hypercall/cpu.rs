//! The per-vCPU CPU state a PV kernel sets through hypercalls (Xen's `pv/misc-hypercalls.c`):
//! `stack_switch`, `fpu_taskswitch` and `set_segment_base`.

use crate::domain::Vcpu;
use xen_abi::XenResult;

/// `stack_switch(ss, sp)`: the kernel stack for entries from guest-user mode. Kept as it is,
/// as Xen does: a stack the bounce cannot write crashes the domain when it is used.
pub fn stack_switch(v: &Vcpu, ss: u64, sp: u64) -> XenResult<u64> {
    let mut st = v.state.lock();
    st.kernel_ss = (ss as u16) | 3;
    st.kernel_sp = sp;
    Ok(0)
}

/// `fpu_taskswitch(set)`: the vCPU's virtual CR0.TS, in the hardware while it runs, so its
/// next FPU instruction raises #NM for the guest (which clears TS, as Xen does).
pub fn fpu_taskswitch(v: &Vcpu, set: u64) -> XenResult<u64> {
    v.state.lock().fpu_ts = set != 0;
    crate::arch::x86_64::cpu::set_ts(set != 0);
    Ok(0)
}

/// `set_debugreg(reg, value)`: Xen's checks (`DebugRegs::set`), then the registers are live at
/// once (the caller is the running vCPU).
pub fn set_debugreg(v: &Vcpu, reg: u64, value: u64) -> XenResult<u64> {
    let mut st = v.state.lock();
    st.debug.set(reg, value)?;
    crate::arch::x86_64::debugreg::load(&st.debug);
    Ok(0)
}

/// `get_debugreg(reg)`: the register's value as the result (`-ENODEV` beyond DR7).
pub fn get_debugreg(v: &Vcpu, reg: u64) -> XenResult<u64> {
    v.state.lock().debug.get(reg)
}

/// `set_segment_base(which, base)`: see `pv::set_segment_base` (also reached by the emulated
/// `wrmsr` of the base MSRs).
pub fn set_segment_base(v: &Vcpu, which: u64, base: u64) -> XenResult<u64> {
    let which = u32::try_from(which).map_err(|_| xen_abi::Errno::EINVAL)?;
    let st = v.state.lock();
    crate::pv::set_segment_base(&st, which, base).map(|()| 0)
}
