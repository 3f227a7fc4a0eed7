//! `layout::domu` against Xen 4.17: the segments libxenguest printed for Debian's 6.1 kernel in
//! a 160 MiB domU (fixtures/xl-create-vvv-debian-6.1.0-57.txt, captured on the rig) are computed
//! from the kernel's facts kept in the fixture, and — where this host has that kernel in /boot —
//! the facts are read again from the kernel itself.

use kernel_image::elf;
use kernel_image::layout::{self, DomuInput, Segment, PAGE};
use kernel_image::Image;
use xen_abi::Pfn;

const FIXTURE: &str = include_str!("fixtures/xl-create-vvv-debian-6.1.0-57.txt");

fn hex(s: &str) -> u64 {
    let s = s.trim();
    u64::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).expect("a hex number in the fixture")
}

/// The `# KEY: a=b c=d` header line's value for `name`.
fn header(key: &str, name: &str) -> String {
    let line = FIXTURE
        .lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
        .unwrap_or_else(|| panic!("fixture has no '# {key}:' line"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("fixture '# {key}:' has no {name}="))
        .to_owned()
}

/// libxenguest's segments in the order it printed them: `xc_dom_alloc_segment` lines
/// (`NAME : 0xSTART -> 0xEND  (pfn 0xP + 0xN pages)`) and `xc_dom_alloc_page` lines
/// (`NAME : 0xSTART (pfn 0xP)`, one page).
fn xl_segments() -> Vec<(String, Segment)> {
    let mut out = Vec::new();
    for line in FIXTURE.lines() {
        let (seg, rest) = if let Some(r) = line.split("xc_dom_alloc_segment:").nth(1) {
            (true, r)
        } else if let Some(r) = line.split("xc_dom_alloc_page   :").nth(1) {
            (false, r)
        } else {
            continue;
        };
        let (name, rest) = rest.split_once(" : ").expect("NAME : ...");
        let (range, pfns) = rest.split_once('(').expect("(pfn ...)");
        let pfns = pfns.trim_start_matches("pfn ").trim_end_matches(')');
        let s = if seg {
            let (a, b) = range.split_once("->").expect("START -> END");
            let (p, n) = pfns.split_once('+').expect("pfn P + N pages");
            Segment {
                vstart: hex(a),
                vend: hex(b),
                pfn: Pfn(hex(p)),
                pages: hex(n.trim().trim_end_matches("pages")),
            }
        } else {
            let a = hex(range);
            Segment {
                vstart: a,
                vend: a + PAGE,
                pfn: Pfn(hex(pfns)),
                pages: 1,
            }
        };
        out.push((name.trim().to_owned(), s));
    }
    out
}

fn xl_detail(name: &str) -> u64 {
    let line = FIXTURE
        .lines()
        .find(|l| l.contains(&format!("xc_dom_build_image  : {name} :")))
        .unwrap_or_else(|| panic!("fixture has no {name}"));
    hex(line.rsplit(':').next().expect("a value"))
}

fn input() -> DomuInput {
    let isize: u64 = header("ramdisk", "isize").parse().expect("isize");
    let mut gz = vec![0u8; header("ramdisk", "bytes").parse().expect("bytes")];
    gz[..2].copy_from_slice(&[0x1f, 0x8b]);
    let n = gz.len();
    gz[n - 4..].copy_from_slice(&(isize as u32).to_le_bytes());
    DomuInput {
        virt_base: hex(&header("kernel-facts", "virt_base")),
        kstart: hex(&header("kernel-facts", "virt_kstart")),
        kend: hex(&header("kernel-facts", "virt_kend")),
        nr_pages: header("guest", "memory").parse::<u64>().expect("memory") << 8,
        ramdisk_len: layout::module_len(&gz),
        unmapped_initrd: header("kernel-facts", "mod_start_pfn") == "1",
        p2m_base: Some(hex(&header("kernel-facts", "init_p2m"))),
    }
}

#[test]
fn domu_debian_kernel_160mib_equals_libxenguest_4_17() {
    let xl = xl_segments();
    assert_eq!(xl.len(), 8, "the fixture's segments: {xl:?}");
    let l = layout::domu(&input()).expect("the layout fits");
    let ours: Vec<(String, Segment)> = l.segments().map(|(n, s)| (n.to_owned(), s)).collect();
    assert_eq!(ours, xl);
    assert_eq!(l.virt_alloc_end, xl_detail("virt_alloc_end"));
    assert_eq!(l.virt_pgtab_end, xl_detail("virt_pgtab_end"));
    // count_pgtables' lines: 1 L3, 1 L2, 38 L1 (+ the L4) for the mapping; 1 + 1 + 1 for the p2m.
    assert_eq!(l.page_tables.pages, 1 + 1 + 1 + 38);
    assert_eq!(l.p2m_pt_pages, 3);
    assert_eq!(l.mfn_list, 0x80_0000_0000);
    // vcpu_x86_64's "cr3: pfn 0x4a03": the L4 is the first page-table page.
    assert!(FIXTURE.contains(&format!("cr3: pfn {:#x} ", l.page_tables.pfn.0)));
}

#[test]
fn debian_kernel_in_boot_has_the_fixtures_facts() {
    let path = "/boot/vmlinuz-6.1.0-57-amd64";
    let Ok(file) = std::fs::read(path) else {
        eprintln!("{path} is not on this host: only the fixture's arithmetic is tested");
        return;
    };
    assert_eq!(file.len().to_string(), header("kernel", "bytes"));
    let Image::BzImage {
        payload,
        compression,
        unpacked_len,
    } = kernel_image::probe(&file).expect("a bzImage")
    else {
        panic!("{path} is not a bzImage");
    };
    let mut out = vec![0u8; unpacked_len];
    let mut scratch = vec![0u8; kernel_image::scratch_len(payload, compression).expect("scratch")];
    kernel_image::unpack(payload, compression, &mut out, &mut scratch).expect("unpacks");
    // libxenguest's "XZ decompress OK, 0x7befe4 -> 0x3eda7b4".
    assert!(FIXTURE.contains(&format!("-> {unpacked_len:#x}")));
    let img = elf::parse(&out).expect("a PV kernel");
    let facts = [
        ("virt_base", img.virt_base),
        ("virt_kstart", img.virt_kstart),
        ("virt_kend", img.virt_kend),
        ("entry", img.entry),
        ("init_p2m", img.init_p2m.expect("INIT_P2M")),
    ];
    for (name, v) in facts {
        assert_eq!(v, hex(&header("kernel-facts", name)), "{name}");
    }
    assert!(img.mod_start_pfn);
    assert!(FIXTURE.contains(&format!(
        "xc_dom_parse_elf_kernel: xen-3.0-x86_64: {:#x} -> {:#x}",
        img.virt_kstart, img.virt_kend
    )));
}

proptest::proptest! {
    /// For any kernel size, memory, ramdisk and note combination that fits: segments follow one
    /// another with no gap but the two paddings, each PFN is its offset from `virt_base`, the
    /// page tables cover the initial mapping, which ends 4 MiB aligned at least 512 KiB after
    /// the boot stack, and nothing exceeds the domain's pages.
    #[test]
    fn domu_layout_invariants(
        kmib in 1u64..64,
        kpages in 1u64..20_000,
        mib in 16u64..2048,
        ramdisk in 0u64..64 << 20,
        unmapped in proptest::bool::ANY,
        init_p2m in proptest::bool::ANY,
    ) {
        let vb = 0xffff_ffff_8000_0000u64;
        let i = DomuInput {
            virt_base: vb,
            kstart: vb + (kmib << 20),
            kend: vb + (kmib << 20) + kpages * PAGE,
            nr_pages: mib << 8,
            ramdisk_len: ramdisk,
            unmapped_initrd: unmapped,
            p2m_base: init_p2m.then_some(0x80_0000_0000),
        };
        let Ok(l) = layout::domu(&i) else { return Ok(()) };
        let mut next = None::<u64>;
        for (name, s) in l.segments() {
            proptest::prop_assert_eq!(s.vstart, vb + s.pfn.0 * PAGE, "{}", name);
            if let Some(n) = next {
                let padded = name == "kernel" || s.vstart == l.virt_pgtab_end;
                proptest::prop_assert!(s.vstart == n || (padded && s.vstart > n), "{} at {:#x} after {:#x}", name, s.vstart, n);
            }
            next = Some(s.vstart + s.pages * PAGE);
            proptest::prop_assert!(s.pfn.0 + s.pages <= i.nr_pages);
        }
        proptest::prop_assert_eq!(l.virt_pgtab_end % (4 << 20), 0);
        proptest::prop_assert!(l.virt_pgtab_end >= l.boot_stack.vend + 512 * 1024);
        let l1 = (l.virt_pgtab_end - vb).div_ceil(2 << 20);
        proptest::prop_assert!(l.page_tables.pages >= 3 + l1);
        if init_p2m {
            proptest::prop_assert_eq!(l.mfn_list, 0x80_0000_0000);
        } else {
            proptest::prop_assert_eq!(l.mfn_list, l.p2m.vstart);
            proptest::prop_assert!(l.p2m.vend <= l.virt_pgtab_end);
        }
    }
}
