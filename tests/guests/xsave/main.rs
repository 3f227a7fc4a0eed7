//! xsave: XSAVE-managed state for PV guests. CPUID (forced emulation, as the guest kernel asks)
//! offers XSAVE and OSXSAVE, AVX only with its state component in leaf 0xD, and leaf 0xD's sizes
//! agree with the components; CR4.OSXSAVE starts clear and reads back once set; XCR0 starts as
//! x87|SSE; `xsetbv` is #UD before CR4.OSXSAVE and afterwards accepts x87|SSE|AVX but refuses
//! (#GP(0)) AVX without SSE, SSE without x87, PKRU, a reserved bit and XCR1; the x87 stack,
//! MXCSR and the XMM/YMM registers survive blocking on a 20 ms timer five times. With `peer` on
//! its command line (Ferrite's two-domain test) it then fills the vector registers with a
//! pattern of its own (`seed=N`) and yields for `yield_ms=N` ms, checking the pattern after
//! every yield and that another domain ran in between.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{abi::xen::Hypercall, println, sys, sys::events, sys::traps, Test};

/// XCR0 components.
#[cfg(target_os = "none")]
const X87: u64 = 1;
#[cfg(target_os = "none")]
const SSE: u64 = 2;
#[cfg(target_os = "none")]
const AVX: u64 = 4;
#[cfg(target_os = "none")]
const PKRU: u64 = 1 << 9;
#[cfg(target_os = "none")]
const CR4_OSXSAVE: u64 = 1 << 18;

/// The sixteen vector registers, 32 bytes each (only the low 16 used without AVX).
#[cfg(target_os = "none")]
#[repr(C, align(64))]
#[derive(Clone, Copy, PartialEq, Eq)]
struct Vectors([u8; 512]);

/// An FXSAVE image.
#[cfg(target_os = "none")]
#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct Fxsave([u8; 512]);

#[cfg(target_os = "none")]
impl Fxsave {
    /// FCW, FSW, FTW, MXCSR, ST0–7 and XMM0–15 (not the last-instruction pointers, which Xen
    /// may clear on AMD hardware, nor the reserved tail).
    fn state(&self) -> [&[u8]; 4] {
        [
            &self.0[0..5],
            &self.0[24..28],
            &self.0[32..160],
            &self.0[160..416],
        ]
    }
}

#[cfg(target_os = "none")]
fn pattern(seed: u8) -> Vectors {
    let mut v = Vectors([0; 512]);
    for (i, b) in v.0.iter_mut().enumerate() {
        *b = (i as u8)
            .wrapping_mul(29)
            .wrapping_add(seed.wrapping_mul(101))
            ^ (i >> 5) as u8;
    }
    v
}

/// Loads the vector registers from `v` (YMM with AVX, else XMM from the low half of each slot).
#[cfg(target_os = "none")]
fn load_vectors(v: &Vectors, avx: bool) {
    macro_rules! each {
        ($op:literal, $r:literal) => {
            // SAFETY: reads 512 bytes of `v`; the soft-float guest's Rust code never uses the
            // vector registers, so nothing the compiler keeps there is clobbered.
            unsafe {
                core::arch::asm!(
                    concat!($op, " ", $r, "0, [{p}]"),
                    concat!($op, " ", $r, "1, [{p} + 32]"),
                    concat!($op, " ", $r, "2, [{p} + 64]"),
                    concat!($op, " ", $r, "3, [{p} + 96]"),
                    concat!($op, " ", $r, "4, [{p} + 128]"),
                    concat!($op, " ", $r, "5, [{p} + 160]"),
                    concat!($op, " ", $r, "6, [{p} + 192]"),
                    concat!($op, " ", $r, "7, [{p} + 224]"),
                    concat!($op, " ", $r, "8, [{p} + 256]"),
                    concat!($op, " ", $r, "9, [{p} + 288]"),
                    concat!($op, " ", $r, "10, [{p} + 320]"),
                    concat!($op, " ", $r, "11, [{p} + 352]"),
                    concat!($op, " ", $r, "12, [{p} + 384]"),
                    concat!($op, " ", $r, "13, [{p} + 416]"),
                    concat!($op, " ", $r, "14, [{p} + 448]"),
                    concat!($op, " ", $r, "15, [{p} + 480]"),
                    p = in(reg) v.0.as_ptr(),
                    options(nostack, readonly, preserves_flags),
                )
            }
        };
    }
    if avx {
        each!("vmovdqu", "ymm");
    } else {
        each!("movdqu", "xmm");
    }
}

