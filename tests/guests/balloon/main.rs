//! balloon: ballooning a PV domain out and back in. `XENMEM_decrease_reservation` gives 16
//! frames back (the current reservation drops by 16; giving back a frame not the guest's, or
//! one already given, does nothing; a given-back frame can no longer be mapped);
//! `XENMEM_populate_physmap` brings 16 new frames in (the reservation is back where it was;
//! their M2P entries name the PFNs asked for; they map and hold data).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    println, sys,
    sys::mmu::{self, update_va_mapping, ADDR_MASK, PTE_RW},
    Test,
};

#[cfg(target_os = "none")]
const N: usize = 16;

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(sys::traps::install(&[]), 0, "set_trap_table");
    let si = sys::start_info();
    let before = sys::memory::current();
    // The top N PFNs: beyond the initial mapping, so nothing maps them.
    let pfns: [u64; N] = core::array::from_fn(|i| si.nr_pages - 1 - i as u64);
    let mut mfns: [u64; N] = pfns.map(mmu::pfn_to_mfn);
    let given = mfns;
    t.eq(
        sys::memory::reservation(1, sys::memory::SELF, 0, &mut mfns),
        N as i64,
        "decrease_reservation of 16 frames",
    );
    let after_out = sys::memory::current();
    println!("reservation {before} -> {after_out}");
    t.eq(
        after_out,
        before - N as i64,
        "the reservation dropped by 16",
    );
    let mut again = [given[0]];
    t.eq(
        sys::memory::reservation(1, sys::memory::SELF, 0, &mut again),
        0,
        "giving a frame back twice does nothing",
    );
    let hv_frame = (mmu::read_table(sys::read_cr3() >> 12, 256) & ADDR_MASK) >> 12;
    let mut foreign = [hv_frame];
    t.eq(
        sys::memory::reservation(1, sys::memory::SELF, 0, &mut foreign),
        0,
        "a frame not the guest's cannot be given back",
    );
    let buf = sys::static_buffer();
    let spare = (buf.as_ptr() as u64 + 4095) & !4095;
    let spare_mfn = mmu::va_to_mfn(spare);
    t.eq(
        update_va_mapping(spare, (given[1] << 12) | PTE_RW, 2),
        -16,
        "a given-back frame cannot be mapped (-EBUSY)",
    );

    // Back in: new frames for the same PFNs.
    let mut extents = pfns;
    t.eq(
        sys::memory::reservation(6, sys::memory::SELF, 0, &mut extents),
        N as i64,
        "populate_physmap of 16 frames",
    );
    t.eq(sys::memory::current(), before, "the reservation is back");
    let m2p_ok = extents
        .iter()
        .zip(pfns.iter())
        .all(|(&m, &p)| mmu::mfn_to_pfn(m) == p);
    t.check(
        m2p_ok,
        format_args!("the new frames' M2P entries name the PFNs asked for"),
    );
    let mut data_ok = true;
    for (i, &m) in extents.iter().enumerate() {
        if update_va_mapping(spare, (m << 12) | PTE_RW, 2) != 0 {
            data_ok = false;
            break;
        }
        let p = spare as *mut u64;
        // SAFETY: `spare` maps the new frame writable now.
        unsafe {
            data_ok &= p.read_volatile() == 0;
            p.write_volatile(0x5a5a_0000 + i as u64);
            data_ok &= p.read_volatile() == 0x5a5a_0000 + i as u64;
        }
    }
    t.check(
        data_ok,
        format_args!("each new frame maps, reads zero and holds data"),
    );
    t.eq(
        update_va_mapping(spare, (spare_mfn << 12) | PTE_RW, 2),
        0,
        "restore the buffer page",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
