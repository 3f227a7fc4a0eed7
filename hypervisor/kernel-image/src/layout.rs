//! The start-of-day virtual layout of a PV domain (`xen.h` "Start-of-day memory layout"): as
//! Xen's `dom0_construct` places dom0 ([`compute`]: kernel, initrd, p2m list, start_info,
//! bootstrap page tables, boot stack, padding to 4 MiB), and as libxenguest's
//! `xc_dom_build_image` places a domU ([`domu`]: kernel, mapped ramdisk, p2m, start_info,
//! xenstore and console pages, page tables, boot stack, padding, then an unmapped ramdisk and a
//! p2m at the kernel's `INIT_P2M`). Pure arithmetic, host-tested.

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

/// One allocation of libxenguest's builder (`struct xc_dom_seg`): guest-virtual
/// `[vstart, vend)`, its first PFN and its page count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// First virtual address.
    pub vstart: u64,
    /// `vstart` + the bytes asked for (Xen 4.17.7, with the fix of 4.19; older releases rounded
    /// it up to the page).
    pub vend: u64,
    /// First PFN.
    pub pfn: Pfn,
    /// Pages.
    pub pages: u64,
}

/// What [`domu`] places a domU around: the kernel's facts (from its ELF notes) and the domain's
/// sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomuInput {
    /// `XEN_ELFNOTE_VIRT_BASE`: PFN 0 is mapped here.
    pub virt_base: u64,
    /// Lowest virtual address of the kernel (`virt_kstart`).
    pub kstart: u64,
    /// One past its highest (`virt_kend`).
    pub kend: u64,
    /// The domain's pages (`total_pages`; also the p2m's length, `p2m_size`, for a PV guest
    /// without vNUMA holes).
    pub nr_pages: u64,
    /// Bytes the ramdisk takes in the guest ([`module_len`]), 0 for none.
    pub ramdisk_len: u64,
    /// `XEN_ELFNOTE_MOD_START_PFN`: the ramdisk goes after the initial mapping, by PFN.
    pub unmapped_initrd: bool,
    /// `XEN_ELFNOTE_INIT_P2M`: the p2m list is mapped there, outside the initial mapping.
    pub p2m_base: Option<u64>,
}

/// A domU's start-of-day layout as libxenguest computes it (Xen 4.17 `xc_dom_build_image`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomuLayout {
    /// `virt_base`.
    pub virt_base: u64,
    /// The kernel (after padding from `virt_base` to `virt_kstart`).
    pub kernel: Segment,
    /// The ramdisk: inside the initial mapping after the kernel, or (unmapped) after the padding.
    pub ramdisk: Option<Segment>,
    /// The p2m list ("phys2mach") where it is allocated; with `INIT_P2M` its pages include the
    /// page tables that map it at [`mfn_list`](Self::mfn_list).
    pub p2m: Segment,
    /// Where the guest sees the p2m (`start_info.mfn_list`): `INIT_P2M`, else `p2m.vstart`.
    pub mfn_list: u64,
    /// The start_info page.
    pub start_info: Segment,
    /// The xenstore ring page.
    pub xenstore: Segment,
    /// The console ring page.
    pub console: Segment,
    /// The bootstrap page tables of the initial mapping (`nr_pt_frames` = `pages`).
    pub page_tables: Segment,
    /// The boot stack page.
    pub boot_stack: Segment,
    /// `virt_alloc_end` after the boot stack (libxenguest's `domainbuilder` detail line).
    pub virt_alloc_end: u64,
    /// `virt_pgtab_end`: the end of what the initial page tables map (4 MiB aligned).
    pub virt_pgtab_end: u64,
    /// The p2m is at `INIT_P2M`, allocated after everything else.
    pub p2m_outside: bool,
    /// Page-table pages that map an `INIT_P2M` p2m (inside `p2m.pages`), 0 without one.
    pub p2m_pt_pages: u64,
    /// The initial mapping's page tables (in `page_tables`).
    pub pt_map: PtMapping,
    /// With `INIT_P2M`: the tables that map the p2m there (after the p2m, in `p2m`).
    pub p2m_map: Option<PtMapping>,
}

