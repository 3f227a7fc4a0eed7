//! Preemption of long hypercalls (Xen's `hypercall_preempt_check` and
//! `hypercall_create_continuation`). A batch hypercall — `mmu_update`, `mmuext_op`, a
//! multicall, the grant-table batches, the reservation sub-ops of `memory_op`,
//! `XENMEM_exchange`, `EVTCHNOP_reset` — asks between two items whether the CPU is wanted
//! elsewhere: an interrupt waits at the local APIC (the tick that ends a slice, a wake IPI, a
//! device) or the vCPU has an event to take. If so it stops and returns a continuation: the
//! same hypercall with arguments that describe the work left. The guest's registers get those
//! arguments and its RIP goes back over the 2-byte `syscall`, so that once the interrupt is
//! taken (and maybe another vCPU has run) the guest enters the hypercall again and it goes on
//! where it stopped. The first item of every entry is always done, so a call always advances.

use crate::domain::Vcpu;
use alloc::sync::Arc;

/// Items between two looks at the APIC (a register read that is an MMIO exit under emulation:
/// looked at every 8th item it made a 512-entry `mmu_update` about half again as slow).
const PERIOD: u32 = 16;

/// Asks whether a hypercall in progress should make way (one per hypercall entry).
pub struct Preempt {
    /// The calling vCPU, looked up at the first question (most calls never ask one).
    v: spin::Once<Option<Arc<Vcpu>>>,
    n: u32,
}

impl Default for Preempt {
    fn default() -> Self {
        Self::new()
    }
}

impl Preempt {
    /// For the hypercall the current vCPU is making.
    pub fn new() -> Self {
        Self {
            v: spin::Once::new(),
            n: 0,
        }
    }

    /// Xen's `hypercall_preempt_check`, asked before each item after the first: an interrupt
    /// is pending at this CPU, or the vCPU has an unmasked upcall pending
    /// (`local_events_need_delivery`). Looked at every [`PERIOD`] items.
    pub fn due(&mut self) -> bool {
        self.n = self.n.wrapping_add(1);
        if !self.n.is_multiple_of(PERIOD) {
            return false;
        }
        self.now()
    }

    /// The same question asked now, for callers that space their own questions (an event
    /// reset asks after every 64th port).
    pub fn now(&self) -> bool {
        crate::arch::x86_64::apic::interrupt_pending()
            || self
                .v
                .call_once(crate::sched::current)
                .as_deref()
                .is_some_and(crate::pv::upcall_due)
    }
}

/// How a hypercall ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// With this result for `rax`.
    Done(xen_abi::XenResult<u64>),
    /// Preempted: the same hypercall is to be made again with its first `n` arguments replaced
    /// by `args` (Xen's `hypercall_create_continuation(op, format, args...)`).
    Continue {
        /// The new arguments, in order (`rdi, rsi, rdx, r10, r8`).
        args: [u64; 5],
        /// How many of them are replaced.
        n: usize,
    },
}

impl From<xen_abi::XenResult<u64>> for Outcome {
    fn from(r: xen_abi::XenResult<u64>) -> Self {
        Outcome::Done(r)
    }
}

impl Outcome {
    /// A continuation with arguments `a` (at most five).
    pub fn resume(a: &[u64]) -> Self {
        let mut args = [0; 5];
        let n = a.len().min(5);
        args[..n].copy_from_slice(&a[..n]);
        Outcome::Continue { args, n }
    }
}
