//! `io/xenbus.h`: the xenbus device states (`enum xenbus_state`) both ends publish in xenstore.

use super::UnknownValue;

/// The state of one end of a split device, written as a decimal string to its `state` node
/// (`enum xenbus_state`, `XenbusState`).
///
/// A state read from xenstore converts with `TryFrom<u32>` (after parsing the decimal string); a
/// number outside 0..=8 is an [`UnknownValue`]: `ENOSYS` would mean nothing to a driver watching
/// its peer's state node.
#[doc(alias = "xenbus_state")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum XenbusState {
    /// `XenbusStateUnknown`: no state node (yet).
    #[doc(alias = "XenbusStateUnknown")]
    Unknown = 0,
    /// `XenbusStateInitialising`.
    #[doc(alias = "XenbusStateInitialising")]
    Initialising = 1,
    /// `XenbusStateInitWait`: early initialisation done, waiting for the peer or hotplug scripts.
    #[doc(alias = "XenbusStateInitWait")]
    InitWait = 2,
    /// `XenbusStateInitialised`: waiting for a connection from the peer.
    #[doc(alias = "XenbusStateInitialised")]
    Initialised = 3,
    /// `XenbusStateConnected`.
    #[doc(alias = "XenbusStateConnected")]
    Connected = 4,
    /// `XenbusStateClosing`: being closed after an error or an unplug.
    #[doc(alias = "XenbusStateClosing")]
    Closing = 5,
    /// `XenbusStateClosed`.
    #[doc(alias = "XenbusStateClosed")]
    Closed = 6,
    /// `XenbusStateReconfiguring`.
    #[doc(alias = "XenbusStateReconfiguring")]
    Reconfiguring = 7,
    /// `XenbusStateReconfigured`.
    #[doc(alias = "XenbusStateReconfigured")]
    Reconfigured = 8,
}

impl XenbusState {
    /// Every state, in numeric order.
    pub const ALL: [XenbusState; 9] = [
        XenbusState::Unknown,
        XenbusState::Initialising,
        XenbusState::InitWait,
        XenbusState::Initialised,
        XenbusState::Connected,
        XenbusState::Closing,
        XenbusState::Closed,
        XenbusState::Reconfiguring,
        XenbusState::Reconfigured,
    ];

    /// The C enumerator name, e.g. `"XenbusStateConnected"`.
    pub const fn c_name(self) -> &'static str {
        match self {
            XenbusState::Unknown => "XenbusStateUnknown",
            XenbusState::Initialising => "XenbusStateInitialising",
            XenbusState::InitWait => "XenbusStateInitWait",
            XenbusState::Initialised => "XenbusStateInitialised",
            XenbusState::Connected => "XenbusStateConnected",
            XenbusState::Closing => "XenbusStateClosing",
            XenbusState::Closed => "XenbusStateClosed",
            XenbusState::Reconfiguring => "XenbusStateReconfiguring",
            XenbusState::Reconfigured => "XenbusStateReconfigured",
        }
    }
}

impl TryFrom<u32> for XenbusState {
    type Error = UnknownValue;

    fn try_from(v: u32) -> Result<Self, UnknownValue> {
        Ok(match v {
            0 => XenbusState::Unknown,
            1 => XenbusState::Initialising,
            2 => XenbusState::InitWait,
            3 => XenbusState::Initialised,
            4 => XenbusState::Connected,
            5 => XenbusState::Closing,
            6 => XenbusState::Closed,
            7 => XenbusState::Reconfiguring,
            8 => XenbusState::Reconfigured,
            _ => {
                return Err(UnknownValue {
                    what: "enum xenbus_state",
                    value: v,
                })
            }
        })
    }
}

impl From<XenbusState> for u32 {
    fn from(s: XenbusState) -> u32 {
        s as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_from_every_state_round_trips() {
        for s in XenbusState::ALL {
            assert_eq!(XenbusState::try_from(u32::from(s)), Ok(s));
        }
    }

    #[test]
    fn try_from_nine_is_unknown_value() {
        assert_eq!(
            XenbusState::try_from(9),
            Err(UnknownValue {
                what: "enum xenbus_state",
                value: 9
            })
        );
    }
}