impl DomuLayout {
    /// Every segment in allocation order, with libxenguest's name for it (`xc_dom_alloc_segment`
    /// and `xc_dom_alloc_page` log lines; the ramdisk is `module0`).
    pub fn segments(&self) -> impl Iterator<Item = (&'static str, Segment)> + '_ {
        let mapped_rd = self.ramdisk.filter(|r| r.vstart < self.virt_pgtab_end);
        let unmapped_rd = self.ramdisk.filter(|r| r.vstart >= self.virt_pgtab_end);
        let in_p2m = (!self.p2m_outside).then_some(("phys2mach", self.p2m));
        let out_p2m = self.p2m_outside.then_some(("phys2mach", self.p2m));
        [("kernel", self.kernel)]
            .into_iter()
            .chain(mapped_rd.map(|r| ("module0", r)))
            .chain(in_p2m)
            .chain([
                ("start info", self.start_info),
                ("xenstore", self.xenstore),
                ("console", self.console),
                ("page tables", self.page_tables),
                ("boot stack", self.boot_stack),
            ])
            .chain(unmapped_rd.map(|r| ("module0", r)))
            .chain(out_p2m)
    }
}

/// Bytes libxenguest gives a ramdisk of `blob` in the guest (`xc_dom_build_module` with
/// `xc_dom_check_gzip`): a gzip file is unpacked there, so it takes its trailer's size + 16
/// bytes (or the file's size, if larger); anything else its own size.
pub fn module_len(blob: &[u8]) -> u64 {
    let len = blob.len() as u64;
    if blob.len() < 6 || blob[..2] != [0x1f, 0x8b] {
        return len;
    }
    let mut isize = [0u8; 4];
    isize.copy_from_slice(&blob[blob.len() - 4..]);
    let unzip = u64::from(u32::from_le_bytes(isize));
    // XC_DOM_DECOMPRESS_MAX: a larger size "looks insane" and the blob is loaded as it is.
    if unzip > 1 << 30 {
        return len;
    }
    (unzip + 16).max(len)
}

/// libxenguest's allocator (`virt_alloc_end`, `pfn_alloc_end`, `xc_dom_chk_alloc_pages`).
struct Alloc {
    virt_end: u64,
    pfn_end: u64,
    total: u64,
}

impl Alloc {
    fn take(&mut self, pages: u64) -> Result<(), LayoutError> {
        let needed = self
            .pfn_end
            .checked_add(pages)
            .ok_or(LayoutError::Overflow)?;
        if needed > self.total {
            return Err(LayoutError::TooSmall {
                needed,
                have: self.total,
            });
        }
        self.pfn_end = needed;
        self.virt_end = pages
            .checked_mul(PAGE)
            .and_then(|b| self.virt_end.checked_add(b))
            .ok_or(LayoutError::Overflow)?;
        Ok(())
    }
    /// `xc_dom_alloc_pad`: pages up to `boundary`.
    fn pad(&mut self, boundary: u64) -> Result<(), LayoutError> {
        if !boundary.is_multiple_of(PAGE) || boundary < self.virt_end {
            return Err(LayoutError::Overflow);
        }
        self.take((boundary - self.virt_end) / PAGE)
    }
    /// `xc_dom_alloc_segment`: `size` bytes at `start` (padded up to it) or at the end.
    fn segment(&mut self, start: Option<u64>, size: u64) -> Result<Segment, LayoutError> {
        if let Some(s) = start {
            self.pad(s)?;
        }
        let pages = size.div_ceil(PAGE);
        let (vstart, pfn) = (self.virt_end, Pfn(self.pfn_end));
        self.take(pages)?;
        Ok(Segment {
            vstart,
            vend: vstart.checked_add(size).ok_or(LayoutError::Overflow)?,
            pfn,
            pages,
        })
    }
}

/// One level of a [`PtMapping`]: the virtual range its tables cover (`[from, to]`, inclusive,
/// 48-bit), the PFN of its first table and how many tables (`struct xc_dom_x86_mapping_lvl`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtLevel {
    /// First address covered.
    pub from: u64,
    /// Last address covered.
    pub to: u64,
    /// The first table's PFN (the others follow).
    pub pfn: Pfn,
    /// Tables at this level (0: an earlier mapping's tables cover the range).
    pub tables: u64,
}

