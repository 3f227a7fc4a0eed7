//! `mca` (Xen's `arch/x86/cpu/mcheck/mce.c` `do_mca`): the hardware domain's machine-check
//! interface. Ferrite describes the physical CPUs (`XEN_MC_physcpuinfo`, which Linux's
//! `xen_mcelog` reads before it offers `/dev/mcelog`) and records no machine-check telemetry,
//! so a fetch always finds none.

use crate::domain::Domain;
use crate::pv::{read_guest_struct, write_guest, write_guest_struct};
use xen_abi::mca::{
    McOp, McinfoLogicalCpu, McinfoMsr, XenMc, XenMcFetch, XenMcPhyscpuinfo, MC_MSR_ARRAYSIZE,
    MC_NCAPS, XEN_MCA_INTERFACE_VERSION, XEN_MC_ACK, XEN_MC_NODATA, XEN_MC_NONURGENT,
    XEN_MC_URGENT,
};
use xen_abi::{Errno, XenResult};
use zerocopy::{FromZeros, IntoBytes};

/// An absent CPUID leaf.
const ZERO: core::arch::x86_64::CpuidResult = core::arch::x86_64::CpuidResult {
    eax: 0,
    ebx: 0,
    ecx: 0,
    edx: 0,
};

/// `MSR_IA32_MCG_CAP`.
const MSR_IA32_MCG_CAP: u32 = 0x179;

/// `mca(op)`: the hardware domain only (`-EPERM`), the interface version checked (`-EACCES`),
/// an unknown command `-EINVAL` (Xen's "bad command").
pub fn mca(dom: &Domain, arg: u64) -> XenResult<u64> {
    if !dom.privileged {
        return Err(Errno::EPERM);
    }
    let mut op: XenMc = read_guest_struct(arg)?;
    if op.interface_version != XEN_MCA_INTERFACE_VERSION {
        return Err(Errno::EACCES);
    }
    match McOp::try_from(op.cmd).map_err(|_| Errno::EINVAL)? {
        // XEN_MC_fetch: one of the two queues; an acknowledgement has nothing to acknowledge,
        // a fetch needs a buffer and finds no telemetry.
        McOp::Fetch => {
            let mut f: XenMcFetch = op.arg().ok_or(Errno::EFAULT)?;
            match f.flags & (XEN_MC_NONURGENT | XEN_MC_URGENT) {
                XEN_MC_NONURGENT | XEN_MC_URGENT => {}
                _ => return Err(Errno::EINVAL),
            }
            if f.flags & XEN_MC_ACK != 0 {
                return Ok(0);
            }
            if f.data == 0 {
                return Err(Errno::EINVAL);
            }
            f.flags = XEN_MC_NODATA;
            f.fetch_id = 0;
            op.set_arg(&f);
            write_guest_struct(arg, &op).map(|()| 0)
        }
        // XEN_MC_notifydomain: unsupported in Xen too.
        McOp::Notifydomain => Err(Errno::EINVAL),
        // XEN_MC_physcpuinfo: without a buffer, the number of online CPUs; with one, up to
        // `ncpus` (which must be positive) records, one per online CPU.
        McOp::Physcpuinfo => {
            let mut p: XenMcPhyscpuinfo = op.arg().ok_or(Errno::EFAULT)?;
            let online = crate::arch::x86_64::smp::online();
            let mut n = online;
            let mut ret = Ok(0);
            if p.info != 0 {
                if (p.ncpus as i32) <= 0 {
                    return Err(Errno::EINVAL);
                }
                n = n.min(p.ncpus as usize);
                let size = core::mem::size_of::<McinfoLogicalCpu>() as u64;
                for cpu in 0..n {
                    let rec = logical_cpu(cpu);
                    let at = p.info.wrapping_add(cpu as u64 * size);
                    if write_guest(at, rec.as_bytes()).is_err() {
                        ret = Err(Errno::EFAULT);
                        break;
                    }
                }
            }
            p.ncpus = n as u32;
            op.set_arg(&p);
            write_guest_struct(arg, &op)?;
            ret
        }
        // Injection is for testing Xen's own handlers, which Ferrite does not have.
        McOp::Msrinject | McOp::Mceinject | McOp::InjectV2 => Err(Errno::ENOSYS),
    }
}

/// The package topology CPUID describes: logical CPUs per package and threads per core.
fn topology() -> (u32, u32) {
    use crate::arch::x86_64::cpu::cpuid;
    let l1 = cpuid(1, 0);
    let logical = if l1.edx & (1 << 28) != 0 {
        ((l1.ebx >> 16) & 0xff).max(1)
    } else {
        1
    };
    let v = cpuid(0, 0);
    let amd = v.ebx == u32::from_le_bytes(*b"Auth") || v.ebx == u32::from_le_bytes(*b"Hygo");
    let cores = if amd && cpuid(0x8000_0000, 0).eax >= 0x8000_0008 {
        (cpuid(0x8000_0008, 0).ecx & 0xff) + 1
    } else if !amd && v.eax >= 4 {
        (cpuid(4, 0).eax >> 26) + 1
    } else {
        1
    };
    let cores = cores.clamp(1, logical);
    (logical, (logical / cores).max(1))
}

/// Bits of an APIC id below the field of `count` items.
fn width(count: u32) -> u32 {
    count.max(1).next_power_of_two().trailing_zeros()
}

