//! Layout test: every mirrored struct and constant of `xen-abi` against Xen's C headers.
//!
//! How it works: each fragment under `tests/layout/` describes the Rust side of one header (its
//! structs through `layout!`, its constants through `consts!`). The checker (`layout/checker.rs`)
//! writes one C program that includes every fragment's headers and prints `sizeof`, `_Alignof` and
//! each constant's value, compiles it with the system `cc -g`, runs it, and reads every member
//! (name, offset, size) of every mirrored C struct from the program's DWARF. A member present on
//! one side only, moved or resized, a size, alignment or constant that differs: each is reported by
//! name and fails the test. Counts per header go to stdout (`cargo test --test layout --
//! --nocapture`).
//!
//! ## Adding a fragment (e.g. for `event_channel.h`)
//! 1. Create `tests/layout/event_channel.rs` with `pub fn fragment() -> Fragment` (copy the shape of
//!    `tests/layout/xen.rs`): `Fragment::new("event_channel.h", &["xen/event_channel.h"])`, then one
//!    `layout!(f, Type => "struct c_name" { field, field, ... })` per struct (list every field: the
//!    macro destructures exhaustively; rename with `field as "c_name"`; Rust-only padding is named
//!    `_pad*`/`_reserved*`), and `consts!(f; C_NAME = rust::VALUE, ...)` for constants.
//!    Sub-op enums go through `sub_ops!(f, Enum; C_NAME = Variant, ...)`, which reports any
//!    variant the list leaves out.
//! 2. Add two lines below: `#[path = "layout/event_channel.rs"] mod event_channel;` and
//!    `event_channel::fragment,` in `FRAGMENTS`.
//! 3. Optionally add the module to `CHECKED_MODULES`, so that a `#[repr(C)]` struct added to it
//!    later without a `layout!` line fails the test.
//!
//! Two more guards: `every_repr_c_struct_is_checked` (a `#[repr(C)]` struct of a module in
//! `CHECKED_MODULES` with no `layout!` line fails) and `every_c_sub_op_number_is_mirrored` (an
//! integer `#define` of a family in `C_FAMILIES`/`C_SUB_OP_FAMILIES` that no fragment checks
//! fails: add a family there when you mirror a new sub-op family).
//!
//! If `/usr/include/xen/xen.h` is missing the test fails and says to `apt-get install libxen-dev`.

#[macro_use]
#[path = "layout/checker.rs"]
mod checker;

#[path = "layout/arch_x86.rs"]
mod arch_x86;
#[path = "layout/callback.rs"]
mod callback;
#[path = "layout/domctl.rs"]
mod domctl;
#[path = "layout/elfnote.rs"]
mod elfnote;
#[path = "layout/event_channel.rs"]
mod event_channel;
#[path = "layout/features.rs"]
mod features;
#[path = "layout/grant_table.rs"]
mod grant_table;
#[path = "layout/hvm_params.rs"]
mod hvm_params;
#[path = "layout/io.rs"]
mod io;
#[path = "layout/mca.rs"]
mod mca;
#[path = "layout/memory.rs"]
mod memory;
#[path = "layout/physdev.rs"]
mod physdev;
#[path = "layout/platform.rs"]
mod platform;
#[path = "layout/sched.rs"]
mod sched;
#[path = "layout/sysctl.rs"]
mod sysctl;
#[path = "layout/vcpu.rs"]
mod vcpu;
#[path = "layout/version.rs"]
mod version;
#[path = "layout/xen.rs"]
mod xen;

use std::path::PathBuf;

use checker::{Fragment, Report};

/// Every fragment, one per header (one line each, so concurrent additions merge cleanly).
#[rustfmt::skip]
const FRAGMENTS: &[fn() -> Fragment] = &[
    xen::fragment,
    io::ring,
    io::blkif,
    io::netif,
    io::console,
    io::xs_wire,
    io::xenbus,
    arch_x86::fragment,
    features::fragment,
    version::fragment,
    elfnote::fragment,
    sched::fragment,
    vcpu::fragment,
    callback::fragment,
    memory::fragment,
    physdev::fragment,
    platform::fragment,
    mca::fragment,
    domctl::fragment,
    sysctl::fragment,
    hvm_params::fragment,
    event_channel::fragment,
    grant_table::fragment,
];

