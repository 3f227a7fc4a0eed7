//! `sysctl` (hypercall 35, Xen's `common/sysctl.c`): the toolstack's questions about the host.
//! This first part answers `readconsole` (`xl dmesg`), `physinfo` (`xl info`),
//! `getdomaininfolist` (`xl list`), and `cputopoinfo`/`numainfo` (libxl's placement); the
//! others answer `-ENOSYS` until they exist.

use core::sync::atomic::Ordering;
use xen_abi::cpu_policy::FEATURESET_NR_ENTRIES;
use xen_abi::domctl::XenDomctlGetdomaininfo;
use xen_abi::domctl::XEN_SCHEDULER_CREDIT2;
use xen_abi::sysctl::{
    PhysCap, Sysctl, XenSysctl, XenSysctlCpupoolOp, XenSysctlCputopo, XenSysctlCputopoinfo,
    XenSysctlGetdomaininfolist, XenSysctlMeminfo, XenSysctlNumainfo, XenSysctlPhysinfo,
    XenSysctlReadconsole, XenSysctlSchedId, XEN_SYSCTL_CPUPOOL_OP_ADDCPU,
    XEN_SYSCTL_CPUPOOL_OP_CREATE, XEN_SYSCTL_CPUPOOL_OP_DESTROY, XEN_SYSCTL_CPUPOOL_OP_FREEINFO,
    XEN_SYSCTL_CPUPOOL_OP_INFO, XEN_SYSCTL_CPUPOOL_OP_MOVEDOMAIN, XEN_SYSCTL_CPUPOOL_OP_RMCPU,
    XEN_SYSCTL_INTERFACE_VERSION,
};
use xen_abi::sysctl::{
    XenSysctlCpuFeatureset, XenSysctlCpuPolicy, XEN_SYSCTL_CPU_POLICY_HVM_DEFAULT,
};
use xen_abi::{Errno, XenResult};
use zerocopy::IntoBytes;

/// `MAX_NUMNODES - 1` of Xen's x86 build (`physinfo.max_node_id`).
const MAX_NODE_ID: u32 = 63;

/// The `sysctl(u_sysctl)` hypercall: the 136-byte `xen_sysctl` read whole (`-EFAULT`), 4.17's
/// `interface_version` (`-EACCES`), the control domain only (`-EPERM`); the struct is written
/// back when the sub-op succeeds.
pub fn sysctl(caller: &crate::domain::Domain, arg: u64) -> XenResult<u64> {
    let mut op: XenSysctl = crate::pv::read_guest_struct(arg)?;
    if op.interface_version != XEN_SYSCTL_INTERFACE_VERSION {
        return Err(Errno::EACCES);
    }
    if !caller.privileged {
        return Err(Errno::EPERM);
    }
    match Sysctl::try_from(op.cmd).ok() {
        Some(Sysctl::Readconsole) => {
            let mut a: XenSysctlReadconsole = op.arg().ok_or(Errno::EINVAL)?;
            let buffer = a.buffer;
            let (count, index) = crate::console::read_ring(
                a.incremental != 0,
                a.index,
                a.count,
                a.clear != 0,
                |at, bytes| crate::pv::write_guest(buffer.wrapping_add(u64::from(at)), bytes),
            )?;
            a.count = count;
            a.index = index;
            op.set_arg(&a);
        }
        Some(Sysctl::Physinfo) => {
            op.set_arg(&physinfo());
        }
        Some(Sysctl::Getdomaininfolist) => {
            let mut a: XenSysctlGetdomaininfolist = op.arg().ok_or(Errno::EINVAL)?;
            let doms: alloc::vec::Vec<_> = crate::domain::DOMAINS
                .lock()
                .range(a.first_domain..)
                .map(|(_, d)| d.clone())
                .take(a.max_domains as usize)
                .collect();
            let size = core::mem::size_of::<XenDomctlGetdomaininfo>() as u64;
            for (i, d) in doms.iter().enumerate() {
                let info = super::domctl::domain_info(d);
                let at = a.buffer.wrapping_add(i as u64 * size);
                crate::pv::write_guest_struct(at, &info)?;
            }
            a.num_domains = doms.len() as u32;
            op.set_arg(&a);
        }
        Some(Sysctl::Cputopoinfo) => {
            let mut a: XenSysctlCputopoinfo = op.arg().ok_or(Errno::EINVAL)?;
            let cpus = online_cpus();
            let mut num = cpus;
            if a.cputopo != 0 {
                num = num.min(a.num_cpus);
                let size = core::mem::size_of::<XenSysctlCputopo>() as u64;
                for i in 0..num {
                    // One socket of single-thread cores, one node (`physinfo`'s view).
                    let t = XenSysctlCputopo {
                        core: i,
                        socket: 0,
                        node: 0,
                    };
                    crate::pv::write_guest_struct(a.cputopo.wrapping_add(u64::from(i) * size), &t)?;
                }
            }
            if a.num_cpus != num {
                a.num_cpus = num;
                write_count(arg, &a.num_cpus)?;
            }
            return Ok(0);
        }
        Some(Sysctl::Numainfo) => {
            let mut a: XenSysctlNumainfo = op.arg().ok_or(Errno::EINVAL)?;
            let mut num = 1u32;
            if a.meminfo != 0 || a.distance != 0 {
                num = num.min(a.num_nodes);
                if num == 1 && a.meminfo != 0 {
                    let m = XenSysctlMeminfo {
                        memsize: crate::mm::ram_frames() << 12,
                        memfree: crate::mm::free_frames() << 12,
                    };
                    crate::pv::write_guest_struct(a.meminfo, &m)?;
                }
                if num == 1 && a.distance != 0 {
                    // LOCAL_DISTANCE.
                    crate::pv::write_guest_struct(a.distance, &10u32)?;
                }
            }
            if a.num_nodes != num {
                a.num_nodes = num;
                write_count(arg, &a.num_nodes)?;
            }
            return Ok(0);
        }
        Some(Sysctl::SchedId) => {
            // Per-CPU round-robin run queues, every domain at the same weight: credit2 with its
            // default weight and no caps (docs/abi: the scheduler).
            op.set_arg(&XenSysctlSchedId {
                sched_id: XEN_SCHEDULER_CREDIT2,
            });
        }
        Some(Sysctl::CpupoolOp) => {
            let mut a: XenSysctlCpupoolOp = op.arg().ok_or(Errno::EINVAL)?;
            cpupool_op(&mut a)?;
            op.set_arg(&a);
        }
        Some(Sysctl::GetCpuFeatureset) => {
            return get_cpu_featureset(arg, &op.arg().ok_or(Errno::EINVAL)?).map(|()| 0);
        }
        Some(Sysctl::GetCpuPolicy) => {
            return get_cpu_policy(arg, &op.arg().ok_or(Errno::EINVAL)?).map(|()| 0);
        }
        _ => {
            log::warn!("sysctl {} is not supported: -ENOSYS", op.cmd);
            return Err(Errno::ENOSYS);
        }
    }
    crate::pv::write_guest_struct(arg, &op)?;
    Ok(0)
}

