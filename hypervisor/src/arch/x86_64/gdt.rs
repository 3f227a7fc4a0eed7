//! The per-CPU GDT, laid out as Xen's: a 15-page window whose first 14 pages will hold a guest's
//! own descriptors and whose page 14 (selectors 0xE000–0xEFFF) holds the hypervisor's reserved
//! entries, so the flat ring-3 selectors (`FLAT_RING3_CS64` = 0xe033, …) mean the same as on Xen.

use super::percpu::{area_base, PerCpu};
use crate::layout::{percpu, selectors};
use core::arch::asm;
use x86_64::instructions::tables::{lgdt, load_tss};
use x86_64::structures::gdt::SegmentSelector;
use x86_64::structures::DescriptorTablePointer;
use x86_64::{PrivilegeLevel, VirtAddr};

/// Raw descriptors of the reserved page, by selector.
const RESERVED: [(u16, u64); 6] = [
    (selectors::HYPERVISOR_CS, 0x00af_9b00_0000_ffff),
    (selectors::HYPERVISOR_DS, 0x00cf_9300_0000_ffff),
    (selectors::FLAT_RING3_CS32, 0x00cf_fb00_0000_ffff),
    (selectors::FLAT_RING3_DS, 0x00cf_f300_0000_ffff),
    (selectors::FLAT_RING3_CS64, 0x00af_fb00_0000_ffff),
    (selectors::HYPERVISOR_CS32, 0x00cf_9b00_0000_ffff),
];

fn tss_descriptor(tss: u64) -> (u64, u64) {
    let limit = (core::mem::size_of::<x86_64::structures::tss::TaskStateSegment>() - 1) as u64;
    let low = (limit & 0xffff)
        | ((tss & 0xff_ffff) << 16)
        | (0x89 << 40) // present, available 64-bit TSS
        | (((limit >> 16) & 0xf) << 48)
        | (((tss >> 24) & 0xff) << 56);
    (low, tss >> 32)
}

/// Fills CPU `cpu`'s reserved GDT page and loads GDTR, CS, SS/DS/ES, TR and the null LDT.
///
/// # Safety
/// `cpu`'s area must be mapped and initialised (`percpu::init_area`), and the caller must be
/// running on CPU `cpu`.
pub unsafe fn load(cpu: usize, pcpu: &'static PerCpu) {
    let base = area_base(cpu);
    let page = (base + percpu::GDT_RESERVED_PAGE) as *mut u64;
    let write = |sel: u16, v: u64| {
        let index = (usize::from(sel) - 0xe000) / 8;
        // SAFETY: the reserved page is mapped writable and `index` < 512 (selectors < 0xf000).
        unsafe { page.add(index).write_volatile(v) };
    };
    for (sel, d) in RESERVED {
        write(sel, d);
    }
    let (lo, hi) = tss_descriptor(&pcpu.tss as *const _ as u64);
    write(selectors::TSS, lo);
    write(selectors::TSS + 8, hi);
    let ptr = DescriptorTablePointer {
        limit: selectors::GDT_LIMIT,
        base: VirtAddr::new(base + percpu::GDT),
    };
    // SAFETY: the table holds valid descriptors for every selector loaded below and lives as
    // long as the CPU (per-CPU areas are never unmapped). The far return reloads CS.
    unsafe {
        lgdt(&ptr);
        asm!(
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ss, {ds:x}",
            "mov ds, {ds:x}",
            "mov es, {ds:x}",
            cs = in(reg) u64::from(selectors::HYPERVISOR_CS),
            ds = in(reg) u64::from(selectors::HYPERVISOR_DS),
            tmp = lateout(reg) _,
        );
        load_tss(SegmentSelector::new(
            selectors::TSS / 8,
            PrivilegeLevel::Ring0,
        ));
        // The null LDT, as Xen's `load_system_tables`: after INIT-SIPI an AP's LDTR is base 0
        // with limit 0xffff, so an LDT selector (a guest's `mov %gs`, or set_segment_base's
        // GS_USER_SEL load) would read descriptors from guest address 0 (found by hcfuzz).
        asm!("lldt {0:x}", in(reg) 0u16, options(nostack, preserves_flags));
    }
}

/// Loads CPU `cpu`'s LDTR: with `ents` > 0, an LDT descriptor for its LDT window (`ents`
/// descriptors) in the reserved page at `selectors::LDT`; with 0, the null LDT.
#[cfg(target_os = "none")]
pub fn load_ldt(cpu: usize, ents: u32) {
    if ents == 0 {
        // SAFETY: loading the null selector into LDTR disables the LDT.
        unsafe { asm!("lldt {0:x}", in(reg) 0u16, options(nostack, preserves_flags)) };
        return;
    }
    let base = area_base(cpu) + percpu::LDT;
    let limit = u64::from(ents) * 8 - 1;
    let low = (limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x82 << 40) // present, LDT
        | (((limit >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    let page = (area_base(cpu) + percpu::GDT_RESERVED_PAGE) as *mut u64;
    let index = (usize::from(selectors::LDT) - 0xe000) / 8;
    // SAFETY: the reserved page is mapped writable; the LDT descriptor's two slots are the
    // hypervisor's (guest selectors never reach the reserved page's system entries), and the
    // window it describes holds validated descriptor pages or the zero page.
    unsafe {
        page.add(index).write_volatile(low);
        page.add(index + 1).write_volatile(base >> 32);
        asm!("lldt {0:x}", in(reg) selectors::LDT, options(nostack, preserves_flags));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tss_descriptor_splits_base_and_limit() {
        let (lo, hi) = tss_descriptor(0xffff_8200_1234_5678);
        assert_eq!(lo & 0xffff, 103);
        assert_eq!((lo >> 16) & 0xff_ffff, 0x34_5678);
        assert_eq!((lo >> 56) & 0xff, 0x12);
        assert_eq!((lo >> 40) & 0xff, 0x89);
        assert_eq!(hi, 0xffff_8200);
    }

    #[test]
    fn reserved_selectors_match_xen_flat_selectors() {
        // xen/include/public/arch-x86/xen-x86_64.h: FLAT_RING3_CS64 0xe033, FLAT_RING3_DS64/SS 0xe02b.
        assert_eq!(selectors::FLAT_RING3_CS64 & !3, 0xe030);
        assert_eq!(selectors::FLAT_RING3_DS & !3, 0xe028);
        // SYSRET derives CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8 from FLAT_RING3_CS32.
        assert_eq!(selectors::FLAT_RING3_CS32 + 16, selectors::FLAT_RING3_CS64);
        assert_eq!(selectors::FLAT_RING3_CS32 + 8, selectors::FLAT_RING3_DS);
    }
}