fn work_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn run(frags: &[Fragment], name: &str) -> Report {
    match checker::run(frags, &checker::default_include_dir(), &work_dir(name)) {
        Ok(r) => r,
        Err(e) => panic!("layout check could not run: {e}"),
    }
}

#[test]
fn layouts_match_the_c_headers() {
    let frags: Vec<Fragment> = FRAGMENTS.iter().map(|f| f()).collect();
    let report = run(&frags, "layout-all");
    print!("{}", report.summary());
    for (h, c) in &report.counts {
        assert!(c.structs + c.consts > 0, "fragment for {h} checks nothing");
    }
    assert!(
        report.mismatches.is_empty(),
        "{} layout mismatches:\n  {}",
        report.mismatches.len(),
        report.mismatches.join("\n  ")
    );
}

/// A deliberately wrong description of `struct mmu_update` and friends: the checker must name
/// each mistake.
#[test]
fn checker_reports_each_mismatch_by_name() {
    use checker::{RustField, RustStruct};
    let field = |name: &str, offset, size| RustField {
        name: name.to_string(),
        offset,
        size,
    };
    let mut f = Fragment::new("wrong.h", &["xen/xen.h"]);
    // `val` dropped on the Rust side.
    f.push_struct(RustStruct {
        c_type: "struct mmu_update".into(),
        rust_name: "DroppedVal".into(),
        size: 16,
        align: 8,
        fields: vec![field("ptr", 0, 8), field("_pad0", 8, 8)],
    });
    // `val` moved and resized, plus a field C does not have.
    f.push_struct(RustStruct {
        c_type: "mmu_update_t".into(),
        rust_name: "MovedVal".into(),
        size: 24,
        align: 4,
        fields: vec![
            field("ptr", 0, 8),
            field("val", 12, 4),
            field("extra", 16, 8),
        ],
    });
    // A C member the Rust side lists under a padding name.
    f.push_struct(RustStruct {
        c_type: "struct vcpu_time_info".into(),
        rust_name: "PaddingOverField".into(),
        size: 32,
        align: 8,
        fields: vec![
            field("version", 0, 4),
            field("pad0", 4, 4),
            field("tsc_timestamp", 8, 8),
            field("_pad_system_time", 16, 8),
            field("tsc_to_system_mul", 24, 4),
            field("tsc_shift", 28, 1),
            field("flags", 29, 1),
            field("pad1", 30, 2),
        ],
    });
    f.push_const("VIRQ_CONSOLE", 3);
    f.push_const("DOMID_SELF", 0x7ff0);
    let report = run(&[f], "layout-wrong");
    let m = report.mismatches.join("\n");
    println!("{m}");
    let expect = [
        "`struct mmu_update` (Rust `DroppedVal`): C field `val` (offset 8, size 8) has no Rust field",
        "Rust padding `_pad0` (offset 8, size 8) overlaps C field `val`",
        "`mmu_update_t` (Rust `MovedVal`): sizeof C 16, Rust 24",
        "`mmu_update_t` (Rust `MovedVal`): alignof C 8, Rust 4",
        "field `val`: C offset 8 size 8, Rust offset 12 size 4",
        "Rust field `extra` (offset 16, size 8) does not exist in C",
        "(Rust `PaddingOverField`): C field `system_time` (offset 16, size 8) has no Rust field",
        "constant `VIRQ_CONSOLE`: C 2",
    ];
    for e in expect {
        assert!(
            m.contains(e),
            "expected a mismatch containing {e:?}, got:\n{m}"
        );
    }
    assert_eq!(
        report.mismatches.len(),
        expect.len() + 1,
        "unexpected extra mismatches:\n{m}"
    );
    assert!(
        !m.contains("DOMID_SELF"),
        "a correct constant was reported:\n{m}"
    );
}

/// An unknown C name stops the run with the compiler's message naming it.
#[test]
fn checker_rejects_an_unknown_c_constant() {
    let mut f = Fragment::new("wrong.h", &["xen/xen.h"]);
    f.push_const("VIRQ_NO_SUCH_THING", 1);
    let e = checker::run(
        &[f],
        &checker::default_include_dir(),
        &work_dir("layout-unknown"),
    )
    .expect_err("an unknown constant must fail");
    assert!(e.contains("VIRQ_NO_SUCH_THING"), "{e}");
}

