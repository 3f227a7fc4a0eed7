//! pvclock: `shared_info` maps with `update_va_mapping`; `vcpu_time_info` has a usable scale,
//! system time read the pvclock way is monotonic across 10^6 reads and advances, and the
//! wallclock is a plausible date. `VCPUOP_register_vcpu_time_memory_area` (Linux's vDSO clock):
//! the area is filled at once with the same scale and flags as `vcpu_info`'s copy and a past
//! system time, NULL unregisters, and an area in the hypervisor's range is -EFAULT.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{println, sys::events, Test};

/// A second `vcpu_time_info` (32 bytes) for `VCPUOP_register_vcpu_time_memory_area`.
#[cfg(target_os = "none")]
#[repr(C, align(64))]
struct TimeArea([u64; 4]);

#[cfg(target_os = "none")]
static mut TIME_AREA: TimeArea = TimeArea([u64::MAX; 4]);

#[cfg(target_os = "none")]
fn time_area() -> [u64; 4] {
    // SAFETY: the hypervisor writes the area only during this vCPU's hypercalls or while it is
    // not running; a volatile read sees each word as written.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(TIME_AREA.0)) }
}

/// `VCPUOP_register_vcpu_time_memory_area` (13) for vCPU 0 with `addr`.
#[cfg(target_os = "none")]
fn register_time_area(addr: u64) -> i64 {
    events::vcpu_op(13, &mut addr.to_le_bytes())
}

#[cfg(target_os = "none")]
fn time_area_checks(t: &mut Test) {
    t.eq(
        register_time_area(0xffff_8300_0000_0000),
        -14,
        "a time area in the hypervisor's range is -EFAULT",
    );
    t.eq(
        register_time_area(core::ptr::addr_of!(TIME_AREA) as u64),
        0,
        "register a vcpu_time_info area",
    );
    let a = time_area();
    let now = events::system_time();
    println!("time area at registration: {:x?}", a);
    t.check(
        a[0] as u32 & 1 == 0 && a[0] as u32 != u32::MAX,
        format_args!("version {:#x} is even (the area is complete)", a[0] as u32),
    );
    t.check(
        a[2] != u64::MAX && a[2] <= now,
        format_args!(
            "system_time {:#x} is a past system time (now {now:#x})",
            a[2]
        ),
    );
    t.eq(
        a[3],
        events::time_scale_word(),
        "mul, shift and flags as in vcpu_info's copy",
    );
    t.eq(register_time_area(0), 0, "NULL unregisters the area");
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(
        events::map_shared_info(),
        0,
        "update_va_mapping of shared_info",
    );
    t.check(
        events::tsc_to_system_mul() != 0,
        format_args!("tsc_to_system_mul is set"),
    );
    let first = events::system_time();
    let mut last = first;
    let mut backwards = 0u32;
    for _ in 0..1_000_000 {
        let now = events::system_time();
        if now < last {
            backwards += 1;
        }
        last = now;
    }
    println!("system time {} ns -> {} ns over 10^6 reads", first, last);
    t.eq(backwards, 0, "reads that went backwards");
    t.check(last > first, format_args!("system time advances"));
    let wc = events::wallclock_secs();
    println!("wallclock at boot: {} s since the epoch", wc);
    // 2020-01-01 .. 2100-01-01
    t.check(
        (1_577_836_800..4_102_444_800).contains(&wc),
        format_args!("plausible wallclock {wc}"),
    );
    time_area_checks(&mut t);
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
