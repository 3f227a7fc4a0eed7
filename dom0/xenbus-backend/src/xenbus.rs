//! The backend half of the XenbusState handshake, as a pure function of what xenstore says:
//! the discovery loop ([`crate::driver`]) feeds it the frontend's state, the backend's `state`
//! node and `online` flag, and carries out the actions it returns through the device type's
//! [`crate::driver::Backend`]. Nothing here knows which kind of device it is.

use xen_abi::io::xenbus::XenbusState;

/// Where the backend is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Just found in xenstore; nothing advertised yet.
    New,
    /// Features advertised, state `InitWait`: waiting for the frontend's rings.
    InitWait,
    /// Rings mapped and served, state `Connected`.
    Connected,
    /// Disconnected after the frontend started closing, state `Closing`.
    Closing,
    /// Disconnected, state `Closed`; may reconnect if the frontend starts again.
    Closed,
    /// The device is gone: forget it.
    Gone,
}

/// What the daemon must do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Set the device up and write its feature nodes ([`crate::driver::Backend::advertise`]).
    Advertise,
    /// Read the frontend's rings and start serving them ([`crate::driver::Backend::connect`]).
    Connect,
    /// Stop serving: finish in-flight work, unmap the rings, unbind the event channels
    /// ([`crate::driver::Backend::disconnect`]).
    Disconnect,
    /// Write the backend's `state` node.
    SetState(XenbusState),
    /// Drop the device (its backend directory is gone or it was unplugged).
    Forget,
}

/// What xenstore says about a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The backend directory still exists.
    pub backend_present: bool,
    /// The frontend's `state` (`Unknown` if missing).
    pub frontend: XenbusState,
    /// The backend's `state` node as last written (by us or the toolstack).
    pub backend_node: XenbusState,
    /// The backend's `online` node (the toolstack clears it to unplug).
    pub online: bool,
}

/// The next phase and the actions to get there.
pub fn step(phase: Phase, o: &Observed) -> (Phase, Vec<Action>) {
    use Action::*;
    use XenbusState as S;
    if phase == Phase::Gone {
        return (Phase::Gone, vec![]);
    }
    let teardown = |state: S| {
        let mut a = Vec::new();
        if phase == Phase::Connected {
            a.push(Disconnect);
        }
        a.push(SetState(state));
        a
    };
    if !o.backend_present {
        let mut a = if phase == Phase::Connected {
            vec![Disconnect]
        } else {
            vec![]
        };
        a.push(Forget);
        return (Phase::Gone, a);
    }
    if phase == Phase::New {
        // Advertise first; the frontend may already be waiting, handled on the next step.
        let (next, mut rest) = step(Phase::InitWait, o);
        let mut a = vec![Advertise, SetState(S::InitWait)];
        a.append(&mut rest);
        return (next, a);
    }
    // The toolstack unplugs a device whose frontend never connected (or already closed).
    if !o.online
        && o.backend_node == S::Closing
        && matches!(
            o.frontend,
            S::Unknown | S::Initialising | S::InitWait | S::Closed
        )
    {
        let mut a = teardown(S::Closed);
        a.push(Forget);
        return (Phase::Gone, a);
    }
    match o.frontend {
        S::Initialised | S::Connected => match phase {
            Phase::Connected => (phase, vec![]),
            Phase::InitWait => (Phase::Connected, vec![Connect, SetState(S::Connected)]),
            // Reconnection goes through InitWait again (the frontend restarts from Initialising).
            _ => (phase, vec![]),
        },
        S::Initialising | S::InitWait => match phase {
            Phase::Closed | Phase::Closing => (Phase::InitWait, vec![SetState(S::InitWait)]),
            _ => (phase, vec![]),
        },
        S::Closing => match phase {
            Phase::Closing | Phase::Closed => (phase, vec![]),
            _ => (Phase::Closing, teardown(S::Closing)),
        },
        S::Closed => {
            let mut a = if phase == Phase::Closed {
                vec![]
            } else {
                teardown(S::Closed)
            };
            if !o.online {
                a.push(Forget);
                return (Phase::Gone, a);
            }
            (Phase::Closed, a)
        }
        // The frontend's directory vanished (its domain died or was destroyed).
        S::Unknown => match phase {
            Phase::Connected | Phase::Closing => {
                let mut a = teardown(S::Closed);
                if !o.online {
                    a.push(Forget);
                    return (Phase::Gone, a);
                }
                (Phase::Closed, a)
            }
            _ => (phase, vec![]),
        },
        S::Reconfiguring | S::Reconfigured => (phase, vec![]),
    }
}

#[cfg(test)]
#[path = "xenbus/tests.rs"]
mod tests;
