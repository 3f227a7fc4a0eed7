//! events: a loopback event channel (`alloc_unbound` for ourselves, `bind_interdomain` to it),
//! `send` delivers an upcall on the bound end; `status` reports both ends; a masked port stays
//! pending without an upcall until `unmask` redelivers it; `close` frees the port and the peer
//! falls back to unbound.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{println, sys::events, Test};

#[cfg(target_os = "none")]
fn status(port: u32) -> (i64, u32) {
    let mut a = [0u8; 24];
    a[..2].copy_from_slice(&0x7ff0u16.to_le_bytes()); // DOMID_SELF
    a[4..8].copy_from_slice(&port.to_le_bytes());
    let r = events::evtchn_op(5, &mut a);
    (r, u32::from_le_bytes([a[8], a[9], a[10], a[11]]))
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);

    // alloc_unbound {dom: SELF, remote_dom: SELF} -> port
    let mut au = [0u8; 8];
    au[..2].copy_from_slice(&0x7ff0u16.to_le_bytes());
    au[2..4].copy_from_slice(&0x7ff0u16.to_le_bytes());
    t.eq(events::evtchn_op(6, &mut au), 0, "EVTCHNOP_alloc_unbound");
    let unbound = u32::from_le_bytes([au[4], au[5], au[6], au[7]]);
    t.eq(
        status(unbound),
        (0, 1),
        "status of the new port: EVTCHNSTAT_unbound",
    );

    // bind_interdomain {remote_dom: SELF, remote_port} -> local_port
    let mut bi = [0u8; 12];
    bi[..2].copy_from_slice(&0x7ff0u16.to_le_bytes());
    bi[4..8].copy_from_slice(&unbound.to_le_bytes());
    t.eq(
        events::evtchn_op(0, &mut bi),
        0,
        "EVTCHNOP_bind_interdomain to ourselves",
    );
    let local = u32::from_le_bytes([bi[8], bi[9], bi[10], bi[11]]);
    println!("loopback: port {} <-> port {}", unbound, local);
    t.eq(status(local), (0, 2), "status: EVTCHNSTAT_interdomain");
    t.eq(status(unbound), (0, 2), "the other end is interdomain too");

    // Events enabled: a send on one end is an upcall for the other.
    events::set_upcall_mask(false);
    let send = |p: u32| events::evtchn_op(4, &mut p.to_le_bytes());
    let before = events::events(unbound);
    t.eq(send(local), 0, "EVTCHNOP_send");
    // The upcall is delivered on the way back from the hypercall.
    t.eq(
        events::events(unbound),
        before + 1,
        "one event on the remote end",
    );

    // Masked: a send leaves the port pending without an upcall; poll sees it at once; unmask
    // redelivers it.
    events::mask_port(unbound);
    t.eq(send(local), 0, "EVTCHNOP_send to a masked port");
    t.eq(
        events::events(unbound),
        before + 1,
        "no upcall for a masked port",
    );
    t.check(
        events::port_pending(unbound),
        format_args!("the masked port is pending"),
    );
    t.eq(
        events::poll(&[unbound], 0),
        0,
        "SCHEDOP_poll on a pending port returns at once",
    );
    t.eq(
        events::evtchn_op(9, &mut unbound.to_le_bytes()),
        0,
        "EVTCHNOP_unmask",
    );
    t.eq(
        events::events(unbound),
        before + 2,
        "unmask redelivered the pending event",
    );
    // Nothing pending: poll waits for its timeout.
    let start = events::system_time();
    t.eq(
        events::poll(&[unbound], start + 30_000_000),
        0,
        "SCHEDOP_poll with a 30 ms timeout",
    );
    let waited = events::system_time() - start;
    t.check(
        waited >= 30_000_000,
        format_args!(
            "poll returned after {} us, before its timeout",
            waited / 1000
        ),
    );
    t.eq(
        events::poll(&[5000], 0),
        -22,
        "SCHEDOP_poll on a port beyond the table is -EINVAL",
    );
    t.eq(
        events::poll(&[unbound; 129], 0),
        -22,
        "SCHEDOP_poll on more than 128 ports is -EINVAL",
    );

    t.eq(
        events::evtchn_op(3, &mut local.to_le_bytes()),
        0,
        "EVTCHNOP_close",
    );
    t.eq(status(local), (0, 0), "closed port: EVTCHNSTAT_closed");
    t.eq(status(unbound), (0, 1), "the peer fell back to unbound");
    t.eq(send(local), -22, "send on a closed port is -EINVAL");
    t.eq(
        send(4095 + 1),
        -22,
        "send on a port beyond the table is -EINVAL",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
