//! The state dump Xen's debug keys give, for hangs: typing Ctrl-] three times on the serial
//! console (the test harness does it when a boot times out) makes every CPU print what it was
//! running at its next tick, and CPU 0 every vCPU's scheduling and event state — the upcall
//! flag and mask, and for FIFO domains the READY words and the ports that are pending and
//! unmasked but on no queue (lost), for 2-level ones the pending, unmasked ports.
//!
//! Everything here runs in the tick, possibly on top of hypervisor code holding locks: it only
//! ever `try_lock`s, says so when a lock is busy, and writes without the console lock (one CPU
//! at a time, under a lock of its own).

use crate::arch::x86_64::idt::TrapFrame;
use core::sync::atomic::{AtomicU64, Ordering};

/// The byte that, three times in a row, asks for a dump (Ctrl-]).
pub const DUMP_KEY: u8 = 0x1d;

static REQUESTED: AtomicU64 = AtomicU64::new(0);
static SEEN: [AtomicU64; crate::layout::MAX_CPUS] =
    [const { AtomicU64::new(0) }; crate::layout::MAX_CPUS];
static RUN: AtomicU64 = AtomicU64::new(0);
/// Held by the CPU printing its part of a dump, so that two CPUs' lines do not interleave
/// character by character (their ticks can come at the same moment). Taken only here, in the
/// tick, which never nests on a CPU: waiting for it only waits for another CPU's lines.
static DUMP_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// What serial input byte `b` means: `Some(n)` passes the `n` Ctrl-]s held back so far and
/// then `b` to the guest; `None` holds `b` back (a Ctrl-], perhaps the start of the sequence,
/// or the third, which asks for the dump and swallows all three). A lone Ctrl-] therefore
/// reaches the guest only with the next key.
pub fn key(b: u8) -> Option<u64> {
    if b != DUMP_KEY {
        return Some(RUN.swap(0, Ordering::Relaxed));
    }
    if RUN.fetch_add(1, Ordering::Relaxed) + 1 >= 3 {
        RUN.store(0, Ordering::Relaxed);
        REQUESTED.fetch_add(1, Ordering::AcqRel);
    }
    None
}

macro_rules! out {
    ($($arg:tt)*) => {
        crate::console::raw_write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Asks for a dump (as the serial key does): each CPU gives its part at its next tick.
pub fn request() {
    REQUESTED.fetch_add(1, Ordering::AcqRel);
}

/// From every tick: if a dump was asked for since this CPU last gave one, give it.
pub fn tick(frame: &TrapFrame, in_guest: bool) {
    let cpu = crate::arch::x86_64::percpu::cpu_index() as usize;
    let want = REQUESTED.load(Ordering::Acquire);
    let Some(seen) = SEEN.get(cpu) else { return };
    if seen.load(Ordering::Relaxed) == want {
        return;
    }
    seen.store(want, Ordering::Relaxed);
    let current = crate::sched::current_try(cpu);
    let _one_at_a_time = DUMP_LOCK.lock();
    out!(
        "dump: CPU{cpu}: {} {:?} RIP {:#x} RSP {:#x} CS {:#x} RFLAGS {:#x} RAX {:#x}",
        if in_guest { "guest" } else { "hypervisor" },
        current,
        frame.rip,
        frame.rsp,
        frame.cs,
        frame.rflags,
        frame.rax
    );
    if cpu == 0 {
        domains();
    }
}

fn domains() {
    let Some(doms) = crate::domain::DOMAINS.try_lock() else {
        out!("dump: the domain list is locked");
        return;
    };
    let list: alloc::vec::Vec<_> = doms.values().cloned().collect();
    drop(doms);
    for d in list {
        out!(
            "dump: d{} state {:?}",
            d.id.0,
            d.state.try_lock().map(|s| *s)
        );
        for v in &d.vcpus {
            let (mfn, off) = v.vcpu_info_at();
            let mut b = [0u8; 2];
            let _ = crate::mm::guest::frame_read(mfn, off, &mut b);
            match v.state.try_lock() {
                Some(st) => out!(
                    "dump:   v{} pcpu {} up {} blocked {} poll {:?} kernel {} nmi {}/{} saved RIP {:#x} RSP {:#x} upcall pending {} mask {}",
                    v.id.0,
                    v.pcpu(),
                    st.up,
                    st.blocked,
                    st.poll.as_ref().map(|p| p.len()),
                    st.kernel_mode,
                    v.nmi_pending.load(Ordering::Relaxed),
                    st.nmi_masked,
                    st.regs.rip,
                    st.regs.rsp,
                    b[0],
                    b[1]
                ),
                None => out!("dump:   v{} locked; upcall pending {} mask {}", v.id.0, b[0], b[1]),
            }
        }
        crate::event::dump(d.id);
    }
}
