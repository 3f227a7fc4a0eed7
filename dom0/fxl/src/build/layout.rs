//! A PV domU's start-of-day layout from an xl.cfg and its kernel and ramdisk files, placed as
//! libxenguest places it (`xc_dom_build_image`): the kernel is probed and unpacked and its Xen
//! notes read by the `kernel-image` crate the hypervisor's dom0 builder uses too, and the
//! segments come from its `layout::domu`.

use crate::config::DomainConfig;
use kernel_image::elf::{self, XenImage};
use kernel_image::layout::{self, DomuInput, DomuLayout, PAGE};
use kernel_image::{Image, ImageError};
use serde::Serialize;

/// Why no layout can be planned; each names the file or the limit.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A file could not be read.
    #[error("cannot read {path}: {err}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        err: std::io::Error,
    },
    /// The kernel is no image we can unpack.
    #[error("{path}: {err}")]
    Image {
        /// The kernel file.
        path: String,
        /// What was wrong.
        err: ImageError,
    },
    /// The kernel's ELF or Xen notes are refused.
    #[error("{path}: not a PV kernel: {err:?}")]
    Elf {
        /// The kernel file.
        path: String,
        /// What was wrong.
        err: elf::ElfError,
    },
    /// The kernel and ramdisk do not fit the domain's memory, or an address wraps.
    #[error("the layout does not fit: {0:?}")]
    Layout(layout::LayoutError),
}

/// Unpacks a kernel file (an ELF, or a bzImage with an XZ, gzip or zstd payload) to its ELF.
pub fn unpack_kernel(path: &str, file: &[u8]) -> Result<Vec<u8>, PlanError> {
    let img = |err| PlanError::Image {
        path: path.to_owned(),
        err,
    };
    match kernel_image::probe(file).map_err(img)? {
        Image::Elf(e) => Ok(e.to_vec()),
        Image::BzImage {
            payload,
            compression,
            unpacked_len,
        } => {
            let mut out = vec![0u8; unpacked_len];
            let mut scratch =
                vec![0u8; kernel_image::scratch_len(payload, compression).map_err(img)?];
            kernel_image::unpack(payload, compression, &mut out, &mut scratch).map_err(img)?;
            Ok(out)
        }
    }
}

/// The facts of a kernel and a ramdisk the layout depends on, and the domain's size.
pub fn input(kernel: &XenImage, ramdisk: Option<&[u8]>, memory_mib: u64) -> DomuInput {
    DomuInput {
        virt_base: kernel.virt_base,
        kstart: kernel.virt_kstart,
        kend: kernel.virt_kend,
        nr_pages: memory_mib * (1 << 20) / PAGE,
        ramdisk_len: ramdisk.map_or(0, layout::module_len),
        unmapped_initrd: kernel.mod_start_pfn,
        p2m_base: kernel.init_p2m,
    }
}

/// A domU's planned layout, as `fxl create -n` prints it (schema in docs/fxl.md). Addresses
/// are hex strings (JSON numbers lose bits above 2^53); PFNs and counts are numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// `XEN_ELFNOTE_VIRT_BASE`.
    pub virt_base: String,
    /// The entry point (`XEN_ELFNOTE_ENTRY`).
    pub entry: String,
    /// The domain's pages (`memory` × 256).
    pub nr_pages: u64,
    /// Bytes the ramdisk takes in the guest (gzip unpacked, as libxenguest), 0 for none.
    pub ramdisk_bytes: u64,
    /// Every allocation, in libxenguest's order and with its names.
    pub segments: Vec<PlanSegment>,
    /// `start_info.nr_pt_frames`: page-table pages of the initial mapping.
    pub nr_pt_frames: u64,
    /// `start_info.mfn_list`: where the guest sees the p2m.
    pub mfn_list: String,
    /// `virt_alloc_end` after the boot stack.
    pub virt_alloc_end: String,
    /// `virt_pgtab_end`: the end of the initial mapping.
    pub virt_pgtab_end: String,
    /// The initial stack pointer: the end of the boot stack page.
    pub stack_top: String,
}

/// One segment of a [`Plan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanSegment {
    /// libxenguest's name: `kernel`, `module0` (the ramdisk), `phys2mach`, `start info`,
    /// `xenstore`, `console`, `page tables`, `boot stack`.
    pub name: &'static str,
    /// First virtual address, as allocated.
    pub vstart: String,
    /// `vstart` + the bytes it holds (libxenguest 4.17.7 prints the same).
    pub vend: String,
    /// First PFN.
    pub pfn: u64,
    /// Pages.
    pub pages: u64,
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

impl Plan {
    /// The printable plan of `l` for `kernel`.
    pub fn new(kernel: &XenImage, i: &DomuInput, l: &DomuLayout) -> Plan {
        Plan {
            virt_base: hex(l.virt_base),
            entry: hex(kernel.entry),
            nr_pages: i.nr_pages,
            ramdisk_bytes: i.ramdisk_len,
            segments: l
                .segments()
                .map(|(name, s)| PlanSegment {
                    name,
                    vstart: hex(s.vstart),
                    vend: hex(s.vend),
                    pfn: s.pfn.0,
                    pages: s.pages,
                })
                .collect(),
            nr_pt_frames: l.page_tables.pages,
            mfn_list: hex(l.mfn_list),
            virt_alloc_end: hex(l.virt_alloc_end),
            virt_pgtab_end: hex(l.virt_pgtab_end),
            stack_top: hex(l.boot_stack.vend),
        }
    }
}

