//! x86-64 4-level page tables of the hypervisor's own address space, built in frames from the
//! frame allocator and reached through the physical window (the boot map, then the direct map).

use super::{alloc_frame_below, phys_to_virt};
use x86_64::structures::paging::PageTableFlags as F;
use xen_abi::Maddr;

/// Flags of an intermediate (non-leaf) entry: present and writable; leaves decide the rest.
const TABLE: F = F::PRESENT.union(F::WRITABLE);

/// Why a mapping failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame for a page table.
    OutOfFrames,
    /// The address is not aligned to the page size asked for.
    Misaligned,
    /// A large page already maps the address where a table is needed.
    HugeInTheWay,
}

/// A tree of page tables rooted at an L4 frame.
#[derive(Debug)]
pub struct AddressSpace {
    root: Maddr,
}

fn entries(table_pa: Maddr) -> *mut u64 {
    phys_to_virt(table_pa) as *mut u64
}

/// Frames for page tables are taken below this address so the boot window (the first GiB) can
/// reach them before the direct map exists, and so an AP's 32-bit `mov cr3` can load an L4.
pub const TABLE_FRAME_LIMIT: Maddr = Maddr(1 << 30);

fn zeroed_frame() -> Result<Maddr, MapError> {
    let pa = alloc_frame_below(TABLE_FRAME_LIMIT)
        .ok_or(MapError::OutOfFrames)?
        .maddr();
    // SAFETY: the frame was just allocated, so nothing else refers to it, and the physical window
    // maps all of it writable.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa), 0, 4096) };
    Ok(pa)
}

impl AddressSpace {
    /// An empty address space.
    pub fn new() -> Result<AddressSpace, MapError> {
        Ok(AddressSpace {
            root: zeroed_frame()?,
        })
    }

    /// Physical address of the L4 (the CR3 value).
    pub fn root(&self) -> Maddr {
        self.root
    }

    /// Reads L4 entry `slot` (for copying the hypervisor's slots into other L4s).
    pub fn l4_entry(&self, slot: usize) -> u64 {
        assert!(slot < 512, "L4 slot index below 512");
        // SAFETY: `root` is a page-table frame this space owns, mapped by the physical window.
        unsafe { entries(self.root).add(slot).read_volatile() }
    }

    /// Returns the table the entry at `table[index]` points to, creating it if absent. With
    /// `user`, the entry also gets the U bit (for the guest-readable M2P window).
    fn next_table(table_pa: Maddr, index: usize, user: bool) -> Result<Maddr, MapError> {
        // SAFETY: `table_pa` is a page-table frame of this space; index < 512 (callers mask it).
        let slot = unsafe { entries(table_pa).add(index) };
        // SAFETY: as above; the hypervisor's tables are only edited by one CPU at a time (boot).
        let e = unsafe { slot.read_volatile() };
        if e & F::PRESENT.bits() != 0 {
            if e & F::HUGE_PAGE.bits() != 0 {
                return Err(MapError::HugeInTheWay);
            }
            if user && e & F::USER_ACCESSIBLE.bits() == 0 {
                // SAFETY: as above.
                unsafe { slot.write_volatile(e | F::USER_ACCESSIBLE.bits()) };
            }
            return Ok(Maddr(e & 0x000f_ffff_ffff_f000));
        }
        let new = zeroed_frame()?;
        let flags = if user {
            TABLE | F::USER_ACCESSIBLE
        } else {
            TABLE
        };
        // SAFETY: as above.
        unsafe { slot.write_volatile(new.0 | flags.bits()) };
        Ok(new)
    }

    fn walk_to(&mut self, va: u64, level: u32, user: bool) -> Result<Maddr, MapError> {
        let mut table = self.root;
        let mut l = 4;
        while l > level {
            let index = ((va >> (12 + 9 * (l - 1))) & 511) as usize;
            table = Self::next_table(table, index, user)?;
            l -= 1;
        }
        Ok(table)
    }

    fn set(&mut self, va: u64, level: u32, value: u64) -> Result<(), MapError> {
        let table = self.walk_to(va, level, value & F::USER_ACCESSIBLE.bits() != 0)?;
        let index = ((va >> (12 + 9 * (level - 1))) & 511) as usize;
        // SAFETY: `table` is a page-table frame of this space and `index` < 512.
        unsafe { entries(table).add(index).write_volatile(value) };
        Ok(())
    }

    /// Maps the 4 KiB page at `va` to `pa` with `flags` (PRESENT is added).
    pub fn map_4k(&mut self, va: u64, pa: Maddr, flags: F) -> Result<(), MapError> {
        if va & 0xfff != 0 || pa.page_offset() != 0 {
            return Err(MapError::Misaligned);
        }
        self.set(va, 1, pa.0 | (flags | F::PRESENT).bits())
    }

    /// Maps the 2 MiB page at `va` to `pa`.
    pub fn map_2m(&mut self, va: u64, pa: Maddr, flags: F) -> Result<(), MapError> {
        if va & 0x1f_ffff != 0 || pa.0 & 0x1f_ffff != 0 {
            return Err(MapError::Misaligned);
        }
        self.set(va, 2, pa.0 | (flags | F::PRESENT | F::HUGE_PAGE).bits())
    }

    /// Maps `[pa, pa + len)` at `va` with 2 MiB pages (both ends rounded out to 2 MiB).
    pub fn map_range_2m(&mut self, va: u64, pa: Maddr, len: u64, flags: F) -> Result<(), MapError> {
        let start = pa.0 & !0x1f_ffff;
        let end = (pa.0 + len).next_multiple_of(0x20_0000);
        let mut p = start;
        while p < end {
            self.map_2m(va + (p - pa.0), Maddr(p), flags)?;
            p += 0x20_0000;
        }
        Ok(())
    }

    /// Maps `[pa, pa + len)` at `va` with 4 KiB pages (`len` rounded up to pages).
    pub fn map_range_4k(&mut self, va: u64, pa: Maddr, len: u64, flags: F) -> Result<(), MapError> {
        let mut off = 0;
        while off < len {
            self.map_4k(va + off, pa + off, flags)?;
            off += 4096;
        }
        Ok(())
    }

    /// Makes sure L4 slot `slot` points at an L3 table, so every address space that copies this
    /// L4 entry sees what is mapped under it later.
    pub fn ensure_l4_slot(&mut self, slot: usize) -> Result<(), MapError> {
        Self::next_table(self.root, slot & 511, false).map(|_| ())
    }

    /// Physical address `va` maps to, walking the tables (large pages included).
    pub fn translate(&self, va: u64) -> Option<Maddr> {
        let mut table = self.root;
        for level in (1..=4u32).rev() {
            let shift = 12 + 9 * (level - 1);
            let index = ((va >> shift) & 511) as usize;
            // SAFETY: `table` is a page-table frame reachable from this space's root.
            let e = unsafe { entries(table).add(index).read_volatile() };
            if e & F::PRESENT.bits() == 0 {
                return None;
            }
            let addr = e & 0x000f_ffff_ffff_f000;
            if level == 1 || e & F::HUGE_PAGE.bits() != 0 {
                let mask = (1u64 << shift) - 1;
                return Some(Maddr((addr & !mask) | (va & mask)));
            }
            table = Maddr(addr);
        }
        None
    }
}
