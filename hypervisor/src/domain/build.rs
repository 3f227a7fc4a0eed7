//! The PV domain builder: a domain from a kernel image (and optional initrd), following Xen's
//! x86-64 PV start-of-day contract (`xen.h`, `dom0_construct`, libxenguest): memory, the image
//! placed by `p_paddr`, p2m list, `start_info`, bootstrap page tables with the hypervisor's L4
//! slots, the boot stack, the hypercall page, `shared_info`, and vCPU 0's initial registers.

use super::{Callback, Domain, DomainState, TrapEntry, Vcpu, VcpuState};
use crate::arch::x86_64::guest::{FpuState, SegmentState};
use crate::arch::x86_64::idt::TrapFrame;
use crate::layout::{selectors, HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};
use crate::mm::guest::{alloc_zeroed, frame_write, frame_write_u64, m2p_set, FrameAccessError};
use crate::mm::typing::{l1_table_offset, PageType};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kernel_image::elf::{self, ElfError, XenImage};
use kernel_image::layout::{self, Layout, LayoutError, PAGE};
use xen_abi::xen::{SifFlags, StartInfo, StartInfoConsole, MAX_GUEST_CMDLINE};
use xen_abi::{DomId, Mfn, Pfn, Port, VcpuId};
use zerocopy::IntoBytes;

/// What to build.
#[derive(Debug)]
pub struct BuildSpec<'a> {
    /// Domain id.
    pub id: DomId,
    /// Name.
    pub name: &'a str,
    /// The initial domain (dom0): `SIF_PRIVILEGED | SIF_INITDOMAIN`.
    pub privileged: bool,
    /// The kernel: an ELF, or a bzImage whose payload is unpacked first.
    pub kernel: &'a [u8],
    /// Its command line.
    pub cmdline: &'a str,
    /// The initrd, if any.
    pub initrd: Option<&'a [u8]>,
    /// Memory in pages.
    pub nr_pages: u64,
    /// The most pages it may hold (`XENMEM_maximum_reservation`; ballooning up stops there).
    pub max_pages: u64,
    /// vCPUs.
    pub vcpus: u32,
    /// Physical CPUs to place vCPUs on, round-robin from `first_pcpu`.
    pub pcpus: usize,
    /// First physical CPU.
    pub first_pcpu: usize,
}

/// Why a domain could not be built.
#[derive(Clone, Copy, Debug)]
pub enum BuildError {
    /// The kernel image was refused.
    Elf(ElfError),
    /// The layout does not fit.
    Layout(LayoutError),
    /// Out of machine memory.
    OutOfMemory,
    /// An internal frame access failed.
    Frame(FrameAccessError),
    /// Zero vCPUs or more than the 32 `shared_info` has room for.
    BadVcpuCount(u32),
    /// The bootstrap page tables failed validation (a builder bug).
    Typing(xen_abi::Errno),
    /// The kernel module is neither an ELF nor a bzImage Ferrite can unpack.
    Image(kernel_image::ImageError),
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BuildError::Image(e) => write!(f, "kernel image: {e}"),
            BuildError::Elf(e) => write!(f, "kernel ELF: {e:?}"),
            BuildError::Layout(e) => write!(f, "layout: {e:?}"),
            BuildError::OutOfMemory => write!(f, "out of memory"),
            BuildError::Frame(e) => write!(f, "frame access: {e:?}"),
            BuildError::BadVcpuCount(n) => write!(f, "{n} vCPUs (1 to 32)"),
            BuildError::Typing(e) => write!(f, "bootstrap page tables refused: {e:?}"),
        }
    }
}

/// The kernel ELF of a module: the module itself, or its bzImage payload unpacked into frames
/// of the hypervisor's that go back when the build is done (Xen's `bzimage_parse`).
enum Kernel<'a> {
    Elf(&'a [u8]),
    Unpacked(crate::mm::FrameBuffer),
}

/// The frames unpacking a kernel module keeps while its domain is built (the unpacked ELF of a
/// bzImage; the decoder's dictionary is given back before the domain's memory is taken).
pub fn unpack_frames(module: &[u8]) -> u64 {
    match kernel_image::probe(module) {
        Ok(kernel_image::Image::BzImage { unpacked_len, .. }) => {
            (unpacked_len as u64).div_ceil(4096)
        }
        _ => 0,
    }
}

