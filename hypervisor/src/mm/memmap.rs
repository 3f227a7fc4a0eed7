//! Memory-map arithmetic: from the firmware's regions and the ranges the hypervisor must keep
//! (its image, the boot information, the modules), the page-aligned ranges the frame allocator may
//! hand out. Pure code, tested on the host.

use heapless::Vec;
use xen_abi::Maddr;

/// Most ranges a map may hold; the firmware maps seen under QEMU have fewer than 20.
pub const MAX_RANGES: usize = 128;

/// A half-open physical range `[start, end)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    /// First byte.
    pub start: Maddr,
    /// One past the last byte.
    pub end: Maddr,
}

impl Range {
    /// `[start, end)`; an inverted range is empty.
    pub const fn new(start: Maddr, end: Maddr) -> Range {
        Range { start, end }
    }
    /// `[start, start + len)`, saturating at the top of the address space.
    pub const fn with_len(start: Maddr, len: u64) -> Range {
        Range {
            start,
            end: Maddr(start.0.saturating_add(len)),
        }
    }
    /// True when the range holds no byte.
    pub const fn is_empty(&self) -> bool {
        self.end.0 <= self.start.0
    }
    /// Its size in bytes (0 when empty).
    pub const fn len(&self) -> u64 {
        self.end.0.saturating_sub(self.start.0)
    }
    /// True when the two ranges share a byte.
    pub const fn overlaps(&self, other: &Range) -> bool {
        self.start.0 < other.end.0 && other.start.0 < self.end.0
    }
    /// True when `addr` lies inside the range.
    pub const fn contains(&self, addr: Maddr) -> bool {
        self.start.0 <= addr.0 && addr.0 < self.end.0
    }
    /// The largest page-aligned range inside this one (possibly empty).
    pub const fn shrink_to_pages(&self) -> Range {
        let start = match self.start.0.checked_add(0xfff) {
            Some(s) => s & !0xfff,
            None => !0xfff,
        };
        Range {
            start: Maddr(start),
            end: Maddr(self.end.0 & !0xfff),
        }
    }
}

/// What the firmware says a region is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// Usable RAM.
    Usable,
    /// ACPI tables, reclaimable after they are read.
    AcpiReclaimable,
    /// ACPI non-volatile storage.
    AcpiNvs,
    /// Defective RAM.
    Defective,
    /// Anything else: reserved.
    Reserved,
}

impl RegionKind {
    /// The E820 type number (`E820_RAM` = 1, reserved 2, ACPI 3, NVS 4, unusable 5).
    pub fn e820_type(self) -> u32 {
        match self {
            RegionKind::Usable => 1,
            RegionKind::Reserved => 2,
            RegionKind::AcpiReclaimable => 3,
            RegionKind::AcpiNvs => 4,
            RegionKind::Defective => 5,
        }
    }
}

/// One firmware memory-map entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Where it is.
    pub range: Range,
    /// What it is.
    pub kind: RegionKind,
}

/// Why a map could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemMapError {
    /// More than [`MAX_RANGES`] ranges would result.
    TooManyRanges,
}

/// Removes `hole` from a sorted list of disjoint ranges.
pub fn subtract(list: &mut Vec<Range, MAX_RANGES>, hole: Range) -> Result<(), MemMapError> {
    if hole.is_empty() {
        return Ok(());
    }
    let mut out: Vec<Range, MAX_RANGES> = Vec::new();
    for r in list.iter() {
        if !r.overlaps(&hole) {
            out.push(*r).map_err(|_| MemMapError::TooManyRanges)?;
            continue;
        }
        let left = Range::new(r.start, hole.start);
        let right = Range::new(hole.end, r.end);
        for piece in [left, right] {
            if !piece.is_empty() {
                out.push(piece).map_err(|_| MemMapError::TooManyRanges)?;
            }
        }
    }
    *list = out;
    Ok(())
}

