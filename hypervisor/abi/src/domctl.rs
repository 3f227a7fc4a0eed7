//! `domctl.h`: the `XEN_DOMCTL_*` sub-ops of `domctl` (toolstack only) at interface version
//! 0x15 (Xen 4.17), `xen_domctl`, and the argument structs a PV toolstack needs.
//!
//! Mirrored: every sub-op number; `xen_domctl` with its union `u` as 128 raw bytes and typed
//! [`XenDomctl::arg`]/[`XenDomctl::set_arg`]; the structs of createdomain, getdomaininfo,
//! max_mem, set/getvcpucontext, max_vcpus, setdomainhandle, settimeoffset, set/get_address_size,
//! getvcpuinfo, iomem/ioport/irq_permission, set/getvcpuaffinity, shadow_op, hypercall_init,
//! set_target, setdebugging, subscribe. Left out: HVM, passthrough, vm_event, PSR, monitor,
//! vNUMA, gdbsx and CPU-policy structs (see docs/abi/README.md). There is no
//! `XEN_DOMCTL_set_max_evtchn` in 4.17: the limit is `max_evtchn_port` of createdomain.

use bitflags::bitflags;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::arch_x86::XenArchDomainconfig;
use crate::types::{DomId, Gfn, Mfn};
use crate::xen::{XenDomainHandle, XenctlBitmap};

/// `XEN_DOMCTL_INTERFACE_VERSION` of Xen 4.17.
pub const XEN_DOMCTL_INTERFACE_VERSION: u32 = 0x0000_0015;

