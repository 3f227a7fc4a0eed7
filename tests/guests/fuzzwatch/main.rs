//! fuzzwatch: domain 0 beside `hcfuzz` (a domU issuing random hypercalls). For `seconds=T`
//! plus a margin it keeps 48 KiB of memory in a known pattern, grants a patterned page
//! read-only to domain 1 (and offers it an unbound port), and answers events the whole time:
//! a 10 ms periodic timer (`VIRQ_TIMER`) paces a loopback channel to itself, each event sent
//! must arrive within 2 s. At the end the pattern, the granted page and the exact loopback
//! count must hold, and the timer must have kept ticking. Ferrite only (two boot domains).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::grant_table::{GTF_PERMIT_ACCESS, GTF_READONLY},
    abi::DomId,
    println, sys,
    sys::events,
    sys::gnttab::{self, Table},
    sys::mmu::{self, update_va_mapping, PTE_RW},
    Test,
};

#[cfg(target_os = "none")]
fn pattern(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xf00d
}

#[cfg(target_os = "none")]
fn send(port: u32) -> i64 {
    let mut a = port.to_le_bytes();
    events::evtchn_op(4, &mut a)
}

/// Blocks until `port` has seen more than `seen` events or `deadline` passes (the periodic
/// timer ends every block within 10 ms).
#[cfg(target_os = "none")]
fn wait_beyond(port: u32, seen: u64, deadline: u64) -> bool {
    let mut ok = false;
    events::wait_until(|| {
        ok = events::events(port) > seen;
        ok || events::system_time() > deadline
    });
    ok
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    let seconds = domu_frontends::arg(b"seconds").unwrap_or(10);
    let buf = sys::static_buffer();
    let base = (buf.as_ptr() as u64 + 4095) & !4095;
    let (gt_va, granted) = (base, base + 4096);
    let words = buf.len() as u64 - 3 * 512; // the pattern after the two pages (and slack)
    let first = ((base + 8192 - buf.as_ptr() as u64) / 8) as usize;
    let region = &mut buf[first..first + words as usize];
    for (i, w) in region.iter_mut().enumerate() {
        *w = pattern(i as u64);
    }

    // A read-only grant of a patterned page to domain 1, refs 1 to 4.
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
    let page = granted as *mut u64;
    for i in 0..512 {
        // SAFETY: `granted` is a page of the static buffer, mapped writable, this guest's own.
        unsafe { page.add(i).write_volatile(pattern(!(i as u64))) };
    }
    let gt = Table { va: gt_va };
    for r in 1..=4 {
        gt.grant(
            r,
            DomId(1),
            mmu::va_to_mfn(granted),
            GTF_PERMIT_ACCESS | GTF_READONLY,
        );
    }

    // An unbound port for domain 1 (it may bind it and send), and a loopback pair.
    let peer_port = events::alloc_unbound(1);
    t.check(
        peer_port.is_ok(),
        format_args!("alloc_unbound for domain 1: {peer_port:?}"),
    );
    let peer_port = peer_port.unwrap_or(0);
    let lo_a = events::alloc_unbound(0x7ff0);
    t.check(
        lo_a.is_ok(),
        format_args!("alloc_unbound for itself: {lo_a:?}"),
    );
    let lo_a = lo_a.unwrap_or(0);
    let lo_b = events::bind_interdomain(0x7ff0, lo_a);
    t.check(
        lo_b.is_ok(),
        format_args!("bind_interdomain to itself: {lo_b:?}"),
    );
    let lo_b = lo_b.unwrap_or(0);
    events::clear_port(lo_b);
    let timer = events::bind_virq(0).unwrap_or(0);
    t.check(timer != 0, format_args!("bind VIRQ_TIMER"));
    let mut period = 10_000_000u64.to_le_bytes();
    t.eq(
        events::vcpu_op(6, &mut period),
        0,
        "VCPUOP_set_periodic_timer 10 ms",
    );
    println!(
        "fuzzwatch: watching for {seconds} s (+5): loopback {lo_a}->{lo_b}, port {peer_port} for d1"
    );

    let start = events::system_time();
    let end = start + (seconds + 5) * 1_000_000_000;
    let mut sent = 0u64;
    let mut next_report = start + 5_000_000_000;
    let mut next_check = start;
    while events::system_time() < end {
        let ticks = events::events(timer);
        if send(lo_a) != 0 {
            t.check(false, format_args!("send on the loopback port"));
            break;
        }
        sent += 1;
        let now = events::system_time();
        if !wait_beyond(lo_b, sent - 1, now + 2_000_000_000) {
            t.check(
                false,
                format_args!("loopback event {sent} not delivered within 2 s"),
            );
            break;
        }
        // Paced by the timer: one round trip per tick.
        if !wait_beyond(timer, ticks, now + 2_000_000_000) {
            t.check(false, format_args!("no timer tick within 2 s"));
            break;
        }
        let now = events::system_time();
        if now >= next_check {
            next_check = now + 250_000_000;
            let ok = region
                .iter()
                .enumerate()
                .all(|(i, w)| *w == pattern(i as u64));
            if !t.check(ok, format_args!("memory pattern intact")) {
                break;
            }
        }
        if now >= next_report {
            next_report += 5_000_000_000;
            println!(
                "fuzzwatch: {} s: {sent} loopback events, {} timer ticks, {} from d1",
                (now - start) / 1_000_000_000,
                events::events(timer),
                events::events(peer_port)
            );
        }
    }
    let elapsed = (events::system_time() - start) / 1_000_000_000;
    t.eq(events::events(lo_b), sent, "loopback events, exactly");
    t.check(
        events::events(timer) >= elapsed * 5,
        format_args!(
            "timer ticks kept coming: {} in {elapsed} s",
            events::events(timer)
        ),
    );
    t.check(
        region
            .iter()
            .enumerate()
            .all(|(i, w)| *w == pattern(i as u64)),
        format_args!("memory pattern intact at the end"),
    );
    t.check(
        (0..512).all(|i| {
            // SAFETY: as above; read back.
            unsafe { page.add(i).read_volatile() == pattern(!(i as u64)) }
        }),
        format_args!("the page granted read-only to the fuzzer is unchanged"),
    );
    println!(
        "fuzzwatch: {sent} loopback events, {} timer ticks, {} events from d1 in {elapsed} s",
        events::events(timer),
        events::events(peer_port)
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
