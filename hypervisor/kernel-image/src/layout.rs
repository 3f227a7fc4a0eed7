//! The start-of-day virtual layout of a PV domain (`xen.h` "Start-of-day memory layout"; Xen's
//! `dom0_construct` and libxenguest's `xc_dom_build_image`): kernel, initrd, p2m list,
//! start_info, (domU) xenstore and console rings, bootstrap page tables, boot stack, padding to
//! 4 MiB. Pure arithmetic, host-tested.

use xen_abi::Pfn;

/// Page size.
pub const PAGE: u64 = 4096;

/// Why a layout does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The initial mapping needs more pages than the domain has.
    TooSmall {
        /// Pages the initial mapping needs.
        needed: u64,
        /// Pages the domain has.
        have: u64,
    },
    /// The mapping would reach the hypervisor's range or wrap.
    Overflow,
}

/// Where everything goes; all addresses are guest-virtual, `[start, end)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Start of the initial mapping (VIRT_BASE): PFN 0.
    pub v_start: u64,
    /// Kernel image.
    pub kernel: (u64, u64),
    /// Initrd, when mapped (no `MOD_START_PFN`).
    pub initrd: Option<(u64, u64)>,
    /// The p2m list.
    pub p2m: (u64, u64),
    /// The start_info page.
    pub start_info: u64,
    /// xenstore ring page (domU).
    pub xenstore: Option<u64>,
    /// console ring page (domU).
    pub console: Option<u64>,
    /// Bootstrap page tables: first page is the L4.
    pub pt: (u64, u64),
    /// Number of page-table pages.
    pub nr_pt_pages: u64,
    /// Boot stack page.
    pub stack: (u64, u64),
    /// End of the initial mapping (4 MiB aligned, ≥ 512 KiB after the stack).
    pub v_end: u64,
    /// First PFN of an unmapped initrd (`MOD_START_PFN`).
    pub initrd_pfn: Option<Pfn>,
}

impl Layout {
    /// The PFN mapped at `va` by the initial mapping.
    pub fn pfn(&self, va: u64) -> Pfn {
        Pfn((va - self.v_start) / PAGE)
    }
    /// Pages in the initial mapping.
    pub fn mapped_pages(&self) -> u64 {
        (self.v_end - self.v_start) / PAGE
    }
}

const fn round_up(v: u64, a: u64) -> Option<u64> {
    match v.checked_add(a - 1) {
        Some(x) => Some(x & !(a - 1)),
        None => None,
    }
}

/// Tables of one level needed to map `[lo, hi)` when each covers `1 << shift` bytes (Xen's `NR`).
/// Modular arithmetic, as in C: near the top of the address space `hi` rounds up to 0 and the
/// difference still counts the tables (a kernel at 0xffffffff80000000 needs one L3).
fn nr(lo: u64, hi: u64, shift: u32) -> Option<u64> {
    let size = 1u64 << shift;
    Some((hi.wrapping_add(size - 1) & !(size - 1)).wrapping_sub(lo & !(size - 1)) >> shift)
}

