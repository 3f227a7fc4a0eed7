//! Memory management: the frame allocator, the hypervisor's page tables and direct map, the heap.

pub mod frame;
pub mod guest;
pub mod memmap;
pub mod paging;
pub mod typing;

#[cfg(target_os = "none")]
mod heap;

use crate::boot::BootInfo;
use crate::layout::{self, percpu, DIRECT_MAP_BASE, KERNEL_VIRT_BASE, PERCPU_BASE, PERCPU_STRIDE};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use frame::FrameBitmap;
use memmap::Range;
use paging::{AddressSpace, MapError};
use x86_64::structures::paging::PageTableFlags as F;
use xen_abi::{Maddr, Mfn};

/// Virtual address of physical address 0: the boot window (first GiB at `KERNEL_VIRT_BASE`) until
/// the direct map is live, then `DIRECT_MAP_BASE`.
static RAM_FRAMES: AtomicU64 = AtomicU64::new(0);

/// Frames below the top of RAM (the extent of the direct map).
pub fn ram_frames() -> u64 {
    RAM_FRAMES.load(Ordering::Relaxed)
}

static WINDOW: AtomicU64 = AtomicU64::new(KERNEL_VIRT_BASE);

/// The firmware memory map as the bootloader gave it (for `XENMEM_machine_memory_map`).
static HOST_MAP: spin::Once<heapless::Vec<memmap::Region, { memmap::MAX_RANGES }>> =
    spin::Once::new();

/// The firmware memory map, once `init` has run.
pub fn host_map() -> &'static [memmap::Region] {
    HOST_MAP.get().map_or(&[], |v| v.as_slice())
}

static FRAME_TABLE: spin::Once<&'static [typing::FrameInfo]> = spin::Once::new();

/// `pv-linear-pt` (Xen's `opt_pv_linear_pt`): linear page tables allowed. Set once at boot,
/// before any domain exists.
static PV_LINEAR_PT: AtomicBool = AtomicBool::new(true);

/// Allows or refuses linear page tables (the `pv-linear-pt` option).
pub fn set_pv_linear_pt(on: bool) {
    PV_LINEAR_PT.store(on, Ordering::Relaxed);
}

/// Frame contents through the direct map, for the frame table's validation code.
#[derive(Clone, Copy, Debug)]
pub struct DirectMem;

impl typing::PtMemory for DirectMem {
    fn read(&self, mfn: Mfn, index: usize) -> u64 {
        guest::frame_read_u64(mfn, index * 8).unwrap_or(0)
    }
    fn write(&self, mfn: Mfn, index: usize, value: u64) {
        let _ = guest::frame_write_u64(mfn, index * 8, value);
    }
    fn xen_l4_entry(&self, slot: usize) -> u64 {
        kernel_l4_entry(slot)
    }
    fn freed(&self, mfn: Mfn) {
        guest::m2p_set(mfn, guest::INVALID_M2P_ENTRY);
        if let Some(slot) = FREE_BATCH.get(this_cpu()) {
            let mut g = slot.lock();
            if let Some(batch) = g.as_mut() {
                if batch.push(mfn).is_ok() {
                    return;
                }
                // Full: this batch goes now, and the frame starts the next one.
                let full = core::mem::take(batch);
                let _ = batch.push(mfn);
                drop(g);
                free_after_shootdown(&full);
                return;
            }
        }
        // No CPU may keep a stale mapping of a frame that goes to someone else.
        free_after_shootdown(&[mfn]);
    }
    fn io_allowed(&self, mfn: Mfn) -> bool {
        // Within the physical address width (the hardware domain's `iomem_caps` end there:
        // past it a frame number sets reserved bits), but the IO-APIC and the local APIC with
        // the MSI window.
        let bits = u32::from(crate::arch::x86_64::cpu::phys_addr_bits());
        mfn.0 >> bits.saturating_sub(12) == 0
            && !(mfn == Mfn(0xfec00) || (Mfn(0xfee00)..=Mfn(0xfeeff)).contains(&mfn))
    }
    fn io_read_only(&self, mfn: Mfn) -> bool {
        // The HPET, which dom0's ACPI tables read: read-only, as Xen puts it in
        // `mmio_ro_ranges`.
        mfn == Mfn(0xfed00)
    }
    fn flush_tlbs(&self) {
        #[cfg(target_os = "none")]
        crate::sched::shootdown();
    }
    fn pv_linear_pt(&self) -> bool {
        PV_LINEAR_PT.load(Ordering::Relaxed)
    }
}

