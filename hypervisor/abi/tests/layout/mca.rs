//! Layout fragment for `arch-x86/xen-mca.h`.

use crate::checker::Fragment;
use xen_abi::mca::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new(
        "arch-x86/xen-mca.h",
        &["xen/xen.h", "xen/arch-x86/xen-mca.h"],
    );
    layout!(f, XenMc => "struct xen_mc" { cmd, interface_version, u });
    layout!(f, XenMcFetch => "struct xen_mc_fetch" { flags, _pad0, fetch_id, data });
    layout!(f, XenMcPhyscpuinfo => "struct xen_mc_physcpuinfo" { ncpus, _pad0, info });
    layout!(f, McinfoMsr => "struct mcinfo_msr" { reg, value });
    layout!(f, McinfoLogicalCpu => "struct mcinfo_logical_cpu" {
        mc_cpunr, mc_chipid, mc_coreid, mc_threadid, mc_apicid, mc_clusterid, mc_ncores,
        mc_ncores_active, mc_nthreads, mc_cpuid_level, mc_family, mc_vendor, mc_model, mc_step,
        mc_vendorid, mc_brandid, mc_cpu_caps, mc_cache_size, mc_cache_alignment, mc_nmsrvals,
        _pad0, mc_msrvalues,
    });
    sub_ops!(f, McOp;
        XEN_MC_fetch = Fetch,
        XEN_MC_notifydomain = Notifydomain,
        XEN_MC_physcpuinfo = Physcpuinfo,
        XEN_MC_msrinject = Msrinject,
        XEN_MC_mceinject = Mceinject,
        XEN_MC_inject_v2 = InjectV2,
    );
    consts!(f;
        "sizeof(((struct xen_mc *)0)->u)" = 144,
        XEN_MCA_INTERFACE_VERSION = XEN_MCA_INTERFACE_VERSION,
        XEN_MC_NONURGENT = XEN_MC_NONURGENT,
        XEN_MC_URGENT = XEN_MC_URGENT,
        XEN_MC_ACK = XEN_MC_ACK,
        XEN_MC_OK = XEN_MC_OK,
        XEN_MC_FETCHFAILED = XEN_MC_FETCHFAILED,
        XEN_MC_NODATA = XEN_MC_NODATA,
        VIRQ_MCA = VIRQ_MCA,
        MC_NCAPS = MC_NCAPS,
        __MC_MSR_ARRAYSIZE = MC_MSR_ARRAYSIZE,
    );
    f
}