/// Reads the configuration's kernel and ramdisk and plans the domU's layout.
pub fn plan(cfg: &DomainConfig) -> Result<Plan, PlanError> {
    let read = |path: &str| {
        std::fs::read(path).map_err(|err| PlanError::Read {
            path: path.to_owned(),
            err,
        })
    };
    let elf_bytes = unpack_kernel(&cfg.kernel, &read(&cfg.kernel)?)?;
    let kernel = elf::parse(&elf_bytes).map_err(|err| PlanError::Elf {
        path: cfg.kernel.clone(),
        err,
    })?;
    let ramdisk = cfg.ramdisk.as_deref().map(read).transpose()?;
    let i = input(&kernel, ramdisk.as_deref(), cfg.memory_mib);
    let l = layout::domu(&i).map_err(PlanError::Layout)?;
    Ok(Plan::new(&kernel, &i, &l))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DomainConfig;

    fn kernel_facts() -> XenImage {
        XenImage {
            entry: 0xffff_ffff_8307_91c0,
            virt_base: 0xffff_ffff_8000_0000,
            virt_kstart: 0xffff_ffff_8100_0000,
            virt_kend: 0xffff_ffff_84a0_0000,
            init_p2m: Some(0x80_0000_0000),
            mod_start_pfn: true,
            ..XenImage::default()
        }
    }

    /// A file shaped as the rig's gzip initramfs: its size and its gzip trailer's ISIZE.
    fn rig_ramdisk() -> Vec<u8> {
        let mut gz = vec![0u8; 7_878_962];
        gz[..2].copy_from_slice(&[0x1f, 0x8b]);
        let n = gz.len();
        gz[n - 4..].copy_from_slice(&26_600_604u32.to_le_bytes());
        gz
    }

    /// What `xl -vvv create` printed for the rig's guest (hypervisor/kernel-image/tests/fixtures/
    /// xl-create-vvv-debian-6.1.0-57.txt) as fxl's plan shows it.
    fn assert_is_xls(p: &Plan) {
        let seg = |name: &str| {
            let s = p.segments.iter().find(|s| s.name == name).expect(name);
            (s.vstart.as_str(), s.vend.as_str(), s.pfn, s.pages)
        };
        assert_eq!(
            seg("kernel"),
            ("0xffffffff81000000", "0xffffffff84a00000", 0x1000, 0x3a00)
        );
        assert_eq!(seg("boot stack").2, 0x4a2c);
        assert_eq!(
            seg("module0"),
            ("0xffffffff84c00000", "0xffffffff8655e4ac", 0x4c00, 0x195f)
        );
        assert_eq!(
            seg("phys2mach"),
            ("0xffffffff8655f000", "0xffffffff865b2000", 0x655f, 0x53)
        );
        assert_eq!(p.nr_pt_frames, 0x29);
        assert_eq!(p.virt_pgtab_end, "0xffffffff84c00000");
        assert_eq!(p.mfn_list, "0x8000000000");
        assert_eq!(p.stack_top, "0xffffffff84a2d000");
    }

    #[test]
    fn plan_of_the_rig_guest_facts_is_xls() {
        let k = kernel_facts();
        let i = input(&k, Some(&rig_ramdisk()), 160);
        assert_eq!((i.nr_pages, i.ramdisk_len), (40960, 26_600_620));
        let l = layout::domu(&i).expect("fits");
        let p = Plan::new(&k, &i, &l);
        assert_is_xls(&p);
        assert_eq!(p.entry, "0xffffffff830791c0");
        let json = serde_json::to_value(&p).expect("JSON");
        assert_eq!(json["segments"][0]["name"], "kernel");
        assert_eq!(json["segments"].as_array().map(Vec::len), Some(8));
    }

    #[test]
    fn plan_of_a_config_with_debians_kernel_is_xls() {
        let kernel = "/boot/vmlinuz-6.1.0-57-amd64";
        if std::fs::metadata(kernel).is_err() {
            eprintln!("{kernel} is not on this host: skipped");
            return;
        }
        let rd = std::env::temp_dir().join(format!("fxl-plan-{}.gz", std::process::id()));
        std::fs::write(&rd, rig_ramdisk()).expect("temp file");
        let text = format!(
            "name = \"g1\"\ntype = \"pv\"\nkernel = \"{kernel}\"\nramdisk = \"{}\"\nmemory = 160\n",
            rd.display()
        );
        let cfg = DomainConfig::parse("g1.cfg", &text, &[]).expect("parses");
        let p = plan(&cfg);
        let _ = std::fs::remove_file(&rd);
        assert_is_xls(&p.expect("a plan"));
    }

    #[test]
    fn plan_names_a_missing_or_bad_file() {
        let cfg = |kernel: &str| {
            let text = format!("name = \"g\"\nkernel = \"{kernel}\"\nmemory = 64\n");
            DomainConfig::parse("g.cfg", &text, &[]).expect("parses")
        };
        let e = plan(&cfg("/nonexistent/vmlinuz")).expect_err("no file");
        assert!(
            e.to_string()
                .starts_with("cannot read /nonexistent/vmlinuz"),
            "{e}"
        );
        let junk = std::env::temp_dir().join(format!("fxl-junk-{}", std::process::id()));
        std::fs::write(&junk, b"not a kernel at all").expect("temp file");
        let e = plan(&cfg(&junk.display().to_string())).expect_err("junk");
        let _ = std::fs::remove_file(&junk);
        assert!(matches!(e, PlanError::Image { .. }), "{e}");
    }

    #[test]
    fn plan_too_small_a_domain_is_an_error() {
        let e = layout::domu(&input(&kernel_facts(), None, 16)).expect_err("16 MiB");
        assert!(matches!(e, layout::LayoutError::TooSmall { .. }), "{e:?}");
    }
}
