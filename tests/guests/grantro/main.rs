//! grantro: a read-only grant between two domains cannot be written through any path. A domU
//! (command line `granter`) grants a page read-only to domain 0 (and a mailbox page writable).
//! Domain 0 maps the read-only grant and tries every way to write it: a writable grant map
//! (`GNTST_general_error`), a store through its read-only mapping (#PF), `update_va_mapping`
//! and `mmu_update` of its own PTE to a writable mapping of the frame (`-EBUSY`: not its
//! frame), a store to that PTE through the writable-page-table path (#PF) and a grant copy
//! into it (`GNTST_general_error`); a grant copy out of it works. The granter then finds its
//! page unchanged. Ferrite only: Xen 4.17 on x86 cannot build domains from boot modules.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::grant_table::{
        GnttabCopy, GnttabCopyPtr, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTMAP_HOST_MAP,
        GNTMAP_READONLY, GTF_PERMIT_ACCESS, GTF_READONLY,
    },
    abi::DomId,
    println, sys,
    sys::gnttab::{self, Table},
    sys::mmu::{self, mmu_update, update_va_mapping, ADDR_MASK, PTE_RW},
    sys::traps::{self, pte},
    Test,
};

#[cfg(target_os = "none")]
use domu_frontends::sys::{read_u64, write_u64, yield_cpu};

#[cfg(target_os = "none")]
const RO_REF: u32 = 10;
#[cfg(target_os = "none")]
const MAILBOX_REF: u32 = 11;
#[cfg(target_os = "none")]
const DONE: u64 = 0x444f_4e45;
#[cfg(target_os = "none")]
const GENERAL_ERROR: i16 = -1;

#[cfg(target_os = "none")]
fn pattern(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5a5a
}

/// The machine frame of the L1 that maps `va`, and the entry's index.
#[cfg(target_os = "none")]
fn l1_of(va: u64) -> (u64, usize) {
    let mut table = sys::read_cr3() >> 12;
    for level in [4u32, 3, 2] {
        let index = ((va >> (12 + 9 * (level - 1))) & 511) as usize;
        table = (mmu::read_table(table, index) & ADDR_MASK) >> 12;
    }
    (table, ((va >> 12) & 511) as usize)
}

#[cfg(target_os = "none")]
fn copy(source: GnttabCopyPtr, dest: GnttabCopyPtr, flags: u16) -> (i64, i16) {
    gnttab::copy(GnttabCopy {
        source,
        dest,
        len: 64,
        flags,
        status: 0,
        _pad: [0; 2],
    })
}

#[cfg(target_os = "none")]
fn ptr(u: u64, domid: DomId) -> GnttabCopyPtr {
    GnttabCopyPtr {
        u,
        domid,
        offset: 0,
        _pad: [0; 4],
    }
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    // The trap table, and shared_info mapped for the system time the waits use.
    domu_frontends::setup_events(&mut t);
    let buf = sys::static_buffer();
    let base = (buf.as_ptr() as u64 + 4095) & !4095;
    if sys::start_info().cmd_line.starts_with(b"granter") {
        granter(&mut t, base);
    } else {
        mapper(&mut t, base);
    }
    t.finish();
}

#[cfg(target_os = "none")]
fn granter(t: &mut Test, base: u64) {
    let (gt_va, page, mailbox) = (base, base + 4096, base + 8192);
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
    for i in 0..512 {
        write_u64(page + i * 8, pattern(i));
    }
    let gt = Table { va: gt_va };
    gt.grant(
        RO_REF,
        DomId(0),
        mmu::va_to_mfn(page),
        GTF_PERMIT_ACCESS | GTF_READONLY,
    );
    gt.grant(
        MAILBOX_REF,
        DomId(0),
        mmu::va_to_mfn(mailbox),
        GTF_PERMIT_ACCESS,
    );
    println!("granter: page granted read-only; waiting");
    let deadline = sys::events::system_time() + 60_000_000_000;
    while read_u64(mailbox) != DONE && sys::events::system_time() < deadline {
        yield_cpu();
    }
    t.eq(read_u64(mailbox), DONE, "domain 0 finished");
    t.check(
        (0..512).all(|i| read_u64(page + i * 8) == pattern(i)),
        format_args!("the read-only granted page is unchanged"),
    );
}

