//! evping: two domains exchange 10,000 event round trips over an interdomain channel. The
//! initial domain allocates an unbound port for domain 1 and answers every event with one of
//! its own; the domU binds to it (`EVTCHNOP_bind_interdomain`, retrying until the port exists)
//! and sends, waiting for each answer in `SCHEDOP_block`. Both count exactly what they sent and
//! received. Ferrite only: Xen 4.17 on x86 cannot start the second domain from a boot module.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{println, sys, sys::events, Test};

#[cfg(target_os = "none")]
const ROUNDS: u64 = 10_000;

#[cfg(target_os = "none")]
fn send(port: u32) -> i64 {
    let mut a = port.to_le_bytes();
    events::evtchn_op(4, &mut a)
}

/// Waits until `port` has seen more than `seen` events; false (with what the guest sees of
/// its event state) on a 10 s timeout. The timer (VIRQ_TIMER, bound at start) ends a block
/// that no event ends.
#[cfg(target_os = "none")]
fn wait_beyond(port: u32, seen: u64) -> bool {
    let deadline = events::system_time() + 10_000_000_000;
    loop {
        // Masked while checking: see `events::wait_until`.
        events::set_upcall_mask(true);
        if events::events(port) > seen {
            events::set_upcall_mask(false);
            return true;
        }
        if events::system_time() > deadline {
            println!(
                "timeout on port {port}: events {} (want > {seen}), pending {}, mask {}, sel {:#x}",
                events::events(port),
                events::port_pending(port),
                events::upcall_mask(),
                events::pending_sel()
            );
            events::set_upcall_mask(false);
            return false;
        }
        events::set_timer_op(events::system_time() + 1_000_000_000);
        events::block();
    }
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    let server = sys::start_info().flags & 1 != 0;
    let start = sys::rdtsc();
    if server {
        // EVTCHNOP_alloc_unbound {dom SELF, remote_dom 1} → port.
        let mut a = [0u8; 8];
        a[..2].copy_from_slice(&0x7ff0u16.to_le_bytes());
        a[2..4].copy_from_slice(&1u16.to_le_bytes());
        t.eq(
            events::evtchn_op(6, &mut a),
            0,
            "alloc_unbound for domain 1",
        );
        let port = u32::from_le_bytes([a[4], a[5], a[6], a[7]]);
        println!("server: port {port}");
        let timer = events::bind_virq(0).unwrap_or(0);
        t.check(
            timer != 0,
            format_args!("bind VIRQ_TIMER (for the wait timeouts)"),
        );
        let mut answered = 0;
        while answered < ROUNDS {
            if !wait_beyond(port, answered) {
                break;
            }
            answered += 1;
            if send(port) != 0 {
                break;
            }
        }
        t.eq(answered, ROUNDS, "round trips answered");
        // The client's last word: one more event after its own verdict.
        t.check(
            wait_beyond(port, ROUNDS),
            format_args!("the client's final event"),
        );
        t.eq(events::events(port), ROUNDS + 1, "events received, exactly");
        // A wait only ever times out (1 s) when a wake-up was lost.
        t.eq(events::events(timer), 0, "no wait needed its timer");
    } else {
        // EVTCHNOP_bind_interdomain {remote_dom 0, remote_port 1} → local port.
        let mut a = [0u8; 12];
        a[4..8].copy_from_slice(&1u32.to_le_bytes());
        let mut rc = events::evtchn_op(0, &mut a);
        let deadline = events::system_time() + 10_000_000_000;
        while rc != 0 && events::system_time() < deadline {
            sys::hypercall_ints(
                domu_frontends::abi::xen::Hypercall::SchedOp as u32,
                [0, 0, 0, 0, 0],
            );
            rc = events::evtchn_op(0, &mut a);
        }
        t.eq(rc, 0, "bind_interdomain to the server's port");
        let port = u32::from_le_bytes([a[8], a[9], a[10], a[11]]);
        // Binding raises the new local port once (Xen's evtchn_bind_interdomain: "we may have
        // lost notifications on the remote unbound port"); events are still masked here, so
        // it waits as a pending bit: it is no answer, so clear it.
        t.check(
            events::port_pending(port),
            format_args!("binding raised the local port"),
        );
        events::clear_port(port);
        let timer = events::bind_virq(0).unwrap_or(0);
        t.check(
            timer != 0,
            format_args!("bind VIRQ_TIMER (for the wait timeouts)"),
        );
        let base = events::events(port);
        let mut done = 0;
        while done < ROUNDS {
            if send(port) != 0 || !wait_beyond(port, base + done) {
                break;
            }
            done += 1;
        }
        t.eq(done, ROUNDS, "round trips completed");
        t.eq(
            events::events(port) - base,
            ROUNDS,
            "answers received, exactly",
        );
        let cycles = (sys::rdtsc() - start) / ROUNDS.max(1);
        println!("client: {ROUNDS} round trips, {cycles} TSC cycles each");
        t.finish_then(|| {
            let _ = send(port);
        })
    }
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