/// Frames a batch holds before it is freed (one shootdown per this many frees at most): 4 KiB
/// a CPU, and nothing allocated while a frame is freed.
const FREE_BATCH_LEN: usize = 512;

/// Frames freed on a CPU while [`batch_frees`] runs there: they go back to the allocator
/// after one TLB shootdown for each [`FREE_BATCH_LEN`] of them, not one each.
static FREE_BATCH: [spin::Mutex<Option<heapless::Vec<Mfn, FREE_BATCH_LEN>>>; layout::MAX_CPUS] =
    [const { spin::Mutex::new(None) }; layout::MAX_CPUS];

fn this_cpu() -> usize {
    crate::arch::x86_64::percpu::cpu_index() as usize
}

/// No CPU may keep a stale mapping of a frame that goes to someone else: one shootdown, then
/// `frames` back to the allocator.
fn free_after_shootdown(frames: &[Mfn]) {
    if frames.is_empty() {
        return;
    }
    typing::PtMemory::flush_tlbs(&DirectMem);
    for &m in frames {
        let _ = free_frame(m);
    }
}

/// Runs `f` with the frames it frees held back, [`FREE_BATCH_LEN`] at a time, each batch
/// freed after one TLB shootdown (a domain's teardown frees thousands of frames per slice, and
/// a shootdown per frame was most of its cost). Nothing else runs on this CPU meanwhile (the
/// hypervisor is not preempted), so only `f`'s frees are held; a nested call joins the batch.
pub fn batch_frees<R>(f: impl FnOnce() -> R) -> R {
    let Some(slot) = FREE_BATCH.get(this_cpu()) else {
        return f();
    };
    {
        let mut s = slot.lock();
        if s.is_some() {
            drop(s);
            return f();
        }
        *s = Some(heapless::Vec::new());
    }
    let r = f();
    let frames = slot.lock().take().unwrap_or_default();
    free_after_shootdown(&frames);
    r
}

/// The frame table (empty before `init`).
pub fn frame_table() -> typing::FrameTable<'static, DirectMem> {
    typing::FrameTable {
        frames: FRAME_TABLE.get().copied().unwrap_or(&[]),
        mem: DirectMem,
    }
}

static FRAMES: spin::Mutex<Option<FrameBitmap<'static>>> = spin::Mutex::new(None);
static KERNEL_SPACE: spin::Mutex<Option<AddressSpace>> = spin::Mutex::new(None);

/// A pointer to physical address `pa` through the current physical window.
pub fn phys_to_virt(pa: Maddr) -> *mut u8 {
    (WINDOW.load(Ordering::Relaxed) + pa.0) as *mut u8
}

/// Contiguous frames the hypervisor owns, seen as bytes through the direct map (an unpacked
/// kernel image, say), given back to the allocator when dropped.
pub struct FrameBuffer {
    first: Mfn,
    frames: u64,
    len: usize,
}

impl FrameBuffer {
    /// `len` zeroed bytes in fresh frames, or `None` if no run of frames that long is free.
    pub fn alloc(len: usize) -> Option<FrameBuffer> {
        let frames = (len as u64).div_ceil(4096).max(1);
        let first = alloc_contiguous_zeroed(frames, Mfn(ram_frames()).maddr())?;
        Some(FrameBuffer { first, frames, len })
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the frames were allocated for this buffer alone (`alloc`) and stay allocated
        // until it is dropped; the direct map covers RAM; `len` fits in `frames` pages.
        unsafe { core::slice::from_raw_parts(phys_to_virt(self.first.maddr()), self.len) }
    }

    /// The bytes, to fill.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only view.
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(self.first.maddr()), self.len) }
    }
}