impl<'a> Kernel<'a> {
    fn from_module(module: &'a [u8], id: DomId) -> Result<Kernel<'a>, BuildError> {
        use kernel_image::Image;
        match kernel_image::probe(module).map_err(BuildError::Image)? {
            Image::Elf(e) => Ok(Kernel::Elf(e)),
            Image::BzImage {
                payload,
                compression,
                unpacked_len,
            } => {
                let mut buf =
                    crate::mm::FrameBuffer::alloc(unpacked_len).ok_or(BuildError::OutOfMemory)?;
                // The decoder's dictionary, in frames too (32 MiB for Linux: more than the
                // hypervisor's heap), given back as soon as the payload is unpacked.
                let scratch_len =
                    kernel_image::scratch_len(payload, compression).map_err(BuildError::Image)?;
                let mut scratch =
                    crate::mm::FrameBuffer::alloc(scratch_len).ok_or(BuildError::OutOfMemory)?;
                let t0 = crate::time::now();
                kernel_image::unpack(
                    payload,
                    compression,
                    buf.as_mut_slice(),
                    scratch.as_mut_slice(),
                )
                .map_err(BuildError::Image)?;
                drop(scratch);
                log::info!(
                    "d{}: unpacked the bzImage's {compression:?} payload: {} KiB to {} KiB in {} ms",
                    id.0,
                    payload.len() / 1024,
                    unpacked_len / 1024,
                    crate::time::now().saturating_sub(t0) / 1_000_000
                );
                Ok(Kernel::Unpacked(buf))
            }
        }
    }

    fn elf(&self) -> &[u8] {
        match self {
            Kernel::Elf(e) => e,
            Kernel::Unpacked(b) => b.as_slice(),
        }
    }
}

impl From<FrameAccessError> for BuildError {
    fn from(e: FrameAccessError) -> Self {
        BuildError::Frame(e)
    }
}

/// L1 flags of an ordinary page: present, writable, user, accessed.
const L1_RW: u64 = 0x1 | 0x2 | 0x4 | 0x20;
/// L1 flags of a bootstrap page-table page: present, user, accessed (read-only).
const L1_RO: u64 = 0x1 | 0x4 | 0x20;
/// Flags of upper-level entries: present, writable, user, accessed, dirty.
const UPPER: u64 = 0x1 | 0x2 | 0x4 | 0x20 | 0x40;

/// The machine frame behind guest frame `pfn`.
fn p2m_lookup(p2m: &[Mfn], pfn: Pfn) -> Option<Mfn> {
    p2m.get(usize::try_from(pfn.0).ok()?).copied()
}

struct Mem<'a> {
    p2m: &'a [Mfn],
    layout: &'a Layout,
}

impl Mem<'_> {
    fn mfn_of_va(&self, va: u64) -> Result<Mfn, BuildError> {
        p2m_lookup(self.p2m, self.layout.pfn(va)).ok_or(BuildError::Layout(LayoutError::Overflow))
    }

    /// Writes `data` at guest-virtual `va` of the initial mapping.
    fn write(&self, mut va: u64, mut data: &[u8]) -> Result<(), BuildError> {
        while !data.is_empty() {
            let off = (va % PAGE) as usize;
            let n = data.len().min(PAGE as usize - off);
            frame_write(self.mfn_of_va(va)?, off, &data[..n])?;
            data = &data[n..];
            va += n as u64;
        }
        Ok(())
    }

    fn write_pfn(&self, pfn: Pfn, data: &[u8]) -> Result<(), BuildError> {
        for (i, chunk) in data.chunks(PAGE as usize).enumerate() {
            let mfn = p2m_lookup(self.p2m, Pfn(pfn.0 + i as u64)).ok_or(BuildError::OutOfMemory)?;
            frame_write(mfn, 0, chunk)?;
        }
        Ok(())
    }
}

