//! exchange: `XENMEM_exchange`, as Linux's `xen_create_contiguous_region` uses it: four single
//! frames for one extent of four machine-contiguous frames below 4 GiB. The new extent is
//! aligned, its M2P entries name the PFNs given, it maps and reads zero; the old frames are
//! gone (a mapping of one is refused); `nr_exchanged` says 4. Giving up a frame the guest does
//! not own is -EINVAL with nothing exchanged. XSA-217: a frame the guest still maps elsewhere
//! is not given up (-EINVAL) until it is unmapped. XSA-159: an output list the hypervisor
//! cannot write back is -EFAULT with nothing counted and no page lost from the reservation.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::xen::Hypercall,
    println, sys,
    sys::mmu::{self, update_va_mapping, ADDR_MASK, PTE_RO, PTE_RW},
    Test,
};

/// `memory_op(XENMEM_exchange)` of `inputs` (order 0) for one extent of order `out_order` at
/// `gpfn`: (rc, nr_exchanged, the out extent's first MFN).
#[cfg(target_os = "none")]
fn exchange(inputs: &mut [u64], out_order: u32, gpfn: u64, address_bits: u32) -> (i64, u64, u64) {
    let mut out = [gpfn];
    let (rc, done) = exchange_into(inputs, out_order, out.as_mut_ptr() as u64, address_bits);
    (rc, done, out[0])
}

