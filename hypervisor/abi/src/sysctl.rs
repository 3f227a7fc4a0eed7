//! `sysctl.h`: the `XEN_SYSCTL_*` sub-ops of `sysctl` (toolstack only) at interface version 0x15
//! (Xen 4.17), `xen_sysctl`, and the argument structs `xl info`, `xl list` and `xl dmesg` need.
//!
//! Mirrored: every sub-op number; `xen_sysctl` with its union `u` as 128 raw bytes and typed
//! [`XenSysctl::arg`]/[`XenSysctl::set_arg`]; readconsole, physinfo, getdomaininfolist, sched_id,
//! numainfo (+ meminfo), cputopoinfo (+ cputopo), cpupool_op, cpu_featureset and cpu_policy.
//! Left out: tbuf, perfc, lockprof, PM, PSR, livepatch, coverage (see docs/abi/README.md).

use bitflags::bitflags;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::types::DomId;

/// `XEN_SYSCTL_INTERFACE_VERSION` of Xen 4.17.
pub const XEN_SYSCTL_INTERFACE_VERSION: u32 = 0x0000_0015;

sub_op_enum! {
    /// `sysctl` sub-ops (`XEN_SYSCTL_*`).
    #[doc(alias = "XEN_SYSCTL")]
    pub enum Sysctl {
        /// [`XenSysctlReadconsole`].
        #[doc(alias = "XEN_SYSCTL_readconsole")]
        Readconsole = 1,
        #[doc(alias = "XEN_SYSCTL_tbuf_op")]
        TbufOp = 2,
        /// [`XenSysctlPhysinfo`].
        #[doc(alias = "XEN_SYSCTL_physinfo")]
        Physinfo = 3,
        /// [`XenSysctlSchedId`].
        #[doc(alias = "XEN_SYSCTL_sched_id")]
        SchedId = 4,
        #[doc(alias = "XEN_SYSCTL_perfc_op")]
        PerfcOp = 5,
        /// [`XenSysctlGetdomaininfolist`].
        #[doc(alias = "XEN_SYSCTL_getdomaininfolist")]
        Getdomaininfolist = 6,
        #[doc(alias = "XEN_SYSCTL_debug_keys")]
        DebugKeys = 7,
        #[doc(alias = "XEN_SYSCTL_getcpuinfo")]
        Getcpuinfo = 8,
        #[doc(alias = "XEN_SYSCTL_availheap")]
        Availheap = 9,
        #[doc(alias = "XEN_SYSCTL_get_pmstat")]
        GetPmstat = 10,
        #[doc(alias = "XEN_SYSCTL_cpu_hotplug")]
        CpuHotplug = 11,
        #[doc(alias = "XEN_SYSCTL_pm_op")]
        PmOp = 12,
        #[doc(alias = "XEN_SYSCTL_page_offline_op")]
        PageOfflineOp = 14,
        #[doc(alias = "XEN_SYSCTL_lockprof_op")]
        LockprofOp = 15,
        /// [`XenSysctlCputopoinfo`].
        #[doc(alias = "XEN_SYSCTL_cputopoinfo")]
        Cputopoinfo = 16,
        /// [`XenSysctlNumainfo`].
        #[doc(alias = "XEN_SYSCTL_numainfo")]
        Numainfo = 17,
        #[doc(alias = "XEN_SYSCTL_cpupool_op")]
        CpupoolOp = 18,
        #[doc(alias = "XEN_SYSCTL_scheduler_op")]
        SchedulerOp = 19,
        #[doc(alias = "XEN_SYSCTL_coverage_op")]
        CoverageOp = 20,
        #[doc(alias = "XEN_SYSCTL_psr_cmt_op")]
        PsrCmtOp = 21,
        #[doc(alias = "XEN_SYSCTL_pcitopoinfo")]
        Pcitopoinfo = 22,
        #[doc(alias = "XEN_SYSCTL_psr_alloc")]
        PsrAlloc = 23,
        #[doc(alias = "XEN_SYSCTL_get_cpu_levelling_caps")]
        GetCpuLevellingCaps = 25,
        #[doc(alias = "XEN_SYSCTL_get_cpu_featureset")]
        GetCpuFeatureset = 26,
        #[doc(alias = "XEN_SYSCTL_livepatch_op")]
        LivepatchOp = 27,
        #[doc(alias = "XEN_SYSCTL_get_cpu_policy")]
        GetCpuPolicy = 29,
    }
}