/// Without the headers the check fails (never skips) and says how to get them.
#[test]
fn missing_headers_fail_with_the_install_hint() {
    let e = checker::run(
        &[xen::fragment()],
        &work_dir("no-such-include"),
        &work_dir("layout-missing"),
    )
    .expect_err("missing headers must fail");
    assert!(e.contains("apt-get install libxen-dev"), "{e}");
}

/// A C union may be mirrored whole as one raw field of its size; a raw field of the wrong size,
/// or next to other fields, is still compared member by member.
#[test]
fn checker_accepts_a_whole_union_as_raw_bytes_only_at_full_size() {
    use checker::{RustField, RustStruct};
    let raw = |size| RustStruct {
        c_type: "union grant_entry_v2".into(),
        rust_name: "RawUnion".into(),
        size,
        align: 8,
        fields: vec![RustField {
            name: "raw".into(),
            offset: 0,
            size,
        }],
    };
    let mut f = Fragment::new("union.h", &["xen/grant_table.h"]);
    f.push_struct(raw(16));
    let report = run(&[f], "layout-union-ok");
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);

    let mut f = Fragment::new("union.h", &["xen/grant_table.h"]);
    f.push_struct(raw(12));
    let report = run(&[f], "layout-union-short");
    let m = report.mismatches.join("\n");
    assert!(m.contains("sizeof C 16, Rust 12"), "{m}");
    assert!(
        m.contains("C field `hdr` (offset 0, size 4) has no Rust field"),
        "{m}"
    );
}

/// A sub-op variant the fragment does not name is reported: every number the Rust side accepts
/// must be compared with C.
#[test]
fn checker_reports_a_sub_op_variant_left_unchecked() {
    use xen_abi::sched::ShutdownReason;
    let mut f = Fragment::new("sched.h", &["xen/sched.h"]);
    sub_ops!(f, ShutdownReason; SHUTDOWN_poweroff = Poweroff, SHUTDOWN_crash = Crash);
    let report = run(&[f], "layout-sub-ops");
    let m = report.mismatches.join("\n");
    assert!(
        m.contains("variant ShutdownReason::Reboot has no C name"),
        "{m}"
    );
    assert!(
        m.contains("variant ShutdownReason::SoftReset has no C name"),
        "{m}"
    );
    assert!(!m.contains("Poweroff") && !m.contains("Crash"), "{m}");
    assert_eq!(report.mismatches.len(), 4, "{m}");
}

/// Modules whose every `#[repr(C)]` struct must be described by a fragment, and the structs
/// exempt from that (no C type of their own: checked through `offsetof` constants, or absent
/// from the headers).
const CHECKED_MODULES: &[(&str, &[&str])] = &[
    (
        "xen.rs",
        &["StartInfoConsole", "VgaTextMode3", "VgaVesaLfb"],
    ),
    ("arch_x86.rs", &[]),
    ("features.rs", &[]),
    ("version.rs", &[]),
    ("elfnote.rs", &[]),
    ("sched.rs", &[]),
    ("vcpu.rs", &[]),
    ("callback.rs", &[]),
    ("memory.rs", &["E820Entry"]),
    ("physdev.rs", &["PhysFn"]),
    ("platform.rs", &[]),
    ("mca.rs", &[]),
    ("domctl.rs", &[]),
    ("sysctl.rs", &[]),
    ("hvm_params.rs", &[]),
    ("event_channel.rs", &["EvtchnStatusU", "EvtchnOpU"]),
    (
        "grant_table.rs",
        &[
            "GrantEntryV2FullPage",
            "GrantEntryV2SubPage",
            "GrantEntryV2Transitive",
        ],
    ),
    ("io/ring.rs", &["SharedRingHeader"]),
    ("io/blkif.rs", &[]),
    (
        "io/netif.rs",
        &["NetifExtraGso", "NetifExtraMcast", "NetifExtraHash"],
    ),
    ("io/console.rs", &[]),
    ("io/xs_wire.rs", &[]),
    ("io/xenbus.rs", &[]),
];