/// Stores the vector registers into a fresh `Vectors` (zero upper halves without AVX).
#[cfg(target_os = "none")]
fn store_vectors(avx: bool) -> Vectors {
    let mut v = Vectors([0; 512]);
    macro_rules! each {
        ($op:literal, $r:literal) => {
            // SAFETY: writes 512 bytes of `v`; reading the vector registers changes nothing.
            unsafe {
                core::arch::asm!(
                    concat!($op, " [{p}], ", $r, "0"),
                    concat!($op, " [{p} + 32], ", $r, "1"),
                    concat!($op, " [{p} + 64], ", $r, "2"),
                    concat!($op, " [{p} + 96], ", $r, "3"),
                    concat!($op, " [{p} + 128], ", $r, "4"),
                    concat!($op, " [{p} + 160], ", $r, "5"),
                    concat!($op, " [{p} + 192], ", $r, "6"),
                    concat!($op, " [{p} + 224], ", $r, "7"),
                    concat!($op, " [{p} + 256], ", $r, "8"),
                    concat!($op, " [{p} + 288], ", $r, "9"),
                    concat!($op, " [{p} + 320], ", $r, "10"),
                    concat!($op, " [{p} + 352], ", $r, "11"),
                    concat!($op, " [{p} + 384], ", $r, "12"),
                    concat!($op, " [{p} + 416], ", $r, "13"),
                    concat!($op, " [{p} + 448], ", $r, "14"),
                    concat!($op, " [{p} + 480], ", $r, "15"),
                    p = in(reg) v.0.as_mut_ptr(),
                    options(nostack, preserves_flags),
                )
            }
        };
    }
    if avx {
        each!("vmovdqu", "ymm");
    } else {
        each!("movdqu", "xmm");
    }
    if !avx {
        for slot in v.0.chunks_mut(32) {
            slot[16..].fill(0);
        }
    }
    v
}

/// Resets the x87 unit, pushes three values derived from `seed` and sets MXCSR to round down
/// (a non-default value).
#[cfg(target_os = "none")]
fn load_x87_mxcsr(seed: u8) {
    let vals = [
        1.5f64.to_bits() ^ u64::from(seed),
        (-2.25f64).to_bits() ^ u64::from(seed) << 8,
        1e300f64.to_bits() ^ u64::from(seed) << 16,
    ];
    let mxcsr: u32 = 0x1f80 | (1 << 13);
    // SAFETY: x87 loads of three live `f64` bit patterns and `ldmxcsr` of a valid value; no
    // Rust code in the soft-float guest uses the x87 unit or MXCSR.
    unsafe {
        core::arch::asm!(
            "fninit",
            "fld qword ptr [{v}]",
            "fld qword ptr [{v} + 8]",
            "fld qword ptr [{v} + 16]",
            "ldmxcsr [{m}]",
            v = in(reg) vals.as_ptr(),
            m = in(reg) &mxcsr,
            options(nostack),
        )
    };
}

#[cfg(target_os = "none")]
fn fxsave() -> Fxsave {
    let mut f = Fxsave([0; 512]);
    // SAFETY: FXSAVE writes 512 bytes to a 16-byte-aligned buffer; it changes no state.
    unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) f.0.as_mut_ptr(), options(nostack)) };
    f
}

