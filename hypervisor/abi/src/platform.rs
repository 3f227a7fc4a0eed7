//! `platform.h`: the `XENPF_*` sub-ops of `platform_op` (dom0 only) — wallclock, firmware info,
//! physical CPU info, processor power management data, ACPI sleep — and `xen_platform_op`.
//!
//! Mirrored: every sub-op number, `xen_platform_op` (its union `u` as 128 raw bytes with typed
//! [`XenPlatformOp::arg`]/[`XenPlatformOp::set_arg`]), and the argument structs of the sub-ops a
//! Linux 6.1 dom0 issues. Left out: the EFI runtime call, memtype, microcode, hotplug, core
//! parking, resource and symbol structs (see docs/abi/README.md).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `XENPF_INTERFACE_VERSION`: the value `xen_platform_op.interface_version` must hold.
pub const XENPF_INTERFACE_VERSION: u32 = 0x0300_0001;

sub_op_enum! {
    /// `platform_op` sub-ops (`XENPF_*`).
    #[doc(alias = "XENPF")]
    pub enum XenPf {
        /// [`XenpfSettime32`].
        #[doc(alias = "XENPF_settime32")]
        Settime32 = 17,
        #[doc(alias = "XENPF_add_memtype")]
        AddMemtype = 31,
        #[doc(alias = "XENPF_del_memtype")]
        DelMemtype = 32,
        #[doc(alias = "XENPF_read_memtype")]
        ReadMemtype = 33,
        #[doc(alias = "XENPF_microcode_update")]
        MicrocodeUpdate = 35,
        #[doc(alias = "XENPF_platform_quirk")]
        PlatformQuirk = 39,
        /// [`XenpfPcpuVersion`].
        #[doc(alias = "XENPF_get_cpu_version")]
        GetCpuVersion = 48,
        #[doc(alias = "XENPF_efi_runtime_call")]
        EfiRuntimeCall = 49,
        /// [`XenpfFirmwareInfo`].
        #[doc(alias = "XENPF_firmware_info")]
        FirmwareInfo = 50,
        /// [`XenpfEnterAcpiSleep`].
        #[doc(alias = "XENPF_enter_acpi_sleep")]
        EnterAcpiSleep = 51,
        #[doc(alias = "XENPF_change_freq")]
        ChangeFreq = 52,
        #[doc(alias = "XENPF_getidletime")]
        Getidletime = 53,
        /// [`XenpfSetProcessorPminfo`].
        #[doc(alias = "XENPF_set_processor_pminfo")]
        SetProcessorPminfo = 54,
        /// [`XenpfPcpuinfo`].
        #[doc(alias = "XENPF_get_cpuinfo")]
        GetCpuinfo = 55,
        /// [`XenpfCpuOl`].
        #[doc(alias = "XENPF_cpu_online")]
        CpuOnline = 56,
        /// [`XenpfCpuOl`].
        #[doc(alias = "XENPF_cpu_offline")]
        CpuOffline = 57,
        #[doc(alias = "XENPF_cpu_hotadd")]
        CpuHotadd = 58,
        #[doc(alias = "XENPF_mem_hotadd")]
        MemHotadd = 59,
        #[doc(alias = "XENPF_core_parking")]
        CoreParking = 60,
        #[doc(alias = "XENPF_resource_op")]
        ResourceOp = 61,
        /// [`XenpfSettime64`] (`XENPF_settime` for interface ≥ 4.6).
        #[doc(alias = "XENPF_settime64")]
        #[doc(alias = "XENPF_settime")]
        Settime64 = 62,
        #[doc(alias = "XENPF_get_symbol")]
        GetSymbol = 63,
    }
}

/// `xen_platform_op`: the argument of `platform_op`.
#[doc(alias = "xen_platform_op")]
#[doc(alias = "xen_platform_op_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenPlatformOp {
    /// A [`XenPf`] number.
    pub cmd: u32,
    /// Must be [`XENPF_INTERFACE_VERSION`].
    pub interface_version: u32,
    /// The C union of every sub-op's struct (and `uint8_t pad[128]`), as raw words.
    pub u: [u64; 16],
}
const _: () = assert!(size_of::<XenPlatformOp>() == 136);

union_op!(XenPlatformOp);

/// `xenpf_settime32` (`XENPF_settime32`).
#[doc(alias = "xenpf_settime32")]
#[doc(alias = "xenpf_settime32_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenpfSettime32 {
    pub secs: u32,
    pub nsecs: u32,
    pub system_time: u64,
}
const _: () = assert!(size_of::<XenpfSettime32>() == 16);

