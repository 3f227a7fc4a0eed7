//! preempt: long hypercalls make way (Xen's continuations), checked with two vCPUs on one
//! physical CPU (Ferrite and Xen 4.17 at `-smp 1`, `dom0_max_vcpus=2`).
//!
//! First the continuation encodings a guest can also use itself, one vCPU: a count with
//! `MMU_UPDATE_PREEMPTED` adds to `*pdone`, a count of exactly that bit with a null list
//! answers `(int)foreigndom`, a `pdone` that cannot be written is ignored, a list that leaves
//! guest space is `-EFAULT` before anything is done; `memory_op`'s start extent (at or past the
//! end, or more extents than a continuation encodes, answer the start; `XENMEM_exchange` and
//! the queries refuse one with `-EINVAL`, the architecture's sub-ops with `-ENOSYS`);
//! `grant_table_op`'s command bits above the sub-op and a negative count are `-EINVAL`.
//!
//! Then the preemption itself (XSA-264's class: no batch runs unbounded): vCPU 0 makes long
//! batches — `mmu_update` of 32768 `MMU_MACHPHYS_UPDATE`s of one frame, the same inside a
//! multicall, and a `GNTTABOP_copy` of 4096 words into one slot — each writing an increasing
//! value to one place, while vCPU 1 watches that place. On one CPU vCPU 1 can only see a value
//! strictly between the first and the last if the hypercall stopped halfway and let it run;
//! each batch must still end with all its work done (`*pdone`, the final value, every copy's
//! status). Inside the multicall, what vCPU 1 sees of the entry at that moment is the
//! sub-call's continuation in Xen's layout: the list advanced, the count left with
//! `MMU_UPDATE_PREEMPTED`, and the hypercall's number as its result. Last, XSA-344:
//! `EVTCHNOP_reset` of some 4000 IPI ports, which vCPU 1 catches halfway (the first port
//! closed, the last still bound) and answers with a reset of its own: `-EBUSY` while the first
//! is in progress.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(target_os = "none")]
use domu_frontends::{
    abi::grant_table::{GnttabCopy, GnttabCopyPtr, GnttabOp},
    abi::xen::{Hypercall as H, MulticallEntry, MMU_UPDATE_PREEMPTED},
    abi::DomId,
    println, sys,
    sys::events,
    sys::mmu::{self, DOMID_SELF, M2P},
    sys::traps,
    Test,
};

/// Requests in the long `mmu_update`.
#[cfg(target_os = "none")]
const N: usize = 32768;
/// Ops in the long grant copy.
#[cfg(target_os = "none")]
const NCOPY: usize = 4096;
/// Tries of each long call before giving up on seeing it stop halfway.
#[cfg(target_os = "none")]
const TRIES: u32 = 40;
/// Tries of the event reset: a few milliseconds each, so a tick lands inside only one time in
/// ten or so (seen halfway after 1 to 10 tries).
#[cfg(target_os = "none")]
const RESET_TRIES: u32 = 200;

/// What vCPU 1 does: 0 wait, 1 watch, 2 stop, 3 watch an event reset.
#[cfg(target_os = "none")]
static PHASE: AtomicU32 = AtomicU32::new(0);
#[cfg(target_os = "none")]
static AP_STARTED: AtomicU32 = AtomicU32::new(0);
#[cfg(target_os = "none")]
static AP_DONE: AtomicU32 = AtomicU32::new(0);
/// Where vCPU 1 looks (a u64), and the first value of the call in progress.
#[cfg(target_os = "none")]
static WATCH_VA: AtomicU64 = AtomicU64::new(0);
#[cfg(target_os = "none")]
static BASE: AtomicU64 = AtomicU64::new(0);
/// The number of values written by the call in progress.
#[cfg(target_os = "none")]
static LEN: AtomicU64 = AtomicU64::new(0);
/// The multicall entry to snapshot when a value in between is seen (0: none).
#[cfg(target_os = "none")]
static ENTRY_VA: AtomicU64 = AtomicU64::new(0);
/// `*pdone` of the long calls.
#[cfg(target_os = "none")]
static DONE: AtomicU32 = AtomicU32::new(0);
/// What vCPU 1 saw: a value strictly in between, and the entry then (op, result, args 0-1).
#[cfg(target_os = "none")]
static SEEN: AtomicU64 = AtomicU64::new(0);
#[cfg(target_os = "none")]
static SNAP: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