#[cfg(target_os = "none")]
fn xgetbv0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: XGETBV of XCR0 is unprivileged once the hypervisor enabled XSAVE (callers check
    // CPUID's XSAVE flag); it only reads a register.
    unsafe {
        core::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi, options(nomem, nostack))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

#[cfg(target_os = "none")]
fn read_cr4() -> u64 {
    let v: u64;
    // SAFETY: a privileged read the hypervisor emulates for the guest kernel.
    unsafe { core::arch::asm!("mov {}, cr4", out(reg) v, options(nomem, nostack)) };
    v
}

#[cfg(target_os = "none")]
fn write_cr4(v: u64) {
    // SAFETY: a privileged write the hypervisor emulates for the guest kernel, keeping only the
    // bits a PV guest controls.
    unsafe { core::arch::asm!("mov cr4, {}", in(reg) v, options(nomem, nostack)) };
}

/// The uncompressed XSAVE size for `xcr0` from leaf 0xD's per-component sub-leaves.
#[cfg(target_os = "none")]
fn size_for(xcr0: u64) -> u32 {
    (2..63)
        .filter(|i| xcr0 & (1u64 << i) != 0)
        .map(|i| {
            let r = traps::fep_cpuid(0xd, i);
            r[1] + r[0]
        })
        .fold(576, u32::max)
}

/// `VCPUOP_get_runstate_info`: nanoseconds spent runnable (ready but another vCPU ran).
#[cfg(target_os = "none")]
fn runnable_ns() -> u64 {
    let mut b = [0u8; 48];
    if events::vcpu_op(4, &mut b) != 0 {
        return 0;
    }
    u64::from_le_bytes(b[24..32].try_into().unwrap_or([0; 8]))
}

/// The value of `key=` on the command line, or whether the bare word `key` is there (`""`).
#[cfg(target_os = "none")]
fn cmdline_arg(key: &str) -> Option<&'static str> {
    let cl = &sys::start_info().cmd_line;
    let len = cl.iter().position(|&b| b == 0).unwrap_or(cl.len());
    let s = core::str::from_utf8(&cl[..len]).ok()?;
    s.split_ascii_whitespace()
        .find_map(|w| match w.split_once('=') {
            Some((k, v)) if k == key => Some(v),
            None if w == key => Some(""),
            _ => None,
        })
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    let seed = cmdline_arg("seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or(7u8);

    let leaf1 = traps::fep_cpuid(1, 0);
    let xsave = leaf1[2] & (1 << 26) != 0;
    let avx = leaf1[2] & (1 << 28) != 0;
    let leaf7 = traps::fep_cpuid(7, 0);
    println!(
        "CPUID: XSAVE {} OSXSAVE {} AVX {} FMA {} F16C {} AVX2 {}",
        xsave,
        leaf1[2] & (1 << 27) != 0,
        avx,
        leaf1[2] & (1 << 12) != 0,
        leaf1[2] & (1 << 29) != 0,
        leaf7[1] & (1 << 5) != 0
    );
    let d0 = traps::fep_cpuid(0xd, 0);
    let offered = (u64::from(d0[3]) << 32) | u64::from(d0[0]);
    if !avx {
        t.eq(
            leaf1[2] & ((1 << 12) | (1 << 29)) | leaf7[1] & (1 << 5),
            0,
            "FMA, F16C and AVX2 hidden without AVX",
        );
    }
    if xsave {
        t.check(
            leaf1[2] & (1 << 27) != 0,
            format_args!("OSXSAVE in the kernel's emulated CPUID (Xen's PV ABI)"),
        );
        println!(
            "leaf 0xD: components {:#x}, size {} for XCR0, {} for all",
            offered, d0[1], d0[2]
        );
        t.eq(
            offered & (X87 | SSE),
            X87 | SSE,
            "leaf 0xD offers x87 and SSE",
        );
        t.eq(
            offered & AVX != 0,
            avx,
            "AVX flag and AVX state component agree",
        );
        t.eq(offered & PKRU, 0, "no PKRU component for PV guests");
        t.eq(
            d0[2],
            size_for(offered),
            "leaf 0xD ECX: size for every component",
        );
        if avx {
            let d2 = traps::fep_cpuid(0xd, 2);
            t.eq(
                (d2[0], d2[1]),
                (256, 576),
                "AVX component: 256 bytes at 576",
            );
        }
    } else {
        println!("no XSAVE offered: checking x87/SSE state only");
        t.eq(d0, [0; 4], "leaf 0xD empty without XSAVE");
        t.eq(avx, false, "no AVX without XSAVE");
    }

    let cr4 = read_cr4();
    println!("CR4 {:#x}", cr4);
    t.eq(cr4 & CR4_OSXSAVE, 0, "CR4.OSXSAVE clear at boot");
    let want = X87 | SSE | if avx { AVX } else { 0 };
    if xsave {
        let xcr0 = xgetbv0();
        println!("XCR0 at boot {:#x}", xcr0);
        t.eq(xcr0, X87 | SSE, "XCR0 at boot is x87|SSE");
        t.eq(d0[1], size_for(xcr0), "leaf 0xD EBX: size for XCR0 at boot");
        t.eq(
            traps::xsetbv(0, want).map(|x| x.vector),
            Some(6),
            "xsetbv with CR4.OSXSAVE clear is #UD",
        );
        write_cr4(cr4 | CR4_OSXSAVE);
        t.eq(
            read_cr4(),
            cr4 | CR4_OSXSAVE,
            "CR4.OSXSAVE reads back set, other bits unchanged",
        );
        t.eq(traps::xsetbv(0, want), None, "xsetbv(0, x87|SSE[|AVX])");
        t.eq(xgetbv0(), want, "XCR0 after xsetbv");
        t.eq(
            traps::fep_cpuid(0xd, 0)[1],
            size_for(want),
            "leaf 0xD EBX follows XCR0",
        );
        for (xcr, value, what) in [
            (0, X87 | AVX, "AVX without SSE"),
            (0, SSE, "SSE without x87"),
            (0, want | PKRU, "PKRU"),
            (0, want | (1 << 63), "reserved bit 63"),
            (1, want, "XCR1"),
        ] {
            t.eq(
                traps::xsetbv(xcr, value).map(|x| (x.vector, x.error_code)),
                Some((13, 0)),
                what,
            );
        }
        t.eq(xgetbv0(), want, "XCR0 unchanged by the refused xsetbv");
    } else {
        write_cr4(cr4 | CR4_OSXSAVE);
        t.eq(
            read_cr4() & CR4_OSXSAVE,
            0,
            "CR4.OSXSAVE cannot be set without XSAVE",
        );
    }
    if !avx {
        println!("AVX not offered: checking x87, MXCSR and XMM state only");
    }

    // State across blocking: the vCPU is descheduled and rescheduled each time.
    let port = match events::bind_virq(0) {
        Ok(p) => p,
        Err(e) => {
            t.check(
                false,
                format_args!("EVTCHNOP_bind_virq(VIRQ_TIMER) failed: {e}"),
            );
            t.finish()
        }
    };
    let vectors = pattern(seed);
    load_vectors(&vectors, avx);
    load_x87_mxcsr(seed);
    let before = fxsave();
    t.eq(
        store_vectors(avx) == vectors,
        true,
        "vector registers hold the pattern",
    );
    for round in 0..5 {
        let start = events::system_time();
        t.eq(
            events::set_timer_op(start + 20_000_000),
            0,
            "set_timer_op(+20 ms)",
        );
        let fired = events::events(port);
        // `SCHEDOP_block` returns at any event (a domU's console channel, say): block again
        // until the timer's, within a second.
        events::wait_until(|| {
            events::events(port) != fired
                || events::system_time().saturating_sub(start) >= 1_000_000_000
        });
        t.check(
            events::events(port) > fired,
            format_args!("round {round}: the timer woke the vCPU"),
        );
        let after = fxsave();
        t.check(
            after.state() == before.state(),
            format_args!("round {round}: x87 stack, MXCSR and XMM registers survive blocking"),
        );
        t.check(
            store_vectors(avx) == vectors,
            format_args!(
                "round {round}: {} registers survive blocking",
                if avx { "YMM" } else { "XMM" }
            ),
        );
    }

    if cmdline_arg("peer").is_some() {
        let ms: u64 = cmdline_arg("yield_ms")
            .and_then(|s| s.parse().ok())
            .unwrap_or(500);
        yield_beside_peer(&mut t, seed, avx, ms);
    }
    t.finish()
}

/// Fills the vector and x87 registers with this domain's pattern and yields for at least `ms`
/// milliseconds (and 200 rounds), checking the pattern after each yield; the runnable time
/// charged meanwhile shows another domain ran while this one's state was live.
#[cfg(target_os = "none")]
fn yield_beside_peer(t: &mut Test, seed: u8, avx: bool, ms: u64) {
    let vectors = pattern(seed);
    load_vectors(&vectors, avx);
    load_x87_mxcsr(seed);
    let before = fxsave();
    let start = events::system_time();
    let runnable0 = runnable_ns();
    let mut rounds = 0u64;
    let mut bad = 0u64;
    while rounds < 200 || events::system_time().saturating_sub(start) < ms * 1_000_000 {
        if sys::hypercall_ints(Hypercall::SchedOp as u32, [0, 0, 0, 0, 0]) != 0 {
            t.check(false, format_args!("SCHEDOP_yield failed"));
            return;
        }
        if store_vectors(avx) != vectors || fxsave().state() != before.state() {
            bad += 1;
        }
        rounds += 1;
    }
    let waited = runnable_ns().saturating_sub(runnable0);
    println!(
        "peer: {} yields, {} us runnable while another domain ran, {} mismatches",
        rounds,
        waited / 1000,
        bad
    );
    t.eq(bad, 0, "own register pattern intact after every yield");
    t.check(
        waited > 0,
        format_args!("another domain ran while this one yielded"),
    );
}

#[cfg(not(target_os = "none"))]
fn main() {}