/// `xenpf_settime64` (`XENPF_settime64`): set the wallclock as of `system_time`.
#[doc(alias = "xenpf_settime64")]
#[doc(alias = "xenpf_settime64_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenpfSettime64 {
    pub secs: u64,
    pub nsecs: u32,
    /// Must be zero.
    pub mbz: u32,
    pub system_time: u64,
}
const _: () = assert!(size_of::<XenpfSettime64>() == 24);

/// `XEN_FW_DISK_INFO`.
pub const XEN_FW_DISK_INFO: u32 = 1;
/// `XEN_FW_DISK_MBR_SIGNATURE`.
pub const XEN_FW_DISK_MBR_SIGNATURE: u32 = 2;
/// `XEN_FW_VBEDDC_INFO`.
pub const XEN_FW_VBEDDC_INFO: u32 = 3;
/// `XEN_FW_EFI_INFO`.
pub const XEN_FW_EFI_INFO: u32 = 4;
/// `XEN_FW_EFI_VERSION`.
pub const XEN_FW_EFI_VERSION: u32 = 0;
/// `XEN_FW_EFI_CONFIG_TABLE`.
pub const XEN_FW_EFI_CONFIG_TABLE: u32 = 1;
/// `XEN_FW_EFI_VENDOR`.
pub const XEN_FW_EFI_VENDOR: u32 = 2;
/// `XEN_FW_EFI_MEM_INFO`.
pub const XEN_FW_EFI_MEM_INFO: u32 = 3;
/// `XEN_FW_EFI_RT_VERSION`.
pub const XEN_FW_EFI_RT_VERSION: u32 = 4;
/// `XEN_FW_EFI_PCI_ROM`.
pub const XEN_FW_EFI_PCI_ROM: u32 = 5;
/// `XEN_FW_EFI_APPLE_PROPERTIES`.
pub const XEN_FW_EFI_APPLE_PROPERTIES: u32 = 6;
/// `XEN_FW_KBD_SHIFT_FLAGS`.
pub const XEN_FW_KBD_SHIFT_FLAGS: u32 = 5;

/// `xenpf_firmware_info` (`XENPF_firmware_info`). The C union `u` (disk info, MBR signature,
/// VBE/DDC, EFI info, keyboard shift flags) is its 32 raw bytes; a hypervisor without firmware data
/// answers `-ESRCH` and never fills it.
#[doc(alias = "xenpf_firmware_info")]
#[doc(alias = "xenpf_firmware_info_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenpfFirmwareInfo {
    /// `XEN_FW_*`.
    pub r#type: u32,
    /// Which entry (disk, EFI item, …).
    pub index: u32,
    pub u: [u64; 4],
}
const _: () = assert!(size_of::<XenpfFirmwareInfo>() == 40);

impl XenpfFirmwareInfo {
    /// `u.kbd_shift_flags`.
    pub const fn kbd_shift_flags(&self) -> u8 {
        self.u[0] as u8
    }
    /// Set `u.kbd_shift_flags` (the rest of the union is zeroed).
    pub fn set_kbd_shift_flags(&mut self, v: u8) {
        self.u = [u64::from(v), 0, 0, 0];
    }
}

/// `XENPF_ACPI_SLEEP_EXTENDED`: `val_a`/`val_b` are sleep types (reduced-hardware ACPI).
pub const XENPF_ACPI_SLEEP_EXTENDED: u32 = 0x1;

/// `xenpf_enter_acpi_sleep` (`XENPF_enter_acpi_sleep`).
#[doc(alias = "xenpf_enter_acpi_sleep")]
#[doc(alias = "xenpf_enter_acpi_sleep_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenpfEnterAcpiSleep {
    /// PM1a control value / sleep type A.
    pub val_a: u16,
    /// PM1b control value / sleep type B.
    pub val_b: u16,
    /// Sn.
    pub sleep_state: u32,
    /// `XENPF_ACPI_SLEEP_*`.
    pub flags: u32,
}
const _: () = assert!(size_of::<XenpfEnterAcpiSleep>() == 12);

/// `XEN_PCPU_FLAGS_ONLINE`.
pub const XEN_PCPU_FLAGS_ONLINE: u32 = 1;
/// `XEN_PCPU_FLAGS_INVALID`: no such CPU.
pub const XEN_PCPU_FLAGS_INVALID: u32 = 2;