/// One mapping of the initial page tables (`struct xc_dom_x86_mapping`): the area `[from, to]`
/// (inclusive, 48-bit) mapped to the PFNs from `pfn` up, and its tables per level (`lvls[0]`
/// the L1s .. `lvls[3]` the L4, which only the first mapping has).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtMapping {
    /// First address mapped.
    pub from: u64,
    /// Last address mapped.
    pub to: u64,
    /// PFN mapped at `from`.
    pub pfn: Pfn,
    /// Tables of this mapping, all levels.
    pub tables: u64,
    /// L1 .. L4.
    pub lvls: [PtLevel; 4],
}

const VADDR_MASK: u64 = (1 << 48) - 1;

/// `count_pgtables`: the tables mapping `[from, to]` (`to` inclusive), less those an earlier
/// mapping already has; the L4 belongs to the first mapping only. The tables are numbered from
/// `pfn` (top level first).
fn count_pgtables(from: u64, to: u64, earlier: Option<&PtMapping>, pfn: u64) -> PtMapping {
    let mut m = PtMapping {
        from: from & VADDR_MASK,
        to: to & VADDR_MASK,
        ..PtMapping::default()
    };
    if earlier.is_none() {
        m.lvls[3] = PtLevel {
            from: 0,
            to: VADDR_MASK,
            pfn: Pfn(pfn),
            tables: 1,
        };
        m.tables = 1;
    } else {
        m.lvls[3].pfn = Pfn(pfn);
    }
    for l in (0..3).rev() {
        let bits = 12 + (l as u32 + 1) * 9;
        let mask = (1u64 << bits) - 1;
        let (mut lo, mut hi) = (m.from & !mask, m.to | mask);
        if let Some(e) = earlier {
            let el = e.lvls[l];
            if el.from != el.to {
                if lo >= el.from && hi <= el.to {
                    (lo, hi) = (0, 0);
                } else {
                    if lo >= el.from && lo <= el.to {
                        lo = el.to + 1;
                    }
                    if hi >= el.from && hi <= el.to {
                        hi = el.from - 1;
                    }
                }
            }
        }
        let n = if lo < hi { ((hi - lo) >> bits) + 1 } else { 0 };
        m.lvls[l] = PtLevel {
            from: lo,
            to: hi,
            pfn: Pfn(pfn + m.tables),
            tables: n,
        };
        m.tables += n;
    }
    m
}

/// `_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED`: an L1 entry (read-only for page-table pages).
pub const PT_L1_PROT: u64 = 0x23;
/// `_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_USER`: L2..L4 entries.
pub const PT_UPPER_PROT: u64 = 0x67;
/// `_PAGE_RW`.
const PAGE_RW: u64 = 0x2;

