//! Guest descriptor tables: `set_gdt` and `update_descriptor` (Xen's
//! `pv/descriptor-tables.c`). A guest GDT is up to 14 frames of the guest's own, typed as
//! descriptor pages (every descriptor checked, no writable mapping anywhere while in use), and
//! mapped into the per-CPU GDT window in front of the hypervisor's reserved page when the vCPU
//! runs; unused window pages show a zero page, so their selectors fault as not present.

pub use crate::arch::x86_64::segments::check_descriptor;
use crate::layout::MAX_CPUS;
use crate::mm::typing::PageType;
use xen_abi::{Errno, Maddr, Mfn, XenResult};

/// `FIRST_RESERVED_GDT_PAGE`: guest GDTs hold at most this many frames.
pub const MAX_GDT_FRAMES: usize = 14;
/// `FIRST_RESERVED_GDT_ENTRY`.
pub use crate::arch::x86_64::segments::MAX_GDT_ENTRIES;

/// The frames of the guest GDT each CPU's window shows now (so a switch between vCPUs with
/// the same GDT, or none, remaps nothing).
#[cfg(target_os = "none")]
static LOADED: [spin::Mutex<heapless::Vec<Mfn, MAX_GDT_FRAMES>>; MAX_CPUS] =
    [const { spin::Mutex::new(heapless::Vec::new()) }; MAX_CPUS];

/// Shows `frames` in this CPU's GDT window (the zero page after them).
#[cfg(target_os = "none")]
pub fn install(frames: &[Mfn]) {
    let cpu = crate::arch::x86_64::percpu::cpu_index() as usize;
    let Some(slot) = LOADED.get(cpu) else { return };
    let mut loaded = slot.lock();
    if loaded.as_slice() == frames {
        return;
    }
    for i in 0..MAX_GDT_FRAMES {
        let want = frames.get(i).copied();
        if loaded.get(i).copied() != want {
            crate::mm::set_gdt_page(cpu, i, want);
        }
    }
    loaded.clear();
    let _ = loaded.extend_from_slice(frames);
}

/// `set_gdt(frame_list, entries)`: the vCPU's GDT becomes `entries` descriptors in the frames
/// listed (machine frame numbers), each taken as a descriptor page (validated; -EINVAL if a
/// frame is not the domain's, is mapped writable or holds a bad descriptor).
#[cfg(target_os = "none")]
pub fn set_gdt(
    dom: &crate::domain::Domain,
    v: &crate::domain::Vcpu,
    list: u64,
    entries: u64,
) -> XenResult<u64> {
    if entries > MAX_GDT_ENTRIES {
        return Err(Errno::EINVAL);
    }
    let n = entries.div_ceil(512) as usize;
    let mut frames: heapless::Vec<Mfn, MAX_GDT_FRAMES> = heapless::Vec::new();
    for i in 0..n {
        let frame: Mfn = super::read_guest_struct(list.wrapping_add(i as u64 * 8))?;
        let _ = frames.push(frame);
    }
    let ft = crate::mm::frame_table();
    let _mmu = dom.mmu.lock();
    for (i, &f) in frames.iter().enumerate() {
        if ft
            .get_page_and_type(f, PageType::SegDesc, dom.asker())
            .is_err()
        {
            for &g in &frames[..i] {
                ft.put_page_and_type(g);
            }
            return Err(Errno::EINVAL);
        }
    }
    let mut st = v.state.lock();
    let old = core::mem::replace(&mut st.gdt_frames, frames);
    for f in old {
        ft.put_page_and_type(f);
    }
    st.gdt_ents = entries as u32;
    install(&st.gdt_frames);
    Ok(0)
}

/// Drops a vCPU's GDT and LDT frames (domain teardown).
pub fn release_gdt(st: &mut crate::domain::VcpuState) {
    let ft = crate::mm::frame_table();
    for f in core::mem::take(&mut st.gdt_frames) {
        ft.put_page_and_type(f);
    }
    st.gdt_ents = 0;
    for f in core::mem::take(&mut st.ldt_frames) {
        ft.put_page_and_type(f);
    }
    st.ldt_ents = 0;
}

/// The LDT frames each CPU's window shows and the descriptor count loaded.
#[cfg(target_os = "none")]
static LOADED_LDT: [spin::Mutex<(heapless::Vec<Mfn, 16>, u32)>; MAX_CPUS] =
    [const { spin::Mutex::new((heapless::Vec::new(), 0)) }; MAX_CPUS];

