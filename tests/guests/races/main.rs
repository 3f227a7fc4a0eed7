//! races: the two vCPUs of one domain racing each other through the operations the SMP
//! advisories were about, on Ferrite and Xen 4.17 (`-smp 2`, `dom0_max_vcpus=2`).
//!
//! Events (XSA-340, 343, 358, 359): vCPU 1 keeps eight IPI ports of its own and sends on,
//! unmasks, queries and re-prioritises them without pause, binding them again whenever they
//! vanish; meanwhile vCPU 0, 100 times over, switches the domain to FIFO events (control blocks
//! for both vCPUs, an event-array page, its own ports sending) and resets it back to 2-level
//! (`EVTCHNOP_reset`, which closes every port under vCPU 1's feet). Every result must be one the
//! ABI allows at that moment (0, `-EINVAL` for a port that just closed, `-EACCES` for the
//! priority of a port closed under FIFO, `-ENOSYS` for a priority under 2-level). Grants (XSA-218, 228, 236): vCPU 0 maps a grant of its own writable,
//! writes through it and unmaps, while vCPU 1 maps it read-only, copies out of it and unmaps,
//! for a second; afterwards the entry's busy bits are clear, it can be revoked, and the frame
//! pins as an L1 (no page or type reference left behind or dropped twice). Page types
//! (XSA-401): vCPU 0 pins a frame as an L1 while vCPU 1 maps it writable. Exchange (XSA-287):
//! vCPU 0 gives a frame up by `XENMEM_exchange` over and over while vCPU 1 maps and unmaps it;
//! a frame given up is never left mapped.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(target_os = "none")]
use domu_frontends::{
    abi::grant_table::{
        GnttabCopy, GnttabCopyPtr, GNTCOPY_SOURCE_GREF, GNTMAP_HOST_MAP, GNTMAP_READONLY,
        GTF_PERMIT_ACCESS,
    },
    abi::DomId,
    println, sys,
    sys::events,
    sys::gnttab::{self, Table},
    sys::mmu::{self, mmuext, PTE_RO, PTE_RW},
    sys::traps,
    sys::{read_u64, write_u64},
    Test,
};

/// What vCPU 1 is to do: 0 wait, 1 events, 2 grants, 4 page types, 5 exchange, 3 stop.
#[cfg(target_os = "none")]
static PHASE: AtomicU32 = AtomicU32::new(0);
#[cfg(target_os = "none")]
static AP_OPS: AtomicU64 = AtomicU64::new(0);
/// The first result vCPU 1 did not expect: (operation << 32) | (rc as u32); 0 for none.
#[cfg(target_os = "none")]
static AP_BAD: AtomicU64 = AtomicU64::new(0);
#[cfg(target_os = "none")]
static AP_DONE: AtomicU32 = AtomicU32::new(0);
#[cfg(target_os = "none")]
static AP_STARTED: AtomicU32 = AtomicU32::new(0);
/// The phase vCPU 1 is in (0 once it left the last one).
#[cfg(target_os = "none")]
static AP_AT: AtomicU32 = AtomicU32::new(0);

/// Ends a phase: vCPU 1 is told and waited for.
#[cfg(target_os = "none")]
fn end_phase() {
    PHASE.store(0, Ordering::SeqCst);
    let deadline = events::system_time() + 10_000_000_000;
    while AP_AT.load(Ordering::SeqCst) != 0 && events::system_time() < deadline {
        core::hint::spin_loop();
    }
}
/// The grant vCPU 1 races on, and where it maps it.
#[cfg(target_os = "none")]
static GRANT: AtomicU64 = AtomicU64::new(0);
#[cfg(target_os = "none")]
static AP_VA: AtomicU64 = AtomicU64::new(0);
#[cfg(target_os = "none")]
static AP_DST: AtomicU64 = AtomicU64::new(0);

#[cfg(target_os = "none")]
#[repr(C, align(16))]
struct Stack([u8; 32768]);
#[cfg(target_os = "none")]
static mut AP_STACK: Stack = Stack([0; 32768]);

/// Pages for FIFO control blocks (one per vCPU) and an event-array page.
#[cfg(target_os = "none")]
#[repr(C, align(4096))]
struct Page([AtomicU32; 1024]);
#[cfg(target_os = "none")]
static CB0: Page = Page([const { AtomicU32::new(0) }; 1024]);
#[cfg(target_os = "none")]
static CB1: Page = Page([const { AtomicU32::new(0) }; 1024]);
#[cfg(target_os = "none")]
static ARR: Page = Page([const { AtomicU32::new(0) }; 1024]);

