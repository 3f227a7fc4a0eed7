//! The guest-visible contents a PV domU starts with, as pure functions over the layout and the
//! p2m (libxenguest's `xc_dom_load_elf_kernel`, `setup_pgtables_x86_64`, `start_info_x86_64`,
//! `shared_info_x86_64`, `vcpu_x86_64` and `xc_dom_gnttab_seed`): the builder
//! ([`super::domain`]) only copies these bytes into the domain's frames.

use kernel_image::elf::XenImage;
use kernel_image::layout::{DomuLayout, PAGE};
use xen_abi::arch_x86::{VcpuGuestContext, VgcfFlags, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64};
use xen_abi::grant_table::{GrantEntryV1, GTF_PERMIT_ACCESS};
use xen_abi::types::{DomId, Mfn, Port};
use xen_abi::xen::{SharedInfo, SifFlags, StartInfo, StartInfoConsole, MAX_GUEST_CMDLINE};
use zerocopy::{FromZeros, IntoBytes};

/// Why an image cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// An ELF segment lies outside the kernel's segment or the file.
    #[error("kernel segment {0} lies outside the image")]
    Segment(usize),
    /// A PFN the page tables need has no frame.
    #[error("the page tables reach beyond the domain's memory")]
    PageTables,
}

/// `X86_DR6_DEFAULT`.
const DR6_DEFAULT: u64 = 0xffff_0ff0;
/// `X86_DR7_DEFAULT`.
const DR7_DEFAULT: u64 = 0x400;
/// `rflags` with interrupts enabled.
const RFLAGS_IF: u64 = 1 << 9;

/// One write of the kernel segment: at `offset`, either bytes of the ELF file or zeros.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelPiece {
    /// `elf[range]` goes at the offset.
    File(std::ops::Range<usize>),
    /// This many zero bytes go at the offset.
    Zero(usize),
}

/// How the kernel segment (`pages` pages from `vstart`) is filled, as `elf_load_binary` into a
/// zeroed segment: every `PT_LOAD` segment's file bytes at its address, zeros everywhere else
/// (bss and gaps). Sorted by offset, covering the whole segment exactly once.
pub fn kernel_pieces(
    elf: &[u8],
    img: &XenImage,
    vstart: u64,
    pages: u64,
) -> Result<Vec<(usize, KernelPiece)>, ImageError> {
    let len = usize::try_from(pages * PAGE).map_err(|_| ImageError::Segment(0))?;
    let mut files = Vec::new();
    for (n, s) in img.segments.iter().enumerate() {
        let bad = || ImageError::Segment(n);
        let off = img
            .segment_vaddr(s)
            .checked_sub(vstart)
            .and_then(|o| usize::try_from(o).ok())
            .ok_or_else(bad)?;
        let fo = usize::try_from(s.offset).map_err(|_| bad())?;
        let fs = usize::try_from(s.filesz).map_err(|_| bad())?;
        let memsz = usize::try_from(s.memsz).map_err(|_| bad())?;
        let fend = fo
            .checked_add(fs)
            .filter(|e| *e <= elf.len())
            .ok_or_else(bad)?;
        if off.checked_add(memsz.max(fs)).is_none_or(|e| e > len) {
            return Err(bad());
        }
        files.push((off, fo..fend));
    }
    files.sort_by_key(|(off, _)| *off);
    let mut out = Vec::new();
    let mut at = 0usize;
    for (n, (off, r)) in files.into_iter().enumerate() {
        if off < at {
            return Err(ImageError::Segment(n));
        }
        if off > at {
            out.push((at, KernelPiece::Zero(off - at)));
        }
        at = off + r.len();
        if !r.is_empty() {
            out.push((off, KernelPiece::File(r)));
        }
    }
    if at < len {
        out.push((at, KernelPiece::Zero(len - at)));
    }
    Ok(out)
}

/// The kernel segment's bytes, whole (what [`kernel_pieces`] writes).
#[cfg(test)]
pub fn kernel_bytes(
    elf: &[u8],
    img: &XenImage,
    vstart: u64,
    pages: u64,
) -> Result<Vec<u8>, ImageError> {
    let mut out = vec![0u8; (pages * PAGE) as usize];
    for (off, p) in kernel_pieces(elf, img, vstart, pages)? {
        if let KernelPiece::File(r) = p {
            out[off..off + r.len()].copy_from_slice(&elf[r]);
        }
    }
    Ok(out)
}