impl Drop for FrameBuffer {
    fn drop(&mut self) {
        for i in 0..self.frames {
            let _ = free_frame(Mfn(self.first.0 + i));
        }
    }
}

/// One free frame wholly below physical address `limit`.
pub fn alloc_frame_below(limit: Maddr) -> Option<Mfn> {
    FRAMES.lock().as_mut()?.alloc_below(limit.mfn())
}

/// One free frame anywhere.
pub fn alloc_frame() -> Option<Mfn> {
    alloc_frame_below(Maddr(u64::MAX))
}

/// Returns a frame to the allocator.
pub fn free_frame(mfn: Mfn) -> Result<(), frame::FrameError> {
    FRAMES
        .lock()
        .as_mut()
        .ok_or(frame::FrameError::OutOfRange(mfn))?
        .free(mfn)
}

/// True if frame `mfn` is free in the allocator.
pub fn frame_is_free(mfn: Mfn) -> bool {
    FRAMES.lock().as_ref().is_some_and(|b| b.is_free(mfn))
}

/// Number of free frames.
pub fn free_frames() -> u64 {
    FRAMES.lock().as_ref().map_or(0, FrameBitmap::free_count)
}

/// What memory initialisation found, for the banner.
#[derive(Clone, Copy, Debug)]
pub struct MemInfo {
    /// Bytes of usable RAM in the firmware map.
    pub total_usable: u64,
    /// Frames free after the hypervisor took what it needs at boot.
    pub free_frames: u64,
    /// Bytes of heap.
    pub heap_bytes: u64,
    /// One past the highest RAM byte (the extent of the direct map).
    pub ram_top: Maddr,
}

/// Why memory could not be set up.
#[derive(Clone, Copy, Debug)]
pub enum MmError {
    /// The memory map had more ranges than Ferrite keeps.
    MemMap(memmap::MemMapError),
    /// No room below 1 GiB for the frame bitmap.
    NoRoomForBitmap,
    /// Building a page table failed.
    Map(MapError),
    /// No contiguous room for the heap.
    NoRoomForHeap,
}

impl From<MapError> for MmError {
    fn from(e: MapError) -> Self {
        MmError::Map(e)
    }
}

extern "C" {
    static __image_phys_start: u8;
    static __image_phys_end: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
}

fn sym(s: &u8) -> u64 {
    s as *const u8 as u64
}

/// The physical range the hypervisor image (including its boot code and tables) occupies.
pub fn image_range() -> Range {
    // SAFETY: linker-script symbols; only their addresses are used, never their contents.
    unsafe {
        Range::new(
            Maddr(sym(&__image_phys_start)),
            Maddr(sym(&__image_phys_end)),
        )
    }
}

const HEAP_BYTES_MAX: u64 = 32 << 20;

