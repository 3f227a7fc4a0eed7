//! `arch-x86/xen.h` and `arch-x86/xen-x86_64.h`: the x86-64 PV machine interface — registers,
//! the virtual IDT (`trap_info`), `vcpu_guest_context`, the `iret` frame, selectors, address ranges.
//!
//! `arch_vcpu_info` and `arch_shared_info`, which `xen.h` embeds, are in [`crate::xen`].

use bitflags::bitflags;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `FLAT_RING3_CS32`: GDT index 260.
pub const FLAT_RING3_CS32: u16 = 0xe023;
/// `FLAT_RING3_CS64`: GDT index 262.
pub const FLAT_RING3_CS64: u16 = 0xe033;
/// `FLAT_RING3_DS32`: GDT index 261.
pub const FLAT_RING3_DS32: u16 = 0xe02b;
/// `FLAT_RING3_DS64`: the null selector.
pub const FLAT_RING3_DS64: u16 = 0x0000;
/// `FLAT_RING3_SS32`: GDT index 261.
pub const FLAT_RING3_SS32: u16 = 0xe02b;
/// `FLAT_RING3_SS64`: GDT index 261.
pub const FLAT_RING3_SS64: u16 = 0xe02b;
/// `FLAT_KERNEL_DS64`.
pub const FLAT_KERNEL_DS64: u16 = FLAT_RING3_DS64;
/// `FLAT_KERNEL_DS32`.
pub const FLAT_KERNEL_DS32: u16 = FLAT_RING3_DS32;
/// `FLAT_KERNEL_DS`.
pub const FLAT_KERNEL_DS: u16 = FLAT_KERNEL_DS64;
/// `FLAT_KERNEL_CS64`.
pub const FLAT_KERNEL_CS64: u16 = FLAT_RING3_CS64;
/// `FLAT_KERNEL_CS32`.
pub const FLAT_KERNEL_CS32: u16 = FLAT_RING3_CS32;
/// `FLAT_KERNEL_CS`: the code selector a bounced handler runs with.
pub const FLAT_KERNEL_CS: u16 = FLAT_KERNEL_CS64;
/// `FLAT_KERNEL_SS64`.
pub const FLAT_KERNEL_SS64: u16 = FLAT_RING3_SS64;
/// `FLAT_KERNEL_SS32`.
pub const FLAT_KERNEL_SS32: u16 = FLAT_RING3_SS32;
/// `FLAT_KERNEL_SS`.
pub const FLAT_KERNEL_SS: u16 = FLAT_KERNEL_SS64;
/// `FLAT_USER_DS64`.
pub const FLAT_USER_DS64: u16 = FLAT_RING3_DS64;
/// `FLAT_USER_DS32`.
pub const FLAT_USER_DS32: u16 = FLAT_RING3_DS32;
/// `FLAT_USER_DS`.
pub const FLAT_USER_DS: u16 = FLAT_USER_DS64;
/// `FLAT_USER_CS64`.
pub const FLAT_USER_CS64: u16 = FLAT_RING3_CS64;
/// `FLAT_USER_CS32`.
pub const FLAT_USER_CS32: u16 = FLAT_RING3_CS32;
/// `FLAT_USER_CS`.
pub const FLAT_USER_CS: u16 = FLAT_USER_CS64;
/// `FLAT_USER_SS64`.
pub const FLAT_USER_SS64: u16 = FLAT_RING3_SS64;
/// `FLAT_USER_SS32`.
pub const FLAT_USER_SS32: u16 = FLAT_RING3_SS32;
/// `FLAT_USER_SS`.
pub const FLAT_USER_SS: u16 = FLAT_USER_SS64;

/// `HYPERVISOR_VIRT_START`: start of the range reserved for the hypervisor in every guest.
pub const HYPERVISOR_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// `HYPERVISOR_VIRT_END`.
pub const HYPERVISOR_VIRT_END: u64 = 0xFFFF_8800_0000_0000;
/// `MACH2PHYS_VIRT_START`: where the read-only M2P table is mapped in every PV guest.
pub const MACH2PHYS_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// `MACH2PHYS_VIRT_END`.
pub const MACH2PHYS_VIRT_END: u64 = 0xFFFF_8040_0000_0000;
/// `MACH2PHYS_NR_ENTRIES`: 8-byte entries in the M2P range.
pub const MACH2PHYS_NR_ENTRIES: u64 = (MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) >> 3;