/// The 64-bit hypercall page (`pv_ring3_init_hypercall_page`): 128 stubs of 32 bytes.
pub fn hypercall_page() -> [u8; 4096] {
    let mut p = [0xccu8; 4096];
    for i in 0..128usize {
        let s = &mut p[i * 32..i * 32 + 32];
        let nr = (i as u32).to_le_bytes();
        if i == 23 {
            // iret: push rcx; push r11; push rax; mov $23,%eax; syscall
            s[..11].copy_from_slice(&[
                0x51, 0x41, 0x53, 0x50, 0xb8, nr[0], nr[1], nr[2], nr[3], 0x0f, 0x05,
            ]);
        } else {
            // push rcx; push r11; mov $i,%eax; syscall; pop r11; pop rcx; ret
            s[..14].copy_from_slice(&[
                0x51, 0x41, 0x53, 0xb8, nr[0], nr[1], nr[2], nr[3], 0x0f, 0x05, 0x41, 0x5b, 0x59,
                0xc3,
            ]);
        }
    }
    p
}

/// Builds the domain; on failure every frame taken is returned.
pub fn build(spec: &BuildSpec<'_>) -> Result<Arc<Domain>, BuildError> {
    if spec.vcpus == 0 || spec.vcpus as usize > xen_abi::xen::XEN_LEGACY_MAX_VCPUS {
        return Err(BuildError::BadVcpuCount(spec.vcpus));
    }
    let kernel = Kernel::from_module(spec.kernel, spec.id)?;
    let img = elf::parse(kernel.elf()).map_err(BuildError::Elf)?;
    let initrd_len = spec.initrd.map_or(0, |d| d.len() as u64);
    let lay = layout::compute(
        img.virt_base,
        img.virt_kstart,
        img.virt_kend,
        spec.nr_pages,
        initrd_len,
        img.mod_start_pfn,
        !spec.privileged,
    )
    .map_err(BuildError::Layout)?;

    let mut frames: Vec<Mfn> = Vec::new();
    let result = construct(spec, kernel.elf(), &img, &lay, &mut frames);
    if result.is_err() {
        crate::event::domain_kill(spec.id);
        crate::grant::domain_destroy(spec.id);
        let ft = crate::mm::frame_table();
        for &f in &frames {
            m2p_set(f, crate::mm::guest::INVALID_M2P_ENTRY);
            ft.clear(f);
            let _ = crate::mm::free_frame(f);
        }
    }
    result
}