sub_op_enum! {
    /// `domctl` sub-ops (`XEN_DOMCTL_*`).
    #[doc(alias = "XEN_DOMCTL")]
    pub enum Domctl {
        /// [`XenDomctlCreatedomain`]; `domain` IN (0 = pick one), OUT.
        #[doc(alias = "XEN_DOMCTL_createdomain")]
        Createdomain = 1,
        #[doc(alias = "XEN_DOMCTL_destroydomain")]
        Destroydomain = 2,
        #[doc(alias = "XEN_DOMCTL_pausedomain")]
        Pausedomain = 3,
        #[doc(alias = "XEN_DOMCTL_unpausedomain")]
        Unpausedomain = 4,
        /// [`XenDomctlGetdomaininfo`].
        #[doc(alias = "XEN_DOMCTL_getdomaininfo")]
        Getdomaininfo = 5,
        /// [`XenDomctlVcpuaffinity`].
        #[doc(alias = "XEN_DOMCTL_setvcpuaffinity")]
        Setvcpuaffinity = 9,
        /// [`XenDomctlShadowOp`].
        #[doc(alias = "XEN_DOMCTL_shadow_op")]
        ShadowOp = 10,
        /// [`XenDomctlMaxMem`].
        #[doc(alias = "XEN_DOMCTL_max_mem")]
        MaxMem = 11,
        /// [`XenDomctlVcpucontext`].
        #[doc(alias = "XEN_DOMCTL_setvcpucontext")]
        Setvcpucontext = 12,
        /// [`XenDomctlVcpucontext`].
        #[doc(alias = "XEN_DOMCTL_getvcpucontext")]
        Getvcpucontext = 13,
        /// [`XenDomctlGetvcpuinfo`].
        #[doc(alias = "XEN_DOMCTL_getvcpuinfo")]
        Getvcpuinfo = 14,
        /// [`XenDomctlMaxVcpus`].
        #[doc(alias = "XEN_DOMCTL_max_vcpus")]
        MaxVcpus = 15,
        #[doc(alias = "XEN_DOMCTL_scheduler_op")]
        SchedulerOp = 16,
        /// [`XenDomctlSetdomainhandle`].
        #[doc(alias = "XEN_DOMCTL_setdomainhandle")]
        Setdomainhandle = 17,
        /// [`XenDomctlSetdebugging`].
        #[doc(alias = "XEN_DOMCTL_setdebugging")]
        Setdebugging = 18,
        /// [`XenDomctlIrqPermission`].
        #[doc(alias = "XEN_DOMCTL_irq_permission")]
        IrqPermission = 19,
        /// [`XenDomctlIomemPermission`].
        #[doc(alias = "XEN_DOMCTL_iomem_permission")]
        IomemPermission = 20,
        /// [`XenDomctlIoportPermission`].
        #[doc(alias = "XEN_DOMCTL_ioport_permission")]
        IoportPermission = 21,
        /// [`XenDomctlHypercallInit`].
        #[doc(alias = "XEN_DOMCTL_hypercall_init")]
        HypercallInit = 22,
        /// [`XenDomctlSettimeoffset`].
        #[doc(alias = "XEN_DOMCTL_settimeoffset")]
        Settimeoffset = 24,
        /// [`XenDomctlVcpuaffinity`].
        #[doc(alias = "XEN_DOMCTL_getvcpuaffinity")]
        Getvcpuaffinity = 25,
        /// Obsolete (PPC).
        #[doc(alias = "XEN_DOMCTL_real_mode_area")]
        RealModeArea = 26,
        #[doc(alias = "XEN_DOMCTL_resumedomain")]
        Resumedomain = 27,
        #[doc(alias = "XEN_DOMCTL_sendtrigger")]
        Sendtrigger = 28,
        /// [`XenDomctlSubscribe`].
        #[doc(alias = "XEN_DOMCTL_subscribe")]
        Subscribe = 29,
        #[doc(alias = "XEN_DOMCTL_gethvmcontext")]
        Gethvmcontext = 33,
        #[doc(alias = "XEN_DOMCTL_sethvmcontext")]
        Sethvmcontext = 34,
        /// [`XenDomctlAddressSize`].
        #[doc(alias = "XEN_DOMCTL_set_address_size")]
        SetAddressSize = 35,
        /// [`XenDomctlAddressSize`].
        #[doc(alias = "XEN_DOMCTL_get_address_size")]
        GetAddressSize = 36,
        #[doc(alias = "XEN_DOMCTL_assign_device")]
        AssignDevice = 37,
        #[doc(alias = "XEN_DOMCTL_bind_pt_irq")]
        BindPtIrq = 38,
        #[doc(alias = "XEN_DOMCTL_memory_mapping")]
        MemoryMapping = 39,
        #[doc(alias = "XEN_DOMCTL_ioport_mapping")]
        IoportMapping = 40,
        #[doc(alias = "XEN_DOMCTL_set_ext_vcpucontext")]
        SetExtVcpucontext = 42,
        #[doc(alias = "XEN_DOMCTL_get_ext_vcpucontext")]
        GetExtVcpucontext = 43,
        /// Obsolete (IA64).
        #[doc(alias = "XEN_DOMCTL_set_opt_feature")]
        SetOptFeature = 44,
        #[doc(alias = "XEN_DOMCTL_test_assign_device")]
        TestAssignDevice = 45,
        /// [`XenDomctlSetTarget`].
        #[doc(alias = "XEN_DOMCTL_set_target")]
        SetTarget = 46,
        #[doc(alias = "XEN_DOMCTL_deassign_device")]
        DeassignDevice = 47,
        #[doc(alias = "XEN_DOMCTL_unbind_pt_irq")]
        UnbindPtIrq = 48,
        #[doc(alias = "XEN_DOMCTL_get_device_group")]
        GetDeviceGroup = 50,
        #[doc(alias = "XEN_DOMCTL_debug_op")]
        DebugOp = 54,
        #[doc(alias = "XEN_DOMCTL_gethvmcontext_partial")]
        GethvmcontextPartial = 55,
        #[doc(alias = "XEN_DOMCTL_vm_event_op")]
        VmEventOp = 56,
        #[doc(alias = "XEN_DOMCTL_mem_sharing_op")]
        MemSharingOp = 57,
        #[doc(alias = "XEN_DOMCTL_gettscinfo")]
        Gettscinfo = 59,
        #[doc(alias = "XEN_DOMCTL_settscinfo")]
        Settscinfo = 60,
        #[doc(alias = "XEN_DOMCTL_getpageframeinfo3")]
        Getpageframeinfo3 = 61,
        #[doc(alias = "XEN_DOMCTL_setvcpuextstate")]
        Setvcpuextstate = 62,
        #[doc(alias = "XEN_DOMCTL_getvcpuextstate")]
        Getvcpuextstate = 63,
        #[doc(alias = "XEN_DOMCTL_set_access_required")]
        SetAccessRequired = 64,
        #[doc(alias = "XEN_DOMCTL_audit_p2m")]
        AuditP2m = 65,
        #[doc(alias = "XEN_DOMCTL_set_virq_handler")]
        SetVirqHandler = 66,
        #[doc(alias = "XEN_DOMCTL_set_broken_page_p2m")]
        SetBrokenPageP2m = 67,
        #[doc(alias = "XEN_DOMCTL_setnodeaffinity")]
        Setnodeaffinity = 68,
        #[doc(alias = "XEN_DOMCTL_getnodeaffinity")]
        Getnodeaffinity = 69,
        #[doc(alias = "XEN_DOMCTL_cacheflush")]
        Cacheflush = 71,
        #[doc(alias = "XEN_DOMCTL_get_vcpu_msrs")]
        GetVcpuMsrs = 72,
        #[doc(alias = "XEN_DOMCTL_set_vcpu_msrs")]
        SetVcpuMsrs = 73,
        #[doc(alias = "XEN_DOMCTL_setvnumainfo")]
        Setvnumainfo = 74,
        #[doc(alias = "XEN_DOMCTL_psr_cmt_op")]
        PsrCmtOp = 75,
        #[doc(alias = "XEN_DOMCTL_monitor_op")]
        MonitorOp = 77,
        #[doc(alias = "XEN_DOMCTL_psr_alloc")]
        PsrAlloc = 78,
        #[doc(alias = "XEN_DOMCTL_soft_reset")]
        SoftReset = 79,
        #[doc(alias = "XEN_DOMCTL_vuart_op")]
        VuartOp = 81,
        #[doc(alias = "XEN_DOMCTL_get_cpu_policy")]
        GetCpuPolicy = 82,
        #[doc(alias = "XEN_DOMCTL_set_cpu_policy")]
        SetCpuPolicy = 83,
        #[doc(alias = "XEN_DOMCTL_vmtrace_op")]
        VmtraceOp = 84,
        #[doc(alias = "XEN_DOMCTL_get_paging_mempool_size")]
        GetPagingMempoolSize = 85,
        #[doc(alias = "XEN_DOMCTL_set_paging_mempool_size")]
        SetPagingMempoolSize = 86,
        #[doc(alias = "XEN_DOMCTL_gdbsx_guestmemio")]
        GdbsxGuestmemio = 1000,
        #[doc(alias = "XEN_DOMCTL_gdbsx_pausevcpu")]
        GdbsxPausevcpu = 1001,
        #[doc(alias = "XEN_DOMCTL_gdbsx_unpausevcpu")]
        GdbsxUnpausevcpu = 1002,
        #[doc(alias = "XEN_DOMCTL_gdbsx_domstatus")]
        GdbsxDomstatus = 1003,
    }
}

