//! hcfuzz: a domU that issues random hypercalls with random arguments for a bounded time,
//! seeded and reproducible (`seed=S seconds=T [trace=N]` on its command line). Numbers are
//! drawn from 0..64 and beyond, sub-ops biased to valid ones, arguments from interesting sets
//! (0, small and boundary integers, domain ids, ports, grant refs, its own and foreign machine
//! frames, PTE values and addresses, pointers to its scratch buffers filled with such values,
//! to unmapped, non-canonical and hypervisor addresses). It keeps itself alive: calls that
//! would end or block it for good (`SCHEDOP_shutdown`/`block`, `VCPUOP_down` of vCPU 0,
//! `iret`, `MMUEXT_NEW_BASEPTR`) are left out, and every value that would let the hypervisor
//! write its code, stack or runtime data is replaced by one of its scratch pages. Whatever the
//! hypervisor does to this domain is allowed; a hypervisor panic or harm to domain 0 (which
//! runs `fuzzwatch` beside it) is a bug. It prints `hcfuzz: N calls done` every 1,000 calls,
//! and with `trace=N` every call from call N on, so a failure is reproduced from its seed.
//!
//! With `hostile` it also does, one call in 16, what loads guest-chosen state into the CPU on
//! the way back and so usually ends it: an `iret` with a frame of interesting selectors,
//! flags, stack and target (its own landing point among them, so some return); a
//! `VCPUOP_initialise` + `VCPUOP_up` of vCPU 1 with such a context; new trap handlers or
//! event/failsafe/syscall callbacks at interesting addresses followed by a fault or unmasked
//! events; `stack_switch` and `set_segment_base` with such values. Each such step is logged
//! first (`hcfuzz: #N hostile ...`). The harness rebuilds it after each death (`restarts=N`);
//! with `reseed` each generation mixes the TSC into its seed and prints the seed it used.
//!
//! A generation can also end up running code of its own choosing for good (a handler or
//! callback at an address whose bytes loop, say): as on Xen, nothing in the hypervisor is wrong
//! then, and only time ends it. So it holds a domain watchdog (`SCHEDOP_watchdog`, 2 s), kicked
//! every 500 ms from its loop and taken again when a fuzzed call stopped it: a generation stuck
//! anywhere is shut down (`SHUTDOWN_watchdog`) and rebuilt like any other death.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use core::sync::atomic::{AtomicU64, Ordering};
#[cfg(target_os = "none")]
use domu_frontends::{println, sys, sys::events, sys::traps};

/// Scratch pages: 0..DATA hold argument buffers (refilled before each call), `MC` the
/// multicall list, `HV` is only handed out as a `vcpu_info` frame, TABLES.. are page-table
/// material (never touched by this guest directly), `GNT` shows the grant table.
#[cfg(target_os = "none")]
const DATA: usize = 6;
#[cfg(target_os = "none")]
const MC: usize = 6;
#[cfg(target_os = "none")]
const HV: usize = 7;
#[cfg(target_os = "none")]
const TABLES: usize = 8;
#[cfg(target_os = "none")]
const GNT: usize = 16;
#[cfg(target_os = "none")]
const PAGES: usize = 17;

#[cfg(target_os = "none")]
#[repr(C, align(4096))]
struct Scratch([AtomicU64; PAGES * 512]);

#[cfg(target_os = "none")]
static SCRATCH: Scratch = Scratch([const { AtomicU64::new(0) }; PAGES * 512]);

/// splitmix64: small, fast, and the same sequence for the same seed everywhere.
#[cfg(target_os = "none")]
struct Rng(u64);

