//! Shared info, pvclock and event upcalls for test guests: map `shared_info` with
//! `update_va_mapping`, read the time the PV way, bind and receive events through the event
//! callback (the stub for [`EVENT_STUB_VECTOR`]), and block.

use core::mem::offset_of;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use xen_abi::xen::{Hypercall as H, SharedInfo, VcpuInfo, VcpuTimeInfo};

/// Offsets in `shared_info` and `vcpu_info` (xen.h), from the layout-checked `xen-abi` structs.
const PENDING: u64 = offset_of!(SharedInfo, evtchn_pending) as u64;
const MASK: u64 = offset_of!(SharedInfo, evtchn_mask) as u64;
const WC_SEC: u64 = offset_of!(SharedInfo, wc_sec) as u64;
const WC_SEC_HI: u64 = offset_of!(SharedInfo, wc_sec_hi) as u64;
const UPCALL_PENDING: u64 = offset_of!(VcpuInfo, evtchn_upcall_pending) as u64;
const UPCALL_MASK: u64 = offset_of!(VcpuInfo, evtchn_upcall_mask) as u64;
const PENDING_SEL: u64 = offset_of!(VcpuInfo, evtchn_pending_sel) as u64;
const TIME: u64 = offset_of!(VcpuInfo, time) as u64;
/// `time.version`, read as the u64 word it starts (with `pad0`).
const TIME_VERSION: u64 = TIME + offset_of!(VcpuTimeInfo, version) as u64;
const TIME_TSC_TIMESTAMP: u64 = TIME + offset_of!(VcpuTimeInfo, tsc_timestamp) as u64;
const TIME_SYSTEM_TIME: u64 = TIME + offset_of!(VcpuTimeInfo, system_time) as u64;
/// `time.tsc_to_system_mul`, read as the u64 word it starts: `tsc_shift` is its byte 4.
const TIME_MUL_SHIFT: u64 = TIME + offset_of!(VcpuTimeInfo, tsc_to_system_mul) as u64;
const _: () =
    assert!(offset_of!(VcpuTimeInfo, tsc_shift) == offset_of!(VcpuTimeInfo, tsc_to_system_mul) + 4);

/// Pseudo-vector of the event callback's stub.
pub const EVENT_STUB_VECTOR: u8 = 0xfd;

static SHINFO_VA: AtomicU64 = AtomicU64::new(0);
/// Events received, per port (ports below 64 only).
static EVENTS: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];
/// Upcalls taken.
pub static UPCALLS: AtomicU64 = AtomicU64::new(0);

/// The guest-virtual page just below the end of the initial mapping, which no test guest uses:
/// where `shared_info` gets mapped.
pub fn shared_info_va() -> u64 {
    let si = crate::start_info();
    let stack_end = si.pt_base + (si.nr_pt_frames + 1) * 4096;
    let v_end = (stack_end + 512 * 1024).next_multiple_of(4 << 20);
    v_end - 4096
}

/// Maps `shared_info` at [`shared_info_va`] (read-write) with `update_va_mapping`; returns the
/// hypercall's result.
pub fn map_shared_info() -> i64 {
    let va = shared_info_va();
    let val = crate::start_info().shared_info | 0x7; // present, writable, user
    let r = crate::hypercall_ints(
        H::UpdateVaMapping as u32,
        [va, val, xen_abi::xen::UVMF_INVLPG, 0, 0],
    );
    if r == 0 {
        SHINFO_VA.store(va, Ordering::SeqCst);
    }
    r
}

fn shinfo() -> u64 {
    SHINFO_VA.load(Ordering::SeqCst)
}

/// Where `vcpu_info[0]` is: in `shared_info` until [`register_vcpu_info`] moves it.
static VCPU_INFO_VA: AtomicU64 = AtomicU64::new(0);

fn vcpu_info() -> u64 {
    match VCPU_INFO_VA.load(Ordering::SeqCst) {
        0 => shinfo(),
        va => va,
    }
}

fn vbyte(off: u64) -> &'static AtomicU8 {
    // SAFETY: `vcpu_info()` is mapped (shared_info or the page registered for it) and `off` is
    // inside its 64 bytes; the hypervisor changes it concurrently, hence atomics.
    unsafe { &*((vcpu_info() + off) as *const AtomicU8) }
}

