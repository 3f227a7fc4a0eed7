//! Layout fragment for `arch-x86/xen.h` and `arch-x86/xen-x86_64.h`.

use crate::checker::Fragment;
use xen_abi::arch_x86::{self as a, *};

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("arch-x86/xen*.h", &["xen/xen.h", "xen/arch-x86/xen.h"]);

    layout!(f, TrapInfo => "struct trap_info" { vector, flags, cs, _pad0, address });
    layout!(f, CpuUserRegs => "struct cpu_user_regs" {
        r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, error_code,
        entry_vector, rip, cs, _pad0, saved_upcall_mask, _pad1, rflags, rsp, ss, _pad2, es, _pad3,
        ds, _pad4, fs, _pad5, gs, _pad6,
    });
    layout!(f, IretContext => "struct iret_context" {
        rax, r11, rcx, flags, rip, cs, rflags, rsp, ss,
    });
    layout!(f, VcpuGuestContext => "struct vcpu_guest_context" {
        fpu_ctxt, flags, user_regs, trap_ctxt, ldt_base, ldt_ents, gdt_frames, gdt_ents, kernel_ss,
        kernel_sp, ctrlreg, debugreg, event_callback_eip, failsafe_callback_eip,
        syscall_callback_eip, vm_assist, fs_base, gs_base_kernel, gs_base_user,
    });
    layout!(f, XenArchDomainconfig => "struct xen_arch_domainconfig" {
        emulation_flags, misc_flags,
    });
    layout!(f, XenCpuidLeaf => "xen_cpuid_leaf_t" { leaf, subleaf, a, b, c, d });
    layout!(f, XenMsrEntry => "xen_msr_entry_t" { idx, flags, val });

    consts!(f;
        FLAT_RING3_CS32 = a::FLAT_RING3_CS32, FLAT_RING3_CS64 = a::FLAT_RING3_CS64,
        FLAT_RING3_DS32 = a::FLAT_RING3_DS32, FLAT_RING3_DS64 = a::FLAT_RING3_DS64,
        FLAT_RING3_SS32 = a::FLAT_RING3_SS32, FLAT_RING3_SS64 = a::FLAT_RING3_SS64,
        FLAT_KERNEL_DS64 = a::FLAT_KERNEL_DS64, FLAT_KERNEL_DS32 = a::FLAT_KERNEL_DS32,
        FLAT_KERNEL_DS = a::FLAT_KERNEL_DS, FLAT_KERNEL_CS64 = a::FLAT_KERNEL_CS64,
        FLAT_KERNEL_CS32 = a::FLAT_KERNEL_CS32, FLAT_KERNEL_CS = a::FLAT_KERNEL_CS,
        FLAT_KERNEL_SS64 = a::FLAT_KERNEL_SS64, FLAT_KERNEL_SS32 = a::FLAT_KERNEL_SS32,
        FLAT_KERNEL_SS = a::FLAT_KERNEL_SS, FLAT_USER_DS64 = a::FLAT_USER_DS64,
        FLAT_USER_DS32 = a::FLAT_USER_DS32, FLAT_USER_DS = a::FLAT_USER_DS,
        FLAT_USER_CS64 = a::FLAT_USER_CS64, FLAT_USER_CS32 = a::FLAT_USER_CS32,
        FLAT_USER_CS = a::FLAT_USER_CS, FLAT_USER_SS64 = a::FLAT_USER_SS64,
        FLAT_USER_SS32 = a::FLAT_USER_SS32, FLAT_USER_SS = a::FLAT_USER_SS,
        HYPERVISOR_VIRT_START = a::HYPERVISOR_VIRT_START,
        HYPERVISOR_VIRT_END = a::HYPERVISOR_VIRT_END,
        MACH2PHYS_VIRT_START = a::MACH2PHYS_VIRT_START,
        MACH2PHYS_VIRT_END = a::MACH2PHYS_VIRT_END,
        MACH2PHYS_NR_ENTRIES = a::MACH2PHYS_NR_ENTRIES,
        SEGBASE_FS = a::SEGBASE_FS, SEGBASE_GS_USER = a::SEGBASE_GS_USER,
        SEGBASE_GS_KERNEL = a::SEGBASE_GS_KERNEL, SEGBASE_GS_USER_SEL = a::SEGBASE_GS_USER_SEL,
        FIRST_RESERVED_GDT_PAGE = a::FIRST_RESERVED_GDT_PAGE,
        FIRST_RESERVED_GDT_BYTE = a::FIRST_RESERVED_GDT_BYTE,
        FIRST_RESERVED_GDT_ENTRY = a::FIRST_RESERVED_GDT_ENTRY,
        XEN_HVM_DEBUGCONS_IOPORT = a::XEN_HVM_DEBUGCONS_IOPORT,
        "xen_pfn_to_cr3(0x12345)" = a::xen_pfn_to_cr3(0x12345),
        "xen_cr3_to_pfn(0x12345678)" = a::xen_cr3_to_pfn(0x12345678),
        "sizeof(xen_callback_t)" = size_of::<XenCallback>(),

        VGCF_I387_VALID = VgcfFlags::I387_VALID.bits(),
        VGCF_i387_valid = VgcfFlags::I387_VALID.bits(),
        VGCF_IN_KERNEL = VgcfFlags::IN_KERNEL.bits(),
        VGCF_in_kernel = VgcfFlags::IN_KERNEL.bits(),
        VGCF_failsafe_disables_events = VgcfFlags::FAILSAFE_DISABLES_EVENTS.bits(),
        VGCF_syscall_disables_events = VgcfFlags::SYSCALL_DISABLES_EVENTS.bits(),
        VGCF_online = VgcfFlags::ONLINE.bits(),
        VGCF_in_syscall = VgcfFlags::IN_SYSCALL.bits(),
        VGCF_IN_SYSCALL = VgcfFlags::IN_SYSCALL.bits(),

        XEN_X86_EMU_LAPIC = X86EmuFlags::LAPIC.bits(),
        XEN_X86_EMU_HPET = X86EmuFlags::HPET.bits(),
        XEN_X86_EMU_PM = X86EmuFlags::PM.bits(),
        XEN_X86_EMU_RTC = X86EmuFlags::RTC.bits(),
        XEN_X86_EMU_IOAPIC = X86EmuFlags::IOAPIC.bits(),
        XEN_X86_EMU_PIC = X86EmuFlags::PIC.bits(),
        XEN_X86_EMU_VGA = X86EmuFlags::VGA.bits(),
        XEN_X86_EMU_IOMMU = X86EmuFlags::IOMMU.bits(),
        XEN_X86_EMU_PIT = X86EmuFlags::PIT.bits(),
        XEN_X86_EMU_USE_PIRQ = X86EmuFlags::USE_PIRQ.bits(),
        XEN_X86_EMU_VPCI = X86EmuFlags::VPCI.bits(),
        XEN_X86_EMU_ALL = X86EmuFlags::all().bits(),
        XEN_X86_MSR_RELAXED = a::XEN_X86_MSR_RELAXED,
        XEN_CPUID_NO_SUBLEAF = a::XEN_CPUID_NO_SUBLEAF,
    );
    f
}