/// Xen's `do_mc_get_cpu_info` for physical CPU `cpu`: its ids from its APIC id and the CPUID
/// topology, the CPUID identity and feature words of the CPUs (all of one kind), and MCG_CAP.
fn logical_cpu(cpu: usize) -> McinfoLogicalCpu {
    use crate::arch::x86_64::cpu::{cpuid, rdmsr};
    let apic = crate::arch::x86_64::percpu::of(cpu)
        .map_or(0, |p| p.apic_id.load(core::sync::atomic::Ordering::Relaxed));
    let (logical, threads) = topology();
    let (pkg_bits, thread_bits) = (width(logical), width(threads));
    let v = cpuid(0, 0);
    let l1 = cpuid(1, 0);
    let ext = cpuid(0x8000_0000, 0).eax;
    let e1 = if ext >= 0x8000_0001 {
        cpuid(0x8000_0001, 0)
    } else {
        ZERO
    };
    let mut r = McinfoLogicalCpu::new_zeroed();
    r.mc_cpunr = cpu as u32;
    r.mc_chipid = apic >> pkg_bits;
    r.mc_coreid = ((apic >> thread_bits) & ((1 << (pkg_bits - thread_bits)) - 1)) as u16;
    r.mc_threadid = (apic & ((1 << thread_bits) - 1)) as u16;
    r.mc_apicid = apic;
    r.mc_clusterid = apic & 0xff;
    r.mc_ncores = logical / threads;
    let online = crate::arch::x86_64::smp::online() as u32;
    let per_pkg_online = (0..online as usize)
        .filter_map(crate::arch::x86_64::percpu::of)
        .filter(|p| {
            p.apic_id.load(core::sync::atomic::Ordering::Relaxed) >> pkg_bits == r.mc_chipid
        })
        .count() as u32;
    r.mc_ncores_active = per_pkg_online.div_ceil(threads);
    r.mc_nthreads = threads;
    r.mc_cpuid_level = v.eax as i32;
    let (family, model, step) = super::platform::display_fms(l1.eax);
    r.mc_family = family;
    r.mc_model = model;
    r.mc_step = step;
    r.mc_vendor = match &v.ebx.to_le_bytes() {
        b"Genu" => 1,
        b"Auth" => 2,
        b"Cent" => 4,
        b"  Sh" => 8,
        b"Hygo" => 16,
        _ => 0,
    };
    r.mc_vendorid[..4].copy_from_slice(&v.ebx.to_le_bytes());
    r.mc_vendorid[4..8].copy_from_slice(&v.edx.to_le_bytes());
    r.mc_vendorid[8..12].copy_from_slice(&v.ecx.to_le_bytes());
    if ext >= 0x8000_0004 {
        for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
            let c = cpuid(leaf, 0);
            for (j, w) in [c.eax, c.ebx, c.ecx, c.edx].iter().enumerate() {
                let at = i * 16 + j * 4;
                r.mc_brandid[at..at + 4].copy_from_slice(&w.to_le_bytes());
            }
        }
    }
    let (d1, l7) = (
        if v.eax >= 0xd { cpuid(0xd, 1).eax } else { 0 },
        if v.eax >= 7 { cpuid(7, 0) } else { ZERO },
    );
    let caps: [u32; MC_NCAPS] = [l1.edx, l1.ecx, e1.edx, e1.ecx, d1, l7.ebx, l7.ecx];
    r.mc_cpu_caps = caps;
    r.mc_cache_size = cache_size_kib(v.eax, ext);
    r.mc_cache_alignment = ((l1.ebx >> 8) & 0xff) * 8;
    // The one MSR Xen reports: the machine-check capabilities (where the CPU has MCA).
    r.mc_nmsrvals = 1;
    r.mc_msrvalues = [McinfoMsr::default(); MC_MSR_ARRAYSIZE];
    r.mc_msrvalues[0] = McinfoMsr {
        reg: u64::from(MSR_IA32_MCG_CAP),
        value: if l1.edx & (1 << 14) != 0 {
            rdmsr(MSR_IA32_MCG_CAP)
        } else {
            0
        },
    };
    r
}

/// The largest cache's size in KiB, as Xen's `x86_cache_size`: from the deterministic cache
/// parameters (leaf 4, else AMD's 0x8000001d) where there are some, else the L3 or L2 of
/// 0x80000006.
fn cache_size_kib(max_leaf: u32, max_ext: u32) -> u32 {
    use crate::arch::x86_64::cpu::cpuid;
    let mut best = (0u32, 0u64);
    let leaves = [
        (max_leaf >= 4).then_some(4),
        (max_ext >= 0x8000_001d).then_some(0x8000_001d),
    ];
    for leaf in leaves.into_iter().flatten() {
        for sub in 0..16 {
            let c = cpuid(leaf, sub);
            if c.eax & 0x1f == 0 {
                break;
            }
            let level = (c.eax >> 5) & 7;
            let size = u64::from((c.ebx >> 22) + 1)
                * u64::from(((c.ebx >> 12) & 0x3ff) + 1)
                * u64::from((c.ebx & 0xfff) + 1)
                * u64::from(c.ecx + 1);
            if level > best.0 {
                best = (level, size);
            }
        }
        if best.1 != 0 {
            break;
        }
    }
    if best.1 != 0 {
        return (best.1 / 1024) as u32;
    }
    if max_ext < 0x8000_0006 {
        return 0;
    }
    // AMD's L3 (EDX[31:18], in 512 KiB units), else the L2 (ECX[31:16], in KiB).
    let c = cpuid(0x8000_0006, 0);
    match (c.edx >> 18) * 512 {
        0 => c.ecx >> 16,
        l3 => l3,
    }
}

#[cfg(test)]
mod tests {
    use super::width;

    #[test]
    fn apic_id_field_widths_round_up_to_powers_of_two() {
        assert_eq!(width(1), 0);
        assert_eq!(width(2), 1);
        assert_eq!(width(3), 2);
        assert_eq!(width(8), 3);
        assert_eq!(width(0), 0);
    }
}