/// `xen_domctl`: the argument of `domctl`.
#[doc(alias = "xen_domctl")]
#[doc(alias = "xen_domctl_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenDomctl {
    /// A [`Domctl`] number.
    pub cmd: u32,
    /// Must be [`XEN_DOMCTL_INTERFACE_VERSION`].
    pub interface_version: u32,
    /// The target domain.
    pub domain: DomId,
    pub _pad: [u16; 3],
    /// The C union of every sub-op's struct (and `uint8_t pad[128]`), as raw words.
    pub u: [u64; 16],
}
const _: () = assert!(size_of::<XenDomctl>() == 144);

union_op!(XenDomctl);

bitflags! {
    /// `xen_domctl_createdomain.flags` (`XEN_DOMCTL_CDF_*`).
    #[doc(alias = "XEN_DOMCTL_CDF")]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DomctlCdf: u32 {
        #[doc(alias = "XEN_DOMCTL_CDF_hvm")]
        const HVM = 1 << 0;
        #[doc(alias = "XEN_DOMCTL_CDF_hap")]
        const HAP = 1 << 1;
        #[doc(alias = "XEN_DOMCTL_CDF_s3_integrity")]
        const S3_INTEGRITY = 1 << 2;
        #[doc(alias = "XEN_DOMCTL_CDF_oos_off")]
        const OOS_OFF = 1 << 3;
        /// The domain runs xenstored.
        #[doc(alias = "XEN_DOMCTL_CDF_xs_domain")]
        const XS_DOMAIN = 1 << 4;
        #[doc(alias = "XEN_DOMCTL_CDF_iommu")]
        const IOMMU = 1 << 5;
        #[doc(alias = "XEN_DOMCTL_CDF_nested_virt")]
        const NESTED_VIRT = 1 << 6;
        #[doc(alias = "XEN_DOMCTL_CDF_vpmu")]
        const VPMU = 1 << 7;
    }
}

/// `XEN_DOMCTL_IOMMU_no_sharept`.
#[doc(alias = "XEN_DOMCTL_IOMMU_no_sharept")]
pub const XEN_DOMCTL_IOMMU_NO_SHAREPT: u32 = 1 << 0;
/// `XEN_DOMCTL_GRANT_version_mask`: the grant table version bits of `grant_opts`.
#[doc(alias = "XEN_DOMCTL_GRANT_version_mask")]
pub const XEN_DOMCTL_GRANT_VERSION_MASK: u32 = 0xf;

/// `XEN_DOMCTL_GRANT_version(v)`.
pub const fn xen_domctl_grant_version(v: u32) -> u32 {
    v & XEN_DOMCTL_GRANT_VERSION_MASK
}

