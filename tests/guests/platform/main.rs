//! platform: `platform_op` as the hardware domain sees it, and its refusal to anyone else.
//! As dom0: a wrong interface version is -EACCES and an unknown sub-op -ENOSYS;
//! `XENPF_get_cpuinfo` gives CPU 0 online with APIC and ACPI id 0 (QEMU's numbering), every CPU up
//! to `max_present` online and the one after it invalid; `XENPF_get_cpu_version` gives CPU 0 the
//! vendor, family, model and stepping this guest's CPUID shows and zeros past the last CPU;
//! `XENPF_settime64` with `mbz` set is -EINVAL, and a valid one moves the wallclock in
//! `shared_info` to the time set; `XENPF_firmware_info` answers the keyboard shift flags,
//! -ESRCH past the entries it has and -EINVAL for an unknown type. As a domU: -EPERM.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::platform::{
        XenPlatformOp, XenpfFirmwareInfo, XenpfPcpuVersion, XenpfPcpuinfo, XenpfSettime64,
        XENPF_INTERFACE_VERSION, XEN_FW_DISK_INFO, XEN_FW_KBD_SHIFT_FLAGS, XEN_PCPU_FLAGS_INVALID,
        XEN_PCPU_FLAGS_ONLINE,
    },
    abi::xen::Hypercall,
    println, sys,
    sys::events,
    Test,
};
#[cfg(target_os = "none")]
use zerocopy::{FromZeros, Immutable, IntoBytes};

/// `XENPF_get_cpu_version`, `XENPF_firmware_info`, `XENPF_get_cpuinfo`, `XENPF_settime64`.
#[cfg(target_os = "none")]
const GET_CPU_VERSION: u32 = 48;
#[cfg(target_os = "none")]
const FIRMWARE_INFO: u32 = 50;
#[cfg(target_os = "none")]
const GET_CPUINFO: u32 = 55;
#[cfg(target_os = "none")]
const SETTIME64: u32 = 62;

/// Issues `platform_op` with `cmd` and `arg` (version `XENPF_INTERFACE_VERSION` unless given);
/// returns the result and the op as the hypervisor left it.
#[cfg(target_os = "none")]
fn platform<T: IntoBytes + Immutable>(cmd: u32, arg: &T, version: u32) -> (i64, XenPlatformOp) {
    let mut op = XenPlatformOp::new_zeroed();
    op.cmd = cmd;
    op.interface_version = version;
    op.set_arg(arg);
    let rc = sys::hypercall_with(Hypercall::PlatformOp as u32, &mut op);
    (rc, op)
}

#[cfg(target_os = "none")]
fn cpuinfo(cpu: u32) -> (i64, XenpfPcpuinfo) {
    let a = XenpfPcpuinfo {
        xen_cpuid: cpu,
        ..Default::default()
    };
    let (rc, op) = platform(GET_CPUINFO, &a, XENPF_INTERFACE_VERSION);
    (rc, op.arg().unwrap_or_default())
}

#[cfg(target_os = "none")]
fn firmware(r#type: u32, index: u32) -> (i64, XenpfFirmwareInfo) {
    let a = XenpfFirmwareInfo {
        r#type,
        index,
        u: [0; 4],
    };
    let (rc, op) = platform(FIRMWARE_INFO, &a, XENPF_INTERFACE_VERSION);
    (rc, op.arg().unwrap_or_default())
}