/// Every `#[repr(C)]` struct of the checked modules has a `layout!` line: a mirrored struct
/// cannot escape the check by being forgotten.
#[test]
fn every_repr_c_struct_is_checked() {
    let described: Vec<String> = FRAGMENTS
        .iter()
        .flat_map(|f| f().structs)
        .map(|s| s.rust_name)
        .collect();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    for (file, exempt) in CHECKED_MODULES {
        let text = std::fs::read_to_string(src.join(file)).expect("module source is readable");
        let mut repr_c = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with("#[repr(C") {
                repr_c = true;
            } else if let Some(rest) = line.strip_prefix("pub struct ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if repr_c && !exempt.contains(&name.as_str()) && !described.contains(&name) {
                    missing.push(format!("{file}: {name}"));
                }
                repr_c = false;
            } else if !(line.starts_with("#[") || line.starts_with("///") || line.ends_with(")]")) {
                repr_c = false;
            }
        }
    }
    assert!(
        missing.is_empty(),
        "#[repr(C)] structs without a layout! line: {missing:?}"
    );
}

/// Sub-op and command families whose every number in the C headers must be mirrored: a C
/// `#define` with the prefix (and an integer value) that no fragment checks is reported, so a
/// sub-op the Rust side dropped is caught from the C side too. `except` lists names of the
/// family that belong to another namespace or are deliberately left out (docs/abi/README.md);
/// an entry ending in `*` is a prefix.
const C_FAMILIES: &[(&str, &[&str])] = &[
    (
        "__HYPERVISOR_",
        &["__HYPERVISOR_VIRT_START", "__HYPERVISOR_VIRT_END"],
    ),
    ("VIRQ_", &[]),
    ("MMU_", &[]),
    ("MMUEXT_", &[]),
    ("UVMF_", &[]),
    ("CONSOLEIO_", &[]),
    ("VMASST_", &[]),
    ("SIF_", &[]),
    ("XENFEAT_", &[]),
    ("XENVER_", &[]),
    ("XEN_ELFNOTE_", &[]),
    ("SCHEDOP_", &[]),
    ("SHUTDOWN_", &[]),
    ("CALLBACKOP_", &[]),
    ("CALLBACKTYPE_", &[]),
    ("VCPUOP_", &[]),
    ("RUNSTATE_", &[]),
    ("XENMAPSPACE_", &[]),
    ("PHYSDEVOP_", &[]),
    ("MAP_PIRQ_TYPE_", &[]),
    ("XENPF_", &[]),
    ("SEGBASE_", &[]),
    ("FLAT_", &[]),
    ("EVTCHNOP_", &[]),
    ("EVTCHNSTAT_", &[]),
    ("EVTCHN_FIFO_", &[]),
    ("GNTTABOP_", &[]),
    ("GNTTAB_", &[]),
    ("_GTF_", &[]),
    ("_GNTMAP_", &[]),
    ("_GNTCOPY_", &[]),
];