/// `xen_domctl_createdomain` (`XEN_DOMCTL_createdomain`).
#[doc(alias = "xen_domctl_createdomain")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlCreatedomain {
    /// XSM security label.
    pub ssidref: u32,
    pub handle: XenDomainHandle,
    /// [`DomctlCdf`].
    pub flags: u32,
    /// `XEN_DOMCTL_IOMMU_*`.
    pub iommu_opts: u32,
    pub max_vcpus: u32,
    /// Largest event channel port (the former `XEN_DOMCTL_set_max_evtchn`).
    pub max_evtchn_port: u32,
    /// -1 for the default.
    pub max_grant_frames: i32,
    /// -1 for the default.
    pub max_maptrack_frames: i32,
    /// `XEN_DOMCTL_GRANT_version(v)`.
    pub grant_opts: u32,
    pub vmtrace_size: u32,
    pub cpupool_id: u32,
    pub arch: XenArchDomainconfig,
}
const _: () = assert!(size_of::<XenDomctlCreatedomain>() == 64);

bitflags! {
    /// `xen_domctl_getdomaininfo.flags` (`XEN_DOMINF_*`), below the shutdown code.
    #[doc(alias = "XEN_DOMINF")]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DomInfFlags: u32 {
        #[doc(alias = "XEN_DOMINF_dying")]
        const DYING = 1 << 0;
        #[doc(alias = "XEN_DOMINF_hvm_guest")]
        const HVM_GUEST = 1 << 1;
        #[doc(alias = "XEN_DOMINF_shutdown")]
        const SHUTDOWN = 1 << 2;
        #[doc(alias = "XEN_DOMINF_paused")]
        const PAUSED = 1 << 3;
        #[doc(alias = "XEN_DOMINF_blocked")]
        const BLOCKED = 1 << 4;
        #[doc(alias = "XEN_DOMINF_running")]
        const RUNNING = 1 << 5;
        #[doc(alias = "XEN_DOMINF_debugged")]
        const DEBUGGED = 1 << 6;
        #[doc(alias = "XEN_DOMINF_xs_domain")]
        const XS_DOMAIN = 1 << 7;
        #[doc(alias = "XEN_DOMINF_hap")]
        const HAP = 1 << 8;
        /// The shutdown code field (`XEN_DOMINF_shutdownmask << XEN_DOMINF_shutdownshift`).
        const SHUTDOWN_CODE = 255 << 16;
    }
}

/// `XEN_DOMINF_shutdownmask`.
#[doc(alias = "XEN_DOMINF_shutdownmask")]
pub const XEN_DOMINF_SHUTDOWNMASK: u32 = 255;
/// `XEN_DOMINF_shutdownshift`.
#[doc(alias = "XEN_DOMINF_shutdownshift")]
pub const XEN_DOMINF_SHUTDOWNSHIFT: u32 = 16;
/// `XEN_INVALID_MAX_VCPU_ID`: the domain has no vCPUs.
pub const XEN_INVALID_MAX_VCPU_ID: u32 = !0;

/// `xen_domctl_getdomaininfo` (`XEN_DOMCTL_getdomaininfo`, and the entries of
/// `XEN_SYSCTL_getdomaininfolist`).
#[doc(alias = "xen_domctl_getdomaininfo")]
#[doc(alias = "xen_domctl_getdomaininfo_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlGetdomaininfo {
    pub domain: DomId,
    pub pad1: u16,
    /// [`DomInfFlags`] plus the shutdown code in bits 16-23.
    pub flags: u32,
    pub tot_pages: u64,
    pub max_pages: u64,
    pub outstanding_pages: u64,
    pub shr_pages: u64,
    pub paged_pages: u64,
    /// Frame of the domain's `shared_info`.
    pub shared_info_frame: Gfn,
    /// Total CPU time in ns.
    pub cpu_time: u64,
    pub nr_online_vcpus: u32,
    pub max_vcpu_id: u32,
    pub ssidref: u32,
    pub handle: XenDomainHandle,
    pub cpupool: u32,
    pub gpaddr_bits: u8,
    pub pad2: [u8; 7],
    pub arch_config: XenArchDomainconfig,
}
const _: () = assert!(size_of::<XenDomctlGetdomaininfo>() == 112);