/// `XEN_SYSCTL_cpupool_op` with Ferrite's one pool, 0 (`Pool-0`), which holds every CPU and
/// every domain: `INFO` of the first pool at or above the id asked (past it `-ENOENT`, which
/// ends libxl's walk), `FREEINFO` (no CPU is free), `MOVEDOMAIN` into pool 0
/// (already there). Creating, destroying and changing pools is not offered (`-EOPNOTSUPP`).
fn cpupool_op(a: &mut XenSysctlCpupoolOp) -> XenResult<()> {
    let cpus = online_cpus();
    let all = if cpus >= 64 { !0 } else { (1u64 << cpus) - 1 };
    let write_map = |mask: u64, map: &xen_abi::xen::XenctlBitmap| {
        let base = map.bitmap;
        xen_abi::bitmap::to_guest(mask, map.nr_bits, cpus, |i, b| {
            crate::pv::write_guest(base.wrapping_add(u64::from(i)), b)
        })
    };
    match a.op {
        XEN_SYSCTL_CPUPOOL_OP_INFO => {
            // `cpupool_get_next_by_id`: `PAR_ANY` (~0) is no wildcard here, just past pool 0.
            if a.cpupool_id > 0 {
                return Err(Errno::ENOENT);
            }
            a.cpupool_id = 0;
            a.sched_id = XEN_SCHEDULER_CREDIT2;
            a.n_dom = crate::domain::DOMAINS.lock().len() as u32;
            write_map(all, &a.cpumap)
        }
        XEN_SYSCTL_CPUPOOL_OP_FREEINFO => write_map(0, &a.cpumap),
        XEN_SYSCTL_CPUPOOL_OP_MOVEDOMAIN => {
            let id = xen_abi::DomId(a.domid as u16);
            if a.domid >= u32::from(xen_abi::DomId::FIRST_RESERVED.0)
                || crate::domain::get(id).is_none()
            {
                return Err(Errno::ESRCH);
            }
            if a.cpupool_id != 0 {
                return Err(Errno::ENOENT);
            }
            Ok(())
        }
        XEN_SYSCTL_CPUPOOL_OP_CREATE
        | XEN_SYSCTL_CPUPOOL_OP_DESTROY
        | XEN_SYSCTL_CPUPOOL_OP_ADDCPU
        | XEN_SYSCTL_CPUPOOL_OP_RMCPU => {
            log::warn!("cpupool_op {}: Ferrite has one CPU pool: -EOPNOTSUPP", a.op);
            Err(Errno::EOPNOTSUPP)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// Writes back one `u32` field of the sub-op's struct, at `offset` in it (Xen's
/// `__copy_field_to_guest`).
fn write_field(arg: u64, offset: usize, value: u32) -> XenResult<()> {
    crate::pv::write_guest_struct(
        arg.wrapping_add((core::mem::offset_of!(XenSysctl, u) + offset) as u64),
        &value,
    )
}

/// `XEN_SYSCTL_get_cpu_featureset` (`arch/x86/sysctl.c`): with a null buffer, only the number
/// of words ([`FEATURESET_NR_ENTRIES`]); else an unknown index (or HVM's) is `-EINVAL`, and up
/// to `nr_features` words of the policy's featureset are written, their count written back,
/// and a buffer too short for all of them answers `-ENOBUFS` after that.
fn get_cpu_featureset(arg: u64, a: &XenSysctlCpuFeatureset) -> XenResult<()> {
    let nr_at = core::mem::offset_of!(XenSysctlCpuFeatureset, nr_features);
    if a.features == 0 {
        return write_field(arg, nr_at, FEATURESET_NR_ENTRIES as u32);
    }
    let nr = (a.nr_features as usize).min(FEATURESET_NR_ENTRIES);
    let p = crate::pv::cpu_policy::featureset_by_index(a.index).ok_or(Errno::EINVAL)?;
    let fs = p.featureset();
    crate::pv::write_guest(a.features, fs[..nr].as_bytes())?;
    write_field(arg, nr_at, nr as u32)?;
    if nr < FEATURESET_NR_ENTRIES {
        return Err(Errno::ENOBUFS);
    }
    Ok(())
}

/// `XEN_SYSCTL_get_cpu_policy`: `_rsvd` set or an index past the table `-EINVAL`, an HVM
/// policy `-EOPNOTSUPP` (no HVM here); each null buffer asks its maximum count; else the
/// leaves (then the MSRs) are serialised, `-ENOBUFS` if they do not fit, and each count
/// written back as it is known.
fn get_cpu_policy(arg: u64, a: &XenSysctlCpuPolicy) -> XenResult<()> {
    if a._rsvd != 0 || a.index > XEN_SYSCTL_CPU_POLICY_HVM_DEFAULT {
        return Err(Errno::EINVAL);
    }
    let p = crate::pv::cpu_policy::by_index(a.index).ok_or(Errno::EOPNOTSUPP)?;
    let (_, nr_msrs) =
        super::domctl::policy_to_guest(p, a.nr_leaves, a.leaves, a.nr_msrs, a.msrs, |leaves| {
            write_field(
                arg,
                core::mem::offset_of!(XenSysctlCpuPolicy, nr_leaves),
                leaves,
            )
        })?;
    write_field(
        arg,
        core::mem::offset_of!(XenSysctlCpuPolicy, nr_msrs),
        nr_msrs,
    )
}

/// Writes back only the count at the start of the sub-op's struct (Xen's
/// `__copy_field_to_guest` of `num_cpus` / `num_nodes`: those sub-ops copy nothing else).
fn write_count(arg: u64, count: &u32) -> XenResult<()> {
    crate::pv::write_guest_struct(
        arg.wrapping_add(core::mem::offset_of!(XenSysctl, u) as u64),
        count,
    )
}

/// CPUs online (at least 1).
pub(crate) fn online_cpus() -> u32 {
    use crate::arch::x86_64::percpu;
    ((0..crate::layout::MAX_CPUS)
        .filter(|&c| percpu::of(c).is_some_and(|p| p.online.load(Ordering::Acquire)))
        .count() as u32)
        .max(1)
}

/// `XEN_SYSCTL_physinfo`: one thread per core and one socket (Ferrite does not read the
/// topology yet), one NUMA node, the TSC rate, PV and both grant-table versions.
fn physinfo() -> XenSysctlPhysinfo {
    let online = online_cpus();
    let total_pages: u64 = crate::mm::host_map()
        .iter()
        .filter(|r| r.kind == crate::mm::memmap::RegionKind::Usable)
        .map(|r| r.range.len() / 4096)
        .sum();
    XenSysctlPhysinfo {
        threads_per_core: 1,
        cores_per_socket: online,
        nr_cpus: online,
        max_cpu_id: online - 1,
        nr_nodes: 1,
        max_node_id: MAX_NODE_ID,
        cpu_khz: (crate::arch::x86_64::tsc::hz() / 1000) as u32,
        capabilities: (PhysCap::PV | PhysCap::GNTTAB_V1 | PhysCap::GNTTAB_V2).bits(),
        total_pages,
        free_pages: crate::mm::free_frames(),
        outstanding_pages: crate::domain::claims::outstanding(),
        max_mfn: crate::mm::ram_frames().saturating_sub(1),
        ..Default::default()
    }
}