fn construct(
    spec: &BuildSpec<'_>,
    elf: &[u8],
    img: &XenImage,
    lay: &Layout,
    frames: &mut Vec<Mfn>,
) -> Result<Arc<Domain>, BuildError> {
    let mut p2m = Vec::new();
    p2m.try_reserve_exact(spec.nr_pages as usize)
        .map_err(|_| BuildError::OutOfMemory)?;
    for pfn in 0..spec.nr_pages {
        let mfn = alloc_zeroed().ok_or(BuildError::OutOfMemory)?;
        frames.push(mfn);
        p2m.push(mfn);
        m2p_set(mfn, Pfn(pfn));
    }
    let shared_info = alloc_zeroed().ok_or(BuildError::OutOfMemory)?;
    frames.push(shared_info);
    let mem = Mem {
        p2m: &p2m,
        layout: lay,
    };

    // The image, placed by p_paddr.
    for s in &img.segments {
        let va = img.segment_vaddr(s);
        let bytes = elf
            .get(s.offset as usize..(s.offset + s.filesz) as usize)
            .ok_or(BuildError::Elf(ElfError::Truncated("segment")))?;
        mem.write(va, bytes)?;
    }
    // The initrd.
    let mut flags = SifFlags::empty();
    let (mut mod_start, mut mod_len) = (0u64, 0u64);
    if let Some(data) = spec.initrd {
        mod_len = data.len() as u64;
        match (lay.initrd, lay.initrd_pfn) {
            (Some((start, _)), _) => {
                mem.write(start, data)?;
                mod_start = start;
            }
            (None, Some(pfn)) => {
                mem.write_pfn(pfn, data)?;
                mod_start = pfn.0;
                flags |= SifFlags::MOD_START_PFN;
            }
            (None, None) => {}
        }
    }
    // The p2m list.
    let mut p2m_bytes = Vec::with_capacity(p2m.len() * 8);
    for m in &p2m {
        p2m_bytes.extend_from_slice(&m.0.to_le_bytes());
    }
    mem.write(lay.p2m.0, &p2m_bytes)?;

    // Bootstrap page tables.
    build_page_tables(lay, &p2m)?;

    // Hypercall page.
    if let Some(hp) = img.hypercall_page {
        mem.write(hp, &hypercall_page())?;
    }

    // start_info.
    if spec.privileged {
        flags |= SifFlags::PRIVILEGED | SifFlags::INITDOMAIN;
    }
    let mut si = StartInfo {
        magic: [0; 32],
        nr_pages: spec.nr_pages,
        shared_info: shared_info.addr(),
        flags: flags.bits(),
        _pad0: 0,
        store_mfn: Mfn(0),
        store_evtchn: Port(0),
        _pad1: 0,
        console: StartInfoConsole::dom0(0, 0),
        pt_base: lay.pt.0,
        nr_pt_frames: lay.nr_pt_pages,
        mfn_list: lay.p2m.0,
        mod_start,
        mod_len,
        cmd_line: [0; MAX_GUEST_CMDLINE],
        first_p2m_pfn: Pfn(0),
        nr_p2m_frames: 0,
    };
    si.magic[..14].copy_from_slice(b"xen-3.0-x86_64");
    let cl = spec.cmdline.as_bytes();
    let n = cl.len().min(MAX_GUEST_CMDLINE - 1);
    si.cmd_line[..n].copy_from_slice(&cl[..n]);
    let channels = crate::event::domain_create(spec.id, spec.vcpus, spec.privileged, shared_info)
        .map_err(|e| {
        log::error!("d{}: event channels: {e:?}", spec.id.0);
        BuildError::OutOfMemory
    })?;
    crate::grant::domain_create(spec.id, spec.privileged).map_err(|e| {
        log::error!("d{}: grant table: {e:?}", spec.id.0);
        BuildError::OutOfMemory
    })?;
    let mut console_ring = None;
    if let (Some(store), Some(cons)) = (lay.xenstore, lay.console) {
        si.store_mfn = mem.mfn_of_va(store)?;
        let ring = mem.mfn_of_va(cons)?;
        let (guest_port, xen_port) = channels.unwrap_or((Port(0), Port(0)));
        si.console = StartInfoConsole::domu(ring, guest_port);
        console_ring = Some((ring, xen_port));
    }
    mem.write(lay.start_info, si.as_bytes())?;

    // shared_info: every vCPU starts with events masked (xen.h: "Mask all upcalls").
    for v in 0..spec.vcpus as usize {
        frame_write(shared_info, v * 64 + 1, &[1])?;
    }

    // Ownership and types, as Xen's builder leaves them: every frame the domain's, shared_info
    // permanently writable (it can never become a page table), the bootstrap L4 pinned (which
    // validates the whole initial tree) and held by vCPU 0's kernel base pointer only: the
    // others have no page tables until `VCPUOP_initialise`, so once the kernel unpins the
    // bootstrap L4 and drops its base pointer the frames are free to be reused as Linux does.
    let ft = crate::mm::frame_table();
    let asker = crate::mm::typing::Asker {
        id: spec.id,
        io: spec.privileged,
        iomem: spec.privileged,
    };
    for &f in frames.iter() {
        ft.assign(f, spec.id);
    }
    ft.get_page_type(shared_info, PageType::Writable, asker)
        .map_err(BuildError::Typing)?;
    let l4 = mem.mfn_of_va(lay.pt.0)?;
    ft.pin(l4, PageType::L4, asker)
        .map_err(BuildError::Typing)?;
    ft.get_page_and_type(l4, PageType::L4, asker)
        .map_err(BuildError::Typing)?;

    let mut vcpus = Vec::new();
    for v in 0..spec.vcpus {
        let mut regs = TrapFrame {
            cs: u64::from(selectors::FLAT_RING3_CS64),
            ss: u64::from(selectors::FLAT_RING3_DS),
            rflags: 0x200,
            ..TrapFrame::default()
        };
        if v == 0 {
            regs.rip = img.entry;
            regs.rsp = lay.stack.1;
            regs.rsi = lay.start_info;
        }
        let state = vcpu_state(v == 0, regs, Some(l4), if v == 0 { lay.stack.1 } else { 0 });
        let pcpu = (spec.first_pcpu + v as usize) % spec.pcpus.max(1);
        vcpus.push((v, pcpu, state));
    }
    let mut name = heapless::String::new();
    for c in spec.name.chars().take(31) {
        let _ = name.push(c);
    }
    log::info!(
        "d{}: built '{}' ({} pages, {} vCPU(s)): kernel {:#x}-{:#x} entry {:#x}, start_info {:#x}, {} page-table pages at {:#x}, stack {:#x}, mapping ends {:#x}{}",
        spec.id.0,
        spec.name,
        spec.nr_pages,
        spec.vcpus,
        lay.kernel.0,
        lay.kernel.1,
        img.entry,
        lay.start_info,
        lay.nr_pt_pages,
        lay.pt.0,
        lay.stack.0,
        lay.v_end,
        if img.hypercall_page.is_some() { ", hypercall page" } else { "" }
    );
    let frame_span = super::FrameSpan::of(frames.iter().copied().chain([shared_info]));
    let d = Arc::new_cyclic(|dom| Domain {
        id: spec.id,
        name,
        privileged: spec.privileged,
        state: spin::Mutex::new(DomainState::Running),
        p2m,
        shared_info,
        vcpus: vcpus
            .into_iter()
            .map(|(v, pcpu, state)| {
                Arc::new(Vcpu {
                    domid: spec.id,
                    dom: dom.clone(),
                    id: VcpuId(v),
                    cpu: core::sync::atomic::AtomicUsize::new(pcpu),
                    migrate_to: core::sync::atomic::AtomicUsize::new(super::NO_MIGRATION),
                    state: spin::Mutex::new(state),
                    vcpu_info: core::sync::atomic::AtomicU64::new(
                        (shared_info.maddr() + u64::from(v) * 64).0,
                    ),
                    nmi_pending: core::sync::atomic::AtomicBool::new(false),
                    affinity: spin::Mutex::new(super::Affinity::default()),
                })
            })
            .collect(),
        console: spin::Mutex::new(super::ConsoleLine::default()),
        vm_assist: core::sync::atomic::AtomicU64::new(0),
        frames: core::mem::take(frames),
        mmu: spin::Mutex::new(()),
        tot_pages: core::sync::atomic::AtomicU64::new(spec.nr_pages),
        max_pages: core::sync::atomic::AtomicU64::new(spec.max_pages.max(spec.nr_pages)),
        console_ring,
        unsupported_logged: core::sync::atomic::AtomicU64::new(0),
        ioports: if spec.privileged {
            super::ioports::IoPorts::hardware_domain()
        } else {
            super::ioports::IoPorts::none()
        },
        controller_pause: core::sync::atomic::AtomicU32::new(0),
        vcpus_ready: core::sync::atomic::AtomicBool::new(true),
        handle: spin::Mutex::new([0; 16]),
        by_toolstack: false,
        tsc: spin::Mutex::new((0, 1)),
        outstanding: core::sync::atomic::AtomicU64::new(0),
        watchdogs: spin::Mutex::new(Default::default()),
        teardown: spin::Mutex::new(Default::default()),
        cpu_policy: spin::Mutex::new(None),
        time_offset: core::sync::atomic::AtomicI64::new(0),
        creation_finished: core::sync::atomic::AtomicBool::new(true),
        frame_span,
        log_dirty_progress: spin::Mutex::new(None),
        node_affinity: core::sync::atomic::AtomicU64::new(!0),
        e820: spin::Mutex::new(if spec.privileged {
            Vec::new()
        } else {
            alloc::vec![xen_abi::memory::E820Entry {
                addr: 0,
                size: spec.nr_pages * 4096,
                r#type: xen_abi::memory::E820_RAM,
            }]
        }),
    });
    crate::time::update_wallclock(&d);
    for v in &d.vcpus {
        crate::time::update_vcpu_time(v.vcpu_info_at());
    }
    Ok(d)
}

