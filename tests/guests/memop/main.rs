//! memop: `memory_op` queries: the current reservation of DOMID_SELF equals `start_info.nr_pages`,
//! the maximum is not below it, the M2P window is where `MACH2PHYS_VIRT_START` says and readable,
//! mapping the p2m's first frame back to PFN 0.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{abi::xen::Hypercall, println, sys, Test};

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    let mo = Hypercall::MemoryOp as u32;
    let si = sys::start_info();
    let mut dom = 0x7ff0u16.to_le_bytes(); // DOMID_SELF
    let cur = sys::hypercall_buf(mo, 3, &mut dom);
    let max = sys::hypercall_buf(mo, 4, &mut dom);
    println!("current {} maximum {} nr_pages {}", cur, max, si.nr_pages);
    t.eq(cur, si.nr_pages as i64, "XENMEM_current_reservation");
    t.check(
        max >= cur,
        format_args!("XENMEM_maximum_reservation {max} >= current {cur}"),
    );
    t.check(
        sys::hypercall_ints(mo, [2, 0, 0, 0, 0]) > 0,
        format_args!("XENMEM_maximum_ram_page"),
    );
    let mut mm = [0u8; 24];
    t.eq(
        sys::hypercall_buf(mo, 12, &mut mm),
        0,
        "XENMEM_machphys_mapping",
    );
    let v_start = u64::from_le_bytes(mm[..8].try_into().unwrap_or([0; 8]));
    let v_end = u64::from_le_bytes(mm[8..16].try_into().unwrap_or([0; 8]));
    t.eq(v_start, 0xffff_8000_0000_0000, "M2P v_start");
    t.check(v_end > v_start, format_args!("M2P v_end {v_end:#x}"));
    // M2P[p2m[0]] == 0: the read-only M2P is readable and consistent with the p2m list.
    let max_mfn = u64::from_le_bytes(mm[16..24].try_into().unwrap_or([0; 8]));
    let got = sys::read_p2m0_and_m2p(v_start, max_mfn);
    println!("p2m[0] and its M2P entry: {:x?}", got);
    t.eq(
        got.map(|(_, pfn)| pfn),
        Some(0),
        "M2P maps the first frame back to PFN 0",
    );
    t.eq(
        sys::hypercall_ints(mo, [63, 0, 0, 0, 0]),
        -38,
        "unknown XENMEM sub-op is -ENOSYS",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