/// Computes the layout for a kernel occupying `[kstart, kend)` with `virt_base`, a domain of
/// `nr_pages`, an initrd of `initrd_len` bytes (mapped unless `initrd_unmapped`), and the extra
/// xenstore/console pages of a domU.
pub fn compute(
    virt_base: u64,
    kstart: u64,
    kend: u64,
    nr_pages: u64,
    initrd_len: u64,
    initrd_unmapped: bool,
    domu_rings: bool,
) -> Result<Layout, LayoutError> {
    let o = LayoutError::Overflow;
    let mut l = Layout {
        v_start: virt_base & !(PAGE - 1),
        ..Layout::default()
    };
    l.kernel = (kstart & !(PAGE - 1), round_up(kend, PAGE).ok_or(o)?);
    let mut next = l.kernel.1;
    if initrd_len > 0 && !initrd_unmapped {
        let end = round_up(next.checked_add(initrd_len).ok_or(o)?, PAGE).ok_or(o)?;
        l.initrd = Some((next, end));
        next = end;
    }
    let p2m_end = round_up(
        next.checked_add(nr_pages.checked_mul(8).ok_or(o)?)
            .ok_or(o)?,
        PAGE,
    )
    .ok_or(o)?;
    l.p2m = (next, p2m_end);
    next = p2m_end;
    l.start_info = next;
    next += PAGE;
    if domu_rings {
        l.xenstore = Some(next);
        l.console = Some(next + PAGE);
        next += 2 * PAGE;
    }
    let pt_start = next;
    let mut nr_pt = 2u64;
    loop {
        let pt_end = pt_start.checked_add(nr_pt * PAGE).ok_or(o)?;
        let stack_end = pt_end.checked_add(PAGE).ok_or(o)?;
        let v_end = round_up(stack_end.checked_add(512 * 1024).ok_or(o)?, 4 << 20).ok_or(o)?;
        let need = 1
            + nr(l.v_start, v_end, 39).ok_or(o)?
            + nr(l.v_start, v_end, 30).ok_or(o)?
            + nr(l.v_start, v_end, 21).ok_or(o)?;
        if need <= nr_pt {
            l.pt = (pt_start, pt_end);
            l.nr_pt_pages = nr_pt;
            l.stack = (pt_end, stack_end);
            l.v_end = v_end;
            break;
        }
        nr_pt = need;
    }
    let hv = xen_abi::arch_x86::HYPERVISOR_VIRT_START..xen_abi::arch_x86::HYPERVISOR_VIRT_END;
    if l.v_start < hv.end && hv.start < l.v_end {
        return Err(o);
    }
    let mut needed = l.mapped_pages();
    if initrd_len > 0 && initrd_unmapped {
        l.initrd_pfn = Some(Pfn(needed));
        needed += initrd_len.div_ceil(PAGE);
    }
    if needed > nr_pages {
        return Err(LayoutError::TooSmall {
            needed,
            have: nr_pages,
        });
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_small_kernel_at_1mib_like_xtf() {
        let l = compute(0, 0x100000, 0x123456, 8192, 0, false, false).unwrap();
        assert_eq!(l.kernel, (0x100000, 0x124000));
        assert_eq!(l.p2m, (0x124000, 0x124000 + 8192 * 8));
        assert_eq!(l.start_info, 0x134000);
        assert_eq!(l.pt.0, 0x135000);
        // One L4, one L3, one L2, two L1s cover 0..4 MiB.
        assert_eq!(l.nr_pt_pages, 5);
        assert_eq!(l.stack, (l.pt.1, l.pt.1 + PAGE));
        assert_eq!(l.v_end, 4 << 20);
        assert!(l.v_end - l.stack.1 >= 512 * 1024);
        assert_eq!(l.pfn(l.start_info), Pfn(0x134));
    }

    #[test]
    fn compute_page_tables_cover_the_whole_initial_mapping() {
        for kend in [0x200000u64, 0x3ff000, 0x800000, 0x5000000] {
            let l = compute(0, 0x100000, kend, 65536, 0, false, true).unwrap();
            let need = 1
                + nr(l.v_start, l.v_end, 39).unwrap()
                + nr(l.v_start, l.v_end, 30).unwrap()
                + nr(l.v_start, l.v_end, 21).unwrap();
            assert!(need <= l.nr_pt_pages, "kend {kend:#x}");
            assert_eq!(l.v_end % (4 << 20), 0);
            assert!(l.v_end >= l.stack.1 + 512 * 1024);
            assert_eq!(l.console, Some(l.xenstore.unwrap() + PAGE));
        }
    }

    #[test]
    fn compute_linux_like_high_virt_base() {
        let vb = 0xffff_ffff_8000_0000;
        let l = compute(vb, vb + 0x1000000, vb + 0x4a00000, 131072, 0, false, true).unwrap();
        assert_eq!(l.v_start, vb);
        assert!(l.v_end < 0xffff_ffff_c000_0000);
        // One L4, one L3, one L2 and an L1 per 2 MiB of the mapping.
        assert_eq!(l.nr_pt_pages, 3 + (l.v_end - vb) / (2 << 20));
    }

    #[test]
    fn compute_too_little_memory_is_error_with_counts() {
        let e = compute(0, 0x100000, 0x800000, 1024, 0, false, false).unwrap_err();
        assert!(matches!(e, LayoutError::TooSmall { have: 1024, needed } if needed > 1024));
    }

    #[test]
    fn compute_unmapped_initrd_follows_the_mapping() {
        let l = compute(0, 0x100000, 0x200000, 8192, 10_000, true, false).unwrap();
        assert_eq!(l.initrd, None);
        assert_eq!(l.initrd_pfn, Some(Pfn(l.mapped_pages())));
        let m = compute(0, 0x100000, 0x200000, 8192, 10_000, false, false).unwrap();
        assert_eq!(m.initrd, Some((0x200000, 0x203000)));
    }

    #[test]
    fn compute_inside_hypervisor_range_is_rejected() {
        assert_eq!(
            compute(
                0xffff_8000_0000_0000,
                0xffff_8000_0010_0000,
                0xffff_8000_0020_0000,
                8192,
                0,
                false,
                false
            ),
            Err(LayoutError::Overflow)
        );
    }
}