#[cfg(target_os = "none")]
#[repr(C, align(16))]
struct Stack([u8; 32768]);
#[cfg(target_os = "none")]
static mut AP_STACK: Stack = Stack([0; 32768]);

#[cfg(target_os = "none")]
#[repr(C, align(4096))]
struct Reqs([[u64; 2]; N]);
#[cfg(target_os = "none")]
static mut REQS: Reqs = Reqs([[0; 2]; N]);

#[cfg(target_os = "none")]
#[repr(C, align(4096))]
struct Words([u64; NCOPY]);
#[cfg(target_os = "none")]
static mut SRC: Words = Words([0; NCOPY]);

#[cfg(target_os = "none")]
#[repr(C, align(4096))]
struct Page([u64; 512]);
#[cfg(target_os = "none")]
static mut DST: Page = Page([0; 512]);
#[cfg(target_os = "none")]
static mut FRAME: Page = Page([0; 512]);

#[cfg(target_os = "none")]
static mut COPIES: [GnttabCopy; NCOPY] = [GnttabCopy {
    source: GnttabCopyPtr {
        u: 0,
        domid: DomId::SELF,
        offset: 0,
        _pad: [0; 4],
    },
    dest: GnttabCopyPtr {
        u: 0,
        domid: DomId::SELF,
        offset: 0,
        _pad: [0; 4],
    },
    len: 8,
    flags: 0,
    status: 0,
    _pad: [0; 2],
}; NCOPY];

/// vCPU 1: while told to, reads the watched word; a value strictly inside the call's range
/// proves the call stopped halfway (there is one CPU).
#[cfg(target_os = "none")]
extern "C" fn ap_main() -> ! {
    AP_STARTED.store(1, Ordering::SeqCst);
    loop {
        match PHASE.load(Ordering::SeqCst) {
            1 => {
                let va = WATCH_VA.load(Ordering::SeqCst);
                let (base, len) = (BASE.load(Ordering::SeqCst), LEN.load(Ordering::SeqCst));
                if va == 0 || len < 2 {
                    continue;
                }
                let v = sys::read_u64(va);
                if v > base && v < base + len - 1 && SEEN.load(Ordering::SeqCst) == 0 {
                    let e = ENTRY_VA.load(Ordering::SeqCst);
                    let snap: [u64; 4] = core::array::from_fn(|k| {
                        if e == 0 {
                            0
                        } else {
                            sys::read_u64(e + 8 * k as u64)
                        }
                    });
                    // Had vCPU 0 run meanwhile, its next request would have changed the value:
                    // the snapshot is of the same stop.
                    if sys::read_u64(va) == v {
                        for (s, x) in SNAP.iter().zip(snap) {
                            s.store(x, Ordering::SeqCst);
                        }
                        SEEN.store(v, Ordering::SeqCst);
                    }
                }
            }
            2 => break,
            3 => reset_ap(),
            _ => core::hint::spin_loop(),
        }
    }
    AP_DONE.store(1, Ordering::SeqCst);
    loop {
        // SCHEDOP_block with nothing to wake it: vCPU 1 is finished.
        sys::hypercall_ints(H::SchedOp as u32, [1, 0, 0, 0, 0]);
    }
}

