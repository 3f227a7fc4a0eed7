//! Layout fragment for `sched.h`.

use crate::checker::Fragment;
use xen_abi::sched::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("sched.h", &["xen/sched.h"]);
    layout!(f, SchedShutdown => "struct sched_shutdown" { reason });
    layout!(f, SchedPoll => "struct sched_poll" { ports, nr_ports, _pad0, timeout });
    layout!(f, SchedRemoteShutdown => "struct sched_remote_shutdown" { domain_id, _pad0, reason });
    layout!(f, SchedWatchdog => "struct sched_watchdog" { id, timeout });
    layout!(f, SchedPinOverride => "struct sched_pin_override" { pcpu });
    consts!(f;
        SCHEDOP_yield = SchedOp::Yield,
        SCHEDOP_block = SchedOp::Block,
        SCHEDOP_shutdown = SchedOp::Shutdown,
        SCHEDOP_poll = SchedOp::Poll,
        SCHEDOP_remote_shutdown = SchedOp::RemoteShutdown,
        SCHEDOP_shutdown_code = SchedOp::ShutdownCode,
        SCHEDOP_watchdog = SchedOp::Watchdog,
        SCHEDOP_pin_override = SchedOp::PinOverride,
        SHUTDOWN_poweroff = ShutdownReason::Poweroff,
        SHUTDOWN_reboot = ShutdownReason::Reboot,
        SHUTDOWN_suspend = ShutdownReason::Suspend,
        SHUTDOWN_crash = ShutdownReason::Crash,
        SHUTDOWN_watchdog = ShutdownReason::Watchdog,
        SHUTDOWN_soft_reset = ShutdownReason::SoftReset,
        SHUTDOWN_MAX = SHUTDOWN_MAX,
    );
    f
}