/// `SEGBASE_FS`: `set_segment_base` sets the FS base.
pub const SEGBASE_FS: u32 = 0;
/// `SEGBASE_GS_USER`: the user GS base (the inactive one while in the guest kernel).
pub const SEGBASE_GS_USER: u32 = 1;
/// `SEGBASE_GS_KERNEL`: the kernel GS base.
pub const SEGBASE_GS_KERNEL: u32 = 2;
/// `SEGBASE_GS_USER_SEL`: load the user `%gs` selector given in `base[15:0]`.
pub const SEGBASE_GS_USER_SEL: u32 = 3;

/// `FIRST_RESERVED_GDT_PAGE`: the first of the GDT pages the hypervisor owns.
pub const FIRST_RESERVED_GDT_PAGE: u32 = 14;
/// `FIRST_RESERVED_GDT_BYTE`.
pub const FIRST_RESERVED_GDT_BYTE: u32 = FIRST_RESERVED_GDT_PAGE * 4096;
/// `FIRST_RESERVED_GDT_ENTRY`: guest GDTs may hold at most this many entries.
pub const FIRST_RESERVED_GDT_ENTRY: u32 = FIRST_RESERVED_GDT_BYTE / 8;

/// `XEN_HVM_DEBUGCONS_IOPORT`.
pub const XEN_HVM_DEBUGCONS_IOPORT: u16 = 0xe9;

/// `XEN_EMULATE_PREFIX`: `ud2; .ascii "xen"`, the forced-emulation prefix (e.g. before `cpuid`).
pub const XEN_EMULATE_PREFIX: [u8; 5] = [0x0f, 0x0b, 0x78, 0x65, 0x6e];

/// `xen_pfn_to_cr3`: the `cr3` value for a top-level page table frame.
pub const fn xen_pfn_to_cr3(pfn: u64) -> u64 {
    pfn << 12
}

/// `xen_cr3_to_pfn`: the frame a `cr3` value names.
pub const fn xen_cr3_to_pfn(cr3: u64) -> u64 {
    cr3 >> 12
}

bitflags! {
    /// `vcpu_guest_context.flags` and the `iret` frame's `flags` (`VGCF_*`).
    #[doc(alias = "VGCF")]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct VgcfFlags: u64 {
        /// The FPU context is valid.
        #[doc(alias = "VGCF_i387_valid")]
        #[doc(alias = "VGCF_I387_VALID")]
        const I387_VALID = 1 << 0;
        /// The vCPU is in guest kernel mode.
        #[doc(alias = "VGCF_in_kernel")]
        #[doc(alias = "VGCF_IN_KERNEL")]
        const IN_KERNEL = 1 << 2;
        /// Mask events on entry to the failsafe callback.
        #[doc(alias = "VGCF_failsafe_disables_events")]
        const FAILSAFE_DISABLES_EVENTS = 1 << 3;
        /// Mask events on entry to the syscall callback.
        #[doc(alias = "VGCF_syscall_disables_events")]
        const SYSCALL_DISABLES_EVENTS = 1 << 4;
        /// The vCPU is online.
        #[doc(alias = "VGCF_online")]
        const ONLINE = 1 << 5;
        /// `iret`: returning from a syscall; restore only RAX, RIP, RFLAGS, RSP.
        #[doc(alias = "VGCF_in_syscall")]
        #[doc(alias = "VGCF_IN_SYSCALL")]
        const IN_SYSCALL = 1 << 8;
    }
}

/// `trap_info`: one entry of the virtual IDT (`set_trap_table`, `vcpu_guest_context.trap_ctxt`).
#[doc(alias = "trap_info")]
#[doc(alias = "trap_info_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct TrapInfo {
    /// Exception vector.
    pub vector: u8,
    /// Bits 0-1: DPL; bit 2: mask events on entry (an "interrupt gate").
    pub flags: u8,
    /// Code selector (ignored on 64-bit).
    pub cs: u16,
    pub _pad0: u32,
    /// Handler address; 0 ends a `set_trap_table` list.
    pub address: u64,
}
const _: () = assert!(size_of::<TrapInfo>() == 16);