/// The ports vCPU 0 bound before its reset (first, last), and what vCPU 1 saw: 1 when it found
/// the reset halfway (the first closed, the last still open) and then, the reset still in
/// progress, its own `EVTCHNOP_reset`'s result in `RESET_RC`.
#[cfg(target_os = "none")]
static RESET_PORTS: [AtomicU32; 2] = [const { AtomicU32::new(0) }; 2];
#[cfg(target_os = "none")]
static RESET_SEEN: AtomicU32 = AtomicU32::new(0);
#[cfg(target_os = "none")]
static RESET_RC: AtomicU64 = AtomicU64::new(0);

/// `EVTCHNOP_status` of one of this domain's ports: (rc, status).
#[cfg(target_os = "none")]
fn port_status(port: u32) -> (i64, u32) {
    let mut a = [0u8; 24];
    a[..2].copy_from_slice(&0x7ff0u16.to_le_bytes());
    a[4..8].copy_from_slice(&port.to_le_bytes());
    let rc = events::evtchn_op(5, &mut a);
    (rc, u32::from_le_bytes([a[8], a[9], a[10], a[11]]))
}

/// `EVTCHNOP_reset` of this domain.
#[cfg(target_os = "none")]
fn evtchn_reset() -> i64 {
    let mut a = 0x7ff0u16.to_le_bytes();
    events::evtchn_op(10, &mut a)
}

/// EVTCHNSTAT_closed and EVTCHNSTAT_ipi.
#[cfg(target_os = "none")]
const CLOSED: u32 = 0;
#[cfg(target_os = "none")]
const IPI: u32 = 5;

#[cfg(target_os = "none")]
fn reset_ap() {
    let (lo, hi) = (
        RESET_PORTS[0].load(Ordering::SeqCst),
        RESET_PORTS[1].load(Ordering::SeqCst),
    );
    if lo == 0 || RESET_SEEN.load(Ordering::SeqCst) != 0 {
        return;
    }
    if port_status(lo) != (0, CLOSED) || port_status(hi) != (0, IPI) {
        return;
    }
    let rc = evtchn_reset();
    // Still halfway afterwards: vCPU 0's reset was in progress throughout.
    if port_status(hi) == (0, IPI) {
        RESET_RC.store(rc as u64, Ordering::SeqCst);
        RESET_SEEN.store(1, Ordering::SeqCst);
    }
}

/// A raw `mmu_update` / `mmuext_op` (`nr`) with every argument given.
#[cfg(target_os = "none")]
fn mmu_raw(nr: H, list: u64, count: u64, pdone: u64, foreigndom: u64) -> i64 {
    sys::hypercall_ints(nr as u32, [list, count, pdone, foreigndom, 0])
}

/// The machine frame and M2P slot the long `mmu_update` writes.
#[cfg(target_os = "none")]
fn frame() -> (u64, u64) {
    let mfn = mmu::va_to_mfn(core::ptr::addr_of!(FRAME) as u64);
    (mfn, M2P + mfn * 8)
}

