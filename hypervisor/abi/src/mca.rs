//! `arch-x86/xen-mca.h`: the machine-check hypercall (`__HYPERVISOR_mca`, the x86 `arch_0`) a
//! hardware domain uses to learn the physical CPUs and fetch machine-check telemetry.
//!
//! Mirrored: the sub-op numbers, `xen_mc` (its union `u` as raw words with typed
//! [`XenMc::arg`]/[`XenMc::set_arg`]), the fetch and physical-CPU-info arguments and
//! `mcinfo_logical_cpu`. Left out: the telemetry records (`mc_info` and its `mcinfo_*`
//! entries) and the injection sub-ops' structs, which only a hypervisor that records machine
//! checks fills (see docs/abi/README.md).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `XEN_MCA_INTERFACE_VERSION`: the value `xen_mc.interface_version` must hold.
pub const XEN_MCA_INTERFACE_VERSION: u32 = 0x01ec_c003;

/// `XEN_MC_NONURGENT`: fetch from the non-urgent queue.
pub const XEN_MC_NONURGENT: u32 = 0x1;
/// `XEN_MC_URGENT`: fetch from the urgent queue.
pub const XEN_MC_URGENT: u32 = 0x2;
/// `XEN_MC_ACK`: acknowledge an earlier fetch.
pub const XEN_MC_ACK: u32 = 0x4;
/// `XEN_MC_OK`.
pub const XEN_MC_OK: u32 = 0x0;
/// `XEN_MC_FETCHFAILED`.
pub const XEN_MC_FETCHFAILED: u32 = 0x1;
/// `XEN_MC_NODATA`: nothing to fetch.
pub const XEN_MC_NODATA: u32 = 0x2;

/// `VIRQ_MCA` (`VIRQ_ARCH_0`): machine-check telemetry is waiting (global, hardware domain).
pub const VIRQ_MCA: u32 = 16;

sub_op_enum! {
    /// `mca` sub-ops (`XEN_MC_*`).
    #[doc(alias = "XEN_MC")]
    pub enum McOp {
        /// [`XenMcFetch`].
        #[doc(alias = "XEN_MC_fetch")]
        Fetch = 1,
        #[doc(alias = "XEN_MC_notifydomain")]
        Notifydomain = 2,
        /// [`XenMcPhyscpuinfo`].
        #[doc(alias = "XEN_MC_physcpuinfo")]
        Physcpuinfo = 3,
        #[doc(alias = "XEN_MC_msrinject")]
        Msrinject = 4,
        #[doc(alias = "XEN_MC_mceinject")]
        Mceinject = 5,
        #[doc(alias = "XEN_MC_inject_v2")]
        InjectV2 = 6,
    }
}

/// `xen_mc`: the argument of `mca`.
#[doc(alias = "xen_mc")]
#[doc(alias = "xen_mc_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenMc {
    /// A [`McOp`] number.
    pub cmd: u32,
    /// Must be [`XEN_MCA_INTERFACE_VERSION`].
    pub interface_version: u32,
    /// The C union of the sub-ops' structs (the largest, `xen_mc_msrinject`, is 144 bytes).
    pub u: [u64; 18],
}
const _: () = assert!(size_of::<XenMc>() == 152);

union_op!(XenMc);

/// `xen_mc_fetch` (`XEN_MC_fetch`).
#[doc(alias = "xen_mc_fetch")]
#[doc(alias = "xen_mc_fetch_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenMcFetch {
    /// IN: `XEN_MC_NONURGENT` or `XEN_MC_URGENT`, maybe with `XEN_MC_ACK`; OUT: `XEN_MC_OK`,
    /// `XEN_MC_FETCHFAILED`, `XEN_MC_NODATA`, `XEN_MC_NOMATCH`.
    pub flags: u32,
    pub _pad0: u32,
    /// OUT: the id to acknowledge; IN: the id being acknowledged.
    pub fetch_id: u64,
    /// OUT: the guest's `mc_info` buffer.
    pub data: u64,
}
const _: () = assert!(size_of::<XenMcFetch>() == 24);

/// `xen_mc_physcpuinfo` (`XEN_MC_physcpuinfo`).
#[doc(alias = "xen_mc_physcpuinfo")]
#[doc(alias = "xen_mc_physcpuinfo_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenMcPhyscpuinfo {
    /// IN: entries the buffer holds; OUT: entries written (or, with no buffer, online CPUs).
    pub ncpus: u32,
    pub _pad0: u32,
    /// OUT: an array of [`McinfoLogicalCpu`] (NULL: only count).
    pub info: u64,
}
const _: () = assert!(size_of::<XenMcPhyscpuinfo>() == 16);

/// `mcinfo_msr`: one MSR and its value.
#[doc(alias = "mcinfo_msr")]
#[doc(alias = "xen_mcinfo_msr_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct McinfoMsr {
    pub reg: u64,
    pub value: u64,
}
const _: () = assert!(size_of::<McinfoMsr>() == 16);

/// `MC_NCAPS`: feature words in [`McinfoLogicalCpu::mc_cpu_caps`].
pub const MC_NCAPS: usize = 7;
/// `__MC_MSR_ARRAYSIZE`.
pub const MC_MSR_ARRAYSIZE: usize = 8;

/// `mcinfo_logical_cpu`: one physical CPU as `XEN_MC_physcpuinfo` describes it.
#[doc(alias = "mcinfo_logical_cpu")]
#[doc(alias = "xen_mc_logical_cpu_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct McinfoLogicalCpu {
    pub mc_cpunr: u32,
    pub mc_chipid: u32,
    pub mc_coreid: u16,
    pub mc_threadid: u16,
    pub mc_apicid: u32,
    pub mc_clusterid: u32,
    pub mc_ncores: u32,
    pub mc_ncores_active: u32,
    pub mc_nthreads: u32,
    pub mc_cpuid_level: i32,
    pub mc_family: u32,
    /// Xen's `X86_VENDOR_*` bit (Intel 1, AMD 2, Centaur 4, Shanghai 8, Hygon 16).
    pub mc_vendor: u32,
    pub mc_model: u32,
    pub mc_step: u32,
    pub mc_vendorid: [u8; 16],
    pub mc_brandid: [u8; 64],
    /// CPUID 1.EDX, 1.ECX, 0x80000001.EDX, 0x80000001.ECX, 0xd/1.EAX, 7/0.EBX, 7/0.ECX.
    pub mc_cpu_caps: [u32; MC_NCAPS],
    pub mc_cache_size: u32,
    pub mc_cache_alignment: u32,
    pub mc_nmsrvals: i32,
    /// The C compiler's padding before the 8-aligned MSR array.
    pub _pad0: u32,
    pub mc_msrvalues: [McinfoMsr; MC_MSR_ARRAYSIZE],
}
const _: () = assert!(size_of::<McinfoLogicalCpu>() == 304);