#[cfg(target_os = "none")]
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    fn pick(&mut self, xs: &[u64]) -> u64 {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// What the fuzzer knows about itself, gathered once at start (the start_info page, the p2m
/// list and shared_info are never read again: the calls may change or remove them).
#[cfg(target_os = "none")]
struct World {
    base: u64,
    v_end: u64,
    mfn: [u64; PAGES],
    pt_mfns: [u64; 8],
    n_pt: usize,
    l4: u64,
    own_lo: u64,
    own_hi: u64,
    max_mfn: u64,
    /// System time = t0 + (tsc - c0) * num / den.
    t0: u64,
    c0: u64,
    num: u64,
    den: u64,
}

#[cfg(target_os = "none")]
impl World {
    fn now(&self) -> u64 {
        let d = u128::from(sys::rdtsc().wrapping_sub(self.c0));
        self.t0 + (d * u128::from(self.num) / u128::from(self.den.max(1))) as u64
    }
    fn page(&self, i: usize) -> u64 {
        self.base + i as u64 * 4096
    }
    fn in_data(&self, va: u64) -> bool {
        (self.base..self.page(DATA)).contains(&va)
    }
    fn in_tables(&self, va: u64) -> bool {
        (self.page(TABLES)..self.page(GNT)).contains(&va)
    }
    /// Addresses of this guest's own code, stack and runtime data: never handed to the
    /// hypervisor as something to write or map over.
    fn protected(&self, va: u64) -> bool {
        (0x10_0000..self.v_end).contains(&va) && !self.in_data(va) && !self.in_tables(va)
    }
    /// Frames it may hand out: its data and table pages, its page tables, the grant frame.
    fn allowed_mfn(&self, m: u64) -> bool {
        self.mfn[..DATA].contains(&m)
            || self.mfn[TABLES..].contains(&m)
            || self.pt_mfns[..self.n_pt].contains(&m)
    }
    /// Replaces a value that, used as an address or a frame, would reach its own memory.
    fn guard(&self, rng: &mut Rng, v: u64) -> u64 {
        if self.protected(v) {
            self.page(TABLES + rng.below(8) as usize) + rng.below(512) * 8
        } else if (self.own_lo..=self.own_hi).contains(&v) && !self.allowed_mfn(v) {
            self.mfn[TABLES + rng.below(8) as usize]
        } else {
            v
        }
    }

    fn mfn_val(&self, rng: &mut Rng) -> u64 {
        match rng.below(8) {
            0 => self.mfn[rng.below(DATA as u64) as usize],
            1 | 2 => self.mfn[TABLES + rng.below(8) as usize],
            3 => self.pt_mfns[rng.below(self.n_pt as u64) as usize],
            4 => rng.pick(&[0, 1, 2, self.max_mfn, self.max_mfn + 1, 1 << 40, u64::MAX]),
            _ => {
                // A frame someone else owns (domain 0, the hypervisor, free memory).
                let m = rng.below(self.max_mfn + 1);
                if (self.own_lo..=self.own_hi).contains(&m) {
                    m.wrapping_sub(self.own_hi - self.own_lo + 1)
                } else {
                    m
                }
            }
        }
    }
    fn pte_val(&self, rng: &mut Rng) -> u64 {
        let flags = rng.pick(&[
            0x1, 0x3, 0x5, 0x7, 0x25, 0x27, 0x67, 0x83, 0x87, 0x107, 0xe07,
        ]);
        let nx = if rng.one_in(4) { 1 << 63 } else { 0 };
        let junk = if rng.one_in(8) {
            rng.next() & 0x7ff0_0000_0000_0000
        } else {
            0
        };
        (self.mfn_val(rng) << 12) | flags | nx | junk
    }
    /// The machine address of a page-table entry: one of its scratch tables, an unused L4 slot
    /// (1..=255) of its own L4, or some other frame.
    fn pte_addr(&self, rng: &mut Rng) -> u64 {
        let kind = rng.pick(&[0, 0, 0, 0, 1, 2]);
        match rng.below(4) {
            0 => (self.l4 << 12) | ((1 + rng.below(255)) * 8) | kind,
            1 => {
                // Not one of its own bootstrap tables: those map this kernel.
                let m = self.mfn_val(rng);
                let m = if self.pt_mfns[..self.n_pt].contains(&m) {
                    self.mfn[TABLES]
                } else {
                    m
                };
                (m << 12) | (rng.below(512) * 8) | kind
            }
            _ => (self.mfn[TABLES + rng.below(8) as usize] << 12) | (rng.below(512) * 8) | kind,
        }
    }
    /// An address for output only: a table page (perhaps mapped read-only, or not at all), low
    /// memory (mapped and unused: the kernel starts at 1 MiB; room for a 1 KiB write), or `ptr`.
    fn out_ptr(&self, rng: &mut Rng) -> u64 {
        match rng.below(3) {
            0 => self.page(TABLES + rng.below(8) as usize) + rng.below(512) * 8,
            1 => rng.below(0xf_0000),
            _ => self.ptr(rng),
        }
    }
    /// A virtual address to map something at: never its data pages (it writes them) nor
    /// its own memory.
    fn va(&self, rng: &mut Rng) -> u64 {
        let va = match rng.below(6) {
            0 | 1 => self.page(TABLES + rng.below(8) as usize),
            2 => rng.below(240) << 12,
            3 => ((1 + rng.below(255)) << 39) | (rng.below(1 << 27) << 12),
            _ => self.ptr(rng) & !0xfff,
        };
        if self.in_data(va) {
            self.page(TABLES + rng.below(8) as usize)
        } else {
            va
        }
    }
    /// A pointer for the hypervisor to read or write: into its data pages (whose contents it
    /// controls: filled before each call) or somewhere unreadable. Never memory whose contents
    /// came from the hypervisor (times, frames) and could be read back as an address of its own.
    fn ptr(&self, rng: &mut Rng) -> u64 {
        match rng.below(12) {
            0..=4 => {
                let off = match rng.below(4) {
                    0 => 0,
                    1 => 4096 - 8 * (1 + rng.below(4)),
                    2 => rng.below(4096),
                    _ => rng.below(256) * 8,
                };
                self.page(rng.below(DATA as u64) as usize) + off
            }
            5 | 6 => self.page(rng.below(DATA as u64) as usize) + rng.below(512) * 8,
            7 => rng.pick(&[
                0x4000_0000,
                self.v_end,
                1 << 39,
                0x7fff_ffff_f000,
                0x7fff_ffff_fffc,
            ]),
            8 => rng.pick(&[
                0x8000_0000_0000,
                0x8000_0000_0000_0000,
                0xdead_beef_0000_0000,
            ]),
            9 => rng.pick(&[
                0xffff_8000_0000_0000,
                0xffff_8000_0000_0000 + self.max_mfn * 8 - 4,
                0xffff_8300_0000_0000,
                0xffff_82d0_4000_0000,
                0xffff_87ff_ffff_fff8,
                0xffff_ffff_ffff_f000,
                u64::MAX - 7,
            ]),
            10 => self.page(rng.below(DATA as u64) as usize),
            _ => rng.pick(&[0, u64::MAX]),
        }
    }
    /// One interesting value of any kind.
    fn any(&self, rng: &mut Rng) -> u64 {
        let v = match rng.below(14) {
            0 => rng.below(17),
            1 => rng.pick(&[
                31,
                32,
                63,
                64,
                127,
                128,
                255,
                256,
                511,
                512,
                1023,
                1024,
                4095,
                4096,
                0xffff,
                0x7fff_ffff,
                0x8000_0000,
                0xffff_ffff,
                1 << 32,
                i64::MAX as u64,
                1 << 63,
                u64::MAX,
                u64::MAX - 1,
                (-4096i64) as u64,
            ]),
            2 => rng.pick(&[0, 1, 2, 0x7ff0, 0x7ff1, 0x7ff2, 0x7ff4, 0x7fff, 0xffff]),
            3 => rng.pick(&[0, 1, 2, 3, 4, 5, 8, 63, 64, 1023, 1024, 4095, 4096]),
            4 => self.mfn_val(rng),
            5 => self.pte_val(rng),
            6 => self.pte_addr(rng),
            7 | 8 => self.ptr(rng),
            9 => self.va(rng),
            10 => self.now() + rng.below(5_000_000),
            11 => (self.any_small(rng) << 32) | self.any_small(rng),
            _ => rng.next(),
        };
        self.guard(rng, v)
    }
    fn any_small(&self, rng: &mut Rng) -> u64 {
        let r = rng.below(4096);
        rng.pick(&[0, 1, 2, 3, 4, 7, 8, 16, 0x7ff0, 0xffff, 0xffff_ffff, r])
    }
    /// Fills from `va` (inside the data pages) to the end of its page, and 2 KiB into the next
    /// data page, with interesting values.
    fn fill(&self, rng: &mut Rng, va: u64) {
        let first = ((va - self.base) / 8) as usize;
        let end = ((first / 512 + 1) * 512 + 256).min(DATA * 512);
        for w in &SCRATCH.0[first..end] {
            let v = self.any(rng);
            w.store(v, Ordering::Relaxed);
        }
    }
    fn word(&self, va: u64) -> &'static AtomicU64 {
        &SCRATCH.0[((va - self.base) / 8) as usize]
    }
    /// A pointer to a data buffer with `entries` entries of `size` bytes that fit in its page,
    /// or (one time in eight) a bad pointer; `page` confines it to one data page.
    fn array(&self, rng: &mut Rng, size: u64, page: Option<usize>) -> (u64, u64) {
        if rng.one_in(8) {
            let bad = rng.pick(&[0x4000_0000, 0x8000_0000_0000, 0xffff_8300_0000_0000, !7]);
            return (bad, rng.pick(&[1, 2, 64, 0x7fff_ffff, u64::MAX]));
        }
        let p = page.unwrap_or(rng.below(DATA as u64 - 1) as usize);
        let off = rng.below(4096 / size) * size;
        let va = self.page(p) + (off & !7);
        let room = (self.page(p + 1) - va) / size;
        let n = match rng.below(4) {
            0 => 0,
            1 => 1,
            _ => 1 + rng.below(room.min(16)),
        };
        self.fill(rng, va);
        (va, n.min(room))
    }
}