#[cfg(target_os = "none")]
fn encodings(t: &mut Test) {
    let (mfn, m2p) = frame();
    let reqs = core::ptr::addr_of_mut!(REQS) as u64;
    let req = |i: usize, val: u64| {
        // SAFETY: vCPU 0 alone writes the request list, between calls.
        unsafe { (*core::ptr::addr_of_mut!(REQS)).0[i] = [(mfn << 12) | 1, val] };
    };
    // MMU_UPDATE_PREEMPTED: the count is a continuation's, the done count starts at *pdone.
    req(0, 0x1111);
    req(1, 0x2222);
    let mut done: u32 = 100;
    let pd = core::ptr::addr_of_mut!(done) as u64;
    let rc = mmu_raw(
        H::MmuUpdate,
        reqs,
        u64::from(2 | MMU_UPDATE_PREEMPTED),
        pd,
        DOMID_SELF,
    );
    t.eq(
        (rc, done, sys::read_u64(m2p)),
        (0, 102, 0x2222),
        "mmu_update: a PREEMPTED count of 2 adds 2 to *pdone (100) and does both",
    );
    t.eq(
        mmu_raw(H::MmuUpdate, 0, u64::from(MMU_UPDATE_PREEMPTED), 0, 0x1234),
        0x1234,
        "mmu_update: a count of just PREEMPTED with a null list answers foreigndom",
    );
    t.eq(
        mmu_raw(H::MmuextOp, 0, u64::from(MMU_UPDATE_PREEMPTED), 0, 0x4321),
        0x4321,
        "mmuext_op: a count of just PREEMPTED with a null list answers foreigndom",
    );
    let flush = mmuext_op(7); // MMUEXT_TLB_FLUSH_LOCAL
    let mut done: u32 = 7;
    let pd = core::ptr::addr_of_mut!(done) as u64;
    let rc = mmu_raw(
        H::MmuextOp,
        core::ptr::addr_of!(flush) as u64,
        u64::from(1 | MMU_UPDATE_PREEMPTED),
        pd,
        DOMID_SELF,
    );
    t.eq(
        (rc, done),
        (0, 8),
        "mmuext_op: a PREEMPTED count of 1 adds 1 to *pdone (7)",
    );
    // A pdone that cannot be written is ignored (Xen's unchecked copy_to_guest).
    req(0, 0x3333);
    let rc = mmu_raw(H::MmuUpdate, reqs, 1, 0x0000_7000_0000_0000, DOMID_SELF);
    t.eq(
        (rc, sys::read_u64(m2p)),
        (0, 0x3333),
        "mmu_update: an unmapped pdone is ignored, the update done",
    );
    // The whole list is checked first (guest_handle_okay): nothing done, pdone untouched.
    let mut done: u32 = 55;
    let pd = core::ptr::addr_of_mut!(done) as u64;
    let rc = mmu_raw(H::MmuUpdate, 0xffff_8000_0000_1000, 2, pd, DOMID_SELF);
    t.eq(
        (rc, done),
        (-14, 55),
        "mmu_update: a list leaving guest space is -EFAULT, pdone untouched",
    );

    // memory_op start extents (MEMOP_EXTENT_SHIFT = 6).
    let mut extents = [0u64; 4];
    let before = sys::memory::current();
    t.eq(
        sys::memory::reservation(4 << 6, sys::memory::SELF, 0, &mut extents),
        4,
        "increase_reservation starting at its end answers the start (4)",
    );
    t.eq(
        sys::memory::reservation(6 << 6, sys::memory::SELF, 0, &mut extents),
        6,
        "increase_reservation starting past its end answers the start (6)",
    );
    t.eq(sys::memory::current(), before, "and allocates nothing");
    let mut r = [0u8; 32];
    r[..8].copy_from_slice(&(extents.as_mut_ptr() as u64).to_le_bytes());
    r[8..16].copy_from_slice(&(1u64 << 26).to_le_bytes());
    r[24..26].copy_from_slice(&0x7ff0u16.to_le_bytes());
    t.eq(
        sys::hypercall_buf(H::MemoryOp as u32, 3 << 6, &mut r),
        3,
        "decrease_reservation of more extents than a continuation encodes answers the start",
    );
    let mut x = [0u8; 96];
    t.eq(
        sys::hypercall_buf(H::MemoryOp as u32, 11 | (1 << 6), &mut x),
        -22,
        "XENMEM_exchange with a start extent is -EINVAL",
    );
    let mut dom = 0x7ff0u16.to_le_bytes();
    t.eq(
        sys::hypercall_buf(H::MemoryOp as u32, 3 | (1 << 6), &mut dom),
        -22,
        "XENMEM_current_reservation with a start extent is -EINVAL",
    );
    t.eq(
        sys::hypercall_ints(H::MemoryOp as u32, [2 | (1 << 6), 0, 0, 0, 0]),
        -22,
        "XENMEM_maximum_ram_page with a start extent is -EINVAL",
    );
    let mut mm = [0u8; 24];
    t.eq(
        sys::hypercall_buf(H::MemoryOp as u32, 12 | (1 << 6), &mut mm),
        -38,
        "XENMEM_machphys_mapping with a start extent is -ENOSYS (arch_memory_op)",
    );

    // grant_table_op: 32-bit command and count.
    let mut qs = [0u8; 16];
    qs[..2].copy_from_slice(&0x7ff0u16.to_le_bytes());
    let q = qs.as_mut_ptr() as u64;
    let gop =
        |cmd: u64, count: u64| sys::hypercall_ints(H::GrantTableOp as u32, [cmd, q, count, 0, 0]);
    t.eq(
        gop(GnttabOp::QuerySize as u64 | 0x1000, 1),
        -22,
        "grant_table_op: bits above the sub-op are -EINVAL",
    );
    t.eq(
        gop(GnttabOp::Copy as u64, 0x8000_0000),
        -22,
        "grant_table_op: a negative count is -EINVAL",
    );
    t.eq(
        gop(GnttabOp::QuerySize as u64 | (1 << 32), 1),
        0,
        "grant_table_op: the command is 32 bits wide (bit 32 ignored)",
    );
    t.eq(
        gop(GnttabOp::CacheFlush as u64 | 0x5000, 0),
        0,
        "grant_table_op: cache_flush may carry continuation bits",
    );
}