/// `XEN_DOMCTL_SHADOW_OP_OFF`.
pub const XEN_DOMCTL_SHADOW_OP_OFF: u32 = 0;
/// `XEN_DOMCTL_SHADOW_OP_ENABLE`.
pub const XEN_DOMCTL_SHADOW_OP_ENABLE: u32 = 32;
/// `XEN_DOMCTL_SHADOW_OP_CLEAN`: read and clear the dirty bitmap.
pub const XEN_DOMCTL_SHADOW_OP_CLEAN: u32 = 11;
/// `XEN_DOMCTL_SHADOW_OP_PEEK`: read the dirty bitmap.
pub const XEN_DOMCTL_SHADOW_OP_PEEK: u32 = 12;
/// `XEN_DOMCTL_SHADOW_OP_GET_ALLOCATION`.
pub const XEN_DOMCTL_SHADOW_OP_GET_ALLOCATION: u32 = 30;
/// `XEN_DOMCTL_SHADOW_OP_SET_ALLOCATION`.
pub const XEN_DOMCTL_SHADOW_OP_SET_ALLOCATION: u32 = 31;
/// `XEN_DOMCTL_SHADOW_OP_ENABLE_TEST`.
pub const XEN_DOMCTL_SHADOW_OP_ENABLE_TEST: u32 = 1;
/// `XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY`.
pub const XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY: u32 = 2;
/// `XEN_DOMCTL_SHADOW_ENABLE_REFCOUNT`.
pub const XEN_DOMCTL_SHADOW_ENABLE_REFCOUNT: u32 = 1 << 1;
/// `XEN_DOMCTL_SHADOW_ENABLE_LOG_DIRTY`.
pub const XEN_DOMCTL_SHADOW_ENABLE_LOG_DIRTY: u32 = 1 << 2;
/// `XEN_DOMCTL_SHADOW_ENABLE_TRANSLATE`.
pub const XEN_DOMCTL_SHADOW_ENABLE_TRANSLATE: u32 = 1 << 3;
/// `XEN_DOMCTL_SHADOW_ENABLE_EXTERNAL`.
pub const XEN_DOMCTL_SHADOW_ENABLE_EXTERNAL: u32 = 1 << 4;
/// `XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL`.
pub const XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL: u32 = 1 << 0;

/// `xen_domctl_shadow_op_stats`.
#[doc(alias = "xen_domctl_shadow_op_stats")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlShadowOpStats {
    pub fault_count: u32,
    pub dirty_count: u32,
}
const _: () = assert!(size_of::<XenDomctlShadowOpStats>() == 8);

/// `xen_domctl_shadow_op` (`XEN_DOMCTL_shadow_op`): log-dirty for save and migration.
#[doc(alias = "xen_domctl_shadow_op")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlShadowOp {
    /// `XEN_DOMCTL_SHADOW_OP_*`.
    pub op: u32,
    /// `XEN_DOMCTL_SHADOW_ENABLE_*` or `XEN_DOMCTL_SHADOW_LOGDIRTY_*`.
    pub mode: u32,
    /// Shadow memory allocation in MiB.
    pub mb: u32,
    pub _pad0: u32,
    /// Guest handle to the dirty bitmap.
    pub dirty_bitmap: u64,
    /// Size of the bitmap in pages (bits); updated with the actual size.
    pub pages: u64,
    pub stats: XenDomctlShadowOpStats,
}
const _: () = assert!(size_of::<XenDomctlShadowOp>() == 40);

/// `xen_domctl_max_mem` (`XEN_DOMCTL_max_mem`).
#[doc(alias = "xen_domctl_max_mem")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlMaxMem {
    pub max_memkb: u64,
}
const _: () = assert!(size_of::<XenDomctlMaxMem>() == 8);

/// `xen_domctl_vcpucontext` (`XEN_DOMCTL_setvcpucontext`, `XEN_DOMCTL_getvcpucontext`).
#[doc(alias = "xen_domctl_vcpucontext")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlVcpucontext {
    pub vcpu: u32,
    pub _pad0: u32,
    /// Guest handle to a `vcpu_guest_context` ([`crate::arch_x86::VcpuGuestContext`]).
    pub ctxt: u64,
}
const _: () = assert!(size_of::<XenDomctlVcpucontext>() == 16);

/// `xen_domctl_getvcpuinfo` (`XEN_DOMCTL_getvcpuinfo`).
#[doc(alias = "xen_domctl_getvcpuinfo")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlGetvcpuinfo {
    pub vcpu: u32,
    pub online: u8,
    pub blocked: u8,
    pub running: u8,
    pub _pad0: u8,
    /// Total CPU time in ns.
    pub cpu_time: u64,
    /// The physical CPU it runs on.
    pub cpu: u32,
    pub _pad1: u32,
}
const _: () = assert!(size_of::<XenDomctlGetvcpuinfo>() == 24);

