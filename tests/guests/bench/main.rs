//! bench: TSC cycles per operation of the PV paths a guest uses most, printed as
//! `bench: <name> <cycles>` for `cargo xtask bench` to compare Ferrite with Xen 4.17 under the
//! same QEMU: a null hypercall (`xen_version`), an event-channel send and its upcall over a
//! loopback channel within the domain, grant map+unmap and a 4 KiB grant copy (the domain
//! granting to itself), `mmu_update` of one PTE and of a batch of 512, and `update_va_mapping`.
//! Every operation's result is checked, so a fast failure cannot pass for a fast success.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::grant_table::{
        GnttabCopy, GnttabCopyPtr, GNTCOPY_DEST_GREF, GNTMAP_HOST_MAP, GTF_PERMIT_ACCESS,
    },
    abi::xen::Hypercall,
    abi::DomId,
    println, sys,
    sys::events,
    sys::gnttab::{self, Table},
    sys::mmu::{self, mmu_update, mmu_update_batch, mmuext, update_va_mapping, PTE_RW},
    Test,
};

#[cfg(target_os = "none")]
fn report(name: &str, total: u64, n: u64) {
    println!("bench: {name} {}", total / n.max(1));
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    let si = sys::start_info();

    // 1. Null hypercall.
    let n = 20_000;
    let mut ok = true;
    let t0 = sys::rdtsc();
    for _ in 0..n {
        ok &= sys::hypercall_ints(Hypercall::XenVersion as u32, [0, 0, 0, 0, 0]) > 0;
    }
    report("null_hypercall", sys::rdtsc() - t0, n);
    t.check(ok, format_args!("xen_version answered"));

    // 2. Event send -> upcall over a loopback channel.
    let p1 = events::alloc_unbound(0x7ff0);
    t.check(
        p1.is_ok(),
        format_args!("alloc_unbound(SELF, SELF): {p1:?}"),
    );
    let p1 = p1.unwrap_or(0);
    let p2 = events::bind_interdomain(0x7ff0, p1);
    t.check(
        p2.is_ok(),
        format_args!("bind_interdomain(SELF, p1): {p2:?}"),
    );
    let p2 = p2.unwrap_or(0);
    events::clear_port(p2);
    events::set_upcall_mask(false);
    let before = events::events(p2);
    let n = 5_000;
    let t0 = sys::rdtsc();
    for _ in 0..n {
        let mut s = p1.to_le_bytes();
        events::evtchn_op(4, &mut s);
    }
    report("event_send_upcall", sys::rdtsc() - t0, n);
    events::set_upcall_mask(true);
    t.eq(
        events::events(p2) - before,
        n,
        "every send reached the upcall",
    );

    // 3 and 4. Grants to ourselves.
    let buf = sys::static_buffer();
    let base = (buf.as_ptr() as u64 + 4095) & !4095;
    let page = |i: u64| base + i * 4096;
    let (gt_va, src, dst, alias, spare) = (page(0), page(1), page(2), page(3), page(4));
    let mut frames = [0u64; 1];
    t.eq(
        gnttab::setup_table(DomId::SELF, 1, &mut frames),
        (0, 0),
        "setup_table",
    );
    t.eq(
        update_va_mapping(gt_va, (frames[0] << 12) | PTE_RW, 2),
        0,
        "map the grant table",
    );
    let gt = Table { va: gt_va };
    let me = DomId(0);
    gt.grant(10, me, mmu::va_to_mfn(src), GTF_PERMIT_ACCESS);
    gt.grant(11, me, mmu::va_to_mfn(dst), GTF_PERMIT_ACCESS);
    let n = 2_000;
    let mut ok = true;
    let t0 = sys::rdtsc();
    for _ in 0..n {
        let (rc, st, h) = gnttab::map(me, 10, alias, GNTMAP_HOST_MAP);
        ok &= rc == 0 && st == 0;
        ok &= gnttab::unmap(h, alias) == (0, 0);
    }
    report("grant_map_unmap", sys::rdtsc() - t0, n);
    t.check(ok, format_args!("every grant map and unmap succeeded"));
    let ptr = |u: u64, domid: DomId| GnttabCopyPtr {
        u,
        domid,
        offset: 0,
        _pad: [0; 4],
    };
    let mut ok = true;
    let t0 = sys::rdtsc();
    for _ in 0..n {
        let (rc, st) = gnttab::copy(GnttabCopy {
            source: ptr(mmu::va_to_mfn(src), DomId::SELF),
            dest: ptr(11, me),
            len: 4096,
            flags: GNTCOPY_DEST_GREF,
            status: 0,
            _pad: [0; 2],
        });
        ok &= rc == 0 && st == 0;
    }
    report("grant_copy_4k", sys::rdtsc() - t0, n);
    t.check(ok, format_args!("every grant copy succeeded"));
    gt.end_access(10);
    gt.end_access(11);

    // 5 and 6. mmu_update on a pinned L1 hooked into the live L2 (slot 9: 18 MiB).
    let l1 = mmu::pfn_to_mfn(si.nr_pages - 1);
    t.eq(mmuext(16, l1, 0), 0, "clear the L1");
    t.eq(mmuext(0, l1, 0), 0, "pin it");
    let l4 = sys::read_cr3() >> 12;
    let l3 = (mmu::read_table(l4, 0) & mmu::ADDR_MASK) >> 12;
    let l2 = (mmu::read_table(l3, 0) & mmu::ADDR_MASK) >> 12;
    t.eq(
        mmu_update((l2 << 12) | (9 * 8), (l1 << 12) | PTE_RW),
        0,
        "hook it",
    );
    let frames2 = [mmu::va_to_mfn(page(5)), mmu::va_to_mfn(page(6))];
    let n = 5_000;
    let mut ok = true;
    let t0 = sys::rdtsc();
    for i in 0..n {
        ok &= mmu_update(l1 << 12, (frames2[(i & 1) as usize] << 12) | PTE_RW) == 0;
    }
    report("mmu_update_1", sys::rdtsc() - t0, n);
    t.check(ok, format_args!("every single mmu_update succeeded"));
    let mut reqs = [(0u64, 0u64); 64];
    let rounds = 40u64;
    let mut ok = true;
    let t0 = sys::rdtsc();
    for r in 0..rounds {
        // 512 entries as 8 calls of 64 (the runtime's batch size): one L1's worth.
        for chunk in 0..8u64 {
            for (k, q) in reqs.iter_mut().enumerate() {
                let idx = chunk * 64 + k as u64;
                let val = if r & 1 == 0 {
                    (frames2[(idx & 1) as usize] << 12) | PTE_RW
                } else {
                    0
                };
                *q = ((l1 << 12) | (idx * 8), val);
            }
            ok &= mmu_update_batch(&reqs, mmu::DOMID_SELF) == (0, 64);
        }
    }
    report("mmu_update_512", sys::rdtsc() - t0, rounds);
    t.check(ok, format_args!("every batched mmu_update succeeded"));
    t.eq(mmu_update((l2 << 12) | (9 * 8), 0), 0, "unhook");
    t.eq(mmuext(4, l1, 0), 0, "unpin");

    // 7. update_va_mapping of one page, back and forth.
    let spare_mfn = mmu::va_to_mfn(spare);
    let n = 5_000;
    let mut ok = true;
    let t0 = sys::rdtsc();
    for i in 0..n {
        let m = if i & 1 == 0 { frames2[0] } else { spare_mfn };
        ok &= update_va_mapping(spare, (m << 12) | PTE_RW, 2) == 0;
    }
    report("update_va_mapping", sys::rdtsc() - t0, n);
    t.check(ok, format_args!("every update_va_mapping succeeded"));
    t.eq(
        update_va_mapping(spare, (spare_mfn << 12) | PTE_RW, 2),
        0,
        "restore",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
