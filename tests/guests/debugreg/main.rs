//! debugreg: the PV debug registers (`set_debugreg`/`get_debugreg`, hypercalls 8 and 9). A
//! vCPU starts with DR0–3 zero, DR6 0xffff0ff0 and DR7 0x400; DR0–3 take guest addresses only
//! (`-EPERM` for the hypervisor's range and non-canonical ones); DR6 and DR7 get their reserved
//! bits forced; DR7's general-detect bit and I/O breakpoints (without CR4.DE) are `-EPERM`;
//! DR4/5 alias DR6/7; other registers `-ENODEV`. A write breakpoint on a guest variable raises
//! #DB in the guest after the write with B0 in DR6; the same variable written by the hypervisor
//! (a `xen_version` result) raises nothing in the guest and the machine goes on; disarmed, the
//! variable is written silently.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use core::sync::atomic::{AtomicU64, Ordering};
#[cfg(target_os = "none")]
use domu_frontends::{abi::xen::Hypercall, println, sys, sys::traps, Test};

#[cfg(target_os = "none")]
fn set(reg: u64, value: u64) -> i64 {
    sys::hypercall_ints(Hypercall::SetDebugreg as u32, [reg, value, 0, 0, 0])
}

#[cfg(target_os = "none")]
fn get(reg: u64) -> i64 {
    sys::hypercall_ints(Hypercall::GetDebugreg as u32, [reg, 0, 0, 0, 0])
}

/// The watched variable: 16 bytes, 8-aligned (a breakpoint covers its first 8).
#[cfg(target_os = "none")]
#[repr(C, align(16))]
struct Watched([AtomicU64; 2]);
#[cfg(target_os = "none")]
static WATCHED: Watched = Watched([AtomicU64::new(0), AtomicU64::new(0)]);

/// DR7: L0, a read/write breakpoint (R/W0 = 11) of 2 bytes (LEN0 = 01) on DR0.
#[cfg(target_os = "none")]
const DR7_RW2_L0: u64 = 1 | (0b11 << 16) | (0b01 << 18);

/// The guest's SS selector, where a breakpoint watches `mov %ss` read it.
#[cfg(target_os = "none")]
#[repr(C, align(8))]
struct SsSel([u16; 4]);
#[cfg(target_os = "none")]
static mut SS_SEL: SsSel = SsSel([0; 4]);