/// A vCPU's state as the builder leaves it: `boot` for the one that starts running (on `regs`,
/// with page tables `l4` and kernel stack `kernel_sp`), every other one down and uninitialised
/// with events masked, the flat selectors and nothing registered.
pub(super) fn vcpu_state(
    boot: bool,
    regs: TrapFrame,
    l4: Option<Mfn>,
    kernel_sp: u64,
) -> VcpuState {
    VcpuState {
        regs,
        kernel_mode: true,
        kernel_l4: boot.then_some(l4).flatten(),
        user_l4: None,
        traps: [TrapEntry::default(); 256],
        event_callback: Callback::default(),
        failsafe_callback: Callback::default(),
        syscall_callback: Callback::default(),
        kernel_ss: selectors::FLAT_RING3_DS,
        kernel_sp,
        segments: SegmentState::default(),
        fpu: FpuState::default(),
        cr4_osxsave: false,
        fpu_ts: false,
        up: boot,
        initialised: boot,
        blocked: false,
        bouncing: false,
        nmi_masked: false,
        timer_deadline: None,
        periodic_ns: crate::time::DEFAULT_PERIOD_NS,
        periodic_next: crate::time::now() + crate::time::DEFAULT_PERIOD_NS,
        runstate_area: None,
        time_area: None,
        poll: None,
        poll_deadline: None,
        iopl: 0,
        debug: Default::default(),
        tsc_aux: 0,
        runstate: crate::domain::runstate::Runstate::new(
            if boot {
                crate::domain::runstate::RUNNABLE
            } else {
                crate::domain::runstate::OFFLINE
            },
            crate::time::now(),
        ),
        gdt_frames: heapless::Vec::new(),
        gdt_ents: 0,
        ldt_frames: heapless::Vec::new(),
        ldt_ents: 0,
        ldt_base: 0,
    }
}