/// Sets up the frame allocator over the usable memory map, builds the hypervisor's page tables
/// (direct map of all RAM, W^X image) and switches to them, then starts the heap.
pub fn init(boot: &BootInfo) -> Result<MemInfo, MmError> {
    HOST_MAP.call_once(|| boot.regions.iter().copied().collect());
    let mut reserved: heapless::Vec<Range, 24> = heapless::Vec::new();
    // The first MiB: real-mode IVT/BDA/EBDA, the AP trampoline page and the BIOS.
    let _ = reserved.push(Range::new(Maddr(0), Maddr(0x10_0000)));
    let _ = reserved.push(image_range());
    let _ = reserved.push(boot.mbi);
    for m in &boot.modules {
        let _ = reserved.push(m.range);
    }
    let usable = memmap::usable_ranges(&boot.regions, &reserved).map_err(MmError::MemMap)?;
    let total_usable = memmap::total_usable(&boot.regions).map_err(MmError::MemMap)?;
    let ram_top = memmap::ram_top(&boot.regions).max(Maddr(0x20_0000));

    // The bitmap goes at the start of the first usable range below 1 GiB that holds it.
    let nframes = ram_top.mfn_up().0;
    let bitmap_bytes = (frame::words_for(nframes) as u64 * 8).next_multiple_of(4096);
    let bitmap_pa = usable
        .iter()
        .find(|r| r.len() >= bitmap_bytes && r.start + bitmap_bytes <= paging::TABLE_FRAME_LIMIT)
        .map(|r| r.start)
        .ok_or(MmError::NoRoomForBitmap)?;
    // SAFETY: `[bitmap_pa, +bitmap_bytes)` is usable RAM below 1 GiB that nothing else uses (it
    // is excluded from the allocator just below), mapped writable by the boot window; the slice
    // lives until `relocate_bitmap` replaces it with the direct-map view of the same frames.
    let words = unsafe {
        core::slice::from_raw_parts_mut(
            phys_to_virt(bitmap_pa).cast::<u64>(),
            frame::words_for(nframes),
        )
    };
    let mut bitmap = FrameBitmap::new(words, nframes);
    for r in &usable {
        bitmap.add_free_range(*r);
    }
    bitmap.reserve_range(Range::with_len(bitmap_pa, bitmap_bytes));
    *FRAMES.lock() = Some(bitmap);

    let mut space = AddressSpace::new()?;
    // Direct map of every RAM-like region, and the first 2 MiB (BIOS data, ACPI RSDP).
    let nx_rw = F::WRITABLE | F::NO_EXECUTE | F::GLOBAL;
    space.map_range_2m(DIRECT_MAP_BASE, Maddr(0), 0x20_0000, nx_rw)?;
    for r in boot
        .regions
        .iter()
        .filter(|r| r.kind != memmap::RegionKind::Reserved)
    {
        let start = r.range.start.0;
        space.map_range_2m(
            DIRECT_MAP_BASE + (start & !0x1f_ffff),
            Maddr(start & !0x1f_ffff),
            r.range.len() + (start & 0x1f_ffff),
            nx_rw,
        )?;
    }
    // The image, W^X: text RX, rodata R, data+bss RW NX. The sections are linked at virtual
    // addresses `KERNEL_VIRT_BASE` above where they lie.
    // SAFETY: linker-script symbols; only their addresses are used.
    let (text, rodata, data) = unsafe {
        (
            (sym(&__text_start), sym(&__text_end)),
            (sym(&__rodata_start), sym(&__rodata_end)),
            (sym(&__data_start), sym(&__data_end)),
        )
    };
    for ((start, end), flags) in [
        (text, F::GLOBAL),
        (rodata, F::NO_EXECUTE | F::GLOBAL),
        (data, F::WRITABLE | F::NO_EXECUTE | F::GLOBAL),
    ] {
        let len = end.saturating_sub(start);
        space.map_range_4k(start, Maddr(start - KERNEL_VIRT_BASE), len, flags)?;
    }
    // Every hypervisor L4 slot gets its L3 now, so guest L4s can copy the slots once.
    for slot in layout::l4_slot(layout::HYPERVISOR_VIRT_START)
        ..=layout::l4_slot(layout::HYPERVISOR_VIRT_END - 1)
    {
        space.ensure_l4_slot(slot)?;
    }
    // The M2P: one u64 per machine frame, guest-readable (read-only, NX) at MACH2PHYS_VIRT_START.
    let m2p_bytes = (nframes * 8).next_multiple_of(4096);
    let m2p_first = FRAMES
        .lock()
        .as_mut()
        .and_then(|b| b.alloc_contiguous(m2p_bytes / 4096, 1, Mfn(u64::MAX)))
        .ok_or(MmError::NoRoomForHeap)?;
    space.map_range_4k(
        layout::M2P_VIRT_START,
        m2p_first.maddr(),
        m2p_bytes,
        F::USER_ACCESSIBLE | F::NO_EXECUTE,
    )?;
    // SAFETY: the new kernel space maps the image, the stacks and the per-CPU areas at the
    // addresses the boot tables used.
    unsafe { crate::arch::x86_64::cpu::load_cr3(space.root()) };
    WINDOW.store(DIRECT_MAP_BASE, Ordering::SeqCst);
    relocate_bitmap(bitmap_pa, nframes);
    RAM_FRAMES.store(nframes, Ordering::Relaxed);
    // SAFETY: the M2P frames were just allocated for it alone and are direct-mapped.
    unsafe { core::ptr::write_bytes(phys_to_virt(m2p_first.maddr()), 0xff, m2p_bytes as usize) };
    guest::set_m2p(m2p_first.maddr(), nframes);
    *KERNEL_SPACE.lock() = Some(space);

    // The frame table: owner, counts and type of every frame up to the top of RAM.
    let ft_bytes =
        (nframes * core::mem::size_of::<typing::FrameInfo>() as u64).next_multiple_of(4096);
    let ft_first = FRAMES
        .lock()
        .as_mut()
        .and_then(|b| b.alloc_contiguous(ft_bytes / 4096, 1, Mfn(u64::MAX)))
        .ok_or(MmError::NoRoomForHeap)?;
    // SAFETY: the frames were just allocated for the frame table alone and are direct-mapped;
    // zeroed they would not be valid `FrameInfo`s, so each is written before the slice exists.
    let table = unsafe {
        let p = phys_to_virt(ft_first.maddr()).cast::<typing::FrameInfo>();
        for i in 0..nframes as usize {
            p.add(i).write(typing::FrameInfo::new());
        }
        core::slice::from_raw_parts(p, nframes as usize)
    };
    FRAME_TABLE.call_once(|| table);
    // What the firmware does not call RAM is I/O space (a domain with I/O privilege may map
    // it); RAM the hypervisor keeps (its image, tables, modules) stays unowned: unmappable.
    let ft = frame_table();
    for mfn in (0..nframes).map(Mfn) {
        let pa = mfn.maddr();
        let ram = boot.regions.iter().any(|r| {
            r.kind == memmap::RegionKind::Usable && r.range.start <= pa && pa + 4096 <= r.range.end
        });
        if !ram {
            ft.mark_io(mfn);
        }
    }
    // The first MiB (BIOS areas, VGA) is I/O space too, as Xen treats it.
    for mfn in (0..0x100).map(Mfn) {
        ft.mark_io(mfn);
    }

    let heap_bytes = heap_init(total_usable)?;
    Ok(MemInfo {
        total_usable,
        free_frames: free_frames(),
        heap_bytes,
        ram_top,
    })
}

