//! The handshake, driven through the sequences Linux's frontends (blkfront, netfront) and libxl
//! produce.

use super::*;
use Action::*;
use XenbusState as S;

fn obs(frontend: S) -> Observed {
    Observed {
        backend_present: true,
        frontend,
        backend_node: S::InitWait,
        online: true,
    }
}

#[test]
fn new_device_advertises_then_waits() {
    assert_eq!(
        step(Phase::New, &obs(S::Initialising)),
        (Phase::InitWait, vec![Advertise, SetState(S::InitWait)])
    );
}

#[test]
fn new_device_with_frontend_already_initialised_connects_at_once() {
    let (p, a) = step(Phase::New, &obs(S::Initialised));
    assert_eq!(p, Phase::Connected);
    assert_eq!(
        a,
        vec![
            Advertise,
            SetState(S::InitWait),
            Connect,
            SetState(S::Connected)
        ]
    );
}

#[test]
fn initialised_frontend_connects_once() {
    let (p, a) = step(Phase::InitWait, &obs(S::Initialised));
    assert_eq!(
        (p, a),
        (Phase::Connected, vec![Connect, SetState(S::Connected)])
    );
    // A second watch firing (frontend now Connected) changes nothing.
    assert_eq!(
        step(Phase::Connected, &obs(S::Connected)),
        (Phase::Connected, vec![])
    );
}

#[test]
fn frontend_close_then_reconnect() {
    let (p, a) = step(Phase::Connected, &obs(S::Closing));
    assert_eq!(
        (p, a),
        (Phase::Closing, vec![Disconnect, SetState(S::Closing)])
    );
    let (p, a) = step(p, &obs(S::Closed));
    assert_eq!((p, a), (Phase::Closed, vec![SetState(S::Closed)]));
    let (p, a) = step(p, &obs(S::Initialising));
    assert_eq!((p, a), (Phase::InitWait, vec![SetState(S::InitWait)]));
    let (p, _) = step(p, &obs(S::Initialised));
    assert_eq!(p, Phase::Connected);
}

#[test]
fn unplug_offline_closed_frontend_is_forgotten() {
    let mut o = obs(S::Closed);
    o.online = false;
    let (p, a) = step(Phase::Closing, &o);
    assert_eq!((p, a), (Phase::Gone, vec![SetState(S::Closed), Forget]));
}

#[test]
fn unplug_of_never_connected_device_closes_it() {
    let mut o = obs(S::Initialising);
    o.online = false;
    o.backend_node = S::Closing;
    assert_eq!(
        step(Phase::InitWait, &o),
        (Phase::Gone, vec![SetState(S::Closed), Forget])
    );
}

#[test]
fn backend_directory_removed_disconnects_and_forgets() {
    let mut o = obs(S::Connected);
    o.backend_present = false;
    assert_eq!(
        step(Phase::Connected, &o),
        (Phase::Gone, vec![Disconnect, Forget])
    );
    assert_eq!(step(Phase::InitWait, &o), (Phase::Gone, vec![Forget]));
}

#[test]
fn frontend_vanishing_while_connected_disconnects() {
    let (p, a) = step(Phase::Connected, &obs(S::Unknown));
    assert_eq!(
        (p, a),
        (Phase::Closed, vec![Disconnect, SetState(S::Closed)])
    );
    let mut o = obs(S::Unknown);
    o.online = false;
    assert_eq!(step(Phase::Connected, &o).0, Phase::Gone);
}

#[test]
fn gone_stays_gone() {
    assert_eq!(step(Phase::Gone, &obs(S::Connected)), (Phase::Gone, vec![]));
}

#[test]
fn every_state_pair_is_handled_and_connect_follows_initwait() {
    let phases = [
        Phase::New,
        Phase::InitWait,
        Phase::Connected,
        Phase::Closing,
        Phase::Closed,
        Phase::Gone,
    ];
    for p in phases {
        for fe in S::ALL {
            for online in [true, false] {
                for be in S::ALL {
                    let o = Observed {
                        backend_present: true,
                        frontend: fe,
                        backend_node: be,
                        online,
                    };
                    let (_, a) = step(p, &o);
                    // Connect only ever happens from a phase that advertised.
                    if a.contains(&Connect) {
                        assert!(matches!(p, Phase::New | Phase::InitWait));
                    }
                    // Disconnect only when connected.
                    if a.contains(&Disconnect) {
                        assert_eq!(p, Phase::Connected);
                    }
                }
            }
        }
    }
}