impl DomuLayout {
    /// The mappings of the initial page tables: the initial mapping, then (with `INIT_P2M`) the
    /// p2m's.
    pub fn pt_mappings(&self) -> impl Iterator<Item = &PtMapping> + '_ {
        core::iter::once(&self.pt_map).chain(self.p2m_map.as_ref())
    }

    /// Every entry of the initial page tables, as libxenguest's `setup_pgtables_pv` writes them:
    /// `set(table_pfn, index, entry)` for each present entry (every other entry is zero). `mfn`
    /// gives the machine frame of a PFN (the p2m); `None` is an error. L1 entries that map a
    /// page-table page are read-only, as Xen requires to pin the tables.
    pub fn page_table_entries(
        &self,
        mut mfn: impl FnMut(Pfn) -> Option<u64>,
        mut set: impl FnMut(Pfn, usize, u64),
    ) -> Result<(), LayoutError> {
        let maps: heapless::Vec<PtMapping, 2> = self.pt_mappings().copied().collect();
        let is_table = |pfn: u64| {
            maps.iter()
                .any(|m| pfn >= m.lvls[3].pfn.0 && pfn < m.lvls[3].pfn.0 + m.tables)
        };
        for l in (0..4).rev() {
            let shift = 12 + 9 * l as u32;
            for m1 in &maps {
                let (from, to) = (m1.lvls[l].from, m1.lvls[l].to);
                for m2 in &maps {
                    let (cfrom, cto, cpfn) = if l > 0 {
                        let c = m2.lvls[l - 1];
                        if c.tables == 0 {
                            continue;
                        }
                        (c.from, c.to, c.pfn.0)
                    } else {
                        (m2.from, m2.to, m2.pfn.0)
                    };
                    if cfrom >= to || cto <= from {
                        continue;
                    }
                    let start = from.max(cfrom);
                    let (p_s, p_e) = ((start - from) >> shift, (to.min(cto) - from) >> shift);
                    let first = ((start - cfrom) >> shift) + cpfn;
                    for (pfn, p) in (first..).zip(p_s..=p_e) {
                        let frame = mfn(Pfn(pfn)).ok_or(LayoutError::Overflow)?;
                        let mut prot = if l > 0 { PT_UPPER_PROT } else { PT_L1_PROT };
                        if l == 0 && is_table(pfn) {
                            prot &= !PAGE_RW;
                        }
                        let table = Pfn(m1.lvls[l].pfn.0 + p / 512);
                        set(table, (p % 512) as usize, (frame << 12) | prot);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Computes a domU's layout as libxenguest's `xc_dom_build_image` does for a 64-bit PV guest.
pub fn domu(i: &DomuInput) -> Result<DomuLayout, LayoutError> {
    let o = LayoutError::Overflow;
    let hv = xen_abi::arch_x86::HYPERVISOR_VIRT_START..xen_abi::arch_x86::HYPERVISOR_VIRT_END;
    if !i.virt_base.is_multiple_of(PAGE)
        || !i.kstart.is_multiple_of(PAGE)
        || i.kstart < i.virt_base
        || i.kend < i.kstart
    {
        return Err(o);
    }
    let mut a = Alloc {
        virt_end: i.virt_base,
        pfn_end: 0,
        total: i.nr_pages,
    };
    let mut l = DomuLayout {
        virt_base: i.virt_base,
        ..DomuLayout::default()
    };
    l.kernel = a.segment(Some(i.kstart), i.kend - i.kstart)?;
    if i.ramdisk_len > 0 && !i.unmapped_initrd {
        l.ramdisk = Some(a.segment(None, i.ramdisk_len)?);
    }
    let p2m_bytes = round_up(i.nr_pages.checked_mul(8).ok_or(o)?, PAGE).ok_or(o)?;
    // An INIT_P2M at or above virt_base, or unaligned, is ignored.
    let p2m_base = i
        .p2m_base
        .filter(|&b| b < i.virt_base && b.is_multiple_of(PAGE));
    if p2m_base.is_none() {
        l.p2m = a.segment(None, p2m_bytes)?;
    }
    l.start_info = a.segment(None, PAGE)?;
    l.xenstore = a.segment(None, PAGE)?;
    l.console = a.segment(None, PAGE)?;
    // alloc_pgtables_pv: the boot stack and 512 KiB of padding after the tables, 4 MiB aligned.
    let extra = 1 + 512 * 1024 / PAGE;
    let mut pages = extra;
    let (first, try_end) = loop {
        let try_end = pages
            .checked_mul(PAGE)
            .and_then(|b| a.virt_end.checked_add(b))
            .ok_or(o)?
            | ((4 << 20) - 1);
        if (try_end - i.virt_base) / PAGE >= i.nr_pages {
            return Err(LayoutError::TooSmall {
                needed: (try_end - i.virt_base) / PAGE + 1,
                have: i.nr_pages,
            });
        }
        let m = count_pgtables(i.virt_base, try_end, None, a.pfn_end);
        pages = m.tables + extra;
        if a.virt_end + pages * PAGE <= try_end + 1 {
            break (m, try_end);
        }
    };
    l.virt_pgtab_end = try_end.checked_add(1).ok_or(o)?;
    if i.virt_base < hv.end && hv.start < l.virt_pgtab_end {
        return Err(o);
    }
    l.page_tables = a.segment(None, first.tables * PAGE)?;
    l.pt_map = PtMapping {
        pfn: Pfn(0),
        ..first
    };
    l.boot_stack = a.segment(None, PAGE)?;
    l.virt_alloc_end = a.virt_end;
    a.pad(l.virt_pgtab_end)?;
    if i.ramdisk_len > 0 && i.unmapped_initrd {
        l.ramdisk = Some(a.segment(None, i.ramdisk_len)?);
    }
    if let Some(base) = p2m_base {
        let to = base.checked_add(p2m_bytes - 1).ok_or(o)?;
        if (to - base) / PAGE + a.pfn_end >= i.nr_pages {
            return Err(LayoutError::TooSmall {
                needed: (to - base) / PAGE + a.pfn_end + 1,
                have: i.nr_pages,
            });
        }
        let mut m = count_pgtables(base, to, Some(&first), a.pfn_end);
        l.p2m_outside = true;
        l.p2m_pt_pages = m.tables;
        m.pfn = Pfn(a.pfn_end);
        for lvl in &mut m.lvls {
            lvl.pfn = Pfn(lvl.pfn.0 + p2m_bytes / PAGE);
        }
        l.p2m_map = Some(m);
        l.p2m = a.segment(None, p2m_bytes + m.tables * PAGE)?;
        l.mfn_list = base;
    } else {
        l.mfn_list = l.p2m.vstart;
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

    /// The layout `xl -vvv create` printed for Debian's 6.1.0-57 kernel in a 128 MiB domU
    /// (docs: reference/toolstack-abi.md §2.1), by PFN.
    #[test]
    fn domu_debian_kernel_128mib_is_libxenguests() {
        let vb = 0xffff_ffff_8000_0000;
        let l = domu(&DomuInput {
            virt_base: vb,
            kstart: vb + 0x100_0000,
            kend: vb + 0x4a0_0000,
            nr_pages: 32768,
            ramdisk_len: 596 * PAGE,
            unmapped_initrd: true,
            p2m_base: Some(0x80_0000_0000),
        })
        .unwrap();
        assert_eq!((l.kernel.pfn, l.kernel.pages), (Pfn(0x1000), 0x3a00));
        assert_eq!(l.start_info.pfn, Pfn(0x4a00));
        assert_eq!(l.xenstore.pfn, Pfn(0x4a01));
        assert_eq!(l.console.pfn, Pfn(0x4a02));
        assert_eq!(
            (l.page_tables.pfn, l.page_tables.pages),
            (Pfn(0x4a03), 0x29)
        );
        assert_eq!(l.boot_stack.pfn, Pfn(0x4a2c));
        assert_eq!(l.virt_pgtab_end, vb + 0x4c0_0000);
        assert_eq!(l.ramdisk.unwrap().pfn, Pfn(0x4c00));
        assert_eq!(
            (l.p2m.pfn, l.p2m.pages, l.p2m_pt_pages),
            (Pfn(0x4e54), 67, 3)
        );
        assert_eq!(l.mfn_list, 0x80_0000_0000);
        let names: std::vec::Vec<_> = l.segments().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "kernel",
                "start info",
                "xenstore",
                "console",
                "page tables",
                "boot stack",
                "module0",
                "phys2mach"
            ]
        );
    }

    /// Walks the tables `page_table_entries` wrote, from the L4 at `l4`, for `va`.
    fn walk(
        tables: &std::collections::BTreeMap<(u64, usize), u64>,
        mfn_to_pfn: impl Fn(u64) -> u64,
        l4: Pfn,
        va: u64,
    ) -> Option<u64> {
        let mut table = l4.0;
        for l in (0..4).rev() {
            let idx = ((va >> (12 + 9 * l)) & 511) as usize;
            let e = *tables.get(&(table, idx))?;
            if l == 0 {
                return Some(e);
            }
            assert_eq!(e & 0xfff, PT_UPPER_PROT, "upper entry prot");
            table = mfn_to_pfn(e >> 12);
        }
        None
    }

    #[test]
    fn page_table_entries_map_the_initial_mapping_and_the_p2m() {
        let vb = 0xffff_ffff_8000_0000;
        let l = domu(&DomuInput {
            virt_base: vb,
            kstart: vb + 0x100_0000,
            kend: vb + 0x4a0_0000,
            nr_pages: 40960,
            ramdisk_len: 596 * PAGE,
            unmapped_initrd: true,
            p2m_base: Some(0x80_0000_0000),
        })
        .unwrap();
        const OFF: u64 = 0x10_0000;
        let mut tables = std::collections::BTreeMap::new();
        l.page_table_entries(
            |p| Some(p.0 + OFF),
            |t, i, e| {
                assert!(i < 512);
                assert!(tables.insert((t.0, i), e).is_none(), "entry written twice");
            },
        )
        .unwrap();
        let back = |m: u64| m - OFF;
        // Every table page is used, and lies in page_tables or after the p2m.
        let used: std::collections::BTreeSet<u64> = tables.keys().map(|k| k.0).collect();
        assert_eq!(used.len() as u64, l.page_tables.pages + l.p2m_pt_pages);
        let pt = l.page_tables.pfn.0..l.page_tables.pfn.0 + l.page_tables.pages;
        let p2m_data = l.p2m.pages - l.p2m_pt_pages;
        let p2mt = l.p2m.pfn.0 + p2m_data..l.p2m.pfn.0 + l.p2m.pages;
        assert!(used.iter().all(|t| pt.contains(t) || p2mt.contains(t)));
        // The initial mapping: PFN n at virt_base + n pages; table pages read-only.
        for va in (vb..l.virt_pgtab_end).step_by(PAGE as usize) {
            let pfn = (va - vb) / PAGE;
            let e = walk(&tables, back, l.page_tables.pfn, va).unwrap();
            assert_eq!(back(e >> 12), pfn, "va {va:#x}");
            let ro = pt.contains(&pfn) || p2mt.contains(&pfn);
            assert_eq!(e & 0xfff, if ro { 0x21 } else { PT_L1_PROT }, "va {va:#x}");
        }
        assert!(walk(&tables, back, l.page_tables.pfn, l.virt_pgtab_end).is_none());
        // The p2m at INIT_P2M: its data pages, then its own tables (read-only).
        for n in 0..p2m_data {
            let e = walk(&tables, back, l.page_tables.pfn, l.mfn_list + n * PAGE).unwrap();
            assert_eq!(back(e >> 12), l.p2m.pfn.0 + n);
        }
    }

    #[test]
    fn domu_without_init_p2m_maps_the_p2m_after_a_mapped_ramdisk() {
        let l = domu(&DomuInput {
            virt_base: 0,
            kstart: 0x10_0000,
            kend: 0x12_3456,
            nr_pages: 8192,
            ramdisk_len: 10_000,
            unmapped_initrd: false,
            p2m_base: None,
        })
        .unwrap();
        assert_eq!(l.kernel.pfn, Pfn(0x100));
        assert_eq!(l.ramdisk.unwrap().vstart, 0x12_4000);
        assert_eq!(l.p2m.vstart, 0x12_7000);
        assert_eq!(l.mfn_list, l.p2m.vstart);
        assert_eq!(l.start_info.vstart, 0x12_7000 + 16 * PAGE);
        assert_eq!(l.virt_pgtab_end, 4 << 20);
        // L4, L3, L2 and two L1s for 0..4 MiB.
        assert_eq!(l.page_tables.pages, 5);
        assert!(l.virt_pgtab_end - l.boot_stack.vend >= 512 * 1024);
    }

    #[test]
    fn domu_too_little_memory_is_error() {
        let e = domu(&DomuInput {
            virt_base: 0,
            kstart: 0x10_0000,
            kend: 0x80_0000,
            nr_pages: 1024,
            ..DomuInput::default()
        })
        .unwrap_err();
        assert!(matches!(e, LayoutError::TooSmall { have: 1024, .. }));
    }

    #[test]
    fn module_len_gzip_is_unpacked_size_plus_16() {
        let mut gz = std::vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0];
        gz.extend_from_slice(&100_000u32.to_le_bytes());
        assert_eq!(module_len(&gz), 100_016);
        assert_eq!(module_len(b"070701 cpio"), 11);
        let mut insane = std::vec![0x1f, 0x8b, 0, 0];
        insane.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(module_len(&insane), 8);
    }
}
