//! Layout fragment for `platform.h`.

use crate::checker::Fragment;
use xen_abi::platform::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("platform.h", &["xen/platform.h"]);
    layout!(f, XenPlatformOp => "struct xen_platform_op" { cmd, interface_version, u });
    layout!(f, XenpfSettime32 => "struct xenpf_settime32" { secs, nsecs, system_time });
    layout!(f, XenpfSettime64 => "struct xenpf_settime64" { secs, nsecs, mbz, system_time });
    layout!(f, XenpfFirmwareInfo => "struct xenpf_firmware_info" { r#type, index, u });
    layout!(f, XenpfEnterAcpiSleep => "struct xenpf_enter_acpi_sleep" {
        val_a, val_b, sleep_state, flags,
    });
    layout!(f, XenpfPcpuinfo => "struct xenpf_pcpuinfo" {
        xen_cpuid, max_present, flags, apic_id, acpi_id,
    });
    layout!(f, XenpfPcpuVersion => "struct xenpf_pcpu_version" {
        xen_cpuid, max_present, vendor_id, family, model, stepping,
    });
    layout!(f, XenpfCpuOl => "struct xenpf_cpu_ol" { cpuid });
    layout!(f, XenPowerRegister => "struct xen_power_register" {
        space_id, bit_width, bit_offset, access_size, address,
    });
    layout!(f, XenProcessorCsd => "struct xen_processor_csd" { domain, coord_type, num });
    layout!(f, XenProcessorCx => "struct xen_processor_cx" {
        reg, r#type, _pad0, latency, power, dpcnt, dp,
    });
    layout!(f, XenProcessorPower => "struct xen_processor_power" { count, flags, states });
    layout!(f, XenPctRegister => "struct xen_pct_register" {
        descriptor, _pad0, length, space_id, bit_width, bit_offset, reserved, address,
    });
    layout!(f, XenProcessorPx => "struct xen_processor_px" {
        core_frequency, power, transition_latency, bus_master_latency, control, status,
    });
    layout!(f, XenPsdPackage => "struct xen_psd_package" {
        num_entries, revision, domain, coord_type, num_processors,
    });
    layout!(f, XenProcessorPerformance => "struct xen_processor_performance" {
        flags, platform_limit, control_register, status_register, state_count, _pad0, states,
        domain_info, shared_type, _pad1,
    });
    layout!(f, XenpfSetProcessorPminfo => "struct xenpf_set_processor_pminfo" { id, r#type, u });
    sub_ops!(f, XenPf;
        XENPF_settime32 = Settime32,
        XENPF_settime64 = Settime64,
        XENPF_settime = Settime64,
        XENPF_add_memtype = AddMemtype,
        XENPF_del_memtype = DelMemtype,
        XENPF_read_memtype = ReadMemtype,
        XENPF_microcode_update = MicrocodeUpdate,
        XENPF_platform_quirk = PlatformQuirk,
        XENPF_get_cpu_version = GetCpuVersion,
        XENPF_efi_runtime_call = EfiRuntimeCall,
        XENPF_firmware_info = FirmwareInfo,
        XENPF_enter_acpi_sleep = EnterAcpiSleep,
        XENPF_change_freq = ChangeFreq,
        XENPF_getidletime = Getidletime,
        XENPF_set_processor_pminfo = SetProcessorPminfo,
        XENPF_get_cpuinfo = GetCpuinfo,
        XENPF_cpu_online = CpuOnline,
        XENPF_cpu_offline = CpuOffline,
        XENPF_cpu_hotadd = CpuHotadd,
        XENPF_mem_hotadd = MemHotadd,
        XENPF_core_parking = CoreParking,
        XENPF_resource_op = ResourceOp,
        XENPF_get_symbol = GetSymbol,
    );
    consts!(f;
        "sizeof(((struct xen_platform_op *)0)->u)" = 128,
        "sizeof(((struct xenpf_firmware_info *)0)->u)" = 32,
        "offsetof(struct xenpf_firmware_info, u.kbd_shift_flags)" = 8,
        "sizeof(((struct xenpf_set_processor_pminfo *)0)->u)" = 104,
        "offsetof(struct xenpf_set_processor_pminfo, u.pdc)" = 8,
        "sizeof(struct xen_processor_flags)" = 4,
        XENPF_INTERFACE_VERSION = XENPF_INTERFACE_VERSION,
        XEN_FW_DISK_INFO = XEN_FW_DISK_INFO,
        XEN_FW_DISK_MBR_SIGNATURE = XEN_FW_DISK_MBR_SIGNATURE,
        XEN_FW_VBEDDC_INFO = XEN_FW_VBEDDC_INFO,
        XEN_FW_EFI_INFO = XEN_FW_EFI_INFO,
        XEN_FW_EFI_VERSION = XEN_FW_EFI_VERSION,
        XEN_FW_EFI_CONFIG_TABLE = XEN_FW_EFI_CONFIG_TABLE,
        XEN_FW_EFI_VENDOR = XEN_FW_EFI_VENDOR,
        XEN_FW_EFI_MEM_INFO = XEN_FW_EFI_MEM_INFO,
        XEN_FW_EFI_RT_VERSION = XEN_FW_EFI_RT_VERSION,
        XEN_FW_EFI_PCI_ROM = XEN_FW_EFI_PCI_ROM,
        XEN_FW_EFI_APPLE_PROPERTIES = XEN_FW_EFI_APPLE_PROPERTIES,
        XEN_FW_KBD_SHIFT_FLAGS = XEN_FW_KBD_SHIFT_FLAGS,
        XENPF_ACPI_SLEEP_EXTENDED = XENPF_ACPI_SLEEP_EXTENDED,
        XEN_PCPU_FLAGS_ONLINE = XEN_PCPU_FLAGS_ONLINE,
        XEN_PCPU_FLAGS_INVALID = XEN_PCPU_FLAGS_INVALID,
        XEN_PROCESSOR_PM_CX = XEN_PROCESSOR_PM_CX,
        XEN_PROCESSOR_PM_PX = XEN_PROCESSOR_PM_PX,
        XEN_PROCESSOR_PM_TX = XEN_PROCESSOR_PM_TX,
        XEN_PM_CX = XEN_PM_CX,
        XEN_PM_PX = XEN_PM_PX,
        XEN_PM_TX = XEN_PM_TX,
        XEN_PM_PDC = XEN_PM_PDC,
        XEN_PX_PCT = XEN_PX_PCT,
        XEN_PX_PSS = XEN_PX_PSS,
        XEN_PX_PPC = XEN_PX_PPC,
        XEN_PX_PSD = XEN_PX_PSD,
        XEN_CPUPERF_SHARED_TYPE_HW = XEN_CPUPERF_SHARED_TYPE_HW,
        XEN_CPUPERF_SHARED_TYPE_ALL = XEN_CPUPERF_SHARED_TYPE_ALL,
        XEN_CPUPERF_SHARED_TYPE_ANY = XEN_CPUPERF_SHARED_TYPE_ANY,
    );
    f
}