#[cfg(target_os = "none")]
fn port_op(cmd: u64, port: u32) -> i64 {
    let mut a = port.to_le_bytes();
    events::evtchn_op(cmd, &mut a)
}

#[cfg(target_os = "none")]
fn status(port: u32) -> i64 {
    let mut a = [0u8; 24];
    a[..2].copy_from_slice(&0x7ff0u16.to_le_bytes());
    a[4..8].copy_from_slice(&port.to_le_bytes());
    events::evtchn_op(5, &mut a)
}

#[cfg(target_os = "none")]
fn set_priority(port: u32, priority: u32) -> i64 {
    let mut a = [0u8; 8];
    a[..4].copy_from_slice(&port.to_le_bytes());
    a[4..].copy_from_slice(&priority.to_le_bytes());
    events::evtchn_op(13, &mut a)
}

#[cfg(target_os = "none")]
fn fifo_op(cmd: u64, page: &Page, vcpu: u32) -> i64 {
    let gfn = mmu::va_to_mfn(core::ptr::addr_of!(*page) as u64);
    let mut a = [0u8; 24];
    a[..8].copy_from_slice(&gfn.to_le_bytes());
    a[12..16].copy_from_slice(&vcpu.to_le_bytes());
    events::evtchn_op(cmd, &mut a[..if cmd == 11 { 24 } else { 8 }])
}