/// `xen_sysctl`: the argument of `sysctl`.
#[doc(alias = "xen_sysctl")]
#[doc(alias = "xen_sysctl_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenSysctl {
    /// A [`Sysctl`] number.
    pub cmd: u32,
    /// Must be [`XEN_SYSCTL_INTERFACE_VERSION`].
    pub interface_version: u32,
    /// The C union of every sub-op's struct (and `uint8_t pad[128]`), as raw words.
    pub u: [u64; 16],
}
const _: () = assert!(size_of::<XenSysctl>() == 136);

union_op!(XenSysctl);

/// `xen_sysctl_readconsole` (`XEN_SYSCTL_readconsole`): read the hypervisor console ring.
#[doc(alias = "xen_sysctl_readconsole")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenSysctlReadconsole {
    /// Clear the ring after reading.
    pub clear: u8,
    /// Start at `index` rather than the oldest byte.
    pub incremental: u8,
    pub pad0: u8,
    pub pad1: u8,
    /// IN (incremental): where to start; OUT: where the next read continues.
    pub index: u32,
    /// Guest handle to the buffer.
    pub buffer: u64,
    /// IN: buffer size; OUT: bytes written.
    pub count: u32,
    pub _pad0: u32,
}
const _: () = assert!(size_of::<XenSysctlReadconsole>() == 24);

bitflags! {
    /// `xen_sysctl_physinfo.capabilities` (`XEN_SYSCTL_PHYSCAP_*`).
    #[doc(alias = "XEN_SYSCTL_PHYSCAP")]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PhysCap: u32 {
        #[doc(alias = "XEN_SYSCTL_PHYSCAP_hvm")]
        const HVM = 1 << 0;
        #[doc(alias = "XEN_SYSCTL_PHYSCAP_pv")]
        const PV = 1 << 1;
        #[doc(alias = "XEN_SYSCTL_PHYSCAP_directio")]
        const DIRECTIO = 1 << 2;
        #[doc(alias = "XEN_SYSCTL_PHYSCAP_hap")]
        const HAP = 1 << 3;
        #[doc(alias = "XEN_SYSCTL_PHYSCAP_shadow")]
        const SHADOW = 1 << 4;
        #[doc(alias = "XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share")]
        const IOMMU_HAP_PT_SHARE = 1 << 5;
        #[doc(alias = "XEN_SYSCTL_PHYSCAP_vmtrace")]
        const VMTRACE = 1 << 6;
        #[doc(alias = "XEN_SYSCTL_PHYSCAP_vpmu")]
        const VPMU = 1 << 7;
        #[doc(alias = "XEN_SYSCTL_PHYSCAP_gnttab_v1")]
        const GNTTAB_V1 = 1 << 8;
        #[doc(alias = "XEN_SYSCTL_PHYSCAP_gnttab_v2")]
        const GNTTAB_V2 = 1 << 9;
    }
}

/// `xen_sysctl_physinfo` (`XEN_SYSCTL_physinfo`): what `xl info` prints.
#[doc(alias = "xen_sysctl_physinfo")]
#[doc(alias = "xen_sysctl_physinfo_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenSysctlPhysinfo {
    pub threads_per_core: u32,
    pub cores_per_socket: u32,
    /// CPUs currently online.
    pub nr_cpus: u32,
    pub max_cpu_id: u32,
    pub nr_nodes: u32,
    pub max_node_id: u32,
    pub cpu_khz: u32,
    /// [`PhysCap`].
    pub capabilities: u32,
    /// `XEN_SYSCTL_PHYSCAP_X86_*`.
    pub arch_capabilities: u32,
    pub pad: u32,
    pub total_pages: u64,
    pub free_pages: u64,
    pub scrub_pages: u64,
    pub outstanding_pages: u64,
    /// Largest possible MFN on this host.
    pub max_mfn: u64,
    pub hw_cap: [u32; 8],
}
const _: () = assert!(size_of::<XenSysctlPhysinfo>() == 112);

/// `xen_sysctl_getdomaininfolist` (`XEN_SYSCTL_getdomaininfolist`).
#[doc(alias = "xen_sysctl_getdomaininfolist")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenSysctlGetdomaininfolist {
    pub first_domain: DomId,
    pub _pad0: u16,
    pub max_domains: u32,
    /// Guest handle to `max_domains` `xen_domctl_getdomaininfo_t`s
    /// ([`crate::domctl::XenDomctlGetdomaininfo`]).
    pub buffer: u64,
    /// OUT.
    pub num_domains: u32,
    pub _pad1: u32,
}
const _: () = assert!(size_of::<XenSysctlGetdomaininfolist>() == 24);