/// `XEN_VCPUAFFINITY_HARD`.
pub const XEN_VCPUAFFINITY_HARD: u32 = 1 << 0;
/// `XEN_VCPUAFFINITY_SOFT`.
pub const XEN_VCPUAFFINITY_SOFT: u32 = 1 << 1;
/// `XEN_VCPUAFFINITY_FORCE`: undo `SCHEDOP_pin_override`.
pub const XEN_VCPUAFFINITY_FORCE: u32 = 1 << 2;

/// `xen_domctl_vcpuaffinity` (`XEN_DOMCTL_setvcpuaffinity`, `XEN_DOMCTL_getvcpuaffinity`).
#[doc(alias = "xen_domctl_vcpuaffinity")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenDomctlVcpuaffinity {
    pub vcpu: u32,
    /// `XEN_VCPUAFFINITY_*`.
    pub flags: u32,
    pub cpumap_hard: XenctlBitmap,
    pub cpumap_soft: XenctlBitmap,
}
const _: () = assert!(size_of::<XenDomctlVcpuaffinity>() == 40);

/// `xen_domctl_max_vcpus` (`XEN_DOMCTL_max_vcpus`).
#[doc(alias = "xen_domctl_max_vcpus")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlMaxVcpus {
    pub max: u32,
}
const _: () = assert!(size_of::<XenDomctlMaxVcpus>() == 4);

/// `xen_domctl_setdomainhandle` (`XEN_DOMCTL_setdomainhandle`).
#[doc(alias = "xen_domctl_setdomainhandle")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlSetdomainhandle {
    pub handle: XenDomainHandle,
}
const _: () = assert!(size_of::<XenDomctlSetdomainhandle>() == 16);

/// `xen_domctl_irq_permission` (`XEN_DOMCTL_irq_permission`).
#[doc(alias = "xen_domctl_irq_permission")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlIrqPermission {
    pub pirq: u32,
    pub allow_access: u8,
    pub pad: [u8; 3],
}
const _: () = assert!(size_of::<XenDomctlIrqPermission>() == 8);

/// `xen_domctl_iomem_permission` (`XEN_DOMCTL_iomem_permission`).
#[doc(alias = "xen_domctl_iomem_permission")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlIomemPermission {
    /// First machine frame of the range.
    pub first_mfn: Mfn,
    /// Number of frames (> 0).
    pub nr_mfns: u64,
    pub allow_access: u8,
    pub _pad0: [u8; 7],
}
const _: () = assert!(size_of::<XenDomctlIomemPermission>() == 24);

/// `xen_domctl_ioport_permission` (`XEN_DOMCTL_ioport_permission`).
#[doc(alias = "xen_domctl_ioport_permission")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlIoportPermission {
    pub first_port: u32,
    pub nr_ports: u32,
    pub allow_access: u8,
    pub _pad0: [u8; 3],
}
const _: () = assert!(size_of::<XenDomctlIoportPermission>() == 12);

/// `xen_domctl_hypercall_init` (`XEN_DOMCTL_hypercall_init`): write the hypercall page.
#[doc(alias = "xen_domctl_hypercall_init")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlHypercallInit {
    pub gmfn: Gfn,
}
const _: () = assert!(size_of::<XenDomctlHypercallInit>() == 8);

/// `xen_domctl_settimeoffset` (`XEN_DOMCTL_settimeoffset`).
#[doc(alias = "xen_domctl_settimeoffset")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlSettimeoffset {
    /// Added to the domain's wallclock.
    pub time_offset_seconds: i64,
}
const _: () = assert!(size_of::<XenDomctlSettimeoffset>() == 8);

/// `xen_domctl_address_size` (`XEN_DOMCTL_set_address_size`, `XEN_DOMCTL_get_address_size`).
#[doc(alias = "xen_domctl_address_size")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlAddressSize {
    /// 32 or 64.
    pub size: u32,
}
const _: () = assert!(size_of::<XenDomctlAddressSize>() == 4);

/// `xen_domctl_set_target` (`XEN_DOMCTL_set_target`).
#[doc(alias = "xen_domctl_set_target")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlSetTarget {
    pub target: DomId,
}
const _: () = assert!(size_of::<XenDomctlSetTarget>() == 2);

/// `xen_domctl_setdebugging` (`XEN_DOMCTL_setdebugging`).
#[doc(alias = "xen_domctl_setdebugging")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlSetdebugging {
    pub enable: u8,
}
const _: () = assert!(size_of::<XenDomctlSetdebugging>() == 1);

/// `xen_domctl_subscribe` (`XEN_DOMCTL_subscribe`): the port for `VIRQ_DOM_EXC` style notices.
#[doc(alias = "xen_domctl_subscribe")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlSubscribe {
    pub port: u32,
}
const _: () = assert!(size_of::<XenDomctlSubscribe>() == 4);