fn vword(off: u64) -> &'static AtomicU64 {
    // SAFETY: as in `vbyte`; offsets are 8-byte aligned (the registered offset is too).
    unsafe { &*((vcpu_info() + off) as *const AtomicU64) }
}

fn word(off: u64) -> &'static AtomicU64 {
    // SAFETY: `shared_info` is mapped at `shinfo()` (by `map_shared_info`) and `off` is an
    // 8-byte aligned offset inside it; the hypervisor changes it concurrently, hence atomics.
    unsafe { &*((shinfo() + off) as *const AtomicU64) }
}

fn word32(off: u64) -> &'static AtomicU32 {
    // SAFETY: as in `word`, for a 4-byte aligned offset.
    unsafe { &*((shinfo() + off) as *const AtomicU32) }
}

/// `vcpu_info[0].evtchn_upcall_mask`.
pub fn set_upcall_mask(masked: bool) {
    vbyte(UPCALL_MASK).store(u8::from(masked), Ordering::SeqCst);
}

/// `vcpu_info[0].evtchn_upcall_pending`.
/// Sets this vCPU's `evtchn_upcall_pending` by hand (a test's way of making an upcall due).
pub fn set_upcall_pending() {
    vbyte(UPCALL_PENDING).store(1, Ordering::SeqCst);
}

/// True if this vCPU's `evtchn_upcall_pending` is set.
pub fn upcall_pending() -> bool {
    vbyte(UPCALL_PENDING).load(Ordering::SeqCst) != 0
}

/// Clears `vcpu_info[0].evtchn_upcall_pending` (as an upcall handler does first).
pub fn clear_upcall_pending() {
    vbyte(UPCALL_PENDING).store(0, Ordering::SeqCst);
}

/// `vcpu_info[0].evtchn_upcall_mask`.
pub fn upcall_mask() -> bool {
    vbyte(UPCALL_MASK).load(Ordering::SeqCst) != 0
}

/// System time in ns from `vcpu_info[0].time` (the pvclock protocol: retry while the version is
/// odd or changes).
pub fn system_time() -> u64 {
    loop {
        let v1 = vword(TIME_VERSION).load(Ordering::SeqCst) as u32;
        if v1 & 1 != 0 {
            continue;
        }
        let tsc_ts = vword(TIME_TSC_TIMESTAMP).load(Ordering::SeqCst);
        let sys = vword(TIME_SYSTEM_TIME).load(Ordering::SeqCst);
        let ms = vword(TIME_MUL_SHIFT).load(Ordering::SeqCst);
        let tsc = crate::rdtsc();
        let v2 = vword(TIME_VERSION).load(Ordering::SeqCst) as u32;
        if v1 != v2 {
            continue;
        }
        let (mul, shift) = (ms as u32, (ms >> 32) as u8 as i8);
        let delta = tsc.wrapping_sub(tsc_ts);
        let d = if shift < 0 {
            delta >> (-shift)
        } else {
            delta << shift
        };
        return sys.wrapping_add(((u128::from(d) * u128::from(mul)) >> 32) as u64);
    }
}

/// The word of `vcpu_info[0].time` holding `tsc_to_system_mul`, `tsc_shift` and `flags`.
pub fn time_scale_word() -> u64 {
    vword(TIME_MUL_SHIFT).load(Ordering::SeqCst)
}

/// `tsc_to_system_mul` of `vcpu_info[0].time`.
pub fn tsc_to_system_mul() -> u32 {
    vword(TIME_MUL_SHIFT).load(Ordering::SeqCst) as u32
}

