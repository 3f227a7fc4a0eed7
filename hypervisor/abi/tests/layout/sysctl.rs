//! Layout fragment for `sysctl.h`.

use crate::checker::Fragment;
use xen_abi::sysctl::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("sysctl.h", &["xen/sysctl.h"]);
    layout!(f, XenSysctl => "struct xen_sysctl" { cmd, interface_version, u });
    layout!(f, XenSysctlReadconsole => "struct xen_sysctl_readconsole" {
        clear, incremental, pad0, pad1, index, buffer, count, _pad0,
    });
    layout!(f, XenSysctlPhysinfo => "struct xen_sysctl_physinfo" {
        threads_per_core, cores_per_socket, nr_cpus, max_cpu_id, nr_nodes, max_node_id, cpu_khz,
        capabilities, arch_capabilities, pad, total_pages, free_pages, scrub_pages,
        outstanding_pages, max_mfn, hw_cap,
    });
    layout!(f, XenSysctlGetdomaininfolist => "struct xen_sysctl_getdomaininfolist" {
        first_domain, _pad0, max_domains, buffer, num_domains, _pad1,
    });
    layout!(f, XenSysctlSchedId => "struct xen_sysctl_sched_id" { sched_id });
    layout!(f, XenSysctlCpuFeatureset => "struct xen_sysctl_cpu_featureset" {
        index, nr_features, features
    });
    layout!(f, XenSysctlCpuPolicy => "struct xen_sysctl_cpu_policy" {
        index, nr_leaves, nr_msrs, _rsvd as "_rsvd", leaves, msrs
    });
    layout!(f, XenSysctlCpupoolOp => "struct xen_sysctl_cpupool_op" {
        op, cpupool_id, sched_id, domid, cpu, n_dom, cpumap,
    });
    layout!(f, XenSysctlCputopo => "struct xen_sysctl_cputopo" { core, socket, node });
    layout!(f, XenSysctlCputopoinfo => "struct xen_sysctl_cputopoinfo" {
        num_cpus, _pad0, cputopo,
    });
    layout!(f, XenSysctlMeminfo => "struct xen_sysctl_meminfo" { memsize, memfree });
    layout!(f, XenSysctlNumainfo => "struct xen_sysctl_numainfo" {
        num_nodes, _pad0, meminfo, distance,
    });
    sub_ops!(f, Sysctl;
        XEN_SYSCTL_readconsole = Readconsole,
        XEN_SYSCTL_tbuf_op = TbufOp,
        XEN_SYSCTL_physinfo = Physinfo,
        XEN_SYSCTL_sched_id = SchedId,
        XEN_SYSCTL_perfc_op = PerfcOp,
        XEN_SYSCTL_getdomaininfolist = Getdomaininfolist,
        XEN_SYSCTL_debug_keys = DebugKeys,
        XEN_SYSCTL_getcpuinfo = Getcpuinfo,
        XEN_SYSCTL_availheap = Availheap,
        XEN_SYSCTL_get_pmstat = GetPmstat,
        XEN_SYSCTL_cpu_hotplug = CpuHotplug,
        XEN_SYSCTL_pm_op = PmOp,
        XEN_SYSCTL_page_offline_op = PageOfflineOp,
        XEN_SYSCTL_lockprof_op = LockprofOp,
        XEN_SYSCTL_cputopoinfo = Cputopoinfo,
        XEN_SYSCTL_numainfo = Numainfo,
        XEN_SYSCTL_cpupool_op = CpupoolOp,
        XEN_SYSCTL_scheduler_op = SchedulerOp,
        XEN_SYSCTL_coverage_op = CoverageOp,
        XEN_SYSCTL_psr_cmt_op = PsrCmtOp,
        XEN_SYSCTL_pcitopoinfo = Pcitopoinfo,
        XEN_SYSCTL_psr_alloc = PsrAlloc,
        XEN_SYSCTL_get_cpu_levelling_caps = GetCpuLevellingCaps,
        XEN_SYSCTL_get_cpu_featureset = GetCpuFeatureset,
        XEN_SYSCTL_livepatch_op = LivepatchOp,
        XEN_SYSCTL_get_cpu_policy = GetCpuPolicy,
    );
    consts!(f;
        "sizeof(((struct xen_sysctl *)0)->u)" = 128,
        XEN_SYSCTL_INTERFACE_VERSION = XEN_SYSCTL_INTERFACE_VERSION,
        XEN_SYSCTL_PHYSCAP_hvm = PhysCap::HVM.bits(),
        XEN_SYSCTL_PHYSCAP_pv = PhysCap::PV.bits(),
        XEN_SYSCTL_PHYSCAP_directio = PhysCap::DIRECTIO.bits(),
        XEN_SYSCTL_PHYSCAP_hap = PhysCap::HAP.bits(),
        XEN_SYSCTL_PHYSCAP_shadow = PhysCap::SHADOW.bits(),
        XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share = PhysCap::IOMMU_HAP_PT_SHARE.bits(),
        XEN_SYSCTL_PHYSCAP_vmtrace = PhysCap::VMTRACE.bits(),
        XEN_SYSCTL_PHYSCAP_vpmu = PhysCap::VPMU.bits(),
        XEN_SYSCTL_PHYSCAP_gnttab_v1 = PhysCap::GNTTAB_V1.bits(),
        XEN_SYSCTL_PHYSCAP_gnttab_v2 = PhysCap::GNTTAB_V2.bits(),
        XEN_SYSCTL_PHYSCAP_MAX = PhysCap::GNTTAB_V2.bits(),
        XEN_INVALID_CORE_ID = XEN_INVALID_CORE_ID,
        XEN_INVALID_SOCKET_ID = XEN_INVALID_SOCKET_ID,
        XEN_INVALID_NODE_ID = XEN_INVALID_NODE_ID,
        XEN_INVALID_MEM_SZ = XEN_INVALID_MEM_SZ,
        XEN_INVALID_NODE_DIST = XEN_INVALID_NODE_DIST,
        XEN_SYSCTL_cpu_featureset_raw = XEN_SYSCTL_CPU_FEATURESET_RAW,
        XEN_SYSCTL_cpu_featureset_host = XEN_SYSCTL_CPU_FEATURESET_HOST,
        XEN_SYSCTL_cpu_featureset_pv = XEN_SYSCTL_CPU_FEATURESET_PV,
        XEN_SYSCTL_cpu_featureset_hvm = XEN_SYSCTL_CPU_FEATURESET_HVM,
        XEN_SYSCTL_cpu_featureset_pv_max = XEN_SYSCTL_CPU_FEATURESET_PV_MAX,
        XEN_SYSCTL_cpu_featureset_hvm_max = XEN_SYSCTL_CPU_FEATURESET_HVM_MAX,
        XEN_SYSCTL_cpu_policy_raw = XEN_SYSCTL_CPU_POLICY_RAW,
        XEN_SYSCTL_cpu_policy_host = XEN_SYSCTL_CPU_POLICY_HOST,
        XEN_SYSCTL_cpu_policy_pv_max = XEN_SYSCTL_CPU_POLICY_PV_MAX,
        XEN_SYSCTL_cpu_policy_hvm_max = XEN_SYSCTL_CPU_POLICY_HVM_MAX,
        XEN_SYSCTL_cpu_policy_pv_default = XEN_SYSCTL_CPU_POLICY_PV_DEFAULT,
        XEN_SYSCTL_cpu_policy_hvm_default = XEN_SYSCTL_CPU_POLICY_HVM_DEFAULT,
    );
    f
}