/// DR7: L0, a write breakpoint (R/W0 = 01) of 8 bytes (LEN0 = 10) on DR0.
#[cfg(target_os = "none")]
const DR7_W8_L0: u64 = 1 | (0b01 << 16) | (0b10 << 18);

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");

    t.eq(
        (get(0), get(1), get(2), get(3)),
        (0, 0, 0, 0),
        "DR0-3 start at 0",
    );
    t.eq(get(6), 0xffff_0ff0, "DR6 starts at its default");
    t.eq(get(7), 0x400, "DR7 starts at its default");
    t.eq(get(4), get(6), "DR4 reads as DR6 (CR4.DE clear)");
    t.eq(get(5), get(7), "DR5 reads as DR7");
    t.eq(get(8), -19, "get_debugreg(8) is -ENODEV");
    t.eq(set(8, 0), -19, "set_debugreg(8) is -ENODEV");

    t.eq(set(1, 0x1234_5678), 0, "DR1 to a guest address");
    t.eq(get(1), 0x1234_5678, "DR1 reads back");
    t.eq(
        set(1, 0xffff_8000_0000_0000),
        -1,
        "DR1 in the hypervisor's range is -EPERM",
    );
    t.eq(
        set(1, 0x8000_0000_0000_0000),
        -1,
        "a non-canonical DR1 is -EPERM",
    );
    t.eq(get(1), 0x1234_5678, "a refused write leaves DR1 as it was");
    t.eq(set(1, 0), 0, "DR1 back to 0");

    t.eq(set(6, 0), 0, "DR6 written with 0");
    println!("DR6 after writing 0: {:#x}", get(6));
    t.eq(get(6), 0xffff_0ff0, "DR6's reserved bits are forced");
    t.eq(set(7, 0), 0, "DR7 written with 0");
    t.eq(get(7), 0x400, "DR7's reserved bit 10 is forced");
    t.eq(set(7, 1 << 13), -1, "DR7.GD is -EPERM");
    t.eq(
        set(7, 1 | (0b10 << 16)),
        -1,
        "an I/O breakpoint without CR4.DE is -EPERM",
    );
    t.eq(get(7), 0x400, "refused DR7 writes leave it as it was");

    // A write breakpoint on WATCHED.
    let va = core::ptr::addr_of!(WATCHED) as u64;
    t.eq(set(0, va), 0, "DR0 on the watched variable");
    t.eq(set(7, DR7_W8_L0), 0, "DR7: a write breakpoint on DR0");
    t.eq(get(7) as u64, DR7_W8_L0 | 0x400, "DR7 reads back");
    let hit = traps::pte::store(va, 0x5a5a);
    println!("breakpoint hit: {hit:x?}");
    t.eq(
        hit.map(|x| x.vector),
        Some(1),
        "the guest's write raises #DB",
    );
    t.eq(
        WATCHED.0[0].load(Ordering::SeqCst),
        0x5a5a,
        "#DB is a trap: the write happened",
    );
    let dr6 = get(6) as u64;
    println!("DR6 after the hit: {dr6:#x}");
    t.check(
        dr6 & 1 != 0,
        format_args!("DR6.B0 set after the hit ({dr6:#x})"),
    );
    t.eq(set(6, 0), 0, "DR6 cleared by the guest");

    // The hypervisor writes the watched bytes: nothing is raised in the guest.
    traps::clear();
    let mut extra = [0u8; 16];
    let r = sys::hypercall_buf(Hypercall::XenVersion as u32, 1, &mut extra);
    t.eq(r, 0, "xen_version(extraversion) into a buffer");
    // SAFETY: WATCHED is 16 bytes and only this vCPU touches it; the hypervisor writes it
    // through its own copy routine (as it wrote `extra` above).
    let into_watched = unsafe { sys::hypercall(Hypercall::XenVersion as u32, 1, va, 0, 0, 0) };
    t.eq(
        into_watched,
        0,
        "xen_version(extraversion) into the watched variable",
    );
    t.eq(
        traps::last(),
        None,
        "no #DB in the guest for the hypervisor's write",
    );
    println!("DR6 after the hypervisor's write: {:#x}", get(6));

    // XSA-260: a data breakpoint on the selector `mov %ss` loads, then `syscall`. The #DB is
    // held back by the SS load for one instruction, so the CPU may deliver it on the first
    // instruction of the hypervisor's SYSCALL entry, before that has left the guest's stack:
    // the hypervisor must take it on a stack of its own and carry on.
    let ss_var = core::ptr::addr_of!(SS_SEL) as u64;
    // SAFETY: reading SS has no side effect.
    unsafe { core::arch::asm!("mov {0:x}, ss", out(reg) SS_SEL.0[0]) };
    t.eq(set(0, ss_var), 0, "DR0 on a copy of the SS selector");
    t.eq(set(7, DR7_RW2_L0), 0, "DR7: a read/write breakpoint on it");
    let (version, seen) = traps::mov_ss_syscall(ss_var, Hypercall::XenVersion as u64, 0);
    println!("XSA-260 probe: xen_version {version:#x}, #DB seen by the guest: {seen:x?}");
    t.eq(
        version,
        (4 << 16) | 17,
        "the hypercall after mov ss + syscall returns",
    );
    t.check(
        seen.is_none_or(|x| x.vector == 1),
        format_args!("nothing but a #DB reaches the guest"),
    );
    t.eq(set(6, 0), 0, "DR6 cleared");

    // Disarmed: the write is silent.
    t.eq(set(7, 0), 0, "DR7 cleared");
    t.eq(traps::pte::store(va, 7), None, "no #DB once disarmed");
    t.eq(set(0, 0), 0, "DR0 back to 0");
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