/// As [`exchange`], with the output list at `out` (a guest address): (rc, nr_exchanged).
#[cfg(target_os = "none")]
fn exchange_into(inputs: &mut [u64], out_order: u32, out: u64, address_bits: u32) -> (i64, u64) {
    let mut x = [0u8; 72];
    // in: extent_start, nr_extents, extent_order 0, mem_flags 0, domid SELF
    x[..8].copy_from_slice(&(inputs.as_mut_ptr() as u64).to_le_bytes());
    x[8..16].copy_from_slice(&(inputs.len() as u64).to_le_bytes());
    x[24..26].copy_from_slice(&0x7ff0u16.to_le_bytes());
    // out: extent_start, nr_extents 1, extent_order, mem_flags (address bits), domid SELF
    x[32..40].copy_from_slice(&out.to_le_bytes());
    x[40..48].copy_from_slice(&1u64.to_le_bytes());
    x[48..52].copy_from_slice(&out_order.to_le_bytes());
    x[52..56].copy_from_slice(&address_bits.to_le_bytes());
    x[56..58].copy_from_slice(&0x7ff0u16.to_le_bytes());
    let rc = sys::hypercall_buf(Hypercall::MemoryOp as u32, 11, &mut x);
    let done = u64::from_le_bytes(x[64..72].try_into().unwrap_or([0; 8]));
    (rc, done)
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(sys::traps::install(&[]), 0, "set_trap_table");
    let si = sys::start_info();
    let hv_frame = (mmu::read_table(sys::read_cr3() >> 12, 256) & ADDR_MASK) >> 12;
    let mut bad = [hv_frame, 0, 0, 0];
    let (rc, done, _) = exchange(&mut bad, 2, 0, 32);
    t.eq(
        (rc, done),
        (-22, 0),
        "a frame not the guest's: -EINVAL, nothing exchanged",
    );

    let base_pfn = si.nr_pages - 8;
    let old: [u64; 4] = core::array::from_fn(|i| mmu::pfn_to_mfn(base_pfn + i as u64));
    let mut inputs = old;
    let (rc, done, first) = exchange(&mut inputs, 2, base_pfn, 32);
    println!("exchange: rc {rc}, {done} exchanged, new extent at MFN {first:#x}");
    t.eq((rc, done), (0, 4), "four frames exchanged");
    t.eq(first % 4, 0, "the new extent is aligned to its size");
    t.check(
        first + 4 <= 1 << 20,
        format_args!("the new extent lies below 4 GiB"),
    );
    t.check(
        (0..4).all(|i| mmu::mfn_to_pfn(first + i) == base_pfn + i),
        format_args!("the new frames' M2P entries name the PFNs"),
    );
    let buf = sys::static_buffer();
    let spare = (buf.as_ptr() as u64 + 4095) & !4095;
    let own = mmu::va_to_mfn(spare);
    let mut ok = true;
    for i in 0..4 {
        ok &= update_va_mapping(spare, ((first + i) << 12) | PTE_RW, 2) == 0;
        // SAFETY: `spare` maps the new frame now.
        ok &= unsafe { (spare as *const u64).read_volatile() } == 0;
    }
    t.check(ok, format_args!("the new frames map and read zero"));
    t.eq(
        update_va_mapping(spare, (old[0] << 12) | PTE_RW, 2),
        -16,
        "an old frame is no longer the guest's",
    );
    t.eq(
        update_va_mapping(spare, (own << 12) | PTE_RW, 2),
        0,
        "restore",
    );

    // An output list whose size overflows (2^62 + 1 extents of 4 frames: 4 once wrapped) is
    // -EINVAL, whatever the input list says.
    let mut four_in: [u64; 4] =
        core::array::from_fn(|i| mmu::pfn_to_mfn(si.nr_pages - 24 + i as u64));
    let mut x = [0u8; 72];
    x[..8].copy_from_slice(&(four_in.as_mut_ptr() as u64).to_le_bytes());
    x[8..16].copy_from_slice(&4u64.to_le_bytes());
    x[24..26].copy_from_slice(&0x7ff0u16.to_le_bytes());
    x[32..40].copy_from_slice(&(four_in.as_mut_ptr() as u64).to_le_bytes());
    x[40..48].copy_from_slice(&((1u64 << 62) + 1).to_le_bytes());
    x[48..52].copy_from_slice(&2u32.to_le_bytes());
    x[56..58].copy_from_slice(&0x7ff0u16.to_le_bytes());
    t.eq(
        sys::hypercall_buf(Hypercall::MemoryOp as u32, 11, &mut x),
        -22,
        "an output list whose size overflows: -EINVAL",
    );

    // XSA-217: a frame still mapped elsewhere is not given up.
    let pfn = si.nr_pages - 17;
    let f = mmu::pfn_to_mfn(pfn);
    t.eq(
        update_va_mapping(spare, (f << 12) | PTE_RO, 2),
        0,
        "XSA-217: a free frame mapped read-only",
    );
    let mut one = [f];
    let (rc, done, _) = exchange(&mut one, 0, pfn, 0);
    t.eq(
        (rc, done),
        (-22, 0),
        "XSA-217: exchanging it while mapped is -EINVAL",
    );
    t.eq(
        update_va_mapping(spare, (own << 12) | PTE_RW, 2),
        0,
        "XSA-217: unmapped",
    );
    let (rc, done, _) = exchange(&mut one, 0, pfn, 0);
    t.eq((rc, done), (0, 1), "XSA-217: then it is exchanged");

    // XSA-159: an output list the hypervisor cannot write: -EFAULT, nothing counted, and the
    // reservation as it was (no page leaked on the error path).
    let before = sys::memory::current();
    let ro = spare + 4096;
    // SAFETY: the second page of the static buffer, this guest's own.
    unsafe { (ro as *mut u64).write_volatile(si.nr_pages - 16) };
    let ro_mfn = mmu::va_to_mfn(ro);
    t.eq(
        update_va_mapping(ro, (ro_mfn << 12) | PTE_RO, 2),
        0,
        "XSA-159: the output list's page read-only",
    );
    let mut four: [u64; 4] = core::array::from_fn(|i| mmu::pfn_to_mfn(si.nr_pages - 16 + i as u64));
    t.eq(
        exchange_into(&mut four, 2, ro, 0),
        (-14, 0),
        "XSA-159: an unwritable output list is -EFAULT, nothing exchanged",
    );
    t.eq(
        sys::memory::current(),
        before,
        "XSA-159: the reservation is unchanged",
    );
    t.eq(
        update_va_mapping(ro, (ro_mfn << 12) | PTE_RW, 2),
        0,
        "XSA-159: writable again",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