/// `xen_domctl_tsc_info` (`XEN_DOMCTL_settscinfo`, `XEN_DOMCTL_gettscinfo`).
#[doc(alias = "xen_domctl_tsc_info")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlTscInfo {
    /// `TSC_MODE_*`.
    pub tsc_mode: u32,
    pub gtsc_khz: u32,
    pub incarnation: u32,
    pub pad: u32,
    pub elapsed_nsec: u64,
}
const _: () = assert!(size_of::<XenDomctlTscInfo>() == 24);

/// `TSC_MODE_DEFAULT`: the native TSC where it is safe, else emulated.
pub const TSC_MODE_DEFAULT: u32 = 0;
/// `TSC_MODE_ALWAYS_EMULATE`.
pub const TSC_MODE_ALWAYS_EMULATE: u32 = 1;
/// `TSC_MODE_NEVER_EMULATE`.
pub const TSC_MODE_NEVER_EMULATE: u32 = 2;

/// `XEN_DOMCTL_SCHEDOP_putinfo`: set the domain's parameters.
pub const XEN_DOMCTL_SCHEDOP_PUTINFO: u32 = 0;
/// `XEN_DOMCTL_SCHEDOP_getinfo`: read them.
pub const XEN_DOMCTL_SCHEDOP_GETINFO: u32 = 1;
/// `XEN_DOMCTL_SCHEDOP_putvcpuinfo`.
pub const XEN_DOMCTL_SCHEDOP_PUTVCPUINFO: u32 = 2;
/// `XEN_DOMCTL_SCHEDOP_getvcpuinfo`.
pub const XEN_DOMCTL_SCHEDOP_GETVCPUINFO: u32 = 3;

/// `xen_domctl_scheduler_op` (`XEN_DOMCTL_scheduler_op`): `u` is the credit/credit2
/// `{u16 weight, u16 cap}`, RTDS's `{u32 period, budget, flags}`, or the per-vCPU handle form,
/// as raw words.
#[doc(alias = "xen_domctl_scheduler_op")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenDomctlSchedulerOp {
    /// `XEN_SCHEDULER_*`.
    pub sched_id: u32,
    /// `XEN_DOMCTL_SCHEDOP_*`.
    pub cmd: u32,
    pub u: [u64; 2],
}
const _: () = assert!(size_of::<XenDomctlSchedulerOp>() == 24);

/// `xen_domctl_sched_credit2` (and `xen_domctl_sched_credit`): a domain's weight and cap.
#[doc(alias = "xen_domctl_sched_credit2")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlSchedCredit2 {
    pub weight: u16,
    pub cap: u16,
}
const _: () = assert!(size_of::<XenDomctlSchedCredit2>() == 4);

/// `xen_domctl_nodeaffinity` (`XEN_DOMCTL_setnodeaffinity`, `XEN_DOMCTL_getnodeaffinity`).
#[doc(alias = "xen_domctl_nodeaffinity")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenDomctlNodeaffinity {
    pub nodemap: XenctlBitmap,
}
const _: () = assert!(size_of::<XenDomctlNodeaffinity>() == 16);

/// `XEN_SCHEDULER_CREDIT`.
pub const XEN_SCHEDULER_CREDIT: u32 = 5;
/// `XEN_SCHEDULER_CREDIT2`.
pub const XEN_SCHEDULER_CREDIT2: u32 = 6;
/// `XEN_SCHEDULER_ARINC653`.
pub const XEN_SCHEDULER_ARINC653: u32 = 7;
/// `XEN_SCHEDULER_RTDS`.
pub const XEN_SCHEDULER_RTDS: u32 = 8;
/// `XEN_SCHEDULER_NULL`.
pub const XEN_SCHEDULER_NULL: u32 = 9;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;
    use zerocopy::FromZeros;

    #[test]
    fn domctl_round_trips_and_unknown_is_enosys() {
        assert_sub_op::<Domctl>();
        // set_max_evtchn (70) and set_gnttab_limits (80) were folded into createdomain;
        // soft_reset_cont (23) is internal to the hypervisor (`__XEN__` only).
        assert_eq!(Domctl::try_from(23), Err(crate::Errno::ENOSYS));
        assert_eq!(Domctl::try_from(70), Err(crate::Errno::ENOSYS));
        assert_eq!(Domctl::try_from(80), Err(crate::Errno::ENOSYS));
    }

    #[test]
    fn domctl_arg_round_trips_getdomaininfo() {
        let mut d = XenDomctl::new_zeroed();
        let info = XenDomctlGetdomaininfo {
            domain: DomId(3),
            tot_pages: 256,
            ..Default::default()
        };
        assert!(d.set_arg(&info));
        assert_eq!(d.arg::<XenDomctlGetdomaininfo>(), Some(info));
    }
}

