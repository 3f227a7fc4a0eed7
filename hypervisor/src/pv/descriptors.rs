//! Guest descriptor tables: `set_gdt` and `update_descriptor` (Xen's
//! `pv/descriptor-tables.c`). A guest GDT is up to 14 frames of the guest's own, typed as
//! descriptor pages (every descriptor checked, no writable mapping anywhere while in use), and
//! mapped into the per-CPU GDT window in front of the hypervisor's reserved page when the vCPU
//! runs; unused window pages show a zero page, so their selectors fault as not present.

pub use crate::arch::x86_64::segments::check_descriptor;
use crate::layout::MAX_CPUS;
use crate::mm::typing::PageType;
use xen_abi::{Errno, XenResult};

/// `FIRST_RESERVED_GDT_PAGE`: guest GDTs hold at most this many frames.
pub const MAX_GDT_FRAMES: usize = 14;
/// `FIRST_RESERVED_GDT_ENTRY`.
pub use crate::arch::x86_64::segments::MAX_GDT_ENTRIES;

/// The frames of the guest GDT each CPU's window shows now (so a switch between vCPUs with
/// the same GDT, or none, remaps nothing).
#[cfg(target_os = "none")]
static LOADED: [spin::Mutex<heapless::Vec<u64, MAX_GDT_FRAMES>>; MAX_CPUS] =
    [const { spin::Mutex::new(heapless::Vec::new()) }; MAX_CPUS];

/// Shows `frames` in this CPU's GDT window (the zero page after them).
#[cfg(target_os = "none")]
pub fn install(frames: &[u64]) {
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
    let mut frames: heapless::Vec<u64, MAX_GDT_FRAMES> = heapless::Vec::new();
    for i in 0..n {
        let raw: [u8; 8] = crate::pv::read_guest(list.wrapping_add(i as u64 * 8))?;
        let _ = frames.push(u64::from_le_bytes(raw));
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

/// Drops a vCPU's GDT frames (domain teardown).
pub fn release_gdt(st: &mut crate::domain::VcpuState) {
    let ft = crate::mm::frame_table();
    for f in core::mem::take(&mut st.gdt_frames) {
        ft.put_page_and_type(f);
    }
    st.gdt_ents = 0;
}

/// `update_descriptor(ma, desc)`: writes one checked descriptor at machine address `ma` of one
/// of the domain's frames — a descriptor page in use, or any page that may be writable.
pub fn update_descriptor(dom: &crate::domain::Domain, ma: u64, desc: u64) -> XenResult<u64> {
    if !ma.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let desc = check_descriptor(desc).ok_or(Errno::EINVAL)?;
    let mfn = ma >> 12;
    let ft = crate::mm::frame_table();
    ft.get_page(mfn, u32::from(dom.id.0))
        .map_err(|_| Errno::EINVAL)?;
    let ty = if ft.type_state(mfn).ty == PageType::SegDesc {
        PageType::SegDesc
    } else {
        PageType::Writable
    };
    let r = ft
        .get_page_type(mfn, ty, dom.asker())
        .map_err(|_| Errno::EINVAL)
        .and_then(|()| {
            let w =
                crate::mm::guest::frame_write_u64(xen_abi::Mfn(mfn), (ma & 0xfff) as usize, desc);
            ft.put_page_type(mfn);
            w.map_err(|_| Errno::EINVAL)
        });
    ft.put_page(mfn);
    r.map(|()| 0)
}
