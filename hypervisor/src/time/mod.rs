//! Guest time: system time (ns since boot) from the TSC with the pvclock scale guests use,
//! each vCPU's `vcpu_time_info`, the wallclock in `shared_info`, and the single-shot and
//! periodic timers that raise `VIRQ_TIMER`.

use crate::arch::x86_64::{cpu, rtc, tsc};
use crate::domain::Domain;
use crate::mm::guest::frame_write;
use core::sync::atomic::{AtomicU64, Ordering};
use xen_abi::Mfn;

static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static MUL: AtomicU64 = AtomicU64::new(0);
static SHIFT: AtomicU64 = AtomicU64::new(0);
/// The wallclock at system time 0, in ns since the epoch (Xen's `wc_sec`/`wc_nsec`).
static BOOT_WALLCLOCK_NS: AtomicU64 = AtomicU64::new(0);

/// `VIRQ_TIMER`.
pub const VIRQ_TIMER: u32 = 0;
/// The longest timer period Xen accepts (`STIME_DELTA_MAX`, `u64::MAX >> 2` ns).
pub const STIME_DELTA_MAX: u64 = u64::MAX >> 2;
/// The default periodic timer of a PV vCPU (Xen: 10 ms).
pub const DEFAULT_PERIOD_NS: u64 = 10_000_000;

/// Xen's `set_time_scale`: a multiplier (32.32 fixed point) and shift turning TSC ticks into ns.
pub fn time_scale(tsc_hz: u64) -> (u32, i8) {
    let mut tps64 = tsc_hz.max(1);
    let mut shift: i8 = 0;
    while tps64 > 2_000_000_000 {
        tps64 >>= 1;
        shift -= 1;
    }
    let mut tps32 = tps64 as u32;
    while tps32 <= 1_000_000_000 {
        tps32 <<= 1;
        shift += 1;
    }
    (((1_000_000_000u64 << 32) / u64::from(tps32)) as u32, shift)
}

/// The pvclock conversion a guest performs: `((delta << shift) * mul) >> 32`.
pub fn scale_delta(delta: u64, mul: u32, shift: i8) -> u64 {
    let d = if shift < 0 {
        delta >> (-shift)
    } else {
        delta << shift
    };
    ((u128::from(d) * u128::from(mul)) >> 32) as u64
}

/// Starts guest time: the scale from the calibrated TSC and the wallclock from the RTC.
pub fn init() {
    let (mul, shift) = time_scale(tsc::hz());
    MUL.store(u64::from(mul), Ordering::Relaxed);
    SHIFT.store(shift as u8 as u64, Ordering::Relaxed);
    BOOT_TSC.store(cpu::rdtsc(), Ordering::Relaxed);
    BOOT_WALLCLOCK_NS.store(
        rtc::unix_time().saturating_mul(NS_PER_SEC),
        Ordering::Relaxed,
    );
}

fn scale() -> (u32, i8) {
    (
        MUL.load(Ordering::Relaxed) as u32,
        SHIFT.load(Ordering::Relaxed) as u8 as i8,
    )
}

/// System time in ns since boot, exactly as guests compute it from their `vcpu_time_info`.
pub fn now() -> u64 {
    let (mul, shift) = scale();
    scale_delta(
        cpu::rdtsc().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed)),
        mul,
        shift,
    )
}

/// The `vcpu_time_info` body as of now (`version` left for the writer).
fn time_info_now() -> xen_abi::xen::VcpuTimeInfo {
    let (mul, shift) = scale();
    let tsc_now = cpu::rdtsc();
    xen_abi::xen::VcpuTimeInfo {
        version: 0,
        pad0: 0,
        tsc_timestamp: tsc_now,
        system_time: scale_delta(
            tsc_now.wrapping_sub(BOOT_TSC.load(Ordering::Relaxed)),
            mul,
            shift,
        ),
        tsc_to_system_mul: mul,
        tsc_shift: shift,
        // One scale from one boot TSC serves every CPU: the TSCs are taken as synchronised, and
        // a guest may read time with `rdtsc` on any of them (Linux's vDSO needs this bit).
        flags: xen_abi::xen::XEN_PVCLOCK_TSC_STABLE_BIT,
        pad1: [0; 2],
    }
}

