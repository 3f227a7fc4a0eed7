//! Layout fragment for `domctl.h`.

use crate::checker::Fragment;
use xen_abi::domctl::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("domctl.h", &["xen/domctl.h"]);
    layout!(f, XenDomctl => "struct xen_domctl" { cmd, interface_version, domain, _pad, u });
    layout!(f, XenDomctlCreatedomain => "struct xen_domctl_createdomain" {
        ssidref, handle, flags, iommu_opts, max_vcpus, max_evtchn_port, max_grant_frames,
        max_maptrack_frames, grant_opts, vmtrace_size, cpupool_id, arch,
    });
    layout!(f, XenDomctlGetdomaininfo => "struct xen_domctl_getdomaininfo" {
        domain, pad1, flags, tot_pages, max_pages, outstanding_pages, shr_pages, paged_pages,
        shared_info_frame, cpu_time, nr_online_vcpus, max_vcpu_id, ssidref, handle, cpupool,
        gpaddr_bits, pad2, arch_config,
    });
    layout!(f, XenDomctlShadowOpStats => "struct xen_domctl_shadow_op_stats" {
        fault_count, dirty_count,
    });
    layout!(f, XenDomctlShadowOp => "struct xen_domctl_shadow_op" {
        op, mode, mb, _pad0, dirty_bitmap, pages, stats,
    });
    layout!(f, XenDomctlMaxMem => "struct xen_domctl_max_mem" { max_memkb });
    layout!(f, XenDomctlVcpucontext => "struct xen_domctl_vcpucontext" { vcpu, _pad0, ctxt });
    layout!(f, XenDomctlGetvcpuinfo => "struct xen_domctl_getvcpuinfo" {
        vcpu, online, blocked, running, _pad0, cpu_time, cpu, _pad1,
    });
    layout!(f, XenDomctlVcpuaffinity => "struct xen_domctl_vcpuaffinity" {
        vcpu, flags, cpumap_hard, cpumap_soft,
    });
    layout!(f, XenDomctlMaxVcpus => "struct xen_domctl_max_vcpus" { max });
    layout!(f, XenDomctlSchedulerOp => "struct xen_domctl_scheduler_op" { sched_id, cmd, u });
    layout!(f, XenDomctlSchedCredit2 => "struct xen_domctl_sched_credit2" { weight, cap });
    layout!(f, XenDomctlNodeaffinity => "struct xen_domctl_nodeaffinity" { nodemap });
    layout!(f, XenDomctlSetdomainhandle => "struct xen_domctl_setdomainhandle" { handle });
    layout!(f, XenDomctlIrqPermission => "struct xen_domctl_irq_permission" {
        pirq, allow_access, pad,
    });
    layout!(f, XenDomctlIomemPermission => "struct xen_domctl_iomem_permission" {
        first_mfn, nr_mfns, allow_access, _pad0,
    });
    layout!(f, XenDomctlIoportPermission => "struct xen_domctl_ioport_permission" {
        first_port, nr_ports, allow_access, _pad0,
    });
    layout!(f, XenDomctlHypercallInit => "struct xen_domctl_hypercall_init" { gmfn });
    layout!(f, XenDomctlSettimeoffset => "struct xen_domctl_settimeoffset" {
        time_offset_seconds,
    });
    layout!(f, XenDomctlAddressSize => "struct xen_domctl_address_size" { size });
    layout!(f, XenDomctlGetpageframeinfo3 => "struct xen_domctl_getpageframeinfo3" { num, array });
    layout!(f, XenDomctlSetVirqHandler => "struct xen_domctl_set_virq_handler" { virq });
    layout!(f, XenDomctlVcpuMsr => "struct xen_domctl_vcpu_msr" { index, reserved, value });
    layout!(f, XenDomctlVcpuMsrs => "struct xen_domctl_vcpu_msrs" { vcpu, msr_count, msrs });
    layout!(f, XenDomctlCpuPolicy => "struct xen_domctl_cpu_policy" {
        nr_leaves, nr_msrs, leaves, msrs, err_leaf, err_subleaf, err_msr, _pad
    });
    layout!(f, XenDomctlTscInfo => "struct xen_domctl_tsc_info" { tsc_mode, gtsc_khz, incarnation, pad, elapsed_nsec });
    layout!(f, XenDomctlSetTarget => "struct xen_domctl_set_target" { target });
    layout!(f, XenDomctlSetdebugging => "struct xen_domctl_setdebugging" { enable });
    layout!(f, XenDomctlSubscribe => "struct xen_domctl_subscribe" { port });

    for d in <Domctl as xen_abi::SubOp>::ALL {
        f.push_const(&format!("XEN_DOMCTL_{}", domctl_c_suffix(*d)), *d as i128);
    }
    consts!(f;
        "sizeof(((struct xen_domctl *)0)->u)" = 128,
        XEN_DOMCTL_INTERFACE_VERSION = XEN_DOMCTL_INTERFACE_VERSION,
        XEN_DOMCTL_PFINFO_NOTAB = XEN_DOMCTL_PFINFO_NOTAB,
        XEN_DOMCTL_PFINFO_L1TAB = XEN_DOMCTL_PFINFO_L1TAB,
        XEN_DOMCTL_PFINFO_L2TAB = XEN_DOMCTL_PFINFO_L2TAB,
        XEN_DOMCTL_PFINFO_L3TAB = XEN_DOMCTL_PFINFO_L3TAB,
        XEN_DOMCTL_PFINFO_L4TAB = XEN_DOMCTL_PFINFO_L4TAB,
        XEN_DOMCTL_PFINFO_LPINTAB = XEN_DOMCTL_PFINFO_LPINTAB,
        XEN_DOMCTL_PFINFO_XTAB = XEN_DOMCTL_PFINFO_XTAB,
        XEN_DOMCTL_PFINFO_BROKEN = XEN_DOMCTL_PFINFO_BROKEN,
        XEN_DOMCTL_CDF_hvm = DomctlCdf::HVM.bits(),
        XEN_DOMCTL_CDF_hap = DomctlCdf::HAP.bits(),
        XEN_DOMCTL_CDF_s3_integrity = DomctlCdf::S3_INTEGRITY.bits(),
        XEN_DOMCTL_CDF_oos_off = DomctlCdf::OOS_OFF.bits(),
        XEN_DOMCTL_CDF_xs_domain = DomctlCdf::XS_DOMAIN.bits(),
        XEN_DOMCTL_CDF_iommu = DomctlCdf::IOMMU.bits(),
        XEN_DOMCTL_CDF_nested_virt = DomctlCdf::NESTED_VIRT.bits(),
        XEN_DOMCTL_CDF_vpmu = DomctlCdf::VPMU.bits(),
        XEN_DOMCTL_CDF_MAX = DomctlCdf::VPMU.bits(),
        XEN_DOMCTL_IOMMU_no_sharept = XEN_DOMCTL_IOMMU_NO_SHAREPT,
        XEN_DOMCTL_GRANT_version_mask = XEN_DOMCTL_GRANT_VERSION_MASK,
        "XEN_DOMCTL_GRANT_version(0x12)" = xen_domctl_grant_version(0x12),
        XEN_DOMINF_dying = DomInfFlags::DYING.bits(),
        XEN_DOMINF_hvm_guest = DomInfFlags::HVM_GUEST.bits(),
        XEN_DOMINF_shutdown = DomInfFlags::SHUTDOWN.bits(),
        XEN_DOMINF_paused = DomInfFlags::PAUSED.bits(),
        XEN_DOMINF_blocked = DomInfFlags::BLOCKED.bits(),
        XEN_DOMINF_running = DomInfFlags::RUNNING.bits(),
        XEN_DOMINF_debugged = DomInfFlags::DEBUGGED.bits(),
        XEN_DOMINF_xs_domain = DomInfFlags::XS_DOMAIN.bits(),
        XEN_DOMINF_hap = DomInfFlags::HAP.bits(),
        XEN_DOMINF_shutdownmask = XEN_DOMINF_SHUTDOWNMASK,
        XEN_DOMINF_shutdownshift = XEN_DOMINF_SHUTDOWNSHIFT,
        "XEN_DOMINF_shutdownmask << XEN_DOMINF_shutdownshift" = DomInfFlags::SHUTDOWN_CODE.bits(),
        XEN_INVALID_MAX_VCPU_ID = XEN_INVALID_MAX_VCPU_ID,
        XEN_DOMCTL_SHADOW_OP_OFF = XEN_DOMCTL_SHADOW_OP_OFF,
        XEN_DOMCTL_SHADOW_OP_ENABLE = XEN_DOMCTL_SHADOW_OP_ENABLE,
        XEN_DOMCTL_SHADOW_OP_CLEAN = XEN_DOMCTL_SHADOW_OP_CLEAN,
        XEN_DOMCTL_SHADOW_OP_PEEK = XEN_DOMCTL_SHADOW_OP_PEEK,
        XEN_DOMCTL_SHADOW_OP_GET_ALLOCATION = XEN_DOMCTL_SHADOW_OP_GET_ALLOCATION,
        XEN_DOMCTL_SHADOW_OP_SET_ALLOCATION = XEN_DOMCTL_SHADOW_OP_SET_ALLOCATION,
        XEN_DOMCTL_SHADOW_OP_ENABLE_TEST = XEN_DOMCTL_SHADOW_OP_ENABLE_TEST,
        XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY = XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY,
        XEN_DOMCTL_SHADOW_ENABLE_REFCOUNT = XEN_DOMCTL_SHADOW_ENABLE_REFCOUNT,
        XEN_DOMCTL_SHADOW_ENABLE_LOG_DIRTY = XEN_DOMCTL_SHADOW_ENABLE_LOG_DIRTY,
        XEN_DOMCTL_SHADOW_ENABLE_TRANSLATE = XEN_DOMCTL_SHADOW_ENABLE_TRANSLATE,
        XEN_DOMCTL_SHADOW_ENABLE_EXTERNAL = XEN_DOMCTL_SHADOW_ENABLE_EXTERNAL,
        XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL = XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL,
        XEN_VCPUAFFINITY_HARD = XEN_VCPUAFFINITY_HARD,
        XEN_VCPUAFFINITY_SOFT = XEN_VCPUAFFINITY_SOFT,
        XEN_VCPUAFFINITY_FORCE = XEN_VCPUAFFINITY_FORCE,
        XEN_SCHEDULER_CREDIT = XEN_SCHEDULER_CREDIT,
        XEN_SCHEDULER_CREDIT2 = XEN_SCHEDULER_CREDIT2,
        XEN_SCHEDULER_ARINC653 = XEN_SCHEDULER_ARINC653,
        XEN_SCHEDULER_RTDS = XEN_SCHEDULER_RTDS,
        XEN_SCHEDULER_NULL = XEN_SCHEDULER_NULL,
    );
    f
}

/// The C spelling of a domctl: `XEN_DOMCTL_<suffix>` (CamelCase → snake_case, digits attached).
fn domctl_c_suffix(d: Domctl) -> String {
    let mut out = String::new();
    for (i, ch) in format!("{d:?}").chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}
