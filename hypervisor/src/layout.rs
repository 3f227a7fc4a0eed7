//! Where the hypervisor lives in every 64-bit PV address space (L4 slots 256–271).
//!
//! Xen reserves `HYPERVISOR_VIRT_START..HYPERVISOR_VIRT_END` (0xFFFF800000000000..0xFFFF880000000000)
//! in every 64-bit PV guest; Ferrite keeps all of itself there so that later every guest L4 can
//! share these slots unchanged.
//!
//! | L4 slot | range | use |
//! |---|---|---|
//! | 256 | `0xFFFF800000000000..0xFFFF804000000000` | read-only M2P window (`MACH2PHYS_VIRT_START`) |
//! | 257–259 | `0xFFFF808000000000..` | reserved (linear page tables, later) |
//! | 260 | `0xFFFF820000000000..` | per-CPU areas, [`PERCPU_STRIDE`] apart |
//! | 261 | `0xFFFF82D040000000..` | the hypervisor image (`KERNEL_VIRT_BASE` + physical) and fixmaps |
//! | 262–271 | `0xFFFF830000000000..0xFFFF880000000000` | direct map of all RAM (5 TiB) |

/// First byte of the range Xen reserves for itself (`HYPERVISOR_VIRT_START`).
pub const HYPERVISOR_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// One past the last byte of that range (`HYPERVISOR_VIRT_END`).
pub const HYPERVISOR_VIRT_END: u64 = 0xFFFF_8800_0000_0000;
/// The read-only machine-to-phys table guests see (`MACH2PHYS_VIRT_START`).
pub const M2P_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// End of the M2P window (`MACH2PHYS_VIRT_END`).
pub const M2P_VIRT_END: u64 = 0xFFFF_8040_0000_0000;
/// Base of the per-CPU areas.
pub const PERCPU_BASE: u64 = 0xFFFF_8200_0000_0000;
/// Distance between two CPUs' areas; also their alignment, so `rsp & !(STRIDE-1)` finds the area.
pub const PERCPU_STRIDE: u64 = 1 << 20;
/// Maximum number of physical CPUs.
pub const MAX_CPUS: usize = 64;
/// The image is linked at this base plus its physical address (Xen's `XEN_VIRT_START`).
pub const KERNEL_VIRT_BASE: u64 = 0xFFFF_82D0_4000_0000;
/// Fixed mappings of device pages (local APIC in xAPIC mode), above the image.
pub const FIXMAP_BASE: u64 = 0xFFFF_82D0_8000_0000;
/// Base of the direct map of RAM: physical address `p` is at `DIRECT_MAP_BASE + p`.
pub const DIRECT_MAP_BASE: u64 = 0xFFFF_8300_0000_0000;
/// End of the direct map (5 TiB of RAM at most).
pub const DIRECT_MAP_END: u64 = HYPERVISOR_VIRT_END;

/// Offsets inside one CPU's area. Holes between stacks are unmapped guard pages.
pub mod percpu {
    /// The `PerCpu` structure (with the TSS).
    pub const DATA: u64 = 0x0_0000;
    /// Bytes reserved for the `PerCpu` structure.
    pub const DATA_SIZE: u64 = 0x4000;
    /// The GDT window: 14 pages for a guest's own descriptors (unmapped until then), then the
    /// page of Xen's reserved selectors at 0xE000 (`FIRST_RESERVED_GDT_PAGE` = 14).
    pub const GDT: u64 = 0x1_0000;
    /// Page 14 of the GDT window: the reserved descriptors.
    pub const GDT_RESERVED_PAGE: u64 = GDT + 14 * 0x1000;
    /// The LDT window: up to 16 pages of a guest's LDT (`MMUEXT_SET_LDT`), the zero page
    /// elsewhere.
    pub const LDT: u64 = 0x5_0000;
    /// Double-fault IST stack (bottom, top).
    pub const IST_DF: (u64, u64) = (0x2_1000, 0x2_5000);
    /// NMI IST stack.
    pub const IST_NMI: (u64, u64) = (0x2_6000, 0x2_A000);
    /// Machine-check IST stack.
    pub const IST_MC: (u64, u64) = (0x2_B000, 0x2_F000);
    /// #DB IST stack: a #DB the CPU delivers at the SYSCALL stub's first instruction (a guest's
    /// `mov ss` onto a watched address, then `syscall`: XSA-260) would otherwise be pushed at
    /// the guest's RSP in ring 0. A #DB from a guest moves to the primary stack at once.
    pub const IST_DB: (u64, u64) = (0x3_0000, 0x3_4000);
    /// The CPU's primary stack: 256 KiB (unpacking a bzImage needs the XZ decoder's tens of
    /// KiB of state besides the usual depth), above a guard page after the LDT window.
    pub const STACK: (u64, u64) = (0x6_1000, 0xA_1000);
    /// Bytes at the top of the stack kept for the guest's register frame: a CPU's Rust code
    /// starts below them, so entering a guest can write the frame there at any time.
    pub const GUEST_FRAME_RESERVE: u64 = 256;
}

/// The hypervisor's own selectors, in Xen's reserved GDT page (0xE000..0xEFFF).
pub mod selectors {
    /// `__HYPERVISOR_CS` (ring 0, 64-bit).
    pub const HYPERVISOR_CS: u16 = 0xe008;
    /// `__HYPERVISOR_DS` (ring 0 data).
    pub const HYPERVISOR_DS: u16 = 0xe010;
    /// `FLAT_RING3_CS32`.
    pub const FLAT_RING3_CS32: u16 = 0xe023;
    /// `FLAT_RING3_DS32` / `FLAT_RING3_SS64`.
    pub const FLAT_RING3_DS: u16 = 0xe02b;
    /// `FLAT_RING3_CS64`.
    pub const FLAT_RING3_CS64: u16 = 0xe033;
    /// `__HYPERVISOR_CS32`.
    pub const HYPERVISOR_CS32: u16 = 0xe038;
    /// The TSS descriptor (16 bytes).
    pub const TSS: u16 = 0xe040;
    /// The LDT descriptor (16 bytes).
    pub const LDT: u16 = 0xe050;
    /// `LAST_RESERVED_GDT_BYTE`: the GDT limit.
    pub const GDT_LIMIT: u16 = 0xefff;
}

const _: () = assert!(KERNEL_VIRT_BASE >= HYPERVISOR_VIRT_START && FIXMAP_BASE < DIRECT_MAP_BASE);
const _: () = assert!(PERCPU_BASE + MAX_CPUS as u64 * PERCPU_STRIDE <= KERNEL_VIRT_BASE);
// The #DB entry finds its CPU's area by masking RSP (`idt::ferrite_db_common`).
const _: () = assert!(PERCPU_STRIDE.is_power_of_two() && PERCPU_BASE.is_multiple_of(PERCPU_STRIDE));

/// The L4 slot of a virtual address.
pub const fn l4_slot(va: u64) -> usize {
    ((va >> 39) & 511) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_sit_in_xen_reserved_slots() {
        for va in [
            M2P_VIRT_START,
            PERCPU_BASE,
            KERNEL_VIRT_BASE,
            FIXMAP_BASE,
            DIRECT_MAP_BASE,
            DIRECT_MAP_END - 1,
        ] {
            let slot = l4_slot(va);
            assert!((256..=271).contains(&slot), "{va:#x} is in slot {slot}");
        }
        assert_eq!(l4_slot(M2P_VIRT_START), 256);
        assert_eq!(l4_slot(KERNEL_VIRT_BASE), 261);
    }
}