/// The bytes of the page-table pages: the initial mapping's (`page_tables` segment) and, with
/// `INIT_P2M`, the p2m mapping's (the tail of the `p2m` segment), from `p2m[pfn]` = MFN.
pub fn page_tables(l: &DomuLayout, p2m: &[Mfn]) -> Result<(Vec<u8>, Vec<u8>), ImageError> {
    let main = l.page_tables.pfn.0..l.page_tables.pfn.0 + l.page_tables.pages;
    let p2m_pt_first = l.p2m.pfn.0 + l.p2m.pages - l.p2m_pt_pages;
    let p2mt = p2m_pt_first..l.p2m.pfn.0 + l.p2m.pages;
    let mut a = vec![0u64; (l.page_tables.pages * 512) as usize];
    let mut b = vec![0u64; (l.p2m_pt_pages * 512) as usize];
    let mut bad = false;
    l.page_table_entries(
        |p| p2m.get(p.0 as usize).map(|m| m.0),
        |t, i, e| {
            if main.contains(&t.0) {
                a[((t.0 - main.start) * 512) as usize + i] = e;
            } else if p2mt.contains(&t.0) {
                b[((t.0 - p2mt.start) * 512) as usize + i] = e;
            } else {
                bad = true;
            }
        },
    )
    .map_err(|_| ImageError::PageTables)?;
    if bad {
        return Err(ImageError::PageTables);
    }
    Ok((a.as_bytes().to_vec(), b.as_bytes().to_vec()))
}

/// The p2m list as the guest reads it: one MFN per PFN, in a page-rounded buffer.
pub fn p2m_bytes(p2m: &[Mfn]) -> Vec<u8> {
    let mut v: Vec<u64> = p2m.iter().map(|m| m.0).collect();
    v.resize(v.len().div_ceil(512) * 512, 0);
    v.as_bytes().to_vec()
}

/// What `start_info` says beyond the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartInfoInput<'a> {
    /// `nr_pages`.
    pub nr_pages: u64,
    /// The shared_info page's MFN.
    pub shared_info: Mfn,
    /// The xenstore ring's MFN and port.
    pub store: (Mfn, Port),
    /// The console ring's MFN and port.
    pub console: (Mfn, Port),
    /// The ramdisk's length in bytes (0: none).
    pub ramdisk_len: u64,
    /// The command line (cut to 1023 bytes).
    pub cmdline: &'a str,
}

/// `start_info` for a 64-bit PV domU (`start_info_x86_64`): magic `xen-3.0-x86_64`, the
/// machine address of shared_info, the rings, the page tables and p2m by virtual address, the
/// ramdisk by PFN (`SIF_MOD_START_PFN`) when it lies outside the initial mapping.
pub fn start_info(l: &DomuLayout, i: &StartInfoInput<'_>) -> StartInfo {
    let mut s = StartInfo::new_zeroed();
    let magic = b"xen-3.0-x86_64";
    s.magic[..magic.len()].copy_from_slice(magic);
    s.nr_pages = i.nr_pages;
    s.shared_info = i.shared_info.0 << 12;
    s.store_mfn = i.store.0;
    s.store_evtchn = i.store.1;
    s.console = StartInfoConsole::domu(i.console.0, i.console.1);
    s.pt_base = l.page_tables.vstart;
    s.nr_pt_frames = l.page_tables.pages;
    s.mfn_list = l.mfn_list;
    if l.p2m_outside {
        s.first_p2m_pfn = l.p2m.pfn;
        s.nr_p2m_frames = l.p2m.pages;
    }
    if let (Some(rd), true) = (l.ramdisk, i.ramdisk_len > 0) {
        if rd.vstart >= l.virt_pgtab_end {
            s.flags |= SifFlags::MOD_START_PFN.bits();
            s.mod_start = rd.pfn.0;
        } else {
            s.mod_start = rd.vstart;
        }
        s.mod_len = i.ramdisk_len;
    }
    let c = i.cmdline.as_bytes();
    let n = c.len().min(MAX_GUEST_CMDLINE - 1);
    s.cmd_line[..n].copy_from_slice(&c[..n]);
    s
}

/// shared_info as the builder leaves it: zero, with every legacy vCPU's events masked.
pub fn shared_info() -> SharedInfo {
    let mut s = SharedInfo::new_zeroed();
    for v in &mut s.vcpu_info {
        v.evtchn_upcall_mask = 1;
    }
    s
}