/// Families checked by name prefix only where the header mixes sub-ops with other constants:
/// lower-case names after the prefix are the sub-ops.
const C_SUB_OP_FAMILIES: &[(&str, &[&str])] = &[
    (
        "XENMEM_",
        &[
            "XENMEM_paging_op_nominate",
            "XENMEM_paging_op_evict",
            "XENMEM_paging_op_prep",
            "XENMEM_access_op_set_access",
            "XENMEM_access_op_get_access",
            "XENMEM_access_op_set_access_multi",
            "XENMEM_sharing_op_nominate_gfn",
            "XENMEM_sharing_op_nominate_gref",
            "XENMEM_sharing_op_share",
            "XENMEM_sharing_op_debug_gfn",
            "XENMEM_sharing_op_debug_mfn",
            "XENMEM_sharing_op_debug_gref",
            "XENMEM_sharing_op_add_physmap",
            "XENMEM_sharing_op_audit",
            "XENMEM_sharing_op_range_share",
            "XENMEM_sharing_op_fork",
            "XENMEM_sharing_op_fork_reset",
            "XENMEM_resource_ioreq_server_frame_bufioreq",
        ],
    ),
    (
        "XEN_DOMCTL_",
        &[
            "XEN_DOMCTL_vmtrace_enable",
            "XEN_DOMCTL_vmtrace_disable",
            "XEN_DOMCTL_vmtrace_reset_and_enable",
            "XEN_DOMCTL_vmtrace_output_position",
            "XEN_DOMCTL_vmtrace_get_option",
            "XEN_DOMCTL_vmtrace_set_option",
        ],
    ),
    (
        "XEN_SYSCTL_",
        &[
            "XEN_SYSCTL_cpu_featureset_raw",
            "XEN_SYSCTL_cpu_featureset_host",
            "XEN_SYSCTL_cpu_featureset_pv",
            "XEN_SYSCTL_cpu_featureset_hvm",
            "XEN_SYSCTL_cpu_featureset_pv_max",
            "XEN_SYSCTL_cpu_featureset_hvm_max",
            "XEN_SYSCTL_cpu_policy_raw",
            "XEN_SYSCTL_cpu_policy_host",
            "XEN_SYSCTL_cpu_policy_pv_max",
            "XEN_SYSCTL_cpu_policy_hvm_max",
            "XEN_SYSCTL_cpu_policy_pv_default",
            "XEN_SYSCTL_cpu_policy_hvm_default",
            "XEN_SYSCTL_pm_op_*",
        ],
    ),
];

/// No C number of a mirrored family is left unchecked: a sub-op the headers define but the Rust
/// side dropped fails here, by name.
#[test]
fn every_c_sub_op_number_is_mirrored() {
    let frags: Vec<Fragment> = FRAGMENTS.iter().map(|f| f()).collect();
    let checked: Vec<&str> = frags
        .iter()
        .flat_map(|f| f.consts.iter())
        .map(|c| c.c_expr.as_str())
        .collect();
    let mut includes: Vec<&str> = Vec::new();
    for f in &frags {
        for i in &f.includes {
            if !includes.contains(&i.as_str()) {
                includes.push(i);
            }
        }
    }
    let macros = checker::c_integer_macros(
        &includes,
        &checker::default_include_dir(),
        &work_dir("layout-macros"),
    )
    .unwrap_or_else(|e| panic!("layout check could not run: {e}"));
    let mut missing = Vec::new();
    let mut seen = 0;
    for (name, value) in &macros {
        let excepted = |except: &[&str]| {
            except.iter().any(|e| match e.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => e == name,
            })
        };
        let plain = C_FAMILIES
            .iter()
            .find(|(p, _)| name.starts_with(p))
            .is_some_and(|(_, except)| !excepted(except));
        let sub_op = C_SUB_OP_FAMILIES
            .iter()
            .find(|(p, _)| name.starts_with(p))
            .is_some_and(|(p, except)| {
                name[p.len()..].starts_with(|c: char| c.is_ascii_lowercase()) && !excepted(except)
            });
        if plain || sub_op {
            seen += 1;
            if !checked.contains(&name.as_str()) {
                missing.push(format!("{name} = {value}"));
            }
        }
    }
    println!(
        "layout: {seen} C numbers of mirrored families, {} unchecked",
        missing.len()
    );
    assert!(
        seen > 300,
        "too few C numbers found ({seen}): is the macro scan broken?"
    );
    assert!(
        missing.is_empty(),
        "C numbers with no Rust counterpart: {missing:#?}"
    );
}

/// The macro scan finds plain integer macros (and only those) with their values.
#[test]
fn macro_scan_reads_integer_defines() {
    let macros = checker::c_integer_macros(
        &["xen/memory.h"],
        &checker::default_include_dir(),
        &work_dir("layout-macro-scan"),
    )
    .unwrap_or_else(|e| panic!("layout check could not run: {e}"));
    let get = |n: &str| macros.iter().find(|(m, _)| m == n).map(|(_, v)| *v);
    assert_eq!(get("XENMEM_claim_pages"), Some(24));
    assert_eq!(get("XENMAPIDX_grant_table_status"), Some(0x8000_0000));
    assert_eq!(
        get("XENMEMF_populate_on_demand"),
        None,
        "an expression is not a literal"
    );
}