impl TrapInfo {
    /// `TI_GET_DPL`.
    #[doc(alias = "TI_GET_DPL")]
    pub const fn dpl(&self) -> u8 {
        self.flags & 3
    }
    /// `TI_GET_IF`: non-zero if events are masked on entry.
    #[doc(alias = "TI_GET_IF")]
    pub const fn get_if(&self) -> bool {
        self.flags & 4 != 0
    }
    /// `TI_SET_DPL` (ORs the DPL in, as the C macro does).
    #[doc(alias = "TI_SET_DPL")]
    pub fn set_dpl(&mut self, dpl: u8) {
        self.flags |= dpl & 3;
    }
    /// `TI_SET_IF` (ORs the bit in, as the C macro does).
    #[doc(alias = "TI_SET_IF")]
    pub fn set_if(&mut self, mask_events: bool) {
        self.flags |= u8::from(mask_events) << 2;
    }
}

/// `cpu_user_regs` (x86-64): a guest's general registers as the hypervisor saves them.
///
/// C declares each register as an anonymous union of its widths (`rax`/`eax`/`ax`/`al`…); the Rust
/// side keeps the 64-bit name.
#[doc(alias = "cpu_user_regs")]
#[doc(alias = "cpu_user_regs_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct CpuUserRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    /// Private to the hypervisor.
    pub error_code: u32,
    /// Private to the hypervisor.
    pub entry_vector: u32,
    pub rip: u64,
    pub cs: u16,
    pub _pad0: [u16; 1],
    pub saved_upcall_mask: u8,
    pub _pad1: [u8; 3],
    /// `rflags.IF == !saved_upcall_mask`.
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u16,
    pub _pad2: [u16; 3],
    pub es: u16,
    pub _pad3: [u16; 3],
    pub ds: u16,
    pub _pad4: [u16; 3],
    pub fs: u16,
    pub _pad5: [u16; 3],
    pub gs: u16,
    pub _pad6: [u16; 3],
}
const _: () = assert!(size_of::<CpuUserRegs>() == 200);

/// `iret_context`: the frame on the guest stack at the `iret` hypercall (top of stack first).
#[doc(alias = "iret_context")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct IretContext {
    pub rax: u64,
    pub r11: u64,
    pub rcx: u64,
    /// `VGCF_in_syscall` or 0.
    pub flags: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}
const _: () = assert!(size_of::<IretContext>() == 72);

/// `vcpu_guest_context` (x86-64): a vCPU's whole PV state (`VCPUOP_initialise`, domctl
/// `setvcpucontext`/`getvcpucontext`).
///
/// C's `struct { char x[512]; } fpu_ctxt` is mirrored as `[u8; 512]` (same size and offset).
#[doc(alias = "vcpu_guest_context")]
#[doc(alias = "vcpu_guest_context_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct VcpuGuestContext {
    /// FXSAVE image of the user-level FPU registers.
    pub fpu_ctxt: [u8; 512],
    /// [`VgcfFlags`].
    pub flags: u64,
    pub user_regs: CpuUserRegs,
    /// The virtual IDT.
    pub trap_ctxt: [TrapInfo; 256],
    pub ldt_base: u64,
    pub ldt_ents: u64,
    /// GDT machine frames.
    pub gdt_frames: [u64; 16],
    pub gdt_ents: u64,
    /// Virtual TSS: only SS1/SP1.
    pub kernel_ss: u64,
    pub kernel_sp: u64,
    /// CR0–CR7; the user page table (x86-64) is in `ctrlreg[1]`.
    pub ctrlreg: [u64; 8],
    pub debugreg: [u64; 8],
    pub event_callback_eip: u64,
    pub failsafe_callback_eip: u64,
    pub syscall_callback_eip: u64,
    /// `VMASST_TYPE_*` bitmap.
    pub vm_assist: u64,
    pub fs_base: u64,
    pub gs_base_kernel: u64,
    pub gs_base_user: u64,
}
const _: () = assert!(size_of::<VcpuGuestContext>() == 5168);