/// Sorts and merges overlapping or touching ranges.
pub fn normalize(list: &mut Vec<Range, MAX_RANGES>) {
    list.retain(|r| !r.is_empty());
    list.sort_unstable();
    let mut out: Vec<Range, MAX_RANGES> = Vec::new();
    for r in list.iter() {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            // Cannot overflow: `out` never holds more entries than `list`.
            _ => {
                let _ = out.push(*r);
            }
        }
    }
    *list = out;
}

/// The page-aligned ranges of usable RAM that overlap neither a non-usable region (firmware maps
/// can overlap; the more restrictive kind wins) nor any `reserved` range.
pub fn usable_ranges(
    regions: &[Region],
    reserved: &[Range],
) -> Result<Vec<Range, MAX_RANGES>, MemMapError> {
    let mut list: Vec<Range, MAX_RANGES> = Vec::new();
    for r in regions.iter().filter(|r| r.kind == RegionKind::Usable) {
        list.push(r.range).map_err(|_| MemMapError::TooManyRanges)?;
    }
    normalize(&mut list);
    for r in regions.iter().filter(|r| r.kind != RegionKind::Usable) {
        subtract(&mut list, r.range)?;
    }
    for hole in reserved {
        subtract(&mut list, *hole)?;
    }
    let mut aligned: Vec<Range, MAX_RANGES> = Vec::new();
    for r in list
        .iter()
        .map(Range::shrink_to_pages)
        .filter(|r| !r.is_empty())
    {
        aligned.push(r).map_err(|_| MemMapError::TooManyRanges)?;
    }
    Ok(aligned)
}

/// Total bytes the firmware calls usable RAM (overlaps counted once): what the banner reports.
pub fn total_usable(regions: &[Region]) -> Result<u64, MemMapError> {
    let mut list: Vec<Range, MAX_RANGES> = Vec::new();
    for r in regions.iter().filter(|r| r.kind == RegionKind::Usable) {
        list.push(r.range).map_err(|_| MemMapError::TooManyRanges)?;
    }
    normalize(&mut list);
    Ok(list.iter().map(Range::len).sum())
}