#[cfg(target_os = "none")]
fn as_hardware_domain(t: &mut Test) {
    let (rc, _) = platform(GET_CPUINFO, &XenpfPcpuinfo::default(), 0x0300_0000);
    t.eq(rc, -13, "an old interface version is -EACCES");
    let (rc, _) = platform(1, &XenpfPcpuinfo::default(), XENPF_INTERFACE_VERSION);
    t.eq(rc, -38, "an unknown sub-op is -ENOSYS");
    t.eq(
        sys::hypercall_ints(
            Hypercall::PlatformOp as u32,
            [0xffff_8300_0000_0000, 0, 0, 0, 0],
        ),
        -14,
        "an argument in the hypervisor's range is -EFAULT",
    );

    let (rc, c0) = cpuinfo(0);
    println!("get_cpuinfo(0): rc {rc} {:?}", c0);
    t.eq(rc, 0, "get_cpuinfo of CPU 0");
    t.eq(c0.flags, XEN_PCPU_FLAGS_ONLINE, "CPU 0 is online");
    t.eq(c0.apic_id, 0, "CPU 0's APIC id");
    t.eq(c0.acpi_id, 0, "CPU 0's ACPI processor id");
    let last = c0.max_present;
    t.check(last < 64, format_args!("max_present {last} is plausible"));
    let (rc, cl) = cpuinfo(last);
    t.check(
        rc == 0 && cl.flags == XEN_PCPU_FLAGS_ONLINE && cl.max_present == last,
        format_args!("the last present CPU {last} is online ({rc}, {:?})", cl),
    );
    let (rc, cx) = cpuinfo(last + 1);
    t.check(
        rc == 0 && cx.flags & XEN_PCPU_FLAGS_INVALID != 0,
        format_args!("CPU {} past the last is invalid ({rc}, {:?})", last + 1, cx),
    );

    let ver = |cpu: u32| {
        let a = XenpfPcpuVersion {
            xen_cpuid: cpu,
            family: 0xdead,
            ..Default::default()
        };
        let (rc, op) = platform(GET_CPU_VERSION, &a, XENPF_INTERFACE_VERSION);
        (rc, op.arg::<XenpfPcpuVersion>().unwrap_or_default())
    };
    let (rc, v0) = ver(0);
    let (vendor, family, model, stepping) = domu_frontends::cpu_signature();
    println!(
        "get_cpu_version(0): rc {rc} vendor {:?} family {:#x} model {:#x} stepping {} max_present {}",
        core::str::from_utf8(&v0.vendor_id).unwrap_or("?"),
        v0.family,
        v0.model,
        v0.stepping,
        v0.max_present
    );
    t.eq(rc, 0, "get_cpu_version of CPU 0");
    t.check(
        v0.vendor_id == vendor,
        format_args!("CPU 0's vendor is CPUID's"),
    );
    t.eq(
        (v0.family, v0.model, v0.stepping),
        (family, model, stepping),
        "CPU 0's family, model and stepping are CPUID's",
    );
    t.eq(v0.max_present, last, "get_cpu_version's max_present");
    let (rc, vx) = ver(last + 1);
    t.check(
        rc == 0 && vx.vendor_id == [0; 12] && vx.family == 0 && vx.model == 0,
        format_args!("no version past the last CPU ({rc}, {:?})", vx),
    );

    let bad = XenpfSettime64 {
        secs: 2_000_000_000,
        nsecs: 0,
        mbz: 1,
        system_time: 0,
    };
    t.eq(
        platform(SETTIME64, &bad, XENPF_INTERFACE_VERSION).0,
        -22,
        "settime64 with mbz set is -EINVAL",
    );
    let now = events::system_time();
    let set = XenpfSettime64 {
        secs: 2_000_000_000,
        nsecs: 0,
        mbz: 0,
        system_time: now,
    };
    t.eq(
        platform(SETTIME64, &set, XENPF_INTERFACE_VERSION).0,
        0,
        "settime64",
    );
    let wc = events::wallclock_secs();
    // Whole seconds of each, so one second of rounding either way.
    let shown = wc + events::system_time() / 1_000_000_000;
    println!("wallclock base {wc} s: the time is now {shown} s");
    t.check(
        (1_999_999_999..2_000_000_002).contains(&shown),
        format_args!("the wallclock shows the time set ({shown})"),
    );

    let (rc, fw) = firmware(XEN_FW_KBD_SHIFT_FLAGS, 0);
    println!("keyboard shift flags: rc {rc} {:#x}", fw.kbd_shift_flags());
    t.eq(rc, 0, "firmware_info: keyboard shift flags");
    t.eq(
        firmware(XEN_FW_KBD_SHIFT_FLAGS, 1).0,
        -3,
        "firmware_info: keyboard shift flags index 1 is -ESRCH",
    );
    t.eq(
        firmware(XEN_FW_DISK_INFO, 99).0,
        -3,
        "firmware_info: EDD disk 99 is -ESRCH",
    );
    t.eq(
        firmware(99, 0).0,
        -22,
        "firmware_info: an unknown type is -EINVAL",
    );
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(events::map_shared_info(), 0, "map shared_info");
    // SIF_PRIVILEGED
    if sys::start_info().flags & 1 != 0 {
        as_hardware_domain(&mut t);
    } else {
        let (rc, _) = cpuinfo(0);
        t.eq(rc, -1, "platform_op from a domU is -EPERM");
        let set = XenpfSettime64 {
            secs: 1,
            nsecs: 0,
            mbz: 0,
            system_time: 0,
        };
        t.eq(
            platform(SETTIME64, &set, XENPF_INTERFACE_VERSION).0,
            -1,
            "settime64 from a domU is -EPERM",
        );
    }
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
