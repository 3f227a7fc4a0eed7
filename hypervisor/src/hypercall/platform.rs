//! `platform_op` (Xen's `arch/x86/platform_hypercall.c`): the hardware domain's view of the
//! physical machine — the wallclock it keeps, the physical CPUs, and what the firmware told the
//! hypervisor at boot. Ferrite boots from GRUB without Xen's real-mode probes, so it has no
//! EDD or VBE/EDID data and answers those as Xen does when the probes found nothing.

use crate::domain::Domain;
use crate::pv::{read_guest_struct, write_guest_struct};
use xen_abi::platform::{
    XenPf, XenPlatformOp, XenpfFirmwareInfo, XenpfPcpuVersion, XenpfPcpuinfo, XenpfSettime32,
    XenpfSettime64, XENPF_INTERFACE_VERSION, XEN_FW_DISK_INFO, XEN_FW_DISK_MBR_SIGNATURE,
    XEN_FW_EFI_INFO, XEN_FW_KBD_SHIFT_FLAGS, XEN_FW_VBEDDC_INFO, XEN_PCPU_FLAGS_INVALID,
    XEN_PCPU_FLAGS_ONLINE,
};
use xen_abi::{Errno, Maddr, XenResult};

/// The BIOS data area byte with the keyboard shift flags (what Xen's trampoline saves at boot).
const BDA_KBD_SHIFT_FLAGS: Maddr = Maddr(0x417);