/// Writes a `vcpu_time_info` through `read_version`/`write`, the pvclock way (Xen's
/// `update_guest_time_info`): the version made odd, then the whole record (still odd), then the
/// version even again.
fn publish_time_info(
    read_version: impl FnOnce() -> u32,
    mut write: impl FnMut(usize, &[u8]) -> bool,
) -> bool {
    use core::mem::offset_of;
    use xen_abi::xen::VcpuTimeInfo;
    let version_at = offset_of!(VcpuTimeInfo, version);
    let odd = read_version().wrapping_add(1) | 1;
    if !write(version_at, &odd.to_le_bytes()) {
        return false;
    }
    let mut t = time_info_now();
    t.version = odd;
    write(0, zerocopy::IntoBytes::as_bytes(&t))
        && write(version_at, &odd.wrapping_add(1).to_le_bytes())
}

/// Writes the `vcpu_time_info` of the `vcpu_info` at `(frame, offset)` (version odd while
/// updating).
pub fn update_vcpu_time((frame, vcpu_info): (Mfn, usize)) {
    use core::mem::offset_of;
    use xen_abi::xen::VcpuInfo;
    let base = vcpu_info + offset_of!(VcpuInfo, time);
    publish_time_info(
        || {
            let mut v = [0u8; 4];
            let _ = crate::mm::guest::frame_read(frame, base, &mut v);
            u32::from_le_bytes(v)
        },
        |off, bytes| frame_write(frame, base + off, bytes).is_ok(),
    );
}

/// Writes the same `vcpu_time_info` to the guest's registered time area at `va` through the
/// current page tables (the vCPU's own), as Xen's `update_guest_time_info`: an unmapped or
/// read-only area is skipped and tried again the next time.
#[cfg(target_os = "none")]
pub fn update_time_area(va: u64) {
    use crate::arch::x86_64::guest::{copy_from_guest, copy_to_guest};
    publish_time_info(
        || {
            let mut v = [0u8; 4];
            let _ = copy_from_guest(va, &mut v);
            u32::from_le_bytes(v)
        },
        |off, bytes| copy_to_guest(va + off as u64, bytes).is_ok(),
    );
}

const NS_PER_SEC: u64 = 1_000_000_000;

/// The wallclock at system time 0 for "`secs`.`nsecs` was the time at `system_time`" (Xen's
/// `do_settime`, its arithmetic wrapping as Xen's does): seconds and nanoseconds.
pub fn wallclock_base(secs: u64, nsecs: u32, system_time: u64) -> (u64, u32) {
    let x = secs
        .wrapping_mul(NS_PER_SEC)
        .wrapping_add(u64::from(nsecs))
        .wrapping_sub(system_time);
    (x / NS_PER_SEC, (x % NS_PER_SEC) as u32)
}

/// `XENPF_settime`: the hardware domain sets the wallclock; every domain's `shared_info` shows it.
pub fn set_wallclock(secs: u64, nsecs: u32, system_time: u64) {
    let (s, ns) = wallclock_base(secs, nsecs, system_time);
    BOOT_WALLCLOCK_NS.store(
        s.wrapping_mul(NS_PER_SEC).wrapping_add(u64::from(ns)),
        Ordering::Relaxed,
    );
    let domains: alloc::vec::Vec<_> = crate::domain::DOMAINS.lock().values().cloned().collect();
    for d in domains {
        update_wallclock(&d);
    }
}