#[cfg(target_os = "none")]
fn mmuext_op(cmd: u32) -> domu_frontends::abi::xen::MmuextOp {
    domu_frontends::abi::xen::MmuextOp {
        cmd,
        _pad0: 0,
        arg1: 0,
        arg2: 0,
    }
}

/// Runs `call` (which makes one long hypercall writing `base..base + len` to the watched word)
/// up to [`TRIES`] times until vCPU 1 sees it halfway; `call` checks each call's outcome.
/// Returns the value seen (0: never).
#[cfg(target_os = "none")]
fn watch(watch_va: u64, len: u64, mut call: impl FnMut(u64) -> bool) -> (u64, u32) {
    SEEN.store(0, Ordering::SeqCst);
    WATCH_VA.store(watch_va, Ordering::SeqCst);
    LEN.store(len, Ordering::SeqCst);
    let mut tries = 0;
    let mut base = 0x1000_0000u64;
    while tries < TRIES && SEEN.load(Ordering::SeqCst) == 0 {
        base += 4 * len;
        BASE.store(base, Ordering::SeqCst);
        PHASE.store(1, Ordering::SeqCst);
        let ok = call(base);
        tries += 1;
        if !ok {
            break;
        }
    }
    PHASE.store(0, Ordering::SeqCst);
    (SEEN.load(Ordering::SeqCst), tries)
}

#[cfg(target_os = "none")]
fn fill_reqs(mfn: u64, base: u64) {
    // SAFETY: vCPU 0 alone writes the request list, between calls.
    let reqs = unsafe { &mut (*core::ptr::addr_of_mut!(REQS)).0 };
    for (i, r) in reqs.iter_mut().enumerate() {
        *r = [(mfn << 12) | 1, base + i as u64];
    }
}

#[cfg(target_os = "none")]
fn long_mmu_update(t: &mut Test) {
    let (mfn, m2p) = frame();
    let reqs = core::ptr::addr_of!(REQS) as u64;
    let mut bad = None;
    let (seen, tries) = watch(m2p, N as u64, |base| {
        fill_reqs(mfn, base);
        DONE.store(0, Ordering::SeqCst);
        let pd = DONE.as_ptr() as u64;
        let rc = mmu_raw(H::MmuUpdate, reqs, N as u64, pd, DOMID_SELF);
        let (done, last) = (DONE.load(Ordering::SeqCst), sys::read_u64(m2p));
        if (rc, done, last) != (0, N as u32, base + N as u64 - 1) {
            bad = Some((rc, done, last));
            return false;
        }
        true
    });
    println!("preempt: mmu_update of {N}: seen halfway ({seen:#x}) after {tries} calls");
    t.eq(
        bad,
        None,
        "mmu_update of 32768: rc 0, *pdone 32768, the last value in place",
    );
    t.check(
        seen != 0,
        format_args!("mmu_update of 32768 stopped halfway and let vCPU 1 run (tries: {tries})"),
    );
}

