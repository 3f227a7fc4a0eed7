//! grantdeath: a domain dies while another maps its granted page. As a domU (command line
//! `granter`) the guest grants a page to domain 0, offers an unbound event channel to it,
//! waits until domain 0 has mapped the page and bound the channel, and powers off. As the
//! initial domain it maps that page writable, binds the channel, then waits for the granter's
//! destruction: its port falls back to unbound, the domain disappears, and the page stays
//! mapped with its contents (the frame is kept while mapped) until it unmaps it. The
//! hypervisor logs the frame (and the dead domain's grant table) going back to the allocator
//! at that unmap. Ferrite only: Xen 4.17 on x86 cannot build domains from boot modules.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::grant_table::{GNTMAP_HOST_MAP, GTF_PERMIT_ACCESS},
    abi::xen::Hypercall,
    abi::DomId,
    println, sys,
    sys::events,
    sys::gnttab::{self, Table},
    sys::mmu::{self, PTE_RW},
    sys::traps,
    Test,
};

#[cfg(target_os = "none")]
use domu_frontends::sys::{read_u64, write_u64, yield_cpu};

#[cfg(target_os = "none")]
const READY: u64 = 0x5245_4144_5921;
#[cfg(target_os = "none")]
const BOUND: u64 = 0x424f_554e_4421;
#[cfg(target_os = "none")]
const GREF: u32 = 10;

/// `EVTCHNOP_status` of our `port`: `(rc, EVTCHNSTAT_*)`.
#[cfg(target_os = "none")]
fn status(port: u32) -> (i64, u32) {
    let mut a = [0u8; 24];
    a[..2].copy_from_slice(&DomId::SELF.0.to_le_bytes());
    a[4..8].copy_from_slice(&port.to_le_bytes());
    let r = events::evtchn_op(5, &mut a);
    (r, u32::from_le_bytes([a[8], a[9], a[10], a[11]]))
}

#[cfg(target_os = "none")]
fn pattern(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");
    let buf = sys::static_buffer();
    let base = (buf.as_ptr() as u64 + 4095) & !4095;
    if sys::start_info().cmd_line.starts_with(b"granter") {
        granter(&mut t, base);
    } else {
        survivor(&mut t, base);
    }
    t.finish();
}

#[cfg(target_os = "none")]
fn granter(t: &mut Test, base: u64) {
    let (gt_va, p) = (base, base + 4096);
    let mut frames = [0u64; 1];
    t.eq(
        gnttab::setup_table(DomId::SELF, 1, &mut frames),
        (0, 0),
        "setup_table",
    );
    t.eq(
        mmu::update_va_mapping(gt_va, (frames[0] << 12) | PTE_RW, 2),
        0,
        "map the grant table",
    );
    for i in 3..512 {
        write_u64(p + i * 8, pattern(i));
    }
    let mut au = [0u8; 8];
    au[..2].copy_from_slice(&DomId::SELF.0.to_le_bytes());
    au[2..4].copy_from_slice(&0u16.to_le_bytes());
    t.eq(
        events::evtchn_op(6, &mut au),
        0,
        "alloc_unbound for domain 0",
    );
    let port = u32::from_le_bytes([au[4], au[5], au[6], au[7]]);
    write_u64(p + 8, u64::from(port));
    Table { va: gt_va }.grant(GREF, DomId(0), mmu::va_to_mfn(p), GTF_PERMIT_ACCESS);
    write_u64(p, READY);
    println!("granter: page granted, port {} offered; waiting", port);
    while read_u64(p + 16) != BOUND {
        yield_cpu();
    }
    println!("granter: mapped and bound by domain 0; powering off with the grant in use");
}

#[cfg(target_os = "none")]
fn survivor(t: &mut Test, base: u64) {
    let va = base + 4096;
    let mut polls = 0u64;
    let handle = loop {
        let (rc, st, h) = gnttab::map(DomId(1), GREF, va, GNTMAP_HOST_MAP);
        if rc == 0 && st == 0 {
            break h;
        }
        polls += 1;
        if polls > 5_000_000 {
            t.check(
                false,
                format_args!("domain 1's grant never mapped ({rc}, {st})"),
            );
            return;
        }
        yield_cpu();
    };
    while read_u64(va) != READY {
        yield_cpu();
    }
    let port = read_u64(va + 8) as u32;
    let mut bi = [0u8; 12];
    bi[..2].copy_from_slice(&1u16.to_le_bytes());
    bi[4..8].copy_from_slice(&port.to_le_bytes());
    t.eq(
        events::evtchn_op(0, &mut bi),
        0,
        "bind_interdomain to domain 1",
    );
    let local = u32::from_le_bytes([bi[8], bi[9], bi[10], bi[11]]);
    t.eq(status(local), (0, 2), "our port is interdomain");
    write_u64(va + 16, BOUND);
    // The granter powers off: its channel closes (ours falls back to unbound) and it is
    // destroyed, while its page stays mapped here.
    while status(local).1 != 1 {
        yield_cpu();
    }
    let mut d = 1u16.to_le_bytes();
    while sys::hypercall_buf(Hypercall::MemoryOp as u32, 3, &mut d) != -3 {
        yield_cpu();
    }
    println!("survivor: domain 1 is gone; its page is still mapped");
    t.check(
        (3..512).all(|i| read_u64(va + i * 8) == pattern(i)),
        format_args!("the dead domain's page keeps its contents"),
    );
    write_u64(va + 24, 0x5eed);
    t.eq(read_u64(va + 24), 0x5eed, "and is still writable");
    t.eq(
        gnttab::unmap(handle, va),
        (0, 0),
        "unmap the dead domain's page",
    );
    t.eq(
        traps::read_fault(va).map(|x| x.vector),
        Some(14),
        "unmapped",
    );
}

#[cfg(not(target_os = "none"))]
fn main() {}
