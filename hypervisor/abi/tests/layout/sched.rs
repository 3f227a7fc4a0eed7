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
    sub_ops!(f, SchedOp;
        SCHEDOP_yield = Yield,
        SCHEDOP_block = Block,
        SCHEDOP_shutdown = Shutdown,
        SCHEDOP_poll = Poll,
        SCHEDOP_remote_shutdown = RemoteShutdown,
        SCHEDOP_shutdown_code = ShutdownCode,
        SCHEDOP_watchdog = Watchdog,
        SCHEDOP_pin_override = PinOverride,
    );
    sub_ops!(f, ShutdownReason;
        SHUTDOWN_poweroff = Poweroff,
        SHUTDOWN_reboot = Reboot,
        SHUTDOWN_suspend = Suspend,
        SHUTDOWN_crash = Crash,
        SHUTDOWN_watchdog = Watchdog,
        SHUTDOWN_soft_reset = SoftReset,
    );
    consts!(f;
        SHUTDOWN_MAX = SHUTDOWN_MAX,
    );
    f
}
