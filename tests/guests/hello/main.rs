//! hello: the smallest PV guest. Prints through `console_io`, checks its `start_info`, and
//! reports; proves the builder, ring-3 entry, the hypercall path and shutdown.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{println, sys, Test};

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    println!("Hello from a Ferrite PV test guest");
    let si = sys::start_info();
    t.eq(
        &si.magic[..14],
        b"xen-3.0-x86_64".as_slice(),
        "start_info.magic",
    );
    t.check(
        si.nr_pages >= 256,
        format_args!("start_info.nr_pages = {}", si.nr_pages),
    );
    t.check(
        si.shared_info != 0 && si.shared_info.is_multiple_of(4096),
        format_args!("start_info.shared_info = {:#x}", si.shared_info),
    );
    t.check(
        si.pt_base.is_multiple_of(4096) && si.nr_pt_frames >= 4,
        format_args!(
            "pt_base {:#x}, nr_pt_frames {}",
            si.pt_base, si.nr_pt_frames
        ),
    );
    let flags = si.flags;
    t.check(
        flags & 3 == 3,
        format_args!("dom0 flags SIF_PRIVILEGED|SIF_INITDOMAIN, got {flags:#x}"),
    );
    // The p2m list is mapped and names the page tables' own frame.
    // SAFETY-free: read through a slice the builder mapped at mfn_list.
    println!(
        "nr_pages {} pt_base {:#x} mfn_list {:#x}",
        si.nr_pages, si.pt_base, si.mfn_list
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
