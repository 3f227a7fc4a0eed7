//! version: `xen_version` sub-ops report Xen 4.17's interface: version, capabilities, platform
//! parameters, page size, and the feature bits Linux requires (`mmu_pt_update_preserve_ad`,
//! `gnttab_map_avail_bits`; `dom0` for the initial domain); an unknown sub-op is `-ENOSYS`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{abi::xen::Hypercall, println, sys, Test};

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    let xv = Hypercall::XenVersion as u32;
    let v = sys::hypercall_ints(xv, [0, 0, 0, 0, 0]);
    println!("XENVER_version = {:#x}", v);
    t.eq(v, (4 << 16) | 17, "XENVER_version is 4.17");

    let mut extra = [0u8; 16];
    t.eq(
        sys::hypercall_buf(xv, 1, &mut extra),
        0,
        "XENVER_extraversion",
    );
    t.check(
        extra[0] == b'.',
        format_args!("extraversion starts with '.': {:?}", &extra),
    );

    let mut caps = [0u8; 1024];
    t.eq(
        sys::hypercall_buf(xv, 3, &mut caps),
        0,
        "XENVER_capabilities",
    );
    t.check(
        caps.starts_with(b"xen-3.0-x86_64"),
        format_args!("capabilities list xen-3.0-x86_64"),
    );

    let mut pp = [0u8; 8];
    t.eq(
        sys::hypercall_buf(xv, 5, &mut pp),
        0,
        "XENVER_platform_parameters",
    );
    t.eq(
        u64::from_le_bytes(pp),
        0xffff_8000_0000_0000,
        "platform virt_start = HYPERVISOR_VIRT_START",
    );

    t.eq(
        sys::hypercall_ints(xv, [7, 0, 0, 0, 0]),
        4096,
        "XENVER_pagesize",
    );

    let mut fi = [0u8; 8]; // submap_idx 0
    t.eq(sys::hypercall_buf(xv, 6, &mut fi), 0, "XENVER_get_features");
    let submap = u32::from_le_bytes([fi[4], fi[5], fi[6], fi[7]]);
    println!("features submap 0 = {:#x}", submap);
    t.check(
        submap & (1 << 5) != 0,
        format_args!("XENFEAT_mmu_pt_update_preserve_ad"),
    );
    t.check(
        submap & (1 << 7) != 0,
        format_args!("XENFEAT_gnttab_map_avail_bits"),
    );
    t.check(
        submap & (1 << 11) != 0,
        format_args!("XENFEAT_dom0 for the initial domain"),
    );
    let mut fi1 = [0u8; 8];
    fi1[0] = 1;
    // XENFEAT_NR_SUBMAPS is 1: any other index is -EINVAL.
    t.eq(
        sys::hypercall_buf(xv, 6, &mut fi1),
        -22,
        "XENVER_get_features submap 1",
    );

    t.eq(
        sys::hypercall_ints(xv, [0x7777, 0, 0, 0, 0]),
        -38,
        "unknown XENVER sub-op is -ENOSYS",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