#[cfg(target_os = "none")]
fn mapper(t: &mut Test, base: u64) {
    let (va, mailbox, local) = (base + 4096, base + 8192, base + 12288);
    let granter = DomId(1);
    // The mailbox grant appears after the read-only one: once it maps, both exist.
    let mut tries = 0u64;
    let hm = loop {
        let (rc, st, h) = gnttab::map(granter, MAILBOX_REF, mailbox, GNTMAP_HOST_MAP);
        if rc == 0 && st == 0 {
            break h;
        }
        tries += 1;
        if tries > 5_000_000 {
            t.check(
                false,
                format_args!("the mailbox grant never mapped ({rc}, {st})"),
            );
            return;
        }
        yield_cpu();
    };
    let (rc, st, _) = gnttab::map(granter, RO_REF, va, GNTMAP_HOST_MAP);
    t.eq(
        (rc, st),
        (0, GENERAL_ERROR),
        "a writable map of the read-only grant",
    );
    let (rc, st, h) = gnttab::map(granter, RO_REF, va, GNTMAP_HOST_MAP | GNTMAP_READONLY);
    t.eq((rc, st), (0, 0), "a read-only map");
    t.eq(read_u64(va + 8), pattern(1), "it shows the granter's page");
    t.eq(
        traps::write_fault(va).map(|x| x.vector),
        Some(14),
        "a store through the read-only mapping",
    );
    let (l1, idx) = l1_of(va);
    let entry = mmu::read_table(l1, idx);
    let frame = (entry & ADDR_MASK) >> 12;
    t.eq(
        update_va_mapping(va, (frame << 12) | PTE_RW, 2),
        -16,
        "update_va_mapping to a writable mapping of the frame",
    );
    t.eq(
        mmu_update((l1 << 12) | (idx as u64 * 8), (frame << 12) | PTE_RW),
        -16,
        "mmu_update to a writable mapping of the frame",
    );
    // The L1 itself is mapped read-only at its PFN (the bootstrap tables are in the initial
    // mapping): a store there goes through the writable-page-table path.
    let l1_va = mmu::mfn_to_pfn(l1) << 12;
    t.eq(
        pte::store(l1_va + idx as u64 * 8, (frame << 12) | PTE_RW).map(|x| x.vector),
        Some(14),
        "a writable PTE stored through the writable-page-table path",
    );
    t.eq(
        copy(
            ptr(mmu::va_to_mfn(local), DomId::SELF),
            ptr(u64::from(RO_REF), granter),
            GNTCOPY_DEST_GREF,
        ),
        (0, GENERAL_ERROR),
        "a grant copy into the read-only grant",
    );
    t.eq(
        copy(
            ptr(u64::from(RO_REF), granter),
            ptr(mmu::va_to_mfn(local), DomId::SELF),
            GNTCOPY_SOURCE_GREF,
        ),
        (0, 0),
        "a grant copy out of it",
    );
    t.eq(
        read_u64(local + 8),
        pattern(1),
        "the copy carries the granter's data",
    );
    t.eq(
        read_u64(va + 8),
        pattern(1),
        "the mapping still shows the page",
    );
    t.eq(gnttab::unmap(h, va), (0, 0), "unmap the read-only grant");
    write_u64(mailbox, DONE);
    t.eq(gnttab::unmap(hm, mailbox), (0, 0), "unmap the mailbox");
    // Give the granter time to report before this domain's shutdown ends the machine.
    let until = sys::events::system_time() + 500_000_000;
    while sys::events::system_time() < until {
        yield_cpu();
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