/// `xen_callback_t` (x86-64): a callback's address.
#[doc(alias = "xen_callback_t")]
pub type XenCallback = u64;

/// `xen_arch_domainconfig` (x86, tools interface): what to emulate for a new domain.
#[doc(alias = "xen_arch_domainconfig")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenArchDomainconfig {
    /// `XEN_X86_EMU_*`; 0 for a PV domain.
    pub emulation_flags: u32,
    /// `XEN_X86_MSR_RELAXED`.
    pub misc_flags: u32,
}
const _: () = assert!(size_of::<XenArchDomainconfig>() == 8);

bitflags! {
    /// `xen_arch_domainconfig.emulation_flags` (`XEN_X86_EMU_*`).
    #[doc(alias = "XEN_X86_EMU")]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct X86EmuFlags: u32 {
        #[doc(alias = "XEN_X86_EMU_LAPIC")]
        const LAPIC = 1 << 0;
        #[doc(alias = "XEN_X86_EMU_HPET")]
        const HPET = 1 << 1;
        #[doc(alias = "XEN_X86_EMU_PM")]
        const PM = 1 << 2;
        #[doc(alias = "XEN_X86_EMU_RTC")]
        const RTC = 1 << 3;
        #[doc(alias = "XEN_X86_EMU_IOAPIC")]
        const IOAPIC = 1 << 4;
        #[doc(alias = "XEN_X86_EMU_PIC")]
        const PIC = 1 << 5;
        #[doc(alias = "XEN_X86_EMU_VGA")]
        const VGA = 1 << 6;
        #[doc(alias = "XEN_X86_EMU_IOMMU")]
        const IOMMU = 1 << 7;
        #[doc(alias = "XEN_X86_EMU_PIT")]
        const PIT = 1 << 8;
        #[doc(alias = "XEN_X86_EMU_USE_PIRQ")]
        const USE_PIRQ = 1 << 9;
        #[doc(alias = "XEN_X86_EMU_VPCI")]
        const VPCI = 1 << 10;
    }
}

/// `XEN_X86_MSR_RELAXED` in `xen_arch_domainconfig.misc_flags`.
pub const XEN_X86_MSR_RELAXED: u32 = 1 << 0;

/// `XEN_CPUID_NO_SUBLEAF`.
pub const XEN_CPUID_NO_SUBLEAF: u32 = 0xffff_ffff;

/// `xen_cpuid_leaf`: one CPUID leaf of a domain's policy.
#[doc(alias = "xen_cpuid_leaf")]
#[doc(alias = "xen_cpuid_leaf_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenCpuidLeaf {
    pub leaf: u32,
    pub subleaf: u32,
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub d: u32,
}
const _: () = assert!(size_of::<XenCpuidLeaf>() == 24);

/// `xen_msr_entry`: one MSR of a domain's policy.
#[doc(alias = "xen_msr_entry")]
#[doc(alias = "xen_msr_entry_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenMsrEntry {
    pub idx: u32,
    /// Reserved, must be zero.
    pub flags: u32,
    pub val: u64,
}
const _: () = assert!(size_of::<XenMsrEntry>() == 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cr3_conversions_round_trip() {
        assert_eq!(xen_pfn_to_cr3(0x1234), 0x123_4000);
        assert_eq!(xen_cr3_to_pfn(xen_pfn_to_cr3(0x1234)), 0x1234);
    }

    #[test]
    fn trap_info_flag_helpers_match_the_c_macros() {
        let mut t = TrapInfo::default();
        t.set_dpl(3);
        t.set_if(true);
        assert_eq!(t.flags, 7);
        assert_eq!(t.dpl(), 3);
        assert!(t.get_if());
    }

    #[test]
    fn m2p_fits_inside_the_hypervisor_range() {
        const { assert!(MACH2PHYS_VIRT_START >= HYPERVISOR_VIRT_START) };
        const { assert!(MACH2PHYS_VIRT_END <= HYPERVISOR_VIRT_END) };
        assert_eq!(MACH2PHYS_NR_ENTRIES, 1 << 35);
    }
}