/// `xen_domctl_cpu_policy` (`XEN_DOMCTL_get_cpu_policy`, `XEN_DOMCTL_set_cpu_policy`).
#[doc(alias = "xen_domctl_cpu_policy")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlCpuPolicy {
    /// IN/OUT: the leaves in (or written to) `leaves`.
    pub nr_leaves: u32,
    /// IN/OUT: the entries in (or written to) `msrs`.
    pub nr_msrs: u32,
    /// Guest handle to [`crate::arch_x86::XenCpuidLeaf`]s.
    pub leaves: u64,
    /// Guest handle to [`crate::arch_x86::XenMsrEntry`]s.
    pub msrs: u64,
    /// OUT (set_policy, some errors): the leaf the audit objects to.
    pub err_leaf: u32,
    /// OUT: its subleaf.
    pub err_subleaf: u32,
    /// OUT: the MSR the audit objects to.
    pub err_msr: u32,
    pub _pad: u32,
}
const _: () = assert!(size_of::<XenDomctlCpuPolicy>() == 40);

/// `XEN_DOMCTL_PFINFO_NOTAB`: a frame that is no page table.
pub const XEN_DOMCTL_PFINFO_NOTAB: u32 = 0;
/// `XEN_DOMCTL_PFINFO_L1TAB`.
pub const XEN_DOMCTL_PFINFO_L1TAB: u32 = 0x1 << 28;
/// `XEN_DOMCTL_PFINFO_L2TAB`.
pub const XEN_DOMCTL_PFINFO_L2TAB: u32 = 0x2 << 28;
/// `XEN_DOMCTL_PFINFO_L3TAB`.
pub const XEN_DOMCTL_PFINFO_L3TAB: u32 = 0x3 << 28;
/// `XEN_DOMCTL_PFINFO_L4TAB`.
pub const XEN_DOMCTL_PFINFO_L4TAB: u32 = 0x4 << 28;
/// `XEN_DOMCTL_PFINFO_LPINTAB`: the table is pinned.
pub const XEN_DOMCTL_PFINFO_LPINTAB: u32 = 0x1 << 31;
/// `XEN_DOMCTL_PFINFO_XTAB`: not a frame of the domain.
pub const XEN_DOMCTL_PFINFO_XTAB: u32 = 0xf << 28;
/// `XEN_DOMCTL_PFINFO_BROKEN`.
pub const XEN_DOMCTL_PFINFO_BROKEN: u32 = 0xd << 28;

/// `xen_domctl_getpageframeinfo3` (`XEN_DOMCTL_getpageframeinfo3`): each frame of `array` is
/// replaced by its `XEN_DOMCTL_PFINFO_*` type.
#[doc(alias = "xen_domctl_getpageframeinfo3")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlGetpageframeinfo3 {
    /// Entries in `array` (at most 1024).
    pub num: u64,
    /// Guest handle to `num` `xen_pfn_t`s.
    pub array: u64,
}
const _: () = assert!(size_of::<XenDomctlGetpageframeinfo3>() == 16);

/// `xen_domctl_set_virq_handler` (`XEN_DOMCTL_set_virq_handler`): the domain receives a
/// global VIRQ in place of the hardware domain.
#[doc(alias = "xen_domctl_set_virq_handler")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlSetVirqHandler {
    pub virq: u32,
}
const _: () = assert!(size_of::<XenDomctlSetVirqHandler>() == 4);

/// `xen_domctl_vcpu_msr`: one MSR of a vCPU.
#[doc(alias = "xen_domctl_vcpu_msr")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlVcpuMsr {
    pub index: u32,
    /// Must be 0 (`set_vcpu_msrs`: `-EINVAL`).
    pub reserved: u32,
    pub value: u64,
}
const _: () = assert!(size_of::<XenDomctlVcpuMsr>() == 16);

/// `xen_domctl_vcpu_msrs` (`XEN_DOMCTL_get_vcpu_msrs`/`set_vcpu_msrs`): a vCPU's MSRs for
/// save and restore. A null `msrs` asks for the largest count; a `get` into too small an
/// array is `-ENOBUFS` with the count needed.
#[doc(alias = "xen_domctl_vcpu_msrs")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenDomctlVcpuMsrs {
    pub vcpu: u32,
    pub msr_count: u32,
    /// Guest handle to an array of [`XenDomctlVcpuMsr`].
    pub msrs: u64,
}
const _: () = assert!(size_of::<XenDomctlVcpuMsrs>() == 16);