#[cfg(target_os = "none")]
fn long_multicall(t: &mut Test) {
    let (mfn, m2p) = frame();
    let reqs = core::ptr::addr_of!(REQS) as u64;
    let pd = DONE.as_ptr() as u64;
    let mut entry = [MulticallEntry {
        op: H::MmuUpdate as u64,
        result: 0,
        args: [0; 6],
    }];
    ENTRY_VA.store(entry.as_ptr() as u64, Ordering::SeqCst);
    let mut bad = None;
    let (seen, tries) = watch(m2p, N as u64, |base| {
        fill_reqs(mfn, base);
        DONE.store(0, Ordering::SeqCst);
        entry[0] = MulticallEntry {
            op: H::MmuUpdate as u64,
            result: 0x5555,
            args: [reqs, N as u64, pd, DOMID_SELF, 0, 0],
        };
        let rc = sys::multicall(&mut entry);
        let (d, last) = (DONE.load(Ordering::SeqCst), sys::read_u64(m2p));
        if (rc, entry[0].result, d, last) != (0, 0, N as u32, base + N as u64 - 1) {
            bad = Some((rc, entry[0].result, d, last));
            return false;
        }
        true
    });
    ENTRY_VA.store(0, Ordering::SeqCst);
    println!(
        "preempt: multicall of mmu_update of {N}: seen halfway ({seen:#x}) after {tries} calls"
    );
    t.eq(
        bad,
        None,
        "multicall(mmu_update of 32768): rc 0, result 0, *pdone 32768, the last value in place",
    );
    if !t.check(
        seen != 0,
        format_args!("the multicall stopped halfway and let vCPU 1 run (tries: {tries})"),
    ) {
        return;
    }
    let s: [u64; 4] = core::array::from_fn(|k| SNAP[k].load(Ordering::SeqCst));
    let left = s[3] & u64::from(!MMU_UPDATE_PREEMPTED);
    let at = s[2].wrapping_sub(reqs) / 16;
    t.eq(
        (s[0], s[1], s[3] & u64::from(MMU_UPDATE_PREEMPTED) != 0),
        (H::MmuUpdate as u64, H::MmuUpdate as u64, true),
        "halfway, the entry holds the sub-call's continuation: op and result mmu_update, the count with PREEMPTED",
    );
    t.check(
        s[2] > reqs && s[2] % 16 == reqs % 16 && at + left == N as u64,
        format_args!(
            "halfway, the entry's list is advanced by what is done and the count is what is left ({:#x}, {:#x})",
            s[2], s[3]
        ),
    );
    // The value vCPU 1 saw was written by a request before the continuation's list.
    t.check(
        seen - BASE.load(Ordering::SeqCst) <= at,
        format_args!("halfway, every request before the entry's list is done"),
    );
}

