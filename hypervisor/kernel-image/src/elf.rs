//! Reading a PV kernel: the ELF64 image, its `"Xen"` notes, and the virtual range it occupies,
//! with the checks Xen's libelf makes (`libelf-dominfo.c`, `elf_xen_addr_calc_check`). Pure code
//! over a byte slice: host-tested, never panics on a malformed image.

use heapless::{String, Vec};
use xen_abi::elfnote::ElfNote;
use xen_abi::features::{
    XENFEAT_AUTO_TRANSLATED_PHYSMAP, XENFEAT_DOM0, XENFEAT_GNTTAB_MAP_AVAIL_BITS,
    XENFEAT_HVM_CALLBACK_VECTOR, XENFEAT_MMU_PT_UPDATE_PRESERVE_AD, XENFEAT_PAE_PGDIR_ABOVE_4GB,
    XENFEAT_SUPERVISOR_MODE_KERNEL, XENFEAT_WRITABLE_DESCRIPTOR_TABLES,
    XENFEAT_WRITABLE_PAGE_TABLES,
};

/// Most loadable segments accepted.
pub const MAX_SEGMENTS: usize = 16;

/// A `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Offset of its bytes in the file.
    pub offset: u64,
    /// Bytes present in the file.
    pub filesz: u64,
    /// Bytes in memory (the rest is zeroed).
    pub memsz: u64,
    /// Its physical address: Xen places segments by `p_paddr`, not `p_vaddr`.
    pub paddr: u64,
}

/// Why an image is refused; each names what was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not an ELF64 little-endian x86-64 executable.
    NotElf64X86,
    /// A header, program header or note lies outside the file.
    Truncated(&'static str),
    /// More loadable segments than Ferrite takes.
    TooManySegments,
    /// No loadable segment.
    NoSegments,
    /// `XEN_ELFNOTE_XEN_VERSION` missing or not `xen-3.0*`.
    BadXenVersion,
    /// Neither `LOADER=generic*` nor `GUEST_OS=linux*`.
    BadLoader,
    /// A feature marked required (`!name`) is unknown or unsupported.
    UnsupportedRequiredFeature,
    /// Entry point outside the kernel's virtual range.
    EntryOutOfRange(u64),
    /// Hypercall page outside the kernel's virtual range.
    HypercallPageOutOfRange(u64),
    /// The kernel's virtual range overlaps the hypervisor's reserved range or wraps.
    BadVirtRange(u64, u64),
}

/// What the domain builder needs to know about a kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XenImage {
    /// Virtual entry point (`XEN_ELFNOTE_ENTRY`, else `e_entry`).
    pub entry: u64,
    /// `XEN_ELFNOTE_VIRT_BASE` (0 when absent).
    pub virt_base: u64,
    /// `XEN_ELFNOTE_PADDR_OFFSET` (0 when absent).
    pub paddr_offset: u64,
    /// `XEN_ELFNOTE_HYPERCALL_PAGE`.
    pub hypercall_page: Option<u64>,
    /// `XEN_ELFNOTE_INIT_P2M`.
    pub init_p2m: Option<u64>,
    /// `XEN_ELFNOTE_MOD_START_PFN` is set.
    pub mod_start_pfn: bool,
    /// Features the kernel says it supports (`FEATURES` plus `SUPPORTED_FEATURES`).
    pub supported_features: u32,
    /// Features it requires (`!name` in `FEATURES`).
    pub required_features: u32,
    /// `XEN_ELFNOTE_GUEST_OS`.
    pub guest_os: String<32>,
    /// `XEN_ELFNOTE_LOADER`.
    pub loader: String<32>,
    /// `XEN_ELFNOTE_XEN_VERSION`.
    pub xen_version: String<32>,
    /// Lowest virtual address of the image.
    pub virt_kstart: u64,
    /// One past its highest virtual address.
    pub virt_kend: u64,
    /// The loadable segments.
    pub segments: Vec<Segment, MAX_SEGMENTS>,
}