/// Maps `[v_start, v_end)` to PFNs 0.. with 4 KiB pages in the bootstrap table pages, the table
/// pages themselves read-only, and copies the hypervisor's L4 slots into the L4.
fn build_page_tables(lay: &Layout, p2m: &[Mfn]) -> Result<(), BuildError> {
    let l4 = lay.pfn(lay.pt.0);
    let mut next_pt = Pfn(l4.0 + 1); // the first page is the L4
    let mut tables: BTreeMap<(u32, u64), Pfn> = BTreeMap::new(); // (level, va prefix) → pfn
    let pt_range = l4..Pfn(l4.0 + lay.nr_pt_pages);
    let mfn = |pfn: Pfn| p2m_lookup(p2m, pfn).ok_or(BuildError::OutOfMemory);
    let mut va = lay.v_start;
    while va < lay.v_end {
        let mut table = l4;
        for level in [4u32, 3, 2] {
            let shift = 12 + 9 * (level - 1);
            let index = (va >> shift) & 511;
            let key = (level - 1, va >> shift);
            let child = match tables.get(&key) {
                Some(p) => *p,
                None => {
                    let p = next_pt;
                    if !pt_range.contains(&p) {
                        return Err(BuildError::Layout(LayoutError::Overflow));
                    }
                    next_pt = Pfn(next_pt.0 + 1);
                    tables.insert(key, p);
                    frame_write_u64(mfn(table)?, index as usize * 8, mfn(p)?.addr() | UPPER)?;
                    p
                }
            };
            table = child;
        }
        let pfn = lay.pfn(va);
        let flags = if pt_range.contains(&pfn) {
            L1_RO
        } else {
            L1_RW
        };
        frame_write_u64(
            mfn(table)?,
            l1_table_offset(va) * 8,
            mfn(pfn)?.addr() | flags,
        )?;
        va += PAGE;
    }
    let first = crate::layout::l4_slot(HYPERVISOR_VIRT_START);
    let last = crate::layout::l4_slot(HYPERVISOR_VIRT_END - 1);
    for slot in first..=last {
        frame_write_u64(mfn(l4)?, slot * 8, crate::mm::kernel_l4_entry(slot))?;
    }
    Ok(())
}