/// Writes the wallclock (`wc_sec`, `wc_nsec`, `wc_sec_hi`: the time at system time 0), with
/// `wc_version` odd while it changes.
pub fn update_wallclock(d: &Domain) {
    use core::mem::offset_of;
    use xen_abi::xen::SharedInfo;
    let wc = BOOT_WALLCLOCK_NS.load(Ordering::Relaxed);
    let (secs, nsec) = (wc / NS_PER_SEC, (wc % NS_PER_SEC) as u32);
    // The toolstack's offset (`XEN_DOMCTL_settimeoffset`), added as Xen adds it.
    let secs = secs.wrapping_add_signed(d.time_offset.load(Ordering::Acquire));
    let version = offset_of!(SharedInfo, wc_version);
    let mut v = [0u8; 4];
    let _ = crate::mm::guest::frame_read(d.shared_info, version, &mut v);
    let odd = u32::from_le_bytes(v).wrapping_add(1) | 1;
    let _ = frame_write(d.shared_info, version, &odd.to_le_bytes());
    // wc_sec, wc_nsec, wc_sec_hi, one after the other.
    const _: () = assert!(offset_of!(SharedInfo, wc_sec_hi) == offset_of!(SharedInfo, wc_sec) + 8);
    let words = [secs as u32, nsec, (secs >> 32) as u32];
    let _ = frame_write(
        d.shared_info,
        offset_of!(SharedInfo, wc_sec),
        zerocopy::IntoBytes::as_bytes(&words),
    );
    let _ = frame_write(d.shared_info, version, &odd.wrapping_add(1).to_le_bytes());
}

#[cfg(target_os = "none")]
/// Called on every hypervisor tick of this CPU: fires due single-shot and periodic timers of the
/// vCPUs it runs as `VIRQ_TIMER`.
pub fn tick() {
    let now = now();
    let mut due: heapless::Vec<(xen_abi::DomId, xen_abi::VcpuId), 32> = heapless::Vec::new();
    crate::sched::for_each_local_vcpu(|v| {
        let mut st = v.state.lock();
        let mut fire = false;
        if st.timer_deadline.is_some_and(|t| t <= now) {
            st.timer_deadline = None;
            fire = true;
        }
        if st.periodic_ns != 0 && st.periodic_next <= now {
            let missed = (now - st.periodic_next) / st.periodic_ns;
            st.periodic_next = st
                .periodic_next
                .saturating_add((missed + 1).saturating_mul(st.periodic_ns));
            fire = true;
        }
        if st.poll_deadline.is_some_and(|t| t <= now) {
            st.poll = None;
            st.poll_deadline = None;
            st.blocked = false;
        }
        if fire {
            let _ = due.push((v.domid, v.id));
        }
    });
    for (d, v) in due {
        crate::event::send_vcpu_virq(d, v, VIRQ_TIMER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_scale_converts_one_second_of_ticks_to_1e9_ns() {
        for hz in [
            1_000_000_000u64,
            2_104_068_000,
            3_600_000_000,
            100_000_000,
            25_000_000,
        ] {
            let (mul, shift) = time_scale(hz);
            let ns = scale_delta(hz, mul, shift);
            assert!(ns.abs_diff(1_000_000_000) < 10, "{hz} Hz: {ns} ns");
        }
    }

    #[test]
    fn wallclock_base_subtracts_the_system_time_as_xen_does() {
        // 1.5 s of system time at 1_700_000_000.25 s: the base is 1_699_999_998.75 s.
        assert_eq!(
            wallclock_base(1_700_000_000, 250_000_000, 1_500_000_000),
            (1_699_999_998, 750_000_000)
        );
        assert_eq!(wallclock_base(10, 0, 0), (10, 0));
    }

    #[test]
    fn scale_delta_is_monotonic() {
        let (mul, shift) = time_scale(2_104_068_000);
        let mut last = 0;
        for d in (0..10_000_000u64).step_by(997) {
            let ns = scale_delta(d, mul, shift);
            assert!(ns >= last);
            last = ns;
        }
    }
}