/// One hypercall.
#[cfg(target_os = "none")]
#[derive(Clone, Copy)]
struct Call {
    nr: u64,
    a: [u64; 5],
}

/// How many sub-ops each hypercall with a sub-op in its first argument has (or 0).
#[cfg(target_os = "none")]
fn subops(nr: u64) -> u64 {
    match nr {
        6 | 29 => 8,
        12 => 30,
        17 => 12,
        18 => 3,
        20 => 14,
        21 => 2,
        24 => 16,
        25 => 5,
        28 | 30 | 31 => 3,
        32 => 16,
        33 => 32,
        34..=63 => 16,
        _ => 0,
    }
}

#[cfg(target_os = "none")]
fn gen(w: &World, rng: &mut Rng, page: Option<usize>, depth: u32) -> Option<Call> {
    let nr = match rng.below(20) {
        0 => rng.pick(&[64, 65, 100, 1000, 0xffff_ffff, 1 << 32, u64::MAX]),
        1..=4 => rng.below(64),
        // The hypercalls Ferrite implements, more often.
        _ => rng.pick(&[
            0, 1, 2, 3, 4, 5, 10, 12, 12, 13, 14, 15, 17, 18, 20, 20, 20, 21, 22, 24, 24, 25, 26,
            26, 29, 30, 32, 32, 32, 33, 35, 36,
        ]),
    };
    if nr == 23 {
        return None; // iret: pops a frame of the guest's stack and goes there.
    }
    let mut a = [0u64; 5];
    for x in a.iter_mut() {
        *x = w.any(rng);
    }
    let n = subops(nr);
    if n > 0 {
        a[0] = if rng.one_in(5) {
            w.any(rng)
        } else {
            rng.below(n)
        };
        a[1] = w.ptr(rng);
        if let Some(p) = page {
            if w.in_data(a[1]) {
                a[1] = w.page(p) + (a[1] & 0xff8);
            }
        }
        if w.in_data(a[1]) {
            w.fill(rng, a[1]);
        }
    }
    let cmd = a[0] as u32;
    match nr {
        // sysctl, domctl: a 136/144-byte struct, its interface version right half the time
        // (so that the domain and privilege checks are reached), any command.
        35 | 36 => {
            a[0] = w.ptr(rng);
            if w.in_data(a[0]) {
                w.fill(rng, a[0]);
                if rng.one_in(2) {
                    a[0] &= !7;
                    let word = w.word(a[0]);
                    let v = word.load(Ordering::Relaxed);
                    word.store((v & 0xffff_ffff) | (0x15 << 32), Ordering::Relaxed);
                }
            }
        }
        // set_trap_table, set_gdt, set_callbacks...: the generic arguments.
        0 | 7 | 16 | 19 | 27 => {
            a[0] = w.ptr(rng);
            if let (Some(p), true) = (page, w.in_data(a[0])) {
                a[0] = w.page(p) + (a[0] & 0xff8);
            }
            if w.in_data(a[0]) {
                w.fill(rng, a[0]);
            }
        }
        // mmu_update(reqs, count, done, foreigndom) and mmuext_op(ops, count, done, dom).
        1 | 26 => {
            let size = if nr == 1 { 16 } else { 24 };
            let (list, count) = w.array(rng, size, page);
            a[0] = list;
            a[1] = count;
            if rng.one_in(2) {
                a[3] = 0x7ff0;
            }
            if w.in_data(list) {
                for i in 0..count {
                    let e = list + i * size;
                    if nr == 1 {
                        w.word(e).store(w.pte_addr(rng), Ordering::Relaxed);
                        w.word(e + 8).store(w.pte_val(rng), Ordering::Relaxed);
                    } else {
                        let c = if rng.one_in(8) {
                            w.any(rng)
                        } else {
                            rng.below(22)
                        };
                        // MMUEXT_NEW_BASEPTR would run this kernel on tables that lack it.
                        let c = if c as u32 == 5 { 6 } else { c };
                        w.word(e).store(c, Ordering::Relaxed);
                    }
                }
            }
        }
        // sched_op_compat: its argument is the shutdown reason itself.
        6 if (1..=4).contains(&cmd) => return None,
        // update_va_mapping(va, pte, flags[, dom]).
        14 | 22 => {
            a[0] = w.va(rng);
            a[1] = w.pte_val(rng);
            let mask = (w.ptr(rng) & !3) | 2;
            a[2] = rng.pick(&[0, 1, 2, 3, 4 | 2, mask, a[2]]);
            if nr == 22 {
                a[3] = rng.pick(&[0, 1, 0x7ff0, 0x7ff2, a[3]]);
            }
        }
        13 => {
            if depth > 0 {
                a[0] = 0x4000_0000;
            } else if rng.one_in(4) {
                // No list of calls but its own: an unreadable one.
                a[0] = rng.pick(&[0x4000_0000, 0x8000_0000_0000, !63, 0xffff_8300_0000_0000]);
            } else {
                // One data page per entry for its buffers (pages 0..5, 2 KiB of spill each).
                let n = 1 + rng.below(DATA as u64 - 1);
                let list = w.page(MC);
                let mut i = 0;
                while i < n {
                    let Some(c) = gen(w, rng, Some(i as usize % (DATA - 1)), depth + 1) else {
                        continue;
                    };
                    let e = list + i * 64;
                    let words = [c.nr, rng.next(), c.a[0], c.a[1], c.a[2], c.a[3], c.a[4], 0];
                    for (k, v) in words.iter().enumerate() {
                        SCRATCH.0[((e - w.base) / 8) as usize + k].store(*v, Ordering::Relaxed);
                    }
                    i += 1;
                }
                a[0] = list;
                a[1] = n;
            }
        }
        // xen_version writes its answer (or reads a features index): anywhere.
        17 if rng.one_in(2) => a[1] = w.out_ptr(rng),
        // console_io: short writes only (the console is the test's log).
        18 if cmd == 0 => a[1] = rng.below(48),
        20 => {
            let size = match cmd {
                0 => 32,
                1 | 7 => 24,
                2 => 24,
                4 => 16,
                5 => 40,
                _ => 16,
            };
            let (list, count) = w.array(rng, size, page);
            a[1] = list;
            // (A huge count over readable memory walks into its stack: only `array`'s.)
            a[2] = count;
            if w.in_data(list) {
                for i in 0..count {
                    let e = list + i * size;
                    match cmd {
                        0 => {
                            let flags = rng.below(32);
                            let host = if flags & 16 != 0 {
                                w.pte_addr(rng)
                            } else {
                                w.va(rng)
                            };
                            w.word(e).store(host, Ordering::Relaxed);
                            let r = rng.next();
                            let gref = rng.pick(&[0, 1, 2, 3, 4, 5, 8, 16, 511, 512, r]);
                            w.word(e + 8).store(flags | (gref << 32), Ordering::Relaxed);
                            let dom = rng.pick(&[0, 0, 1, 0x7ff0, 0x7ff2, 9]);
                            w.word(e + 16).store(dom, Ordering::Relaxed);
                        }
                        1 | 7 => {
                            w.word(e).store(w.va(rng), Ordering::Relaxed);
                            if cmd == 7 {
                                w.word(e + 8).store(w.va(rng), Ordering::Relaxed);
                            }
                            w.word(e + 16).store(rng.below(16), Ordering::Relaxed);
                        }
                        // set_version: 1 and 2 mostly, so the table switches back and forth
                        // while grants of its own come and go.
                        8 => {
                            let any = rng.next();
                            let v = rng.pick(&[1, 2, 2, 0, 3, any]);
                            w.word(e).store(v, Ordering::Relaxed);
                        }
                        // get_status_frames: a few frames of its own (or another) domain.
                        9 => {
                            let nr = rng.pick(&[0, 1, 1, 2, 64, 1 << 31]);
                            let dom = rng.pick(&[0x7ff0, 0x7ff0, 0, 1, 9]);
                            w.word(e).store(nr | (dom << 32), Ordering::Relaxed);
                            w.word(e + 8).store(w.out_ptr(rng), Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
            }
        }
        24 => {
            a[1] = rng.pick(&[0, 0, 0, 1, 31, 32, a[1]]);
            // VCPUOP_down of vCPU 0 powers the domain off.
            if cmd == 2 && a[1] as u32 == 0 {
                return None;
            }
            a[2] = w.ptr(rng);
            if let (Some(p), true) = (page, w.in_data(a[2])) {
                a[2] = w.page(p) + (a[2] & 0xff8);
            }
            if cmd == 10 {
                // VCPUOP_register_vcpu_info: its own frame HV (written nowhere else), or
                // another. The mask byte it carries keeps upcalls off.
                let (arg, _) = w.array(rng, 16, page);
                a[2] = arg;
                if w.in_data(arg) {
                    // (Offsets below 1984 or invalid: the runstate area may use the rest.)
                    let mfn = if rng.one_in(2) {
                        w.mfn[HV]
                    } else {
                        w.mfn_val(rng)
                    };
                    w.word(arg).store(mfn, Ordering::Relaxed);
                    let r = rng.next();
                    let off = rng.pick(&[0, 64, 128, 1983, 4032, 4033, 4096, r % 1984, r]);
                    w.word(arg + 8).store(off, Ordering::Relaxed);
                }
            } else if cmd == 4 {
                // VCPUOP_register_runstate_memory_area: the hypervisor writes it at every
                // switch, so never where it reads arguments: the top half of HV, low memory, a
                // table page, or nowhere.
                let (arg, _) = w.array(rng, 8, page);
                a[2] = arg;
                if w.in_data(arg) {
                    let area = match rng.below(4) {
                        0 => w.page(HV) + 2048 + rng.below(2048),
                        1 => w.out_ptr(rng),
                        2 => rng.pick(&[0x4000_0000, 0x8000_0000_0000, !7, 0xffff_8300_0000_0000]),
                        _ => w.page(HV) + 4096 - 8,
                    };
                    w.word(arg).store(area, Ordering::Relaxed);
                }
            } else if w.in_data(a[2]) {
                w.fill(rng, a[2]);
            }
        }
        29 => match cmd {
            1 => return None, // SCHEDOP_block: nothing may wake it.
            // SCHEDOP_shutdown only with an argument that cannot be read.
            2 => a[1] = rng.pick(&[0x4000_0000, 0x8000_0000_0000, 0xffff_8300_0000_0000, !3]),
            3 => {
                // SCHEDOP_poll, always with a near timeout.
                let (arg, _) = w.array(rng, 24, page);
                a[1] = arg;
                if w.in_data(arg) && (arg & 0xfff) <= 4096 - 24 {
                    // (The ports' fill may overwrite the argument: it is written last.)
                    let (ports, n) = w.array(rng, 4, page);
                    w.word(arg).store(ports, Ordering::Relaxed);
                    let nr = rng.pick(&[0, 1, n, 128, 129, 1 << 31]);
                    w.word(arg + 8).store(nr, Ordering::Relaxed);
                    let timeout = w.now() + rng.below(2_000_000);
                    w.word(arg + 16).store(timeout, Ordering::Relaxed);
                } else {
                    // Not memory whose contents it does not control: no timeout there.
                    a[1] = 0x4000_0000;
                }
            }
            _ => {}
        },
        // EVTCHNOP_init_control / expand_array with frames of its own more often than chance
        // would give, so the fuzzer switches itself to the FIFO ABI and the hypervisor keeps
        // words in pages it keeps scribbling on.
        32 if (cmd == 11 || cmd == 12) && w.in_data(a[1]) && (a[1] & 0xfff) <= 4096 - 24 => {
            let gfn = if rng.one_in(3) {
                w.mfn[rng.below(DATA as u64) as usize]
            } else {
                w.mfn_val(rng)
            };
            w.word(a[1]).store(gfn, Ordering::Relaxed);
            if cmd == 11 {
                let any_off = rng.below(4096);
                let off = rng.pick(&[0, 8, 64, 4024, 4032, any_off]);
                let vcpu = rng.pick(&[0, 0, 1, 2, 0xffff_ffff]);
                w.word(a[1] + 8)
                    .store(off | (vcpu << 32), Ordering::Relaxed);
            }
        }
        _ => {}
    }
    // The multicall list it built in its MC page (whose entries were guarded one by one) is
    // kept: the page lies outside its data pages, so the guard would swap it for a page-table
    // page whose words, read as calls, were never guarded — and could unmap its own data.
    let own_list = nr == 13 && a[0] == w.page(MC);
    for x in a.iter_mut() {
        *x = w.guard(rng, *x);
    }
    if own_list {
        a[0] = w.page(MC);
    }
    Some(Call { nr, a })
}

/// The L1 entry mapping `va` in the current page tables, read through the bootstrap tables'
/// own mapping (not the M2P, which the fuzzer rewrites): 0 where a level is not present, 1 where
/// a table is not one of the bootstrap ones.
#[cfg(target_os = "none")]
fn leaf_pte(va: u64) -> u64 {
    let si = sys::start_info();
    let table_va = |mfn: u64| {
        (0..si.nr_pt_frames)
            .map(|i| si.pt_base + i * 4096)
            .find(|&t| sys::mmu::va_to_mfn(t) == mfn)
    };
    let mut table = sys::read_cr3() >> 12;
    for level in [4u32, 3, 2, 1] {
        let Some(t) = table_va(table) else {
            return 1;
        };
        let index = (va >> (12 + 9 * (level - 1))) & 511;
        // SAFETY: `t` maps one of the bootstrap page tables (read-only), an entry of which
        // is read.
        let e = unsafe { ((t + index * 8) as *const u64).read_volatile() };
        if level == 1 || e & 1 == 0 {
            return e;
        }
        table = (e & sys::mmu::ADDR_MASK) >> 12;
    }
    0
}

#[cfg(target_os = "none")]
fn issue(c: &Call) -> i64 {
    if c.nr > u64::from(u32::MAX) {
        sys::hypercall_raw_nr(c.nr)
    } else {
        sys::hypercall_ints(c.nr as u32, c.a)
    }
}

#[cfg(target_os = "none")]
fn setup() -> World {
    let si = sys::start_info();
    let base = core::ptr::addr_of!(SCRATCH) as u64;
    let mut mfn = [0u64; PAGES];
    for (i, m) in mfn.iter_mut().enumerate() {
        *m = sys::mmu::va_to_mfn(base + i as u64 * 4096);
    }
    let n_pt = (si.nr_pt_frames as usize).min(8);
    let mut pt_mfns = [0u64; 8];
    for (i, m) in pt_mfns.iter_mut().enumerate().take(n_pt) {
        *m = sys::mmu::va_to_mfn(si.pt_base + i as u64 * 4096);
    }
    let (mut own_lo, mut own_hi) = (u64::MAX, 0);
    for pfn in 0..si.nr_pages {
        let m = sys::mmu::pfn_to_mfn(pfn);
        own_lo = own_lo.min(m);
        own_hi = own_hi.max(m);
    }
    let max_mfn = sys::hypercall_ints(12, [2, 0, 0, 0, 0]).max(1) as u64;
    // Time: calibrate the TSC against the PV clock over 20 ms, then never read shared_info
    // again (vcpu_info may move).
    let _ = events::map_shared_info();
    let v_end = events::shared_info_va() + 4096;
    let (t0, c0) = (events::system_time(), sys::rdtsc());
    while events::system_time() < t0 + 20_000_000 {
        sys::hypercall_ints(29, [0, 0, 0, 0, 0]);
    }
    let (t1, c1) = (events::system_time(), sys::rdtsc());
    let w = World {
        base,
        v_end,
        mfn,
        pt_mfns,
        n_pt: n_pt.max(1),
        l4: sys::read_cr3() >> 12,
        own_lo,
        own_hi,
        max_mfn,
        t0: t1,
        c0: c1,
        num: t1 - t0,
        den: c1 - c0,
    };
    // Its own grant table, shown at GNT, for grant entries of its own making.
    let mut frames = [0u64; 1];
    let (rc, _) = sys::gnttab::setup_table(domu_frontends::abi::DomId::SELF, 1, &mut frames);
    if rc == 0 {
        let _ = sys::mmu::update_va_mapping(w.page(GNT), (frames[0] << 12) | sys::mmu::PTE_RW, 2);
    }
    w
}

/// Selectors worth loading: null (both RPLs), the hypervisor's code and data, the flat ring-3
/// ones with both RPLs, the 32-bit ones, the TSS and LDT slots, guest GDT and LDT selectors.
#[cfg(target_os = "none")]
const SELECTORS: [u64; 18] = [
    0, 3, 0xe008, 0xe00b, 0xe010, 0xe013, 0xe023, 0xe02b, 0xe028, 0xe030, 0xe033, 0xe038, 0xe040,
    0xe050, 0x10, 0x1b, 0x7, 0xffff,
];

#[cfg(target_os = "none")]
fn selector(rng: &mut Rng) -> u64 {
    if rng.one_in(8) {
        rng.next()
    } else {
        rng.pick(&SELECTORS)
    }
}

/// An address to resume at or stand on: its landing point (often), non-canonical ones, the
/// hypervisor's range, user space, zero.
#[cfg(target_os = "none")]
fn target(w: &World, rng: &mut Rng, landing: u64) -> u64 {
    match rng.below(6) {
        0 | 1 => landing,
        2 => rng.pick(&[
            0x8000_0000_0000_0000,
            0x0000_8000_0000_0000,
            0xffff_7fff_ffff_f000,
            u64::MAX,
        ]),
        3 => rng.pick(&[
            0xffff_8000_0000_0000,
            0xffff_82d0_4000_0000,
            0xffff_8300_0000_0000,
        ]),
        4 => rng.pick(&[0, 0x1000, 0x4000_0000, 0x7fff_ffff_f000]),
        _ => w.any(rng),
    }
}

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .section .text.hcfuzz_ap, "ax"
    # vCPU 1's entry and handlers: take itself down (VCPUOP_down), whatever state it came with.
    .global hcfuzz_ap_down
hcfuzz_ap_down:
    movl $24, %eax
    movl $2, %edi
    movl $1, %esi
    xorl %edx, %edx
    syscall
1:
    pause
    jmp 1b
"#,
    options(att_syntax)
);

#[cfg(target_os = "none")]
#[repr(C, align(16))]
struct Stack([u8; 16384]);
#[cfg(target_os = "none")]
static mut AP_STACK: Stack = Stack([0; 16384]);

/// One step that loads chosen state into the CPU on the way back (see the module comment).
#[cfg(target_os = "none")]
fn hostile(w: &World, rng: &mut Rng, calls: u64) {
    use domu_frontends::abi::arch_x86::{IretContext, VcpuGuestContext};
    use domu_frontends::abi::xen::Hypercall;
    extern "C" {
        fn hcfuzz_ap_down();
    }
    // The probe's landing (where some frames return) is also handed out as a handler or
    // callback: reached with no iret in flight, it ends the generation.
    let landing = traps::iret_landing();
    let ap_down = hcfuzz_ap_down as *const () as u64;
    match rng.below(6) {
        0 | 1 => {
            let cs = selector(rng);
            let (any_flags, any_rflags) = (w.any(rng), rng.next());
            let c = IretContext {
                rax: w.any(rng),
                r11: w.any(rng),
                rcx: w.any(rng),
                flags: rng.pick(&[0, 0, 1 << 8, any_flags]),
                rip: target(w, rng, landing),
                // Mostly a kernel-mode return (RPL 0 in the frame): user mode without a user
                // page table only crashes it.
                cs: if rng.one_in(4) { cs } else { cs & !3 },
                rflags: rng.pick(&[0x2, 0x202, 0x3202, 0x2_0202, 0x4_0302, any_rflags]),
                rsp: target(w, rng, w.page(0) + 2048),
                ss: selector(rng),
            };
            println!(
                "\nhcfuzz: #{calls} hostile iret rip {:#x} cs {:#x} rflags {:#x} rsp {:#x} ss {:#x} flags {:#x}",
                c.rip, c.cs, c.rflags, c.rsp, c.ss, c.flags
            );
            let _ = traps::iret_probe(&c);
            sys::hypercall_ints(5, [0; 5]); // fpu_taskswitch(0): the frame may have said TS
        }
        2 => {
            // SAFETY: all-zero bytes are a valid `vcpu_guest_context` (plain integers).
            let mut c: VcpuGuestContext = unsafe { core::mem::zeroed() };
            let top = core::ptr::addr_of!(AP_STACK) as u64 + 16384;
            let (any_flags, any_rflags) = (w.any(rng), rng.next());
            // A context that passes the address checks, so vCPU 1 really starts with its
            // selectors, flags and stacks; one time in three one address is anything at all.
            c.flags = rng.pick(&[1 << 2, 0, (1 << 2) | (1 << 8), any_flags]);
            c.user_regs.rip = ap_down;
            c.user_regs.rsp = top - 64;
            c.user_regs.cs = selector(rng) as u16;
            c.user_regs.ss = selector(rng) as u16;
            c.user_regs.rflags = rng.pick(&[0x202, 0x3202, any_rflags]);
            c.ctrlreg[3] = sys::read_cr3();
            c.kernel_ss = selector(rng);
            c.kernel_sp = top;
            c.event_callback_eip = ap_down;
            c.failsafe_callback_eip = ap_down;
            c.syscall_callback_eip = ap_down;
            for v in 0..32 {
                c.trap_ctxt[v].vector = v as u8;
                c.trap_ctxt[v].address = if rng.one_in(2) { 0 } else { ap_down };
            }
            if rng.one_in(3) {
                let value = target(w, rng, ap_down);
                match rng.below(8) {
                    0 => c.user_regs.rip = value,
                    1 => c.user_regs.rsp = value,
                    2 => c.kernel_sp = value,
                    3 => c.fs_base = value,
                    4 => c.gs_base_kernel = value,
                    5 => c.event_callback_eip = value,
                    6 => c.trap_ctxt[13].address = value,
                    _ => c.gs_base_user = value,
                }
            }
            c.user_regs.ds = selector(rng) as u16;
            c.user_regs.fs = selector(rng) as u16;
            c.user_regs.gs = selector(rng) as u16;
            let arg = core::ptr::addr_of!(c) as u64;
            let vcpu_op = |cmd: u64, arg: u64| {
                sys::hypercall_ints(Hypercall::VcpuOp as u32, [cmd, 1, arg, 0, 0])
            };
            let r = vcpu_op(0, arg);
            println!(
                "\nhcfuzz: #{calls} hostile VCPUOP_initialise(1) rip {:#x} cs {:#x} ss {:#x} rsp {:#x} kernel_sp {:#x} -> {r}",
                c.user_regs.rip, c.user_regs.cs, c.user_regs.ss, c.user_regs.rsp, c.kernel_sp
            );
            if r == 0 {
                println!(
                    "\nhcfuzz: #{calls} hostile VCPUOP_up(1) -> {}",
                    vcpu_op(1, 0)
                );
            }
        }
        3 => {
            let table = w.page(1);
            for i in 0..4u64 {
                let e = table + i * 16;
                w.word(e)
                    .store(rng.below(32) | (0xe033 << 16), Ordering::Relaxed);
                w.word(e + 8)
                    .store(target(w, rng, landing), Ordering::Relaxed);
            }
            w.word(table + 64).store(0, Ordering::Relaxed);
            w.word(table + 72).store(0, Ordering::Relaxed);
            let r = sys::hypercall_ints(Hypercall::SetTrapTable as u32, [table, 0, 0, 0, 0]);
            println!("\nhcfuzz: #{calls} hostile set_trap_table -> {r}, then ud2");
            // SAFETY: raises #UD on purpose; whatever handler the table gave it runs next.
            unsafe { core::arch::asm!("ud2") };
        }
        4 => {
            let (e, f, s) = (
                target(w, rng, landing),
                target(w, rng, landing),
                target(w, rng, landing),
            );
            let r = sys::hypercall_ints(Hypercall::SetCallbacks as u32, [e, f, s, 0, 0]);
            println!(
                "\nhcfuzz: #{calls} hostile set_callbacks {e:#x} {f:#x} {s:#x} -> {r}, events on"
            );
            events::set_upcall_mask(false);
            for _ in 0..64 {
                sys::hypercall_ints(Hypercall::SchedOp as u32, [0, 0, 0, 0, 0]);
            }
            events::set_upcall_mask(true);
        }
        _ => {
            let which = rng.below(5);
            let value = if which == 4 {
                selector(rng)
            } else {
                target(w, rng, 0)
            };
            let r = sys::hypercall_ints(Hypercall::SetSegmentBase as u32, [which, value, 0, 0, 0]);
            let sp = target(w, rng, w.page(0) + 4096);
            let r2 =
                sys::hypercall_ints(Hypercall::StackSwitch as u32, [selector(rng), sp, 0, 0, 0]);
            println!(
                "\nhcfuzz: #{calls} hostile set_segment_base({which}, {value:#x}) -> {r}, stack_switch({sp:#x}) -> {r2}"
            );
        }
    }
}

/// Seconds a generation may go without kicking its watchdog.
#[cfg(target_os = "none")]
const WATCHDOG_S: u32 = 2;

/// The generation's watchdog (see the module comment): its id (0: none held).
#[cfg(target_os = "none")]
struct Watchdog {
    id: u32,
    next_kick: u64,
}

#[cfg(target_os = "none")]
impl Watchdog {
    /// Kicks it every 500 ms; takes one again if a fuzzed call stopped it (none while fuzzed
    /// calls hold both: they expire or get stopped by others).
    fn kick(&mut self, w: &World) {
        let now = w.now();
        if now < self.next_kick {
            return;
        }
        self.next_kick = now + 500_000_000;
        if self.id == 0 || sched_watchdog(self.id, WATCHDOG_S) != 0 {
            let r = sched_watchdog(0, WATCHDOG_S);
            self.id = u32::try_from(r).unwrap_or(0);
        }
    }
}

/// `SCHEDOP_watchdog(id, timeout)`.
#[cfg(target_os = "none")]
fn sched_watchdog(id: u32, timeout: u32) -> i64 {
    let arg = (u64::from(timeout) << 32) | u64::from(id);
    sys::hypercall_ints(29, [6, core::ptr::addr_of!(arg) as u64, 0, 0, 0])
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let hostile_mode = domu_frontends::flag(b"hostile");
    let mut seed = domu_frontends::arg(b"seed").unwrap_or(1);
    if domu_frontends::flag(b"reseed") {
        seed = Rng(seed ^ sys::rdtsc()).next();
    }
    let seconds = domu_frontends::arg(b"seconds").unwrap_or(10);
    let trace = domu_frontends::arg(b"trace").unwrap_or(u64::MAX);
    println!("hcfuzz: seed={seed} seconds={seconds}");
    let w = setup();
    let mut rng = Rng(seed);
    for p in 0..DATA {
        w.fill(&mut rng, w.page(p));
    }
    println!(
        "hcfuzz: own frames {:#x}..={:#x}, max mfn {:#x}, scratch at {:#x}",
        w.own_lo, w.own_hi, w.max_mfn, w.base
    );
    let deadline = w.now() + seconds * 1_000_000_000;
    let mut watchdog = Watchdog {
        id: 0,
        next_kick: 0,
    };
    let mut calls = 0u64;
    let mut fifo = false;
    let mut gnttab_v2 = false;
    while w.now() < deadline {
        watchdog.kick(&w);
        // Now and then a grant entry of its own: random flags, domain and frame — as a v1
        // entry (8 bytes) or a v2 one (16: full page, sub-page or transitive), whichever
        // version is in force (the hypervisor reads the table either way).
        if rng.one_in(16) {
            let r = rng.below(0x10000);
            let flags = rng.pick(&[0, 1, 1, 1 | 4, 2, 3, 1 | 0x100, r]);
            let dom = rng.pick(&[0, 1, 0x7ff0, 9]);
            if rng.one_in(2) {
                let e = &SCRATCH.0[GNT * 512 + rng.below(16) as usize];
                e.store(
                    (w.mfn_val(&mut rng) << 32) | (dom << 16) | flags,
                    Ordering::SeqCst,
                );
            } else {
                let i = GNT * 512 + 2 * rng.below(16) as usize;
                // Sub-page offset and length, or a transitive domain and reference.
                let any = rng.next();
                let mid = rng.pick(&[0, 1, 4095, 0x1000_0100, 0xffff_ffff, any]);
                let frame = w.mfn_val(&mut rng);
                let second = rng.pick(&[frame, 8, 9, 0]);
                SCRATCH.0[i + 1].store(second, Ordering::SeqCst);
                SCRATCH.0[i].store((mid << 32) | (dom << 16) | flags, Ordering::SeqCst);
            }
        }
        if hostile_mode && rng.one_in(16) {
            hostile(&w, &mut rng, calls);
            calls += 1;
            continue;
        }
        let Some(c) = gen(&w, &mut rng, None, 0) else {
            continue;
        };
        if calls >= trace {
            println!(
                "\nhcfuzz: #{calls} nr {} args {:#x} {:#x} {:#x} {:#x} {:#x}",
                c.nr, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4]
            );
        }
        let r = issue(&c);
        if calls >= trace {
            println!("\nhcfuzz: #{calls} -> {r}");
            // Tracing: say at once when a call leaves one of its data pages unmapped or
            // read-only (it writes them next, and would die there without saying why).
            for p in 0..=MC {
                let pte = leaf_pte(w.page(p));
                if pte & 3 != 3 {
                    println!("\nhcfuzz: #{calls} left data page {p} with PTE {pte:#x}");
                }
            }
        }
        // The first EVTCHNOP_init_control that took: from here on its events are FIFO ones.
        if c.nr == 32 && c.a[0] == 11 && r == 0 && !fifo {
            fifo = true;
            println!("\nhcfuzz: FIFO event channels from call {calls}");
        }
        // The first switch of its grant table to v2.
        if c.nr == 20
            && c.a[0] == 8
            && r == 0
            && !gnttab_v2
            && w.in_data(c.a[1])
            && w.word(c.a[1]).load(Ordering::Relaxed) as u32 == 2
        {
            gnttab_v2 = true;
            println!("\nhcfuzz: grant table v2 from call {calls}");
        }
        // fpu_taskswitch(1), alone or in a multicall, would fault this kernel's next SSE use.
        if c.nr == 5 || c.nr == 13 {
            sys::hypercall_ints(5, [0; 5]);
        }
        calls += 1;
        if calls.is_multiple_of(1000) {
            // (A newline first: a console write of the fuzzer's may have left a partial line.)
            println!("\nhcfuzz: {calls} calls done");
        }
    }
    println!("\nhcfuzz: done: seed {seed}, {calls} calls in {seconds} s");
}

#[cfg(not(target_os = "none"))]
fn main() {}