fn relocate_bitmap(bitmap_pa: Maddr, nframes: u64) {
    let mut guard = FRAMES.lock();
    if let Some(bm) = guard.as_mut() {
        // SAFETY: the same frames as before, now reached through the direct map; the old slice is
        // dropped by the assignment below, so only one mutable view exists at a time.
        let words = unsafe {
            core::slice::from_raw_parts_mut(
                phys_to_virt(bitmap_pa).cast::<u64>(),
                frame::words_for(nframes),
            )
        };
        bm.rebase(words);
    }
}

fn heap_init(total_usable: u64) -> Result<u64, MmError> {
    let bytes = (total_usable / 16)
        .clamp(1 << 20, HEAP_BYTES_MAX)
        .next_multiple_of(4096);
    let first = FRAMES
        .lock()
        .as_mut()
        .and_then(|b| b.alloc_contiguous(bytes / 4096, 1, Mfn(u64::MAX)))
        .ok_or(MmError::NoRoomForHeap)?;
    #[cfg(target_os = "none")]
    // SAFETY: the frames were just allocated for the heap alone and are mapped by the direct map.
    unsafe {
        heap::init(phys_to_virt(first.maddr()), bytes as usize)
    };
    #[cfg(not(target_os = "none"))]
    let _ = first;
    Ok(bytes)
}