/// `platform_op(op)`: the hardware domain only (`-EPERM` otherwise, XSM's default), the
/// interface version checked (`-EACCES`), then the sub-op; one Ferrite does not implement is
/// `-ENOSYS`, as Xen's default case.
pub fn platform_op(dom: &Domain, arg: u64) -> XenResult<u64> {
    if !dom.privileged {
        return Err(Errno::EPERM);
    }
    let mut op: XenPlatformOp = read_guest_struct(arg)?;
    if op.interface_version != XENPF_INTERFACE_VERSION {
        return Err(Errno::EACCES);
    }
    match XenPf::try_from(op.cmd)? {
        // XENPF_settime32
        XenPf::Settime32 => {
            let t: XenpfSettime32 = op.arg().ok_or(Errno::EFAULT)?;
            crate::time::set_wallclock(u64::from(t.secs), t.nsecs, t.system_time);
            Ok(0)
        }
        // XENPF_settime64: `mbz` must be zero.
        XenPf::Settime64 => {
            let t: XenpfSettime64 = op.arg().ok_or(Errno::EFAULT)?;
            if t.mbz != 0 {
                return Err(Errno::EINVAL);
            }
            crate::time::set_wallclock(t.secs, t.nsecs, t.system_time);
            Ok(0)
        }
        // XENPF_firmware_info
        XenPf::FirmwareInfo => {
            let mut fw: XenpfFirmwareInfo = op.arg().ok_or(Errno::EFAULT)?;
            match fw.r#type {
                // No EDD disks, MBR signatures or EDID were collected: "no such entry".
                XEN_FW_DISK_INFO | XEN_FW_DISK_MBR_SIGNATURE | XEN_FW_VBEDDC_INFO => {
                    Err(Errno::ESRCH)
                }
                // Not booted through EFI.
                XEN_FW_EFI_INFO => Err(Errno::ENOSYS),
                XEN_FW_KBD_SHIFT_FLAGS => {
                    if fw.index != 0 {
                        return Err(Errno::ESRCH);
                    }
                    let mut b = [0u8; 1];
                    crate::mm::read_phys(BDA_KBD_SHIFT_FLAGS, &mut b);
                    fw.set_kbd_shift_flags(b[0]);
                    op.set_arg(&fw);
                    write_guest_struct(arg, &op).map(|()| 0)
                }
                _ => Err(Errno::EINVAL),
            }
        }
        // XENPF_get_cpuinfo: a physical CPU's APIC and ACPI ids and whether it is online; an
        // absent one is flagged invalid. Always the highest present CPU number.
        XenPf::GetCpuinfo => {
            let mut info: XenpfPcpuinfo = op.arg().ok_or(Errno::EFAULT)?;
            let present = present_cpus();
            match crate::arch::x86_64::percpu::of(info.xen_cpuid as usize) {
                Some(p) if (info.xen_cpuid as usize) < present => {
                    let apic_id = p.apic_id.load(core::sync::atomic::Ordering::Relaxed);
                    info.apic_id = apic_id;
                    info.acpi_id = crate::boot::acpi::acpi_id_of(apic_id).unwrap_or(u32::MAX);
                    info.flags = if p.online.load(core::sync::atomic::Ordering::Acquire) {
                        XEN_PCPU_FLAGS_ONLINE
                    } else {
                        0
                    };
                }
                _ => info.flags = XEN_PCPU_FLAGS_INVALID,
            }
            info.max_present = present.saturating_sub(1) as u32;
            op.set_arg(&info);
            write_guest_struct(arg, &op).map(|()| 0)
        }
        // XENPF_get_cpu_version: vendor, family, model and stepping of an online CPU (zeros for
        // any other). Ferrite runs on CPUs of one kind, so the asking CPU's CPUID speaks for all.
        XenPf::GetCpuVersion => {
            let mut ver: XenpfPcpuVersion = op.arg().ok_or(Errno::EFAULT)?;
            let present = present_cpus();
            let online = (ver.xen_cpuid as usize) < present
                && crate::arch::x86_64::percpu::of(ver.xen_cpuid as usize)
                    .is_some_and(|p| p.online.load(core::sync::atomic::Ordering::Acquire));
            if online {
                let (vendor, family, model, stepping) = cpu_version();
                ver.vendor_id = vendor;
                ver.family = family;
                ver.model = model;
                ver.stepping = stepping;
            } else {
                ver.vendor_id = [0; 12];
                ver.family = 0;
                ver.model = 0;
                ver.stepping = 0;
            }
            ver.max_present = present.saturating_sub(1) as u32;
            op.set_arg(&ver);
            write_guest_struct(arg, &op).map(|()| 0)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// Physical CPUs present: the ones started at boot (numbered densely from 0).
fn present_cpus() -> usize {
    crate::arch::x86_64::smp::online()
}

/// This CPU's vendor string and display family, model and stepping (as Linux and Xen compute
/// them: the extended family added for family 0xf, the extended model for families 6 and 0xf).
fn cpu_version() -> ([u8; 12], u32, u32, u32) {
    let v = crate::arch::x86_64::cpu::cpuid(0, 0);
    let mut vendor = [0u8; 12];
    vendor[..4].copy_from_slice(&v.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&v.edx.to_le_bytes());
    vendor[8..].copy_from_slice(&v.ecx.to_le_bytes());
    let (family, model, stepping) = display_fms(crate::arch::x86_64::cpu::cpuid(1, 0).eax);
    (vendor, family, model, stepping)
}

/// Family, model and stepping from CPUID leaf 1's EAX.
pub fn display_fms(eax: u32) -> (u32, u32, u32) {
    let base_family = (eax >> 8) & 0xf;
    let family = if base_family == 0xf {
        base_family + ((eax >> 20) & 0xff)
    } else {
        base_family
    };
    let model = if base_family == 0x6 || base_family == 0xf {
        ((eax >> 4) & 0xf) | (((eax >> 16) & 0xf) << 4)
    } else {
        (eax >> 4) & 0xf
    };
    (family, model, eax & 0xf)
}

#[cfg(test)]
mod tests {
    use super::display_fms;

    #[test]
    fn display_family_and_model_add_the_extended_fields_as_linux_does() {
        // Intel Sapphire Rapids: family 6, extended model 8, model 0xf, stepping 8.
        assert_eq!(display_fms(0x000806f8), (6, 0x8f, 8));
        // AMD Zen 3: base family 0xf + extended family 0xa = 0x19, model 0x01.
        assert_eq!(display_fms(0x00a00f11), (0x19, 0x01, 1));
        // Family 5 ignores the extended model.
        assert_eq!(display_fms(0x000f0543), (5, 4, 3));
    }
}