impl XenImage {
    /// Virtual address of segment `s`'s first byte.
    pub fn segment_vaddr(&self, s: &Segment) -> u64 {
        s.paddr
            .wrapping_add(self.virt_base)
            .wrapping_sub(self.paddr_offset)
    }
}

/// Features Ferrite's builder accepts as required, as libelf names them.
pub const FEATURE_NAMES: &[(&str, u32)] = &[
    ("writable_page_tables", XENFEAT_WRITABLE_PAGE_TABLES),
    (
        "writable_descriptor_tables",
        XENFEAT_WRITABLE_DESCRIPTOR_TABLES,
    ),
    ("auto_translated_physmap", XENFEAT_AUTO_TRANSLATED_PHYSMAP),
    ("supervisor_mode_kernel", XENFEAT_SUPERVISOR_MODE_KERNEL),
    ("pae_pgdir_above_4gb", XENFEAT_PAE_PGDIR_ABOVE_4GB),
    ("hvm_callback_vector", XENFEAT_HVM_CALLBACK_VECTOR),
    ("dom0", XENFEAT_DOM0),
];

/// Features a PV kernel may require of Ferrite.
pub const SUPPORTED_REQUIRED: u32 = (1 << XENFEAT_WRITABLE_PAGE_TABLES)
    | (1 << XENFEAT_PAE_PGDIR_ABOVE_4GB)
    | (1 << XENFEAT_MMU_PT_UPDATE_PRESERVE_AD)
    | (1 << XENFEAT_GNTTAB_MAP_AVAIL_BITS)
    | (1 << XENFEAT_DOM0);

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(o..o.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(o..o.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(o..o.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn note_string<const N: usize>(desc: &[u8]) -> String<N> {
    let end = desc.iter().position(|&c| c == 0).unwrap_or(desc.len());
    let mut s = String::new();
    for &c in &desc[..end] {
        if !c.is_ascii() || s.push(c as char).is_err() {
            break;
        }
    }
    s
}

/// A numeric note: 4 or 8 bytes, little-endian (as libelf's `elf_note_numeric`).
fn note_number(desc: &[u8]) -> Option<u64> {
    match desc.len() {
        4 => u32_at(desc, 0).map(u64::from),
        8 => u64_at(desc, 0),
        _ => None,
    }
}

fn parse_features(s: &str, img: &mut XenImage) -> Result<(), ElfError> {
    for word in s.split('|').filter(|w| !w.is_empty()) {
        let (required, name) = match word.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, word),
        };
        match FEATURE_NAMES.iter().find(|(n, _)| *n == name) {
            Some((_, bit)) => {
                img.supported_features |= 1 << bit;
                if required {
                    img.required_features |= 1 << bit;
                }
            }
            None if required => return Err(ElfError::UnsupportedRequiredFeature),
            None => {}
        }
    }
    Ok(())
}

/// Parses and checks a 64-bit PV kernel image.
pub fn parse(image: &[u8]) -> Result<XenImage, ElfError> {
    let hdr = image.get(..64).ok_or(ElfError::NotElf64X86)?;
    // ELF magic, ELFCLASS64, ELFDATA2LSB, ET_EXEC or ET_DYN, EM_X86_64.
    if hdr[..4] != *b"\x7fELF" || hdr[4] != 2 || hdr[5] != 1 || u16_at(hdr, 18) != Some(62) {
        return Err(ElfError::NotElf64X86);
    }
    let e_entry = u64_at(hdr, 24).ok_or(ElfError::Truncated("ELF header"))?;
    let phoff = u64_at(hdr, 32).ok_or(ElfError::Truncated("ELF header"))?;
    let phentsize = usize::from(u16_at(hdr, 54).ok_or(ElfError::Truncated("ELF header"))?);
    let phnum = usize::from(u16_at(hdr, 56).ok_or(ElfError::Truncated("ELF header"))?);
    if phentsize < 56 {
        return Err(ElfError::Truncated("program header size"));
    }
    let mut img = XenImage::default();
    let mut entry_note = None;
    for i in 0..phnum {
        let off = usize::try_from(phoff)
            .ok()
            .and_then(|p| p.checked_add(i.checked_mul(phentsize)?))
            .ok_or(ElfError::Truncated("program headers"))?;
        let ph = image
            .get(
                off..off
                    .checked_add(56)
                    .ok_or(ElfError::Truncated("program headers"))?,
            )
            .ok_or(ElfError::Truncated("program headers"))?;
        let p_type = u32_at(ph, 0).unwrap_or(0);
        let p_offset = u64_at(ph, 8).unwrap_or(0);
        let p_paddr = u64_at(ph, 24).unwrap_or(0);
        let p_filesz = u64_at(ph, 32).unwrap_or(0);
        let p_memsz = u64_at(ph, 40).unwrap_or(0);
        let file_range = usize::try_from(p_offset)
            .ok()
            .zip(usize::try_from(p_filesz).ok())
            .and_then(|(o, l)| Some(o..o.checked_add(l)?))
            .filter(|r| r.end <= image.len())
            .ok_or(ElfError::Truncated("segment"))?;
        match p_type {
            1 if p_memsz > 0 => {
                if p_filesz > p_memsz {
                    return Err(ElfError::Truncated("segment file size exceeds memory size"));
                }
                img.segments
                    .push(Segment {
                        offset: p_offset,
                        filesz: p_filesz,
                        memsz: p_memsz,
                        paddr: p_paddr,
                    })
                    .map_err(|_| ElfError::TooManySegments)?;
            }
            4 => parse_notes(&image[file_range], &mut img, &mut entry_note)?,
            _ => {}
        }
    }
    if img.segments.is_empty() {
        return Err(ElfError::NoSegments);
    }
    if !img.xen_version.starts_with("xen-3.0") {
        return Err(ElfError::BadXenVersion);
    }
    if !(img.loader.starts_with("generic") || img.guest_os.starts_with("linux")) {
        return Err(ElfError::BadLoader);
    }
    if img.required_features & !SUPPORTED_REQUIRED != 0 {
        return Err(ElfError::UnsupportedRequiredFeature);
    }
    let pstart = img.segments.iter().map(|s| s.paddr).min().unwrap_or(0);
    let pend = img
        .segments
        .iter()
        .map(|s| s.paddr.checked_add(s.memsz))
        .try_fold(0u64, |m, e| e.map(|e| m.max(e)))
        .ok_or(ElfError::BadVirtRange(pstart, u64::MAX))?;
    let delta = img.virt_base.wrapping_sub(img.paddr_offset);
    img.virt_kstart = pstart.wrapping_add(delta);
    img.virt_kend = pend.wrapping_add(delta);
    let hv = xen_abi::arch_x86::HYPERVISOR_VIRT_START..xen_abi::arch_x86::HYPERVISOR_VIRT_END;
    if img.virt_kend <= img.virt_kstart
        || img.virt_kstart < img.virt_base
        || (img.virt_kstart < hv.end && hv.start < img.virt_kend)
    {
        return Err(ElfError::BadVirtRange(img.virt_kstart, img.virt_kend));
    }
    img.entry = entry_note.unwrap_or(e_entry);
    if !(img.virt_kstart..img.virt_kend).contains(&img.entry) {
        return Err(ElfError::EntryOutOfRange(img.entry));
    }
    if let Some(h) = img.hypercall_page {
        if !(img.virt_kstart..img.virt_kend).contains(&h) || h & 0xfff != 0 {
            return Err(ElfError::HypercallPageOutOfRange(h));
        }
    }
    Ok(img)
}

fn parse_notes(notes: &[u8], img: &mut XenImage, entry: &mut Option<u64>) -> Result<(), ElfError> {
    let mut off = 0usize;
    while off + 12 <= notes.len() {
        let namesz = u32_at(notes, off).unwrap_or(0) as usize;
        let descsz = u32_at(notes, off + 4).unwrap_or(0) as usize;
        let ntype = u32_at(notes, off + 8).unwrap_or(0);
        let name_start = off + 12;
        let desc_start = name_start
            .checked_add(namesz.next_multiple_of(4))
            .ok_or(ElfError::Truncated("note"))?;
        let next = desc_start
            .checked_add(descsz.next_multiple_of(4))
            .ok_or(ElfError::Truncated("note"))?;
        let name = notes
            .get(name_start..name_start + namesz)
            .ok_or(ElfError::Truncated("note name"))?;
        let desc = notes
            .get(desc_start..desc_start + descsz)
            .ok_or(ElfError::Truncated("note descriptor"))?;
        off = next;
        if name != b"Xen\0" && name != b"Xen" {
            continue;
        }
        let Ok(kind) = ElfNote::try_from(ntype) else {
            continue;
        };
        match kind {
            ElfNote::Entry => *entry = note_number(desc),
            ElfNote::HypercallPage => img.hypercall_page = note_number(desc),
            ElfNote::VirtBase => img.virt_base = note_number(desc).unwrap_or(0),
            ElfNote::PaddrOffset => img.paddr_offset = note_number(desc).unwrap_or(0),
            ElfNote::XenVersion => img.xen_version = note_string(desc),
            ElfNote::GuestOs => img.guest_os = note_string(desc),
            ElfNote::Loader => img.loader = note_string(desc),
            ElfNote::Features => parse_features(&note_string::<256>(desc), img)?,
            ElfNote::SupportedFeatures => {
                img.supported_features |= note_number(desc).unwrap_or(0) as u32
            }
            ElfNote::InitP2m => img.init_p2m = note_number(desc),
            ElfNote::ModStartPfn => img.mod_start_pfn = note_number(desc).unwrap_or(0) != 0,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::vec;

    /// Builds a minimal ELF64 image: one PT_LOAD at `paddr` and a PT_NOTE with `notes`.
    pub(crate) fn image(entry: u64, paddr: u64, notes: &[(u32, &[u8])]) -> std::vec::Vec<u8> {
        let mut note_bytes = std::vec::Vec::new();
        for (t, desc) in notes {
            note_bytes.extend_from_slice(&4u32.to_le_bytes());
            note_bytes.extend_from_slice(&(desc.len() as u32).to_le_bytes());
            note_bytes.extend_from_slice(&t.to_le_bytes());
            note_bytes.extend_from_slice(b"Xen\0");
            note_bytes.extend_from_slice(desc);
            while note_bytes.len() % 4 != 0 {
                note_bytes.push(0);
            }
        }
        let code = [0x90u8; 64];
        let phoff = 64u64;
        let notes_off = phoff + 2 * 56;
        let code_off = notes_off + note_bytes.len() as u64;
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&2u16.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[24..32].copy_from_slice(&entry.to_le_bytes());
        f[32..40].copy_from_slice(&phoff.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&2u16.to_le_bytes());
        let ph = |t: u32, off: u64, paddr: u64, filesz: u64, memsz: u64| {
            let mut p = vec![0u8; 56];
            p[..4].copy_from_slice(&t.to_le_bytes());
            p[8..16].copy_from_slice(&off.to_le_bytes());
            p[16..24].copy_from_slice(&paddr.to_le_bytes());
            p[24..32].copy_from_slice(&paddr.to_le_bytes());
            p[32..40].copy_from_slice(&filesz.to_le_bytes());
            p[40..48].copy_from_slice(&memsz.to_le_bytes());
            p
        };
        f.extend(ph(1, code_off, paddr, 64, 0x3000));
        f.extend(ph(4, notes_off, 0, note_bytes.len() as u64, 0));
        f.extend(&note_bytes);
        f.extend_from_slice(&code);
        f
    }

    fn basic_notes() -> std::vec::Vec<(u32, &'static [u8])> {
        vec![(5, b"xen-3.0\0"), (8, b"generic\0"), (6, b"ferrite\0")]
    }

    #[test]
    fn parse_minimal_image_uses_e_entry_and_paddr() {
        let img = parse(&image(0x100010, 0x100000, &basic_notes())).unwrap();
        assert_eq!(img.entry, 0x100010);
        assert_eq!((img.virt_kstart, img.virt_kend), (0x100000, 0x103000));
        assert_eq!(img.segments.len(), 1);
        assert_eq!(img.guest_os.as_str(), "ferrite");
    }

    #[test]
    fn parse_entry_note_and_virt_base_shift_addresses() {
        // Linux-style: physical 16 MiB, VIRT_BASE 0xffffffff80000000, entry from the note.
        let vb = 0xffff_ffff_8000_0000u64.to_le_bytes();
        let entry = 0xffff_ffff_8100_0020u64.to_le_bytes();
        let mut notes = basic_notes();
        notes.push((3, &vb));
        notes.push((1, &entry));
        let img = parse(&image(0x1000000, 0x1000000, &notes)).unwrap();
        assert_eq!(img.virt_kstart, 0xffff_ffff_8100_0000);
        assert_eq!(img.entry, 0xffff_ffff_8100_0020);
    }

    #[test]
    fn parse_missing_xen_version_is_rejected() {
        assert_eq!(
            parse(&image(0x100000, 0x100000, &[(8, b"generic\0")])),
            Err(ElfError::BadXenVersion)
        );
    }

    #[test]
    fn parse_without_generic_loader_or_linux_is_rejected() {
        assert_eq!(
            parse(&image(
                0x100000,
                0x100000,
                &[(5, b"xen-3.0\0"), (6, b"plan9\0")]
            )),
            Err(ElfError::BadLoader)
        );
        assert!(parse(&image(
            0x100000,
            0x100000,
            &[(5, b"xen-3.0\0"), (6, b"linux\0")]
        ))
        .is_ok());
    }

    #[test]
    fn parse_required_unknown_feature_is_rejected_optional_ignored() {
        let mut n = basic_notes();
        n.push((10, b"!writable_page_tables|pae_pgdir_above_4gb|shiny\0"));
        let img = parse(&image(0x100000, 0x100000, &n)).unwrap();
        assert_eq!(img.required_features, 1 << XENFEAT_WRITABLE_PAGE_TABLES);
        let mut bad = basic_notes();
        bad.push((10, b"!shiny\0"));
        assert_eq!(
            parse(&image(0x100000, 0x100000, &bad)),
            Err(ElfError::UnsupportedRequiredFeature)
        );
        let mut unsupported = basic_notes();
        unsupported.push((10, b"!auto_translated_physmap\0"));
        assert_eq!(
            parse(&image(0x100000, 0x100000, &unsupported)),
            Err(ElfError::UnsupportedRequiredFeature)
        );
    }

    #[test]
    fn parse_entry_outside_image_is_rejected() {
        assert_eq!(
            parse(&image(0x500000, 0x100000, &basic_notes())),
            Err(ElfError::EntryOutOfRange(0x500000))
        );
    }

    #[test]
    fn parse_hypercall_page_must_be_inside_and_aligned() {
        let mut n = basic_notes();
        let hp = 0x101000u64.to_le_bytes();
        n.push((2, &hp));
        assert_eq!(
            parse(&image(0x100000, 0x100000, &n))
                .unwrap()
                .hypercall_page,
            Some(0x101000)
        );
        let mut bad = basic_notes();
        let hp = 0x101800u64.to_le_bytes();
        bad.push((2, &hp));
        assert_eq!(
            parse(&image(0x100000, 0x100000, &bad)),
            Err(ElfError::HypercallPageOutOfRange(0x101800))
        );
    }

    #[test]
    fn parse_image_in_hypervisor_range_is_rejected() {
        let vb = 0xffff_8000_0000_0000u64.to_le_bytes();
        let mut n = basic_notes();
        n.push((3, &vb));
        assert!(matches!(
            parse(&image(0xffff_8000_0010_0000, 0x100000, &n)),
            Err(ElfError::BadVirtRange(..))
        ));
    }

    #[test]
    fn parse_garbage_never_panics() {
        let good = image(0x100000, 0x100000, &basic_notes());
        for cut in 0..good.len() {
            let _ = parse(&good[..cut]);
        }
        let mut x = good.clone();
        for i in 0..x.len() {
            x[i] ^= 0xff;
            let _ = parse(&x);
            x[i] ^= 0xff;
        }
        assert!(parse(b"not an elf").is_err());
    }
}