/// Maps CPU `cpu`'s per-CPU area: its data pages, the reserved GDT page, IST stacks and stack,
/// leaving guard pages between them. Returns the area's base address.
pub fn map_percpu_area(cpu: usize) -> Result<u64, MmError> {
    let base = PERCPU_BASE + cpu as u64 * PERCPU_STRIDE;
    let mut guard = KERNEL_SPACE.lock();
    let space = guard.as_mut().ok_or(MmError::Map(MapError::OutOfFrames))?;
    let flags = F::WRITABLE | F::NO_EXECUTE | F::GLOBAL;
    // The guest part of the GDT window shows the zero page until a guest GDT is installed.
    let zero = *ZERO_PAGE.call_once(|| {
        let pa = alloc_frame().map_or(Maddr(0), Mfn::maddr);
        // SAFETY: a frame just allocated, reached through the direct map.
        unsafe { core::ptr::write_bytes(phys_to_virt(pa), 0, 4096) };
        pa
    });
    if zero == Maddr(0) {
        return Err(MmError::Map(MapError::OutOfFrames));
    }
    for i in 0..14 {
        space.map_4k(
            base + percpu::GDT + i * 4096,
            zero,
            F::NO_EXECUTE | F::GLOBAL,
        )?;
    }
    for i in 0..16 {
        space.map_4k(
            base + percpu::LDT + i * 4096,
            zero,
            F::NO_EXECUTE | F::GLOBAL,
        )?;
    }
    let ranges = [
        (percpu::DATA, percpu::DATA + percpu::DATA_SIZE),
        (percpu::GDT_RESERVED_PAGE, percpu::GDT_RESERVED_PAGE + 4096),
        percpu::IST_DF,
        percpu::IST_NMI,
        percpu::IST_MC,
        percpu::IST_DB,
        percpu::STACK,
    ];
    for (lo, hi) in ranges {
        let mut off = lo;
        while off < hi {
            let pa = alloc_frame()
                .ok_or(MmError::Map(MapError::OutOfFrames))?
                .maddr();
            // SAFETY: a frame just allocated, reached through the direct map.
            unsafe { core::ptr::write_bytes(phys_to_virt(pa), 0, 4096) };
            space.map_4k(base + off, pa, flags)?;
            off += 4096;
        }
    }
    Ok(base)
}

/// `count` contiguous zeroed frames aligned to `count`, all below physical address `below`:
/// the first frame.
pub fn alloc_contiguous_zeroed(count: u64, below: Maddr) -> Option<Mfn> {
    let first =
        FRAMES
            .lock()
            .as_mut()?
            .alloc_contiguous(count, count.next_power_of_two(), below.mfn())?;
    // SAFETY: the frames were just allocated for the caller alone and are direct-mapped.
    unsafe { core::ptr::write_bytes(phys_to_virt(first.maddr()), 0, (count * 4096) as usize) };
    Some(first)
}

/// A page of zeros, shown read-only wherever the hypervisor needs "nothing here" (address 0
/// if it could not be allocated).
static ZERO_PAGE: spin::Once<Maddr> = spin::Once::new();

/// Shows machine frame `mfn` (a guest's validated descriptor page) as page `index` of CPU
/// `cpu`'s GDT window, writable by the CPU (it sets accessed bits), or the zero page for `None`.
pub fn set_gdt_page(cpu: usize, index: usize, mfn: Option<Mfn>) {
    set_window_page(cpu, percpu::GDT, index, mfn);
}

/// As [`set_gdt_page`], for page `index` of CPU `cpu`'s LDT window.
pub fn set_ldt_page(cpu: usize, index: usize, mfn: Option<Mfn>) {
    set_window_page(cpu, percpu::LDT, index, mfn);
}

fn set_window_page(cpu: usize, window: u64, index: usize, mfn: Option<Mfn>) {
    let va = PERCPU_BASE + cpu as u64 * PERCPU_STRIDE + window + index as u64 * 4096;
    let (pa, flags) = match mfn {
        Some(m) => (m.maddr(), F::WRITABLE | F::NO_EXECUTE | F::GLOBAL),
        None => (
            ZERO_PAGE.get().copied().unwrap_or(Maddr(0)),
            F::NO_EXECUTE | F::GLOBAL,
        ),
    };
    if let Some(space) = KERNEL_SPACE.lock().as_mut() {
        let _ = space.map_4k(va, pa, flags);
    }
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new_truncate(va));
}