/// vCPU 0's context (`vcpu_x86_64`): at the entry point in kernel mode, `rsi` = start_info,
/// `rsp` at the end of the boot stack, `cr3` = the L4's MFN, interrupts enabled.
pub fn vcpu_context(img: &XenImage, l: &DomuLayout, l4: Mfn) -> VcpuGuestContext {
    let mut c = VcpuGuestContext::new_zeroed();
    c.flags = (VgcfFlags::IN_KERNEL | VgcfFlags::ONLINE).bits();
    c.user_regs.rip = img.entry;
    c.user_regs.rsp = l.boot_stack.vstart + PAGE;
    c.user_regs.rsi = l.start_info.vstart;
    c.user_regs.rflags = RFLAGS_IF;
    c.user_regs.cs = FLAT_KERNEL_CS64;
    c.user_regs.ss = FLAT_KERNEL_SS64;
    c.kernel_ss = u64::from(FLAT_KERNEL_SS64);
    c.kernel_sp = c.user_regs.rsp;
    c.ctrlreg[3] = l4.0 << 12;
    c.debugreg[6] = DR6_DEFAULT;
    c.debugreg[7] = DR7_DEFAULT;
    c
}

/// The grant entries the builder seeds (`xc_dom_gnttab_seed`): entry 0 (console) and 1
/// (xenstore) grant the ring to its backend domain, unless that is the guest itself.
pub fn seed_grants(
    guest: DomId,
    console: (Mfn, DomId),
    store: (Mfn, DomId),
) -> [Option<GrantEntryV1>; 2] {
    let entry = |(mfn, be): (Mfn, DomId)| {
        (be != guest).then_some(GrantEntryV1 {
            flags: GTF_PERMIT_ACCESS,
            domid: be,
            frame: mfn.0 as u32,
        })
    };
    [entry(console), entry(store)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel_image::layout::{domu, DomuInput};

    const VB: u64 = 0xffff_ffff_8000_0000;

    fn rig_layout() -> DomuLayout {
        domu(&DomuInput {
            virt_base: VB,
            kstart: VB + 0x100_0000,
            kend: VB + 0x4a0_0000,
            nr_pages: 40960,
            ramdisk_len: 26_600_620,
            unmapped_initrd: true,
            p2m_base: Some(0x80_0000_0000),
        })
        .expect("fits")
    }

    fn p2m() -> Vec<Mfn> {
        (0..40960).map(|p| Mfn(0x3_0000 + p)).collect()
    }

    #[test]
    fn start_info_of_the_rig_guest_is_libxenguests() {
        let l = rig_layout();
        let s = start_info(
            &l,
            &StartInfoInput {
                nr_pages: 40960,
                shared_info: Mfn(0x7ec40),
                store: (Mfn(0x3f601), Port(1)),
                console: (Mfn(0x3f602), Port(2)),
                ramdisk_len: 7_878_962,
                cmdline: "console=hvc0",
            },
        );
        let b = s.as_bytes();
        assert_eq!(b.len(), 1168);
        assert_eq!(&b[..15], b"xen-3.0-x86_64\0");
        let q = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        assert_eq!(q(32), 40960);
        assert_eq!(q(40), 0x7ec40 << 12);
        assert_eq!(q(48) as u32, SifFlags::MOD_START_PFN.bits());
        assert_eq!((q(56), q(64)), (0x3f601, 1));
        assert_eq!((q(72), q(80)), (0x3f602, 2));
        assert_eq!(q(88), 0xffff_ffff_84a0_3000);
        assert_eq!(q(96), 0x29);
        assert_eq!(q(104), 0x80_0000_0000);
        assert_eq!((q(112), q(120)), (0x4c00, 7_878_962));
        assert_eq!(&b[128..141], b"console=hvc0\0");
        assert_eq!((q(1152), q(1160)), (0x655f, 0x53));
    }

    #[test]
    fn start_info_long_cmdline_is_cut_and_terminated() {
        let long = "x".repeat(2000);
        let s = start_info(
            &rig_layout(),
            &StartInfoInput {
                nr_pages: 1,
                shared_info: Mfn(1),
                store: (Mfn(2), Port(1)),
                console: (Mfn(3), Port(2)),
                ramdisk_len: 0,
                cmdline: &long,
            },
        );
        assert_eq!(s.cmd_line[1022], b'x');
        assert_eq!(s.cmd_line[1023], 0);
        assert_eq!((s.mod_start, s.mod_len, s.flags), (0, 0, 0));
    }

    #[test]
    fn vcpu_context_has_the_values_of_the_xl_trace() {
        let img = XenImage {
            entry: 0xffff_ffff_8307_91c0,
            ..XenImage::default()
        };
        let c = vcpu_context(&img, &rig_layout(), Mfn(0x3f603));
        let b = c.as_bytes();
        let q = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        assert_eq!(q(512), 0x24);
        assert_eq!(q(520 + 104), 0xffff_ffff_84a0_0000);
        assert_eq!(q(520 + 128), 0xffff_ffff_8307_91c0);
        assert_eq!(q(520 + 136) as u16, 0xe033);
        assert_eq!(q(520 + 144), 0x200);
        assert_eq!(q(520 + 152), 0xffff_ffff_84a2_d000);
        assert_eq!(q(520 + 160) as u16, 0xe02b);
        assert_eq!((q(4968), q(4976)), (0xe02b, 0xffff_ffff_84a2_d000));
        assert_eq!(q(4984 + 3 * 8), 0x3f603000);
        assert_eq!((q(5048 + 6 * 8), q(5048 + 7 * 8)), (0xffff0ff0, 0x400));
        assert_eq!(q(5136), 0);
    }

    #[test]
    fn page_tables_l4_maps_virt_base_and_init_p2m_and_tables_are_read_only() {
        let l = rig_layout();
        let m = p2m();
        let (pt, p2mt) = page_tables(&l, &m).expect("tables");
        assert_eq!(pt.len() as u64, l.page_tables.pages * PAGE);
        assert_eq!(p2mt.len() as u64, l.p2m_pt_pages * PAGE);
        let e = |b: &[u8], page: u64, i: usize| {
            let o = (page * 512) as usize * 8 + i * 8;
            u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
        };
        // L4 slot 511 (0xffffffff80000000) → the L3 right after it; slot 1 (0x8000000000) →
        // the p2m's L3.
        assert_eq!(
            e(&pt, 0, 511),
            ((m[l.page_tables.pfn.0 as usize + 1].0) << 12) | 0x67
        );
        let p2m_l3 = l.p2m.pfn.0 + l.p2m.pages - l.p2m_pt_pages;
        assert_eq!(e(&pt, 0, 1), (m[p2m_l3 as usize].0 << 12) | 0x67);
        // The L1 entry of the L4's own page is read-only.
        let l4_pfn = l.page_tables.pfn.0;
        let found = (0..l.page_tables.pages)
            .flat_map(|p| (0..512).map(move |i| (p, i)))
            .any(|(p, i)| e(&pt, p, i) == (m[l4_pfn as usize].0 << 12) | 0x21);
        assert!(found, "no read-only mapping of the L4");
    }

    #[test]
    fn page_tables_without_enough_frames_is_an_error() {
        let l = rig_layout();
        assert_eq!(page_tables(&l, &p2m()[..100]), Err(ImageError::PageTables));
    }

    #[test]
    fn seed_grants_skip_a_backend_that_is_the_guest() {
        let g = seed_grants(DomId(3), (Mfn(0x3f602), DomId(0)), (Mfn(0x3f601), DomId(3)));
        assert_eq!(
            g[0],
            Some(GrantEntryV1 {
                flags: 1,
                domid: DomId(0),
                frame: 0x3f602
            })
        );
        assert_eq!(g[1], None);
    }

    #[test]
    fn kernel_pieces_put_segments_at_their_addresses_and_zero_the_rest() {
        use kernel_image::elf::Segment;
        let mut img = XenImage {
            virt_base: VB,
            ..XenImage::default()
        };
        let seg = |paddr: u64, offset: u64, filesz: u64, memsz: u64| Segment {
            offset,
            filesz,
            memsz,
            paddr,
        };
        // Two segments out of order, the second with bss.
        img.segments.push(seg(0x1000, 8, 4, 4)).expect("room");
        img.segments.push(seg(0, 0, 8, 0x20)).expect("room");
        let elf: Vec<u8> = (1..=12).collect();
        let p = kernel_pieces(&elf, &img, VB, 2).expect("fits");
        assert_eq!(
            p,
            [
                (0, KernelPiece::File(0..8)),
                (8, KernelPiece::Zero(0x1000 - 8)),
                (0x1000, KernelPiece::File(8..12)),
                (0x1004, KernelPiece::Zero(0x2000 - 0x1004)),
            ]
        );
        let b = kernel_bytes(&elf, &img, VB, 2).expect("fits");
        assert_eq!(&b[..9], &[1, 2, 3, 4, 5, 6, 7, 8, 0]);
        assert_eq!(&b[0x1000..0x1005], &[9, 10, 11, 12, 0]);
        // A segment beyond the kernel segment, or beyond the file, is refused.
        assert_eq!(
            kernel_pieces(&elf, &img, VB, 1),
            Err(ImageError::Segment(0))
        );
        img.segments[0].filesz = 100;
        assert!(kernel_pieces(&elf, &img, VB, 2).is_err());
    }

    #[test]
    fn shared_info_masks_every_legacy_vcpu() {
        let s = shared_info();
        assert!(s.vcpu_info.iter().all(|v| v.evtchn_upcall_mask == 1));
        assert_eq!(s.evtchn_pending, [0; 64]);
    }

    #[test]
    fn p2m_bytes_are_page_rounded_mfns() {
        let b = p2m_bytes(&[Mfn(5), Mfn(7)]);
        assert_eq!(b.len(), 4096);
        assert_eq!(&b[..16], &[5, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    }
}