/// `xenpf_pcpuinfo` (`XENPF_get_cpuinfo`).
#[doc(alias = "xenpf_pcpuinfo")]
#[doc(alias = "xenpf_pcpuinfo_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenpfPcpuinfo {
    /// IN: physical CPU number.
    pub xen_cpuid: u32,
    /// OUT: the largest present CPU number.
    pub max_present: u32,
    /// OUT: `XEN_PCPU_FLAGS_*`.
    pub flags: u32,
    pub apic_id: u32,
    pub acpi_id: u32,
}
const _: () = assert!(size_of::<XenpfPcpuinfo>() == 20);

/// `xenpf_pcpu_version` (`XENPF_get_cpu_version`).
#[doc(alias = "xenpf_pcpu_version")]
#[doc(alias = "xenpf_pcpu_version_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenpfPcpuVersion {
    pub xen_cpuid: u32,
    pub max_present: u32,
    pub vendor_id: [u8; 12],
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
}
const _: () = assert!(size_of::<XenpfPcpuVersion>() == 32);

/// `xenpf_cpu_ol` (`XENPF_cpu_online`, `XENPF_cpu_offline`).
#[doc(alias = "xenpf_cpu_ol")]
#[doc(alias = "xenpf_cpu_ol_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenpfCpuOl {
    pub cpuid: u32,
}
const _: () = assert!(size_of::<XenpfCpuOl>() == 4);

/// `XEN_PROCESSOR_PM_CX`.
pub const XEN_PROCESSOR_PM_CX: u32 = 1;
/// `XEN_PROCESSOR_PM_PX`.
pub const XEN_PROCESSOR_PM_PX: u32 = 2;
/// `XEN_PROCESSOR_PM_TX`.
pub const XEN_PROCESSOR_PM_TX: u32 = 4;
/// `XEN_PM_CX`: `set_processor_pminfo` type for C-states.
pub const XEN_PM_CX: u32 = 0;
/// `XEN_PM_PX`: P-states.
pub const XEN_PM_PX: u32 = 1;
/// `XEN_PM_TX`: T-states.
pub const XEN_PM_TX: u32 = 2;
/// `XEN_PM_PDC`: `_PDC` bits.
pub const XEN_PM_PDC: u32 = 3;
/// `XEN_PX_PCT`.
pub const XEN_PX_PCT: u32 = 1;
/// `XEN_PX_PSS`.
pub const XEN_PX_PSS: u32 = 2;
/// `XEN_PX_PPC`.
pub const XEN_PX_PPC: u32 = 4;
/// `XEN_PX_PSD`.
pub const XEN_PX_PSD: u32 = 8;
/// `XEN_CPUPERF_SHARED_TYPE_HW`.
pub const XEN_CPUPERF_SHARED_TYPE_HW: u32 = 1;
/// `XEN_CPUPERF_SHARED_TYPE_ALL`.
pub const XEN_CPUPERF_SHARED_TYPE_ALL: u32 = 2;
/// `XEN_CPUPERF_SHARED_TYPE_ANY`.
pub const XEN_CPUPERF_SHARED_TYPE_ANY: u32 = 3;

/// `xen_power_register`: an ACPI generic address.
#[doc(alias = "xen_power_register")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenPowerRegister {
    pub space_id: u32,
    pub bit_width: u32,
    pub bit_offset: u32,
    pub access_size: u32,
    pub address: u64,
}
const _: () = assert!(size_of::<XenPowerRegister>() == 24);

/// `xen_processor_csd`: one C-state dependency.
#[doc(alias = "xen_processor_csd")]
#[doc(alias = "xen_processor_csd_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenProcessorCsd {
    pub domain: u32,
    pub coord_type: u32,
    pub num: u32,
}
const _: () = assert!(size_of::<XenProcessorCsd>() == 12);

/// `xen_processor_cx`: one C-state.
#[doc(alias = "xen_processor_cx")]
#[doc(alias = "xen_processor_cx_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenProcessorCx {
    pub reg: XenPowerRegister,
    pub r#type: u8,
    pub _pad0: [u8; 3],
    pub latency: u32,
    pub power: u32,
    pub dpcnt: u32,
    /// Guest handle to `dpcnt` [`XenProcessorCsd`]s.
    pub dp: u64,
}
const _: () = assert!(size_of::<XenProcessorCx>() == 48);

/// `xen_processor_power`: C-state data. C's `struct xen_processor_flags` (five one-bit
/// bitfields: `bm_control`, `bm_check`, `has_cst`, `power_setup_done`, `bm_rld_set`, bits 0-4)
/// is one `u32`.
#[doc(alias = "xen_processor_power")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenProcessorPower {
    pub count: u32,
    pub flags: u32,
    /// Guest handle to `count` [`XenProcessorCx`]s.
    pub states: u64,
}
const _: () = assert!(size_of::<XenProcessorPower>() == 16);