/// Maps a fresh read-execute page at `va` holding `code` (a CPU's SYSCALL stub).
pub fn map_stub_page(va: u64, code: &[u8]) -> Result<(), MmError> {
    let pa = alloc_frame()
        .ok_or(MmError::Map(MapError::OutOfFrames))?
        .maddr();
    let mut page = [0xccu8; 4096];
    let n = code.len().min(4096);
    page[..n].copy_from_slice(&code[..n]);
    // SAFETY: a frame just allocated, written through the direct map before it is mapped
    // executable (never writable at `va`).
    unsafe { core::ptr::copy_nonoverlapping(page.as_ptr(), phys_to_virt(pa), 4096) };
    let mut guard = KERNEL_SPACE.lock();
    let space = guard.as_mut().ok_or(MmError::Map(MapError::OutOfFrames))?;
    space.map_4k(va, pa, F::GLOBAL)?;
    Ok(())
}

/// Maps the device page holding `pa` (uncached) at a fixmap slot and returns the virtual
/// address of `pa`.
pub fn map_device_page(slot: u64, pa: Maddr) -> Result<u64, MmError> {
    let va = layout::FIXMAP_BASE + slot * 4096;
    let mut guard = KERNEL_SPACE.lock();
    let space = guard.as_mut().ok_or(MmError::Map(MapError::OutOfFrames))?;
    space.map_4k(
        va,
        pa.mfn().maddr(),
        F::WRITABLE | F::NO_EXECUTE | F::NO_CACHE | F::WRITE_THROUGH,
    )?;
    Ok(va + pa.page_offset() as u64)
}

/// The L4 of the hypervisor's address space.
pub fn kernel_root() -> Maddr {
    KERNEL_SPACE
        .lock()
        .as_ref()
        .map_or(Maddr(0), AddressSpace::root)
}

/// Loads the hypervisor's own address space (idle CPUs, CPUs coming up).
pub fn load_kernel_root() {
    // SAFETY: the kernel root maps the whole hypervisor at the addresses it runs at.
    unsafe { crate::arch::x86_64::cpu::load_cr3(kernel_root()) }
}

/// Loads a guest L4 (a vCPU's kernel or user page table). Only a frame the frame table holds
/// as a validated L4 is loaded — validation puts the hypervisor's slots in every L4 — so a
/// vCPU's table can never take the running hypervisor's mappings away; anything else (a bug:
/// vCPUs keep a type reference on their L4s) is logged and the hypervisor's own root loaded.
pub fn load_guest_l4(l4: xen_abi::Mfn) {
    let t = frame_table().type_state(l4);
    if t.ty == typing::PageType::L4 && t.validated && t.count > 0 {
        // SAFETY: a validated L4 carries the hypervisor's L4 slots (typing.rs `validate`).
        unsafe { crate::arch::x86_64::cpu::load_cr3(l4.maddr()) }
    } else {
        log::error!("refusing to load {l4} as a page-table root: not a validated L4 ({t:?})");
        load_kernel_root();
    }
}

/// Entry `slot` of the hypervisor's L4 (copied into every guest L4).
pub fn kernel_l4_entry(slot: usize) -> u64 {
    KERNEL_SPACE
        .lock()
        .as_ref()
        .map_or(0, |s| s.l4_entry(slot & 511))
}

/// A boot module's bytes, through the direct map (empty if the range is not below the top of
/// RAM). Modules are reserved from the allocator, so nothing else writes them.
pub fn module_slice(pa: Maddr, len: u64) -> &'static [u8] {
    if pa
        .0
        .checked_add(len)
        .is_none_or(|end| end > Mfn(ram_frames()).addr())
    {
        return &[];
    }
    // SAFETY: the range is RAM (checked) that the allocator never hands out (modules are
    // reserved at boot) and nothing writes, so a shared slice for the rest of the run is sound.
    unsafe { core::slice::from_raw_parts(phys_to_virt(pa), len as usize) }
}

/// Copies `buf.len()` bytes from physical address `pa` (through the direct map).
pub fn read_phys(pa: Maddr, buf: &mut [u8]) {
    // SAFETY: callers pass RAM or ACPI ranges, which the direct map covers; reads have no side
    // effects there. The copy does not overlap `buf`, which is hypervisor memory.
    unsafe { core::ptr::copy_nonoverlapping(phys_to_virt(pa), buf.as_mut_ptr(), buf.len()) };
}
