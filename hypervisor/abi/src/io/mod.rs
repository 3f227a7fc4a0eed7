//! `io/*.h`: the split-driver interfaces — the generic shared ring and the block, network, console,
//! xenstore and xenbus protocols built on it.
//!
//! One submodule per header under `xen/include/public/io/`. Protocol numbers a peer sends (a ring
//! entry's opcode, a xenbus state node, a wire message type) convert with `TryFrom`; a number the
//! header does not define is an error, never a transmuted enum.

pub mod blkif;
pub mod console;
pub mod netif;
pub mod ring;
pub mod xenbus;
pub mod xs_wire;

/// A protocol number that the header does not define, read from a peer.
///
/// Used where Xen's `ENOSYS` ("no such sub-op") would mean nothing to the party that has to act on
/// it: a xenbus state node, a block request opcode (answered on the ring with
/// `BLKIF_RSP_EOPNOTSUPP`), a network extra-info type. `what` names the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownValue {
    /// The C name of the field or enum the value was read as, e.g. `"enum xenbus_state"`.
    pub what: &'static str,
    /// The value as read, widened to 32 bits.
    pub value: u32,
}

impl core::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "unknown {} value {}", self.what, self.value)
    }
}
