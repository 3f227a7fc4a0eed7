//! mca: the machine-check hypercall as the hardware domain uses it (Linux's `xen_mcelog`), and
//! its refusal to anyone else. As dom0: a wrong interface version is -EACCES and an unknown
//! command -EINVAL; `XEN_MC_physcpuinfo` without a buffer counts the online CPUs, with one
//! (`ncpus` > 0, else -EINVAL) fills at most `ncpus` records whose number, APIC id of CPU 0,
//! vendor, family, model, stepping and cache line match this guest's CPUID, with MCG_CAP as
//! their one MSR; `XEN_MC_fetch` finds no telemetry (`XEN_MC_NODATA`), needs a buffer and a
//! queue, and an acknowledgement succeeds; `XEN_MC_notifydomain` is -EINVAL. As a domU: -EPERM.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::mca::{
        McinfoLogicalCpu, XenMc, XenMcFetch, XenMcPhyscpuinfo, XEN_MCA_INTERFACE_VERSION,
        XEN_MC_ACK, XEN_MC_NODATA, XEN_MC_NONURGENT, XEN_MC_URGENT,
    },
    abi::xen::Hypercall,
    println, sys,
    sys::traps::fep_cpuid,
    Test,
};
#[cfg(target_os = "none")]
use zerocopy::{FromZeros, Immutable, IntoBytes};

#[cfg(target_os = "none")]
const FETCH: u32 = 1;
#[cfg(target_os = "none")]
const NOTIFYDOMAIN: u32 = 2;
#[cfg(target_os = "none")]
const PHYSCPUINFO: u32 = 3;

#[cfg(target_os = "none")]
fn mca<T: IntoBytes + Immutable>(cmd: u32, arg: &T, version: u32) -> (i64, XenMc) {
    let mut op = XenMc::new_zeroed();
    op.cmd = cmd;
    op.interface_version = version;
    op.set_arg(arg);
    let rc = sys::hypercall_with(Hypercall::Arch0 as u32, &mut op);
    (rc, op)
}

#[cfg(target_os = "none")]
static mut CPUS: [McinfoLogicalCpu; 8] = [McinfoLogicalCpu {
    mc_cpunr: u32::MAX,
    mc_chipid: 0,
    mc_coreid: 0,
    mc_threadid: 0,
    mc_apicid: u32::MAX,
    mc_clusterid: 0,
    mc_ncores: 0,
    mc_ncores_active: 0,
    mc_nthreads: 0,
    mc_cpuid_level: 0,
    mc_family: 0,
    mc_vendor: 0,
    mc_model: 0,
    mc_step: 0,
    mc_vendorid: [0; 16],
    mc_brandid: [0; 64],
    mc_cpu_caps: [0; 7],
    mc_cache_size: 0,
    mc_cache_alignment: 0,
    mc_nmsrvals: -1,
    _pad0: 0,
    mc_msrvalues: [domu_frontends::abi::mca::McinfoMsr { reg: 0, value: 0 }; 8],
}; 8];

#[cfg(target_os = "none")]
fn cpus() -> [McinfoLogicalCpu; 8] {
    // SAFETY: written only by the hypervisor during this vCPU's hypercalls.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(CPUS)) }
}

#[cfg(target_os = "none")]
fn physcpuinfo(ncpus: u32, buffer: bool) -> (i64, u32) {
    let a = XenMcPhyscpuinfo {
        ncpus,
        _pad0: 0,
        info: if buffer {
            core::ptr::addr_of!(CPUS) as u64
        } else {
            0
        },
    };
    let (rc, op) = mca(PHYSCPUINFO, &a, XEN_MCA_INTERFACE_VERSION);
    (
        rc,
        op.arg::<XenMcPhyscpuinfo>().map_or(u32::MAX, |p| p.ncpus),
    )
}

