//! `sched.h`: the `SCHEDOP_*` sub-ops of `sched_op`, their argument structs and `SHUTDOWN_*`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::types::DomId;

sub_op_enum! {
    /// `sched_op` sub-ops (`SCHEDOP_*`).
    #[doc(alias = "SCHEDOP")]
    pub enum SchedOp {
        /// Yield the CPU; stay runnable.
        #[doc(alias = "SCHEDOP_yield")]
        Yield = 0,
        /// Block until an event is pending (clears the upcall mask).
        #[doc(alias = "SCHEDOP_block")]
        Block = 1,
        /// [`SchedShutdown`]: shut this domain down.
        #[doc(alias = "SCHEDOP_shutdown")]
        Shutdown = 2,
        /// [`SchedPoll`]: block until one of the ports is pending or the timeout passes.
        #[doc(alias = "SCHEDOP_poll")]
        Poll = 3,
        /// [`SchedRemoteShutdown`]: shut another domain down (privileged).
        #[doc(alias = "SCHEDOP_remote_shutdown")]
        RemoteShutdown = 4,
        /// [`SchedShutdown`]: record a shutdown code without shutting down.
        #[doc(alias = "SCHEDOP_shutdown_code")]
        ShutdownCode = 5,
        /// [`SchedWatchdog`]: create, kick or destroy a watchdog.
        #[doc(alias = "SCHEDOP_watchdog")]
        Watchdog = 6,
        /// [`SchedPinOverride`]: temporarily pin the vCPU (hardware domain).
        #[doc(alias = "SCHEDOP_pin_override")]
        PinOverride = 7,
    }
}

sub_op_enum! {
    /// Shutdown reasons (`SHUTDOWN_*`, C's `enum sched_shutdown_reason`).
    #[doc(alias = "sched_shutdown_reason")]
    pub enum ShutdownReason {
        /// The domain exited normally: clean up and kill.
        #[doc(alias = "SHUTDOWN_poweroff")]
        Poweroff = 0,
        /// Clean up, kill, and restart.
        #[doc(alias = "SHUTDOWN_reboot")]
        Reboot = 1,
        /// Clean up, save suspend info, kill.
        #[doc(alias = "SHUTDOWN_suspend")]
        Suspend = 2,
        /// The domain crashed.
        #[doc(alias = "SHUTDOWN_crash")]
        Crash = 3,
        /// Restart because the watchdog expired.
        #[doc(alias = "SHUTDOWN_watchdog")]
        Watchdog = 4,
        /// Reset the domain without tearing it down.
        #[doc(alias = "SHUTDOWN_soft_reset")]
        SoftReset = 5,
    }
}

/// `SHUTDOWN_MAX`: the largest valid reason.
pub const SHUTDOWN_MAX: u32 = 5;

/// `sched_shutdown` (`SCHEDOP_shutdown`, `SCHEDOP_shutdown_code`).
#[doc(alias = "sched_shutdown")]
#[doc(alias = "sched_shutdown_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SchedShutdown {
    /// A [`ShutdownReason`] number.
    pub reason: u32,
}
const _: () = assert!(size_of::<SchedShutdown>() == 4);

/// `sched_poll` (`SCHEDOP_poll`).
#[doc(alias = "sched_poll")]
#[doc(alias = "sched_poll_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SchedPoll {
    /// Guest handle to an array of `evtchn_port_t`.
    pub ports: u64,
    pub nr_ports: u32,
    pub _pad0: u32,
    /// Absolute system time in ns; 0 waits forever.
    pub timeout: u64,
}
const _: () = assert!(size_of::<SchedPoll>() == 24);

/// `sched_remote_shutdown` (`SCHEDOP_remote_shutdown`).
#[doc(alias = "sched_remote_shutdown")]
#[doc(alias = "sched_remote_shutdown_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SchedRemoteShutdown {
    pub domain_id: DomId,
    pub _pad0: u16,
    /// A [`ShutdownReason`] number.
    pub reason: u32,
}
const _: () = assert!(size_of::<SchedRemoteShutdown>() == 8);

/// `sched_watchdog` (`SCHEDOP_watchdog`).
#[doc(alias = "sched_watchdog")]
#[doc(alias = "sched_watchdog_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SchedWatchdog {
    /// 0 creates a watchdog (its id is returned); else the watchdog to kick or destroy.
    pub id: u32,
    /// Seconds; 0 destroys the watchdog.
    pub timeout: u32,
}
const _: () = assert!(size_of::<SchedWatchdog>() == 8);

/// `sched_pin_override` (`SCHEDOP_pin_override`).
#[doc(alias = "sched_pin_override")]
#[doc(alias = "sched_pin_override_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SchedPinOverride {
    /// Physical CPU, or -1 to end the override.
    pub pcpu: i32,
}
const _: () = assert!(size_of::<SchedPinOverride>() == 4);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;

    #[test]
    fn sched_enums_round_trip_and_unknown_is_enosys() {
        assert_sub_op::<SchedOp>();
        assert_sub_op::<ShutdownReason>();
        assert_eq!(
            ShutdownReason::try_from(SHUTDOWN_MAX),
            Ok(ShutdownReason::SoftReset)
        );
    }
}