/// One past the highest byte of any RAM-like region (usable, ACPI or defective): the extent of
/// the direct map.
pub fn ram_top(regions: &[Region]) -> Maddr {
    regions
        .iter()
        .filter(|r| r.kind != RegionKind::Reserved)
        .map(|r| r.range.end)
        .max()
        .unwrap_or(Maddr(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `[start, end)` of physical memory.
    fn range(start: u64, end: u64) -> Range {
        Range::new(Maddr(start), Maddr(end))
    }

    fn usable(s: u64, e: u64) -> Region {
        Region {
            range: range(s, e),
            kind: RegionKind::Usable,
        }
    }
    fn reserved(s: u64, e: u64) -> Region {
        Region {
            range: range(s, e),
            kind: RegionKind::Reserved,
        }
    }

    #[test]
    fn usable_ranges_qemu_like_map_excludes_holes_and_image() {
        // QEMU's e820 for -m 256: low RAM, the BIOS hole, RAM from 1 MiB.
        let map = [
            usable(0, 0x9fc00),
            reserved(0x9fc00, 0xa0000),
            reserved(0xf0000, 0x100000),
            usable(0x100000, 0x0ffe0000),
        ];
        let image = range(0x200000, 0x400000);
        let got = usable_ranges(&map, &[image]).unwrap();
        assert_eq!(
            &got[..],
            &[
                range(0, 0x9f000),
                range(0x100000, 0x200000),
                range(0x400000, 0x0ffe0000)
            ]
        );
    }

    #[test]
    fn usable_ranges_module_inside_usable_range_splits_it() {
        let map = [usable(0x100000, 0x1000000)];
        let module = range(0x500123, 0x600456);
        let got = usable_ranges(&map, &[module]).unwrap();
        // The partial pages at both ends of the module stay reserved.
        assert_eq!(
            &got[..],
            &[range(0x100000, 0x500000), range(0x601000, 0x1000000)]
        );
    }

    #[test]
    fn usable_ranges_overlapping_reserved_region_wins() {
        let map = [
            usable(0, 0x400000),
            reserved(0x300000, 0x500000),
            usable(0x380000, 0x800000),
        ];
        let got = usable_ranges(&map, &[]).unwrap();
        assert_eq!(&got[..], &[range(0, 0x300000), range(0x500000, 0x800000)]);
    }

    #[test]
    fn usable_ranges_overlapping_usable_regions_merge() {
        let map = [
            usable(0x1000, 0x5000),
            usable(0x3000, 0x9000),
            usable(0x9000, 0xa000),
        ];
        assert_eq!(
            &usable_ranges(&map, &[]).unwrap()[..],
            &[range(0x1000, 0xa000)]
        );
        assert_eq!(total_usable(&map).unwrap(), 0x9000);
    }

    #[test]
    fn usable_ranges_unaligned_region_shrinks_to_whole_pages() {
        let map = [usable(0x1001, 0x3fff)];
        assert_eq!(
            &usable_ranges(&map, &[]).unwrap()[..],
            &[range(0x2000, 0x3000)]
        );
        let tiny = [usable(0x1001, 0x1fff)];
        assert!(usable_ranges(&tiny, &[]).unwrap().is_empty());
    }

    #[test]
    fn usable_ranges_reserved_range_covering_everything_leaves_nothing() {
        let map = [usable(0x1000, 0x9000)];
        assert!(usable_ranges(&map, &[range(0, u64::MAX)])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn range_near_top_of_address_space_does_not_overflow() {
        let r = range(u64::MAX - 10, u64::MAX).shrink_to_pages();
        assert!(r.is_empty());
        assert_eq!(
            Range::with_len(Maddr(u64::MAX - 1), 100).end,
            Maddr(u64::MAX)
        );
    }

    #[test]
    fn ram_top_ignores_reserved_regions() {
        let map = [
            usable(0, 0x1000),
            reserved(0xfee00000, 0xfee01000),
            usable(0x100000000, 0x140000000),
        ];
        assert_eq!(ram_top(&map), Maddr(0x140000000));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Every usable range is page-aligned, inside a usable region, disjoint from every
        /// non-usable region and every reserved range, and the ranges are sorted and disjoint.
        #[test]
        fn usable_ranges_respect_every_constraint(
            regions in prop::collection::vec((0u64..1 << 24, 1u64..1 << 22, any::<bool>()), 1..12),
            holes in prop::collection::vec((0u64..1 << 24, 1u64..1 << 20), 0..8),
        ) {
            let map: std::vec::Vec<Region> = regions.iter().map(|&(s, l, u)| Region {
                range: Range::with_len(Maddr(s), l),
                kind: if u { RegionKind::Usable } else { RegionKind::Reserved },
            }).collect();
            let holes: std::vec::Vec<Range> = holes.iter().map(|&(s, l)| Range::with_len(Maddr(s), l)).collect();
            let got = usable_ranges(&map, &holes).unwrap();
            for (i, r) in got.iter().enumerate() {
                prop_assert!(!r.is_empty());
                prop_assert_eq!(r.start.page_offset(), 0);
                prop_assert_eq!(r.end.page_offset(), 0);
                if i > 0 { prop_assert!(got[i - 1].end <= r.start); }
                for m in map.iter().filter(|m| m.kind != RegionKind::Usable) {
                    prop_assert!(!r.overlaps(&m.range));
                }
                for h in &holes { prop_assert!(!r.overlaps(h)); }
                // Each byte sample is covered by some usable region.
                for a in [r.start, Maddr(r.end.0 - 1)] {
                    prop_assert!(map.iter().any(|m| m.kind == RegionKind::Usable && m.range.contains(a)));
                }
            }
        }
    }
}