/// Notes vCPU 1's first unexpected result.
#[cfg(target_os = "none")]
fn bad(op: u64, rc: i64) {
    let _ = AP_BAD.compare_exchange(
        0,
        (op << 32) | (rc as u32 as u64),
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
}

#[cfg(target_os = "none")]
fn events_ap() {
    let mut ports = [0u32; 8];
    while PHASE.load(Ordering::SeqCst) == 1 {
        for p in ports.iter_mut() {
            if *p == 0 {
                *p = events::bind_ipi(1);
                continue;
            }
            let rc = port_op(4, *p); // EVTCHNOP_send
            if rc == -22 {
                *p = 0; // closed by a reset
                continue;
            }
            if rc != 0 {
                bad(4, rc);
            }
            let rc = port_op(9, *p); // EVTCHNOP_unmask
            if rc != 0 && rc != -22 {
                bad(9, rc);
            }
            let rc = status(*p);
            if rc != 0 && rc != -22 {
                bad(5, rc);
            }
            let rc = set_priority(*p, 5);
            // -EACCES: closed by a reset under FIFO; -ENOSYS: 2-level has no priorities.
            if rc != 0 && rc != -22 && rc != -13 && rc != -38 {
                bad(13, rc);
            }
            AP_OPS.fetch_add(4, Ordering::Relaxed);
        }
    }
}

#[cfg(target_os = "none")]
fn grants_ap() {
    let (gref, va, dst) = (
        GRANT.load(Ordering::SeqCst) as u32,
        AP_VA.load(Ordering::SeqCst),
        AP_DST.load(Ordering::SeqCst),
    );
    let me = DomId(0);
    while PHASE.load(Ordering::SeqCst) == 2 {
        let (rc, st, h) = gnttab::map(me, gref, va, GNTMAP_HOST_MAP | GNTMAP_READONLY);
        if (rc, st) != (0, 0) {
            bad(20, if rc != 0 { rc } else { i64::from(st) });
            continue;
        }
        let (rc, st) = gnttab::copy(GnttabCopy {
            source: GnttabCopyPtr {
                u: u64::from(gref),
                domid: me,
                offset: 0,
                _pad: [0; 4],
            },
            dest: GnttabCopyPtr {
                u: dst,
                domid: DomId::SELF,
                offset: 0,
                _pad: [0; 4],
            },
            len: 64,
            flags: GNTCOPY_SOURCE_GREF,
            status: 0,
            _pad: [0; 2],
        });
        if (rc, st) != (0, 0) {
            bad(5, if rc != 0 { rc } else { i64::from(st) });
        }
        let (rc, st) = gnttab::unmap(h, va);
        if (rc, st) != (0, 0) {
            bad(21, if rc != 0 { rc } else { i64::from(st) });
        }
        AP_OPS.fetch_add(3, Ordering::Relaxed);
    }
}

/// The frame vCPU 0 pins as an L1 while vCPU 1 maps it writable, and vCPU 1's alias for it.
#[cfg(target_os = "none")]
static TYPED: AtomicU64 = AtomicU64::new(0);
#[cfg(target_os = "none")]
static FORGED: AtomicU64 = AtomicU64::new(0);

#[cfg(target_os = "none")]
fn types_ap() {
    let (p, x, forged) = (
        TYPED.load(Ordering::SeqCst),
        AP_VA.load(Ordering::SeqCst),
        FORGED.load(Ordering::SeqCst),
    );
    while PHASE.load(Ordering::SeqCst) == 4 {
        let rc = mmu::update_va_mapping(x, (p << 12) | PTE_RW, 2);
        if rc == 0 {
            // Writable now: it cannot be an L1 at the same time, so nothing checks this entry.
            write_u64(x, forged);
            write_u64(x, 0);
            let rc = mmu::update_va_mapping(x, 0, 2);
            if rc != 0 {
                bad(14, rc);
            }
        } else if rc != -16 && rc != -22 {
            bad(14, rc);
        }
        AP_OPS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The frame vCPU 0 offers to `XENMEM_exchange` (the one the last exchange gave it).
#[cfg(target_os = "none")]
static OFFERED: AtomicU64 = AtomicU64::new(0);

#[cfg(target_os = "none")]
fn exchange_ap() {
    let x = AP_VA.load(Ordering::SeqCst);
    while PHASE.load(Ordering::SeqCst) == 5 {
        let f = OFFERED.load(Ordering::SeqCst);
        match mmu::update_va_mapping(x, (f << 12) | PTE_RW, 2) {
            0 => {
                write_u64(x, 0x287);
                let rc = mmu::update_va_mapping(x, 0, 2);
                if rc != 0 {
                    bad(15, rc);
                }
            }
            // The frame was exchanged away (or was being) before the mapping could take a
            // reference: "could not get page" (-EBUSY), or no longer the guest's (-EINVAL).
            -16 | -22 => {}
            rc => bad(15, rc),
        }
        AP_OPS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The FXSAVE image vCPU 1 takes before it runs any other instruction (XSA-165).
#[cfg(target_os = "none")]
#[repr(C, align(16))]
struct FxArea([u8; 512]);
#[cfg(target_os = "none")]
#[no_mangle]
static mut RACES_AP_FX: FxArea = FxArea([0xaa; 512]);

#[cfg(target_os = "none")]
core::arch::global_asm!(
    ".global races_ap_entry",
    "races_ap_entry:",
    "fxsave [rip + RACES_AP_FX]",
    "jmp {main}",
    main = sym ap_main,
);

/// vCPU 1's entry (after `races_ap_entry`'s FXSAVE).
#[cfg(target_os = "none")]
extern "C" fn ap_main() -> ! {
    AP_STARTED.store(1, Ordering::SeqCst);
    loop {
        let phase = PHASE.load(Ordering::SeqCst);
        AP_AT.store(phase, Ordering::SeqCst);
        match phase {
            1 => events_ap(),
            2 => grants_ap(),
            4 => types_ap(),
            5 => exchange_ap(),
            3 => break,
            _ => core::hint::spin_loop(),
        }
    }
    AP_DONE.store(1, Ordering::SeqCst);
    events::vcpu_op_on(2, 1, 0); // VCPUOP_down on itself
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(target_os = "none")]
fn start_ap(t: &mut Test) {
    extern "C" {
        fn races_ap_entry();
    }
    let top = core::ptr::addr_of!(AP_STACK) as u64 + 32768;
    domu_frontends::start_second_vcpu(t, races_ap_entry as *const () as u64, top, &AP_STARTED);
    // XSA-165: a vCPU's first FPU state is the initial one, not what the CPU held before.
    // SAFETY: vCPU 1 wrote the area before it set AP_STARTED and never writes it again.
    let fx = unsafe { &(*core::ptr::addr_of!(RACES_AP_FX)).0 };
    let word = |at: usize| u16::from_le_bytes([fx[at], fx[at + 1]]);
    let mxcsr = u32::from_le_bytes([fx[24], fx[25], fx[26], fx[27]]);
    t.eq(
        (word(0), word(2), fx[4], mxcsr),
        (0x37f, 0, 0, 0x1f80),
        "XSA-165: vCPU 1 starts with FCW 0x37f, FSW 0, no x87 tag, MXCSR 0x1f80",
    );
    // Each ST register is 10 bytes of a 16-byte slot (FXSAVE leaves the other 6 alone).
    let st_zero = (0..8).all(|i| fx[32 + 16 * i..42 + 16 * i].iter().all(|&b| b == 0));
    let xmm_zero = fx[160..416].iter().all(|&b| b == 0);
    t.check(
        st_zero && xmm_zero,
        format_args!("XSA-165: vCPU 1 starts with ST0-7 and XMM0-15 zero"),
    );
}

#[cfg(target_os = "none")]
fn zero(p: &Page) {
    for w in p.0.iter() {
        w.store(0, Ordering::SeqCst);
    }
}

#[cfg(target_os = "none")]
fn events_race(t: &mut Test) {
    let before = AP_OPS.load(Ordering::SeqCst);
    PHASE.store(1, Ordering::SeqCst);
    let mut rounds = 0;
    let (mut again, until) = (0, events::system_time() + 500_000_000);
    // 100 rounds, and for at least half a second.
    while rounds < 100 || events::system_time() < until {
        for p in [&CB0, &CB1, &ARR] {
            zero(p);
        }
        let ok =
            fifo_op(11, &CB0, 0) == 0 && fifo_op(11, &CB1, 1) == 0 && fifo_op(12, &ARR, 0) == 0;
        let mine = events::bind_ipi(0);
        let sent = mine != 0 && port_op(4, mine) == 0 && port_op(4, mine) == 0;
        // Xen answers -EAGAIN while a port is still linked in a queue (vCPU 1's sends): the
        // reset is tried again.
        let mut reset = -11;
        for _ in 0..10_000 {
            let mut dom = 0x7ff0u16.to_le_bytes();
            reset = events::evtchn_op(10, &mut dom);
            if reset != -11 {
                break;
            }
            again += 1;
        }
        if !(ok && sent && reset == 0) {
            println!("races: event round {rounds}: fifo {ok}, sends {sent}, reset {reset}");
            break;
        }
        rounds += 1;
    }
    t.check(
        rounds >= 100,
        format_args!("{rounds} rounds of FIFO set-up and reset beside vCPU 1's operations"),
    );
    println!("races: {rounds} rounds, resets tried again {again} times (-EAGAIN)");
    end_phase();
    let done = AP_OPS.load(Ordering::SeqCst) - before;
    println!("races: vCPU 1 made {done} event operations meanwhile");
    t.check(
        done >= 100,
        format_args!("vCPU 1 raced ({done} operations)"),
    );
    t.eq(
        fifo_op(12, &ARR, 0),
        -95,
        "2-level again: expand_array is -EOPNOTSUPP",
    );
    let p = events::alloc_unbound(DomId::SELF.0);
    t.check(
        p.is_ok(),
        format_args!("a port allocates after the races ({p:?})"),
    );
}

#[cfg(target_os = "none")]
fn grants_race(t: &mut Test) {
    let me = DomId(0);
    let buf = sys::static_buffer();
    let base = (buf.as_ptr() as u64 + 4095) & !4095;
    let page = |i: u64| base + i * 4096;
    let (gt_va, f, x0, x1, dst) = (page(0), page(1), page(2), page(3), page(4));
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
    let gt = Table { va: gt_va };
    let f_mfn = mmu::va_to_mfn(f);
    gt.grant(30, me, f_mfn, GTF_PERMIT_ACCESS);
    GRANT.store(30, Ordering::SeqCst);
    AP_VA.store(x1, Ordering::SeqCst);
    AP_DST.store(mmu::va_to_mfn(dst), Ordering::SeqCst);
    let before = AP_OPS.load(Ordering::SeqCst);
    PHASE.store(2, Ordering::SeqCst);
    let until = events::system_time() + 1_000_000_000;
    let (mut mine, mut failed) = (0u64, None);
    while events::system_time() < until {
        let (rc, st, h) = gnttab::map(me, 30, x0, GNTMAP_HOST_MAP);
        if (rc, st) != (0, 0) {
            failed = Some(("map", rc, st));
            break;
        }
        write_u64(x0 + 8 * (mine % 512), mine);
        let (rc, st) = gnttab::unmap(h, x0);
        if (rc, st) != (0, 0) {
            failed = Some(("unmap", rc, st));
            break;
        }
        mine += 1;
    }
    PHASE.store(3, Ordering::SeqCst);
    let deadline = events::system_time() + 10_000_000_000;
    while AP_DONE.load(Ordering::SeqCst) == 0 && events::system_time() < deadline {
        core::hint::spin_loop();
    }
    t.eq(failed, None, "vCPU 0's writable maps and unmaps all worked");
    let done = AP_OPS.load(Ordering::SeqCst) - before;
    println!("races: {mine} writable map rounds on vCPU 0, {done} grant operations on vCPU 1");
    t.check(
        mine >= 10 && done >= 10,
        format_args!("both vCPUs raced on the grant"),
    );
    t.eq(
        read_u64(f + 8) % 512,
        1,
        "the writes through the mappings landed",
    );
    t.eq(
        gt.flags(30),
        GTF_PERMIT_ACCESS,
        "no busy bit left on the entry",
    );
    t.check(gt.end_access(30), format_args!("the grant revokes"));
    for i in 0..512 {
        write_u64(f + i * 8, 0);
    }
    t.eq(
        mmu::update_va_mapping(f, (f_mfn << 12) | PTE_RO, 2),
        0,
        "the frame's own mapping made read-only",
    );
    t.eq(
        mmuext(0, f_mfn, 0),
        0,
        "the frame pins as an L1: no reference left over",
    );
    t.eq(mmuext(4, f_mfn, 0), 0, "unpinned");
    t.eq(
        mmu::update_va_mapping(f, (f_mfn << 12) | PTE_RW, 2),
        0,
        "writable again",
    );
}

/// XSA-401 (and 241's pattern across vCPUs): vCPU 0 pins a frame as an L1 and unpins it over
/// and over while vCPU 1 maps it writable, writes a forged entry (the L4, writable) and takes
/// it back: a writable mapping and the L1 type never coexist, so a pinned L1 never holds the
/// forged entry.
#[cfg(target_os = "none")]
fn types_race(t: &mut Test) {
    let buf_page = |i: u64| {
        let b = core::ptr::addr_of!(TYPES_BUF) as u64;
        b + i * 4096
    };
    let (own, x) = (buf_page(0), buf_page(1));
    let p = mmu::va_to_mfn(own);
    for i in 0..512 {
        write_u64(own + i * 8, 0);
    }
    t.eq(
        mmu::update_va_mapping(own, (p << 12) | PTE_RO, 2),
        0,
        "XSA-401: the frame's own mapping read-only",
    );
    let forged = (sys::read_cr3() & !0xfff) | 0x7;
    TYPED.store(p, Ordering::SeqCst);
    FORGED.store(forged, Ordering::SeqCst);
    AP_VA.store(x, Ordering::SeqCst);
    let before = AP_OPS.load(Ordering::SeqCst);
    PHASE.store(4, Ordering::SeqCst);
    let until = events::system_time() + 1_000_000_000;
    let (mut pinned, mut seen, mut odd) = (0u64, 0u64, None);
    while events::system_time() < until {
        match mmuext(0, p, 0) {
            0 => {
                pinned += 1;
                if (0..512).any(|i| read_u64(own + i * 8) == forged) {
                    seen += 1;
                }
                let rc = mmuext(4, p, 0);
                if rc != 0 {
                    odd = Some(("unpin", rc));
                    break;
                }
            }
            -16 | -22 => {}
            rc => {
                odd = Some(("pin", rc));
                break;
            }
        }
    }
    end_phase();
    let done = AP_OPS.load(Ordering::SeqCst) - before;
    println!("races: {pinned} pins of the frame by vCPU 0, {done} writable maps tried by vCPU 1");
    t.eq(
        odd,
        None,
        "XSA-401: pins and unpins answer as the ABI allows",
    );
    t.eq(seen, 0, "XSA-401: a pinned L1 never held the forged entry");
    t.check(
        pinned >= 10 && done >= 10,
        format_args!("XSA-401: both vCPUs raced on the frame"),
    );
    t.eq(
        mmuext(0, p, 0),
        0,
        "XSA-401: the frame pins once vCPU 1 stopped",
    );
    t.eq(mmuext(4, p, 0), 0, "XSA-401: unpinned");
    t.eq(
        mmu::update_va_mapping(own, (p << 12) | PTE_RW, 2),
        0,
        "XSA-401: writable again",
    );
}

#[cfg(target_os = "none")]
#[repr(C, align(4096))]
struct TypesBuf([u8; 8192]);
#[cfg(target_os = "none")]
static mut TYPES_BUF: TypesBuf = TypesBuf([0; 8192]);

/// XSA-287: vCPU 0 exchanges a frame it does not map (`XENMEM_exchange`, one frame for one)
/// over and over, each time offering the frame the last exchange gave it, while vCPU 1 maps
/// the offered frame writable, writes it and unmaps it. An exchange gives the frame up only if
/// nothing maps it at that instant (`steal_page`), else it is -EINVAL with nothing exchanged:
/// right after a successful exchange, vCPU 1's slot never maps the frame given up.
#[cfg(target_os = "none")]
fn exchange_race(t: &mut Test) {
    let b = core::ptr::addr_of!(XCHG_BUF) as u64;
    let (own, x) = (b, b + 4096);
    let pfn = mmu::mfn_to_pfn(mmu::va_to_mfn(own));
    let mut f = mmu::va_to_mfn(own);
    t.eq(
        mmu::update_va_mapping(own, 0, 2),
        0,
        "XSA-287: the offered frame unmapped",
    );
    OFFERED.store(f, Ordering::SeqCst);
    AP_VA.store(x, Ordering::SeqCst);
    let before = AP_OPS.load(Ordering::SeqCst);
    PHASE.store(5, Ordering::SeqCst);
    let until = events::system_time() + 1_000_000_000;
    let (mut swapped, mut refused, mut odd, mut seen) = (0u64, 0u64, None, 0u64);
    let (pte, _) = mmu::pte_address(x);
    while events::system_time() < until {
        let mut inputs = [f];
        let (rc, done, out) = exchange(&mut inputs, pfn);
        match (rc, done) {
            (0, 1) => {
                // vCPU 1's slot, read after the exchange: never the frame given up.
                let e = mmu::read_table(pte >> 12, ((pte & 0xfff) / 8) as usize);
                if e & 1 != 0 && (e & mmu::ADDR_MASK) >> 12 == f {
                    seen += 1;
                }
                swapped += 1;
                f = out;
                OFFERED.store(f, Ordering::SeqCst);
            }
            (-22, 0) => refused += 1,
            r => {
                odd = Some(r);
                break;
            }
        }
    }
    end_phase();
    let done = AP_OPS.load(Ordering::SeqCst) - before;
    println!("races: {swapped} exchanges, {refused} refused while mapped, {done} maps by vCPU 1");
    t.eq(odd, None, "XSA-287: exchanges answer 0 or -EINVAL");
    t.eq(
        seen,
        0,
        "XSA-287: a frame given up is never left mapped by the other vCPU",
    );
    t.check(
        swapped >= 10 && done >= 10,
        format_args!("XSA-287: both vCPUs raced on the frame"),
    );
    t.eq(
        mmu::update_va_mapping(own, (f << 12) | PTE_RW, 2),
        0,
        "XSA-287: the last frame maps in its place",
    );
    t.eq(mmu::mfn_to_pfn(f), pfn, "XSA-287: its M2P entry is the PFN");
    write_u64(own, 0x2870);
    t.eq(read_u64(own), 0x2870, "XSA-287: and it holds data");
}

/// `XENMEM_exchange` of the frames `inputs` for one frame, whose M2P entry becomes `gpfn`:
/// (rc, nr_exchanged, the new frame).
#[cfg(target_os = "none")]
fn exchange(inputs: &mut [u64], gpfn: u64) -> (i64, u64, u64) {
    let mut out = [gpfn];
    let mut x = [0u8; 72];
    x[..8].copy_from_slice(&(inputs.as_mut_ptr() as u64).to_le_bytes());
    x[8..16].copy_from_slice(&(inputs.len() as u64).to_le_bytes());
    x[24..26].copy_from_slice(&0x7ff0u16.to_le_bytes());
    x[32..40].copy_from_slice(&(out.as_mut_ptr() as u64).to_le_bytes());
    x[40..48].copy_from_slice(&1u64.to_le_bytes());
    x[56..58].copy_from_slice(&0x7ff0u16.to_le_bytes());
    let rc = sys::hypercall_buf(
        domu_frontends::abi::xen::Hypercall::MemoryOp as u32,
        11,
        &mut x,
    );
    let done = u64::from_le_bytes(x[64..72].try_into().unwrap_or([0; 8]));
    (rc, done, out[0])
}

#[cfg(target_os = "none")]
static mut XCHG_BUF: TypesBuf = TypesBuf([0; 8192]);

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");
    t.eq(events::map_shared_info(), 0, "map shared_info");
    events::set_upcall_mask(true);
    start_ap(&mut t);
    events_race(&mut t);
    types_race(&mut t);
    exchange_race(&mut t);
    grants_race(&mut t);
    t.eq(AP_DONE.load(Ordering::SeqCst), 1, "vCPU 1 finished");
    let b = AP_BAD.load(Ordering::SeqCst);
    t.eq(
        b,
        0,
        "vCPU 1 saw only results the ABI allows (else: operation << 32 | rc)",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
