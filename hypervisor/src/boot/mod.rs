//! Boot information: the multiboot2 structure GRUB hands over, turned into a typed [`BootInfo`].

pub mod acpi;
pub mod cmdline;
pub mod dom0;
#[cfg(target_os = "none")]
pub mod domains;
#[cfg(target_os = "none")]
pub mod entry;
#[cfg(target_os = "none")]
pub mod start;

use crate::mm::memmap::{Range, Region, RegionKind, MAX_RANGES};
use heapless::{String, Vec};
use xen_abi::Maddr;

/// Most boot modules Ferrite accepts.
pub const MAX_MODULES: usize = 16;
/// Longest command line kept (Xen's `MAX_GUEST_CMDLINE` is 1024).
pub const CMDLINE_MAX: usize = 1024;

/// One boot module (a kernel, an initrd, a test guest).
#[derive(Clone, Debug)]
pub struct Module {
    /// Where GRUB placed it.
    pub range: Range,
    /// The text after the path on its `module2` line.
    pub cmdline: String<CMDLINE_MAX>,
}

/// Everything Ferrite keeps from the boot loader.
#[derive(Clone, Debug, Default)]
pub struct BootInfo {
    /// The hypervisor's own command line.
    pub cmdline: String<CMDLINE_MAX>,
    /// The firmware memory map.
    pub regions: Vec<Region, MAX_RANGES>,
    /// Boot modules, in `module2` order.
    pub modules: Vec<Module, MAX_MODULES>,
    /// Where the multiboot2 information itself lies (to keep it until parsed).
    pub mbi: Range,
    /// The ACPI RSDP, as GRUB copied it (up to 36 bytes).
    pub rsdp: Vec<u8, 36>,
    /// Boot loader name, for the log.
    pub loader: String<64>,
}

/// Why the boot information is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// EAX did not hold the multiboot2 magic.
    BadMagic(u32),
    /// The structure would not parse.
    Malformed,
    /// No memory map tag.
    NoMemoryMap,
    /// More regions or modules than Ferrite keeps.
    TooMany(&'static str),
}

/// The value GRUB leaves in EAX for a multiboot2 boot.
pub const MULTIBOOT2_MAGIC: u32 = 0x36d7_6289;

fn truncated<const N: usize>(s: &str) -> String<N> {
    let mut out = String::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

/// Parses the multiboot2 information at virtual address `mbi_va` (physical `mbi_pa`).
///
/// # Safety
/// `mbi_va` must point at the multiboot2 information structure GRUB handed over, mapped readable
/// for its whole length, and nothing may write to it while this runs.
pub unsafe fn parse_multiboot2(
    magic: u32,
    mbi_va: u64,
    mbi_pa: Maddr,
) -> Result<BootInfo, BootError> {
    if magic != MULTIBOOT2_MAGIC {
        return Err(BootError::BadMagic(magic));
    }
    // SAFETY: the caller guarantees the structure is mapped and stable; `load` validates its
    // header and total size before any tag is read.
    let mb = unsafe {
        multiboot2::BootInformation::load(mbi_va as *const multiboot2::BootInformationHeader)
    }
    .map_err(|_| BootError::Malformed)?;
    let mut info = BootInfo {
        mbi: Range::with_len(mbi_pa, mb.total_size() as u64),
        ..BootInfo::default()
    };
    if let Some(c) = mb.command_line_tag().and_then(|t| t.cmdline().ok()) {
        info.cmdline = truncated(c);
    }
    if let Some(n) = mb.boot_loader_name_tag().and_then(|t| t.name().ok()) {
        info.loader = truncated(n);
    }
    let mmap = mb.memory_map_tag().ok_or(BootError::NoMemoryMap)?;
    for area in mmap.memory_areas() {
        let kind = match multiboot2::MemoryAreaType::from(area.typ()) {
            multiboot2::MemoryAreaType::Available => RegionKind::Usable,
            multiboot2::MemoryAreaType::AcpiAvailable => RegionKind::AcpiReclaimable,
            multiboot2::MemoryAreaType::ReservedHibernate => RegionKind::AcpiNvs,
            multiboot2::MemoryAreaType::Defective => RegionKind::Defective,
            _ => RegionKind::Reserved,
        };
        let region = Region {
            range: Range::with_len(Maddr(area.start_address()), area.size()),
            kind,
        };
        info.regions
            .push(region)
            .map_err(|_| BootError::TooMany("memory regions"))?;
    }
    for m in mb.module_tags() {
        let module = Module {
            range: Range::new(
                Maddr(u64::from(m.start_address())),
                Maddr(u64::from(m.end_address())),
            ),
            cmdline: truncated(m.cmdline().unwrap_or("")),
        };
        info.modules
            .push(module)
            .map_err(|_| BootError::TooMany("modules"))?;
    }
    if let Some(r) = mb.rsdp_v2_tag() {
        push_rsdp(&mut info, r);
    } else if let Some(r) = mb.rsdp_v1_tag() {
        push_rsdp(&mut info, r);
    }
    Ok(info)
}

fn push_rsdp<T: zerocopy_free::AsBytes + ?Sized>(info: &mut BootInfo, tag: &T) {
    let bytes = tag.as_bytes_after_header();
    for b in bytes.iter().take(36) {
        let _ = info.rsdp.push(*b);
    }
}

/// Raw byte views of the RSDP tags (the multiboot2 crate exposes fields, not bytes).
mod zerocopy_free {
    /// A tag whose payload (after the 8-byte tag header) is the RSDP as the firmware wrote it.
    pub trait AsBytes {
        /// The RSDP bytes.
        fn as_bytes_after_header(&self) -> &[u8];
    }

    macro_rules! impl_rsdp {
        ($t:ty, $len:expr) => {
            impl AsBytes for $t {
                fn as_bytes_after_header(&self) -> &[u8] {
                    let base = (self as *const $t).cast::<u8>();
                    // SAFETY: the tag lives inside the multiboot2 structure, which `load` checked
                    // to span its declared size; an RSDP tag is its 8-byte header followed by the
                    // RSDP copy of `$len` bytes, all within the tag.
                    unsafe { core::slice::from_raw_parts(base.add(8), $len) }
                }
            }
        };
    }
    impl_rsdp!(multiboot2::RsdpV1Tag, 20);
    impl_rsdp!(multiboot2::RsdpV2Tag, 36);
}