#[cfg(target_os = "none")]
fn long_copy(t: &mut Test) {
    let src = core::ptr::addr_of!(SRC) as u64;
    let dst = core::ptr::addr_of!(DST) as u64;
    let dst_mfn = mmu::va_to_mfn(dst);
    let ops = core::ptr::addr_of_mut!(COPIES);
    let mut bad = None;
    let (seen, tries) = watch(dst, NCOPY as u64, |base| {
        for i in 0..NCOPY {
            let va = src + 8 * i as u64;
            // SAFETY: vCPU 0 alone writes SRC and COPIES, between calls.
            unsafe {
                (*core::ptr::addr_of_mut!(SRC)).0[i] = base + i as u64;
                let c = &mut (*ops)[i];
                c.source.u = mmu::va_to_mfn(va);
                c.source.offset = (va & 0xfff) as u16;
                c.dest.u = dst_mfn;
                c.dest.offset = 0;
                c.status = 0x77;
            }
        }
        // SAFETY: a live, exclusively used array of copy ops (vCPU 1 never touches it).
        let rc = sys::gnttab::op(GnttabOp::Copy, unsafe { &mut *ops });
        // SAFETY: as above, after the call.
        let all_ok = unsafe { (*ops).iter().all(|c| c.status == 0) };
        let last = sys::read_u64(dst);
        if (rc, all_ok, last) != (0, true, base + NCOPY as u64 - 1) {
            bad = Some((rc, all_ok, last));
            return false;
        }
        true
    });
    println!("preempt: GNTTABOP_copy of {NCOPY}: seen halfway ({seen:#x}) after {tries} calls");
    t.eq(
        bad,
        None,
        "GNTTABOP_copy of 4096: rc 0, every status GNTST_okay, the last word in place",
    );
    t.check(
        seen != 0,
        format_args!("GNTTABOP_copy of 4096 stopped halfway and let vCPU 1 run (tries: {tries})"),
    );
}

/// XSA-344: `EVTCHNOP_reset` of a few thousand ports makes way too, and a second reset while
/// one is in progress is `-EBUSY` (Xen's `next_evtchn`).
#[cfg(target_os = "none")]
fn long_reset(t: &mut Test) {
    let mut tries = 0;
    let mut bad = None;
    while tries < RESET_TRIES && RESET_SEEN.load(Ordering::SeqCst) == 0 {
        tries += 1;
        let first = events::bind_ipi(0);
        let mut last = first;
        let mut n = 1;
        while n < 4095 {
            let p = events::bind_ipi(0);
            if p == 0 {
                break;
            }
            last = p;
            n += 1;
        }
        RESET_PORTS[0].store(first, Ordering::SeqCst);
        RESET_PORTS[1].store(last, Ordering::SeqCst);
        PHASE.store(3, Ordering::SeqCst);
        let rc = evtchn_reset();
        PHASE.store(0, Ordering::SeqCst);
        RESET_PORTS[0].store(0, Ordering::SeqCst);
        let after = (port_status(first), port_status(last));
        if (rc, after) != (0, ((0, CLOSED), (0, CLOSED))) || first == 0 || n < 1000 {
            bad = Some((rc, first, last, n, after));
            break;
        }
    }
    println!("preempt: EVTCHNOP_reset: seen halfway after {tries} resets");
    t.eq(
        bad,
        None,
        "EVTCHNOP_reset of over 1000 IPI ports: rc 0, the first and last closed",
    );
    if t.check(
        RESET_SEEN.load(Ordering::SeqCst) == 1,
        format_args!("XSA-344: EVTCHNOP_reset stopped halfway and let vCPU 1 run (tries: {tries})"),
    ) {
        t.eq(
            RESET_RC.load(Ordering::SeqCst) as i64,
            -16,
            "XSA-344: a reset while another is in progress is -EBUSY",
        );
    }
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");
    t.eq(events::map_shared_info(), 0, "map shared_info");
    events::set_upcall_mask(true);
    let (mfn, m2p) = frame();
    let pfn = sys::read_u64(m2p);
    encodings(&mut t);
    let top = core::ptr::addr_of!(AP_STACK) as u64 + 32768;
    domu_frontends::start_second_vcpu(&mut t, ap_main as *const () as u64, top, &AP_STARTED);
    long_mmu_update(&mut t);
    long_multicall(&mut t);
    long_copy(&mut t);
    long_reset(&mut t);
    PHASE.store(2, Ordering::SeqCst);
    let deadline = events::system_time() + 10_000_000_000;
    while AP_DONE.load(Ordering::SeqCst) == 0 && events::system_time() < deadline {
        sys::yield_cpu();
    }
    t.eq(AP_DONE.load(Ordering::SeqCst), 1, "vCPU 1 finished");
    t.eq(
        mmu::mmu_update((mfn << 12) | 1, pfn),
        0,
        "the frame's M2P entry restored",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