#[cfg(target_os = "none")]
fn as_hardware_domain(t: &mut Test) {
    let (rc, _) = mca(PHYSCPUINFO, &XenMcPhyscpuinfo::default(), 0x01ec_c002);
    t.eq(rc, -13, "an old interface version is -EACCES");
    let (rc, _) = mca(99, &XenMcPhyscpuinfo::default(), XEN_MCA_INTERFACE_VERSION);
    t.eq(rc, -22, "an unknown command is -EINVAL");
    t.eq(
        sys::hypercall_ints(Hypercall::Arch0 as u32, [0xffff_8300_0000_0000, 0, 0, 0, 0]),
        -14,
        "an argument in the hypervisor's range is -EFAULT",
    );
    let bad = XenMcPhyscpuinfo {
        ncpus: 1,
        _pad0: 0,
        info: 0xffff_8300_0000_0000,
    };
    let (rc, op) = mca(PHYSCPUINFO, &bad, XEN_MCA_INTERFACE_VERSION);
    t.eq(
        (rc, op.arg::<XenMcPhyscpuinfo>().map(|p| p.ncpus)),
        (-14, Some(1)),
        "records into the hypervisor's range are -EFAULT (the count still written)",
    );

    let (rc, n) = physcpuinfo(0, false);
    println!("physcpuinfo without a buffer: rc {rc}, {n} CPU(s)");
    t.eq(rc, 0, "physcpuinfo without a buffer");
    t.check((1..=8).contains(&n), format_args!("{n} online CPUs"));
    t.eq(
        physcpuinfo(0, true).0,
        -22,
        "a buffer of 0 entries is -EINVAL",
    );
    let (rc, got) = physcpuinfo(1, true);
    t.eq((rc, got), (0, 1), "a buffer of 1 entry gets 1");
    let (rc, got) = physcpuinfo(8, true);
    t.eq((rc, got), (0, n), "a buffer of 8 gets every online CPU");

    let (vendor12, family, model, stepping) = domu_frontends::cpu_signature();
    let mut vendor = [0u8; 16];
    vendor[..12].copy_from_slice(&vendor12);
    let v = fep_cpuid(0, 0);
    let l1 = fep_cpuid(1, 0);
    let xen_vendor = match &vendor[..4] {
        b"Genu" => 1,
        b"Auth" => 2,
        _ => 0,
    };
    let recs = cpus();
    for (i, c) in recs.iter().take(n as usize).enumerate() {
        println!(
            "cpu {}: apic {} chip {} core {} thread {} ncores {}/{} nthreads {} level {} vendor {} f/m/s {:#x}/{:#x}/{} cache {} KiB align {} msrs {} ({:#x})",
            c.mc_cpunr,
            c.mc_apicid,
            c.mc_chipid,
            c.mc_coreid,
            c.mc_threadid,
            c.mc_ncores_active,
            c.mc_ncores,
            c.mc_nthreads,
            c.mc_cpuid_level,
            c.mc_vendor,
            c.mc_family,
            c.mc_model,
            c.mc_step,
            c.mc_cache_size,
            c.mc_cache_alignment,
            c.mc_nmsrvals,
            c.mc_msrvalues[0].reg
        );
        t.eq(c.mc_cpunr, i as u32, "records are in CPU order");
        t.check(
            c.mc_vendorid == vendor && c.mc_vendor == xen_vendor,
            format_args!("CPU {i}'s vendor is CPUID's"),
        );
        t.eq(
            (c.mc_family, c.mc_model, c.mc_step),
            (family, model, stepping),
            "family, model and stepping are CPUID's",
        );
        t.eq(c.mc_cpuid_level, v[0] as i32, "the CPUID level is CPUID's");
        t.eq(
            c.mc_cache_alignment,
            ((l1[1] >> 8) & 0xff) * 8,
            "the cache line is CPUID's CLFLUSH size",
        );
        t.eq(
            (c.mc_nmsrvals, c.mc_msrvalues[0].reg),
            (1, 0x179),
            "one MSR, MCG_CAP",
        );
    }
    t.eq(recs[0].mc_apicid, 0, "CPU 0's APIC id");

    let mut buf = [0u64; 64];
    let fetch = |flags: u32, data: u64| {
        let a = XenMcFetch {
            flags,
            _pad0: 0,
            fetch_id: 7,
            data,
        };
        let (rc, op) = mca(FETCH, &a, XEN_MCA_INTERFACE_VERSION);
        (rc, op.arg::<XenMcFetch>().unwrap_or_default())
    };
    let data = buf.as_mut_ptr() as u64;
    for q in [XEN_MC_NONURGENT, XEN_MC_URGENT] {
        let (rc, f) = fetch(q, data);
        t.eq(
            (rc, f.flags, f.fetch_id),
            (0, XEN_MC_NODATA, 0),
            "a fetch finds no telemetry",
        );
    }
    t.eq(fetch(0, data).0, -22, "a fetch from no queue is -EINVAL");
    t.eq(
        fetch(XEN_MC_NONURGENT | XEN_MC_URGENT, data).0,
        -22,
        "a fetch from both queues is -EINVAL",
    );
    t.eq(
        fetch(XEN_MC_NONURGENT, 0).0,
        -22,
        "a fetch without a buffer is -EINVAL",
    );
    t.eq(
        fetch(XEN_MC_NONURGENT | XEN_MC_ACK, 0).0,
        0,
        "an acknowledgement",
    );
    let (rc, _) = mca(NOTIFYDOMAIN, &[0u64; 2], XEN_MCA_INTERFACE_VERSION);
    t.eq(rc, -22, "notifydomain is -EINVAL");
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    // SIF_PRIVILEGED
    if sys::start_info().flags & 1 != 0 {
        as_hardware_domain(&mut t);
    } else {
        t.eq(physcpuinfo(0, false).0, -1, "mca from a domU is -EPERM");
    }
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