/// `xen_sysctl_sched_id` (`XEN_SYSCTL_sched_id`): a `XEN_SCHEDULER_*` value.
#[doc(alias = "xen_sysctl_sched_id")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenSysctlSchedId {
    pub sched_id: u32,
}
const _: () = assert!(size_of::<XenSysctlSchedId>() == 4);

/// `XEN_SYSCTL_CPUPOOL_OP_CREATE`.
pub const XEN_SYSCTL_CPUPOOL_OP_CREATE: u32 = 1;
/// `XEN_SYSCTL_CPUPOOL_OP_DESTROY`.
pub const XEN_SYSCTL_CPUPOOL_OP_DESTROY: u32 = 2;
/// `XEN_SYSCTL_CPUPOOL_OP_INFO`: the first pool with an id at or above `cpupool_id`.
pub const XEN_SYSCTL_CPUPOOL_OP_INFO: u32 = 3;
/// `XEN_SYSCTL_CPUPOOL_OP_ADDCPU`.
pub const XEN_SYSCTL_CPUPOOL_OP_ADDCPU: u32 = 4;
/// `XEN_SYSCTL_CPUPOOL_OP_RMCPU`.
pub const XEN_SYSCTL_CPUPOOL_OP_RMCPU: u32 = 5;
/// `XEN_SYSCTL_CPUPOOL_OP_MOVEDOMAIN`.
pub const XEN_SYSCTL_CPUPOOL_OP_MOVEDOMAIN: u32 = 6;
/// `XEN_SYSCTL_CPUPOOL_OP_FREEINFO`: the CPUs in no pool.
pub const XEN_SYSCTL_CPUPOOL_OP_FREEINFO: u32 = 7;

/// `XEN_SYSCTL_CPUPOOL_PAR_ANY`: any pool.
pub const XEN_SYSCTL_CPUPOOL_PAR_ANY: u32 = 0xFFFF_FFFF;

/// `xen_sysctl_cpupool_op` (`XEN_SYSCTL_cpupool_op`).
#[doc(alias = "xen_sysctl_cpupool_op")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenSysctlCpupoolOp {
    /// `XEN_SYSCTL_CPUPOOL_OP_*`.
    pub op: u32,
    pub cpupool_id: u32,
    pub sched_id: u32,
    pub domid: u32,
    pub cpu: u32,
    pub n_dom: u32,
    pub cpumap: crate::xen::XenctlBitmap,
}
const _: () = assert!(size_of::<XenSysctlCpupoolOp>() == 40);

/// `XEN_INVALID_CORE_ID`.
pub const XEN_INVALID_CORE_ID: u32 = !0;
/// `XEN_INVALID_SOCKET_ID`.
pub const XEN_INVALID_SOCKET_ID: u32 = !0;
/// `XEN_INVALID_NODE_ID`.
pub const XEN_INVALID_NODE_ID: u32 = !0;
/// `XEN_INVALID_MEM_SZ`.
pub const XEN_INVALID_MEM_SZ: u32 = !0;
/// `XEN_INVALID_NODE_DIST`.
pub const XEN_INVALID_NODE_DIST: u32 = !0;

/// `xen_sysctl_cputopo`: one CPU's place.
#[doc(alias = "xen_sysctl_cputopo")]
#[doc(alias = "xen_sysctl_cputopo_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenSysctlCputopo {
    pub core: u32,
    pub socket: u32,
    pub node: u32,
}
const _: () = assert!(size_of::<XenSysctlCputopo>() == 12);

/// `xen_sysctl_cputopoinfo` (`XEN_SYSCTL_cputopoinfo`).
#[doc(alias = "xen_sysctl_cputopoinfo")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenSysctlCputopoinfo {
    pub num_cpus: u32,
    pub _pad0: u32,
    /// Guest handle to `num_cpus` [`XenSysctlCputopo`]s.
    pub cputopo: u64,
}
const _: () = assert!(size_of::<XenSysctlCputopoinfo>() == 16);

/// `xen_sysctl_meminfo`: one NUMA node's memory.
#[doc(alias = "xen_sysctl_meminfo")]
#[doc(alias = "xen_sysctl_meminfo_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenSysctlMeminfo {
    pub memsize: u64,
    pub memfree: u64,
}
const _: () = assert!(size_of::<XenSysctlMeminfo>() == 16);