/// Wallclock seconds (`wc_sec` + `wc_sec_hi`) at system time 0.
pub fn wallclock_secs() -> u64 {
    let lo = word32(WC_SEC).load(Ordering::SeqCst);
    let hi = word32(WC_SEC_HI).load(Ordering::SeqCst);
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Upcalls taken so far.
pub fn upcalls() -> u64 {
    UPCALLS.load(Ordering::SeqCst)
}

/// Events received on `port` so far.
pub fn events(port: u32) -> u64 {
    EVENTS
        .get(port as usize)
        .map_or(0, |c| c.load(Ordering::SeqCst))
}

/// The event callback's work (called from the trap handler for [`EVENT_STUB_VECTOR`]): the
/// 2-level consumer Linux runs — clear `upcall_pending`, take the selector, consume
/// `pending & !mask` word by word.
pub(crate) fn upcall() {
    UPCALLS.fetch_add(1, Ordering::SeqCst);
    vbyte(UPCALL_PENDING).store(0, Ordering::SeqCst);
    let sel = vword(PENDING_SEL).swap(0, Ordering::SeqCst);
    for w in 0..64u64 {
        if sel & (1 << w) == 0 {
            continue;
        }
        let pending = word(PENDING + w * 8).load(Ordering::SeqCst)
            & !word(MASK + w * 8).load(Ordering::SeqCst);
        for b in 0..64u64 {
            if pending & (1 << b) != 0 {
                word(PENDING + w * 8).fetch_and(!(1 << b), Ordering::SeqCst);
                if let Some(c) = EVENTS.get((w * 64 + b) as usize) {
                    c.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }
}

/// `event_channel_op(cmd, arg)` over a buffer of the sub-op's argument struct.
pub fn evtchn_op(cmd: u64, arg: &mut [u8]) -> i64 {
    crate::hypercall_buf(H::EventChannelOp as u32, cmd, arg)
}

/// `EVTCHNOP_alloc_unbound` for DOMID_SELF, open to `remote` (a domain id or DOMID_SELF).
pub fn alloc_unbound(remote: u16) -> Result<u32, i64> {
    let mut a = [0u8; 8];
    a[..2].copy_from_slice(&0x7ff0u16.to_le_bytes());
    a[2..4].copy_from_slice(&remote.to_le_bytes());
    match evtchn_op(6, &mut a) {
        0 => Ok(u32::from_le_bytes([a[4], a[5], a[6], a[7]])),
        e => Err(e),
    }
}

/// `EVTCHNOP_bind_interdomain` to `remote_port` of `remote_dom`: the local port.
pub fn bind_interdomain(remote_dom: u16, remote_port: u32) -> Result<u32, i64> {
    let mut b = [0u8; 12];
    b[..2].copy_from_slice(&remote_dom.to_le_bytes());
    b[4..8].copy_from_slice(&remote_port.to_le_bytes());
    match evtchn_op(0, &mut b) {
        0 => Ok(u32::from_le_bytes([b[8], b[9], b[10], b[11]])),
        e => Err(e),
    }
}

/// `EVTCHNOP_bind_ipi` on `vcpu`: the port, or 0 if refused.
pub fn bind_ipi(vcpu: u32) -> u32 {
    let mut a = [0u8; 8];
    a[..4].copy_from_slice(&vcpu.to_le_bytes());
    if evtchn_op(7, &mut a) != 0 {
        return 0;
    }
    u32::from_le_bytes([a[4], a[5], a[6], a[7]])
}

/// `EVTCHNOP_send` on `port`.
pub fn send(port: u32) -> i64 {
    evtchn_op(4, &mut port.to_le_bytes())
}

/// `vcpu_op(cmd, vcpu, arg)` with an integer (or guest-address) argument.
pub fn vcpu_op_on(cmd: u64, vcpu: u64, arg: u64) -> i64 {
    crate::hypercall_ints(H::VcpuOp as u32, [cmd, vcpu, arg, 0, 0])
}

/// `EVTCHNOP_bind_virq` on vCPU 0: returns the port or the error.
pub fn bind_virq(virq: u32) -> Result<u32, i64> {
    let mut a = [0u8; 12];
    a[..4].copy_from_slice(&virq.to_le_bytes());
    let r = evtchn_op(1, &mut a);
    if r < 0 {
        Err(r)
    } else {
        Ok(u32::from_le_bytes([a[8], a[9], a[10], a[11]]))
    }
}

/// `SCHEDOP_block`.
pub fn block() -> i64 {
    crate::hypercall_ints(H::SchedOp as u32, [1, 0, 0, 0, 0])
}

/// Blocks until `done()` holds, the race-free way (Linux's idle loop): upcalls are masked
/// while `done` is checked, and `SCHEDOP_block` unmasks them and sleeps only if no upcall is
/// pending — an upcall between an unmasked check and the block would otherwise consume the
/// event the block waits for. Upcalls are left unmasked.
pub fn wait_until(mut done: impl FnMut() -> bool) {
    loop {
        set_upcall_mask(true);
        if done() {
            set_upcall_mask(false);
            return;
        }
        block();
    }
}

/// `set_timer_op(deadline)`.
pub fn set_timer_op(deadline: u64) -> i64 {
    crate::hypercall_ints(H::SetTimerOp as u32, [deadline, 0, 0, 0, 0])
}

/// `vcpu_op(cmd, vcpu 0, arg)` with the argument in a buffer.
pub fn vcpu_op(cmd: u64, arg: &mut [u8]) -> i64 {
    // SAFETY: `arg` is a live buffer of the sub-op's argument (or empty for none).
    unsafe {
        crate::hypercall(
            H::VcpuOp as u32,
            cmd,
            0,
            if arg.is_empty() {
                0
            } else {
                arg.as_mut_ptr() as u64
            },
            0,
            0,
        )
    }
}

/// Sets `port`'s mask bit in `shared_info` (as Linux's `mask_evtchn`).
pub fn mask_port(port: u32) {
    word(MASK + u64::from(port / 64) * 8).fetch_or(1 << (port % 64), Ordering::SeqCst);
}

/// Clears `port`'s pending bit in `shared_info` (as Linux's `clear_evtchn`).
pub fn clear_port(port: u32) {
    word(PENDING + u64::from(port / 64) * 8).fetch_and(!(1 << (port % 64)), Ordering::SeqCst);
}

/// True if `port`'s pending bit is set.
pub fn port_pending(port: u32) -> bool {
    word(PENDING + u64::from(port / 64) * 8).load(Ordering::SeqCst) & (1 << (port % 64)) != 0
}

/// `SCHEDOP_poll` on `ports` until `timeout` (absolute system time, 0 = none).
pub fn poll(ports: &[u32], timeout: u64) -> i64 {
    let mut arg = [0u8; 24];
    arg[..8].copy_from_slice(&(ports.as_ptr() as u64).to_le_bytes());
    arg[8..12].copy_from_slice(&(ports.len() as u32).to_le_bytes());
    arg[16..24].copy_from_slice(&timeout.to_le_bytes());
    // SAFETY: `arg` is a live `sched_poll` whose handle points at the live `ports` slice.
    unsafe { crate::hypercall(H::SchedOp as u32, 3, arg.as_ptr() as u64, 0, 0, 0) }
}

#[repr(C, align(4096))]
struct Page([u8; 4096]);
static mut VCPU_INFO_PAGE: Page = Page([0; 4096]);

/// `VCPUOP_register_vcpu_info` for vCPU 0 at offset 128 of a page of our own; on success the
/// upcall and time accessors use the new location.
pub fn register_vcpu_info() -> i64 {
    register_vcpu_info_at(128)
}

/// `VCPUOP_register_vcpu_info` for vCPU 0 at `offset` of a page of our own.
pub fn register_vcpu_info_at(offset: u32) -> i64 {
    let va = core::ptr::addr_of!(VCPU_INFO_PAGE) as u64;
    // VIRT_BASE 0: the page's PFN is its address / 4096; the p2m gives its MFN.
    let p2m = crate::start_info().mfn_list as *const u64;
    // SAFETY: the p2m list is mapped for every PFN of the domain, this page's included.
    let mfn = unsafe { p2m.add((va / 4096) as usize).read_volatile() };
    let mut arg = [0u8; 16];
    arg[..8].copy_from_slice(&mfn.to_le_bytes());
    arg[8..12].copy_from_slice(&offset.to_le_bytes());
    let r = vcpu_op(10, &mut arg);
    if r == 0 {
        VCPU_INFO_VA.store(va + u64::from(offset), Ordering::SeqCst);
    }
    r
}

/// `vcpu_info[0].evtchn_pending_sel` at its current location.
pub fn pending_sel() -> u64 {
    vword(PENDING_SEL).load(Ordering::SeqCst)
}