/// Shows `frames` in this CPU's LDT window and loads LDTR with `ents` descriptors (the null
/// LDT for none).
#[cfg(target_os = "none")]
pub fn install_ldt(frames: &[Mfn], ents: u32) {
    let cpu = crate::arch::x86_64::percpu::cpu_index() as usize;
    let Some(slot) = LOADED_LDT.get(cpu) else {
        return;
    };
    let mut loaded = slot.lock();
    if loaded.0.as_slice() == frames && loaded.1 == ents {
        return;
    }
    for i in 0..16 {
        let want = frames.get(i).copied();
        if loaded.0.get(i).copied() != want {
            crate::mm::set_ldt_page(cpu, i, want);
        }
    }
    loaded.0.clear();
    let _ = loaded.0.extend_from_slice(frames);
    loaded.1 = ents;
    crate::arch::x86_64::gdt::load_ldt(cpu, ents);
}

/// The frame mapped at guest address `va` in `l4`'s tree, if present.
#[cfg(target_os = "none")]
fn frame_at(l4: Mfn, va: u64) -> Option<Mfn> {
    use crate::mm::typing::{l1_table_offset, pte_mfn, PTE_P};
    let l1 = crate::hypercall::mmu::l1_of(l4, va).ok()?;
    let e = crate::mm::guest::frame_read_u64(l1, l1_table_offset(va) * 8).ok()?;
    (e & PTE_P != 0).then_some(pte_mfn(e))
}

/// `MMUEXT_SET_LDT(linear_addr, nr_ents)`: the vCPU's LDT becomes `ents` descriptors at
/// page-aligned guest address `base` (Xen's checks: aligned, in guest space, at most 8192
/// entries; else -EINVAL). Unlike Xen, which maps LDT pages lazily on first use, the pages are
/// taken now: each must be mapped (in the current page tables) to a frame of the domain that
/// validates as a descriptor page, else -EINVAL.
#[cfg(target_os = "none")]
pub fn set_ldt(
    dom: &crate::domain::Domain,
    v: &crate::domain::Vcpu,
    base: u64,
    ents: u64,
) -> XenResult<u64> {
    if base & 0xfff != 0
        || ents > 8192
        || !crate::arch::x86_64::guest::guest_range_ok(base, (ents * 8) as usize)
    {
        return Err(Errno::EINVAL);
    }
    let ft = crate::mm::frame_table();
    let mut frames: heapless::Vec<Mfn, 16> = heapless::Vec::new();
    {
        let _mmu = dom.mmu.lock();
        let l4 = v.state.lock().kernel_l4.ok_or(Errno::EINVAL)?;
        for i in 0..(ents * 8).div_ceil(4096) {
            let taken = frame_at(l4, base + i * 4096).filter(|&f| {
                ft.get_page_and_type(f, PageType::SegDesc, dom.asker())
                    .is_ok()
            });
            let Some(f) = taken else {
                for &g in &frames {
                    ft.put_page_and_type(g);
                }
                return Err(Errno::EINVAL);
            };
            let _ = frames.push(f);
        }
    }
    let mut st = v.state.lock();
    for f in core::mem::replace(&mut st.ldt_frames, frames) {
        ft.put_page_and_type(f);
    }
    st.ldt_ents = ents as u32;
    st.ldt_base = base;
    install_ldt(&st.ldt_frames, st.ldt_ents);
    Ok(0)
}

/// `update_descriptor(ma, desc)`: writes one checked descriptor at machine address `ma` of one
/// of the domain's frames — a descriptor page in use, or any page that may be writable.
pub fn update_descriptor(dom: &crate::domain::Domain, ma: u64, desc: u64) -> XenResult<u64> {
    if !ma.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let desc = check_descriptor(desc).ok_or(Errno::EINVAL)?;
    let ma = Maddr(ma);
    let mfn = ma.mfn();
    let ft = crate::mm::frame_table();
    ft.get_page(mfn, dom.id).map_err(|_| Errno::EINVAL)?;
    let ty = if ft.type_state(mfn).ty == PageType::SegDesc {
        PageType::SegDesc
    } else {
        PageType::Writable
    };
    let r = ft
        .get_page_type(mfn, ty, dom.asker())
        .map_err(|_| Errno::EINVAL)
        .and_then(|()| {
            let w = crate::mm::guest::frame_write_u64(mfn, ma.page_offset(), desc);
            ft.put_page_type(mfn);
            w.map_err(|_| Errno::EINVAL)
        });
    ft.put_page(mfn);
    r.map(|()| 0)
}