/// `xen_pct_register`.
#[doc(alias = "xen_pct_register")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenPctRegister {
    pub descriptor: u8,
    pub _pad0: u8,
    pub length: u16,
    pub space_id: u8,
    pub bit_width: u8,
    pub bit_offset: u8,
    pub reserved: u8,
    pub address: u64,
}
const _: () = assert!(size_of::<XenPctRegister>() == 16);

/// `xen_processor_px`: one P-state.
#[doc(alias = "xen_processor_px")]
#[doc(alias = "xen_processor_px_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenProcessorPx {
    pub core_frequency: u64,
    pub power: u64,
    pub transition_latency: u64,
    pub bus_master_latency: u64,
    pub control: u64,
    pub status: u64,
}
const _: () = assert!(size_of::<XenProcessorPx>() == 48);

/// `xen_psd_package`.
#[doc(alias = "xen_psd_package")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenPsdPackage {
    pub num_entries: u64,
    pub revision: u64,
    pub domain: u64,
    pub coord_type: u64,
    pub num_processors: u64,
}
const _: () = assert!(size_of::<XenPsdPackage>() == 40);

/// `xen_processor_performance`: P-state data.
#[doc(alias = "xen_processor_performance")]
#[doc(alias = "xen_processor_performance_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenProcessorPerformance {
    /// `XEN_PX_*`.
    pub flags: u32,
    pub platform_limit: u32,
    pub control_register: XenPctRegister,
    pub status_register: XenPctRegister,
    pub state_count: u32,
    pub _pad0: u32,
    /// Guest handle to `state_count` [`XenProcessorPx`]s.
    pub states: u64,
    pub domain_info: XenPsdPackage,
    /// `XEN_CPUPERF_SHARED_TYPE_*`.
    pub shared_type: u32,
    pub _pad1: u32,
}
const _: () = assert!(size_of::<XenProcessorPerformance>() == 104);

/// `xenpf_set_processor_pminfo` (`XENPF_set_processor_pminfo`). The C union `u` (`power`, `perf`
/// or the `pdc` handle) is its 104 raw bytes; [`Self::power`], [`Self::perf`] and [`Self::pdc`]
/// copy a variant out.
#[doc(alias = "xenpf_set_processor_pminfo")]
#[doc(alias = "xenpf_set_processor_pminfo_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenpfSetProcessorPminfo {
    /// ACPI CPU id.
    pub id: u32,
    /// `XEN_PM_*`.
    pub r#type: u32,
    pub u: [u64; 13],
}
const _: () = assert!(size_of::<XenpfSetProcessorPminfo>() == 112);

impl XenpfSetProcessorPminfo {
    /// `u.power` (for `XEN_PM_CX`).
    pub fn power(&self) -> XenProcessorPower {
        XenProcessorPower::read_from_prefix(self.u.as_bytes())
            .map(|(v, _)| v)
            .unwrap_or_default()
    }
    /// `u.perf` (for `XEN_PM_PX`).
    pub fn perf(&self) -> XenProcessorPerformance {
        XenProcessorPerformance::read_from_bytes(self.u.as_bytes()).unwrap_or_default()
    }
    /// `u.pdc` (for `XEN_PM_PDC`): guest handle to `u32`s.
    pub const fn pdc(&self) -> u64 {
        self.u[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;
    use zerocopy::FromZeros;

    #[test]
    fn xenpf_round_trips_and_unknown_is_enosys() {
        assert_sub_op::<XenPf>();
    }

    #[test]
    fn platform_op_arg_round_trips() {
        let mut op = XenPlatformOp::new_zeroed();
        let t = XenpfSettime64 {
            secs: 1_700_000_000,
            nsecs: 5,
            mbz: 0,
            system_time: 42,
        };
        assert!(op.set_arg(&t));
        assert_eq!(op.arg::<XenpfSettime64>(), Some(t));
        assert_eq!(op.arg::<[u8; 129]>(), None);
    }

    #[test]
    fn pminfo_perf_variant_reads_back() {
        let mut p = XenpfSetProcessorPminfo::default();
        let perf = XenProcessorPerformance {
            state_count: 3,
            shared_type: 2,
            ..Default::default()
        };
        p.u.as_mut_bytes().copy_from_slice(perf.as_bytes());
        assert_eq!(p.perf(), perf);
    }
}