/// `xen_sysctl_numainfo` (`XEN_SYSCTL_numainfo`).
#[doc(alias = "xen_sysctl_numainfo")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenSysctlNumainfo {
    pub num_nodes: u32,
    pub _pad0: u32,
    /// Guest handle to `num_nodes` [`XenSysctlMeminfo`]s.
    pub meminfo: u64,
    /// Guest handle to `num_nodes * num_nodes` `u32` distances.
    pub distance: u64,
}
const _: () = assert!(size_of::<XenSysctlNumainfo>() == 24);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;
    use zerocopy::FromZeros;

    #[test]
    fn sysctl_round_trips_and_unknown_is_enosys() {
        assert_sub_op::<Sysctl>();
        assert_eq!(Sysctl::try_from(13), Err(crate::Errno::ENOSYS));
    }

    #[test]
    fn sysctl_arg_round_trips_physinfo() {
        let mut s = XenSysctl::new_zeroed();
        let p = XenSysctlPhysinfo {
            nr_cpus: 2,
            total_pages: 1 << 20,
            ..Default::default()
        };
        assert!(s.set_arg(&p));
        assert_eq!(s.arg::<XenSysctlPhysinfo>(), Some(p));
    }
}

/// `XEN_SYSCTL_cpu_featureset_raw`: the hardware's features.
pub const XEN_SYSCTL_CPU_FEATURESET_RAW: u32 = 0;
/// `XEN_SYSCTL_cpu_featureset_host`: the features the hypervisor uses.
pub const XEN_SYSCTL_CPU_FEATURESET_HOST: u32 = 1;
/// `XEN_SYSCTL_cpu_featureset_pv`: a PV guest's default features.
pub const XEN_SYSCTL_CPU_FEATURESET_PV: u32 = 2;
/// `XEN_SYSCTL_cpu_featureset_hvm`.
pub const XEN_SYSCTL_CPU_FEATURESET_HVM: u32 = 3;
/// `XEN_SYSCTL_cpu_featureset_pv_max`: the most a PV guest may be given.
pub const XEN_SYSCTL_CPU_FEATURESET_PV_MAX: u32 = 4;
/// `XEN_SYSCTL_cpu_featureset_hvm_max`.
pub const XEN_SYSCTL_CPU_FEATURESET_HVM_MAX: u32 = 5;

/// `xen_sysctl_cpu_featureset` (`XEN_SYSCTL_get_cpu_featureset`).
#[doc(alias = "xen_sysctl_cpu_featureset")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenSysctlCpuFeatureset {
    /// `XEN_SYSCTL_cpu_featureset_*`.
    pub index: u32,
    /// IN: the words `features` holds; OUT: the words written (with a null `features`, the
    /// number of words there are).
    pub nr_features: u32,
    /// Guest handle to `nr_features` `u32`s.
    pub features: u64,
}
const _: () = assert!(size_of::<XenSysctlCpuFeatureset>() == 16);

/// `XEN_SYSCTL_cpu_policy_raw`.
pub const XEN_SYSCTL_CPU_POLICY_RAW: u32 = 0;
/// `XEN_SYSCTL_cpu_policy_host`.
pub const XEN_SYSCTL_CPU_POLICY_HOST: u32 = 1;
/// `XEN_SYSCTL_cpu_policy_pv_max`.
pub const XEN_SYSCTL_CPU_POLICY_PV_MAX: u32 = 2;
/// `XEN_SYSCTL_cpu_policy_hvm_max`.
pub const XEN_SYSCTL_CPU_POLICY_HVM_MAX: u32 = 3;
/// `XEN_SYSCTL_cpu_policy_pv_default`.
pub const XEN_SYSCTL_CPU_POLICY_PV_DEFAULT: u32 = 4;
/// `XEN_SYSCTL_cpu_policy_hvm_default`.
pub const XEN_SYSCTL_CPU_POLICY_HVM_DEFAULT: u32 = 5;

/// `xen_sysctl_cpu_policy` (`XEN_SYSCTL_get_cpu_policy`).
#[doc(alias = "xen_sysctl_cpu_policy")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenSysctlCpuPolicy {
    /// `XEN_SYSCTL_cpu_policy_*`.
    pub index: u32,
    /// IN: the room in `leaves`; OUT: the leaves written, or the most there can be when
    /// `leaves` is null.
    pub nr_leaves: u32,
    /// The same for `msrs`.
    pub nr_msrs: u32,
    /// Must be zero.
    pub _rsvd: u32,
    /// Guest handle to [`crate::arch_x86::XenCpuidLeaf`]s.
    pub leaves: u64,
    /// Guest handle to [`crate::arch_x86::XenMsrEntry`]s.
    pub msrs: u64,
}
const _: () = assert!(size_of::<XenSysctlCpuPolicy>() == 32);
