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
    // The pseudo-physical and machine E820 maps. As the initial domain: no pseudo-physical map
    // (-ENOSYS, as Xen answers a PV dom0), the host's map with RAM at 1 MiB.
    let mut ram_at_1m = false;
    let mut first = (0u64, 0u64, 0u32);
    let mut rcs = [0i64; 2];
    for (k, (cmd, name)) in [(9u64, "memory_map"), (10, "machine_memory_map")]
        .into_iter()
        .enumerate()
    {
        let mut entries = [0u8; 20 * 16];
        let mut arg = [0u8; 16];
        arg[..4].copy_from_slice(&16u32.to_le_bytes());
        arg[8..].copy_from_slice(&(entries.as_mut_ptr() as u64).to_le_bytes());
        let rc = sys::hypercall_buf(mo, cmd, &mut arg);
        let n = u32::from_le_bytes(arg[..4].try_into().unwrap_or([0; 4]));
        println!("XENMEM_{name}: rc {rc} nr_entries {n}");
        rcs[k] = rc;
        for e in entries
            .chunks(20)
            .take(if rc == 0 { n as usize } else { 0 })
        {
            let addr = u64::from_le_bytes(e[..8].try_into().unwrap_or([0; 8]));
            let size = u64::from_le_bytes(e[8..16].try_into().unwrap_or([0; 8]));
            let ty = u32::from_le_bytes(e[16..].try_into().unwrap_or([0; 4]));
            println!("  {addr:#x} + {size:#x} type {ty}");
            if first.1 == 0 {
                first = (addr, size, ty);
            }
            ram_at_1m |= ty == 1 && addr <= 0x10_0000 && addr + size > 0x10_0000;
        }
    }
    if si.flags & 1 != 0 {
        t.eq(rcs[0], -38, "XENMEM_memory_map of a PV dom0 is -ENOSYS");
        t.eq(rcs[1], 0, "XENMEM_machine_memory_map");
        t.check(ram_at_1m, format_args!("the machine map has RAM at 1 MiB"));
        // Too small a buffer: Xen wants room for one more entry than the map has.
        let mut e = [0u8; 20];
        let mut arg = [0u8; 16];
        arg[..4].copy_from_slice(&1u32.to_le_bytes());
        arg[8..].copy_from_slice(&(e.as_mut_ptr() as u64).to_le_bytes());
        t.eq(
            sys::hypercall_buf(mo, 10, &mut arg),
            -22,
            "machine_memory_map into a 1-entry buffer is -EINVAL",
        );
    } else {
        // A domU: the one RAM entry a toolstack sets (libxl's `xc_domain_set_memmap_limit`),
        // and no access to the host's map.
        t.eq(rcs[0], 0, "XENMEM_memory_map of a domU");
        t.eq(
            first,
            (0, si.nr_pages * 4096, 1),
            "a domU's E820: RAM over all its pages",
        );
        t.eq(rcs[1], -1, "XENMEM_machine_memory_map of a domU is -EPERM");
    }
    t.eq(
        sys::hypercall_ints(mo, [63, 0, 0, 0, 0]),
        -38,
        "unknown XENMEM sub-op is -ENOSYS",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
