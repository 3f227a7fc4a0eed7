//! The guest boundary on the hardware side: every entry stub lands in [`ferrite_trap_dispatch`],
//! which decodes the saved frame into a typed [`Trap`] and hands it to the one generic entry
//! point, `pv::trap`; every return to a guest then leaves through [`exit_to_guest`]'s checks and
//! the one `iretq` of `ferrite_restore_frame`. A fault the hypervisor takes on an instruction
//! that loads guest-chosen state is looked up in the one exception-fixup table (`extable`).

use super::extable::{self, Fixup};
use super::guest::is_canonical;
use super::idt::{TrapFrame, SPURIOUS_VECTOR, TIMER_VECTOR, WAKE_VECTOR};
use super::{apic, cpu};
use crate::layout::selectors;

/// An IDT vector: the architectural exceptions (0–31) have names as constants; the others are
/// interrupts, or the software interrupts of `int n` a guest raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Vector(pub u8);

impl Vector {
    /// #DE.
    pub const DIVIDE_ERROR: Vector = Vector(0);
    /// #DB.
    pub const DEBUG: Vector = Vector(1);
    /// NMI.
    pub const NMI: Vector = Vector(2);
    /// #BP.
    pub const BREAKPOINT: Vector = Vector(3);
    /// #OF.
    pub const OVERFLOW: Vector = Vector(4);
    /// #BR.
    pub const BOUND_RANGE: Vector = Vector(5);
    /// #UD.
    pub const INVALID_OPCODE: Vector = Vector(6);
    /// #NM.
    pub const DEVICE_NOT_AVAILABLE: Vector = Vector(7);
    /// #DF.
    pub const DOUBLE_FAULT: Vector = Vector(8);
    /// #TS.
    pub const INVALID_TSS: Vector = Vector(10);
    /// #NP.
    pub const SEGMENT_NOT_PRESENT: Vector = Vector(11);
    /// #SS.
    pub const STACK_FAULT: Vector = Vector(12);
    /// #GP.
    pub const GENERAL_PROTECTION: Vector = Vector(13);
    /// #PF.
    pub const PAGE_FAULT: Vector = Vector(14);
    /// #MF.
    pub const X87: Vector = Vector(16);
    /// #AC.
    pub const ALIGNMENT_CHECK: Vector = Vector(17);
    /// #MC.
    pub const MACHINE_CHECK: Vector = Vector(18);
    /// #XM.
    pub const SIMD: Vector = Vector(19);
    /// #VE.
    pub const VIRTUALIZATION: Vector = Vector(20);
    /// #CP.
    pub const CONTROL_PROTECTION: Vector = Vector(21);

    /// True for the vectors whose exceptions push an error code ([`ERROR_CODE_VECTORS`]).
    pub const fn has_error_code(self) -> bool {
        self.0 < 32 && ERROR_CODE_VECTORS & (1 << self.0) != 0
    }

    /// True for the faults an instruction of the fixup table may raise on a guest-chosen
    /// operand: #TS, #NP, #SS, #GP, #PF and #AC.
    pub const fn is_fixable_fault(self) -> bool {
        matches!(self.0, 10..=14 | 17)
    }

    /// The mnemonic and name, for logs and register dumps.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "#DE divide error",
            1 => "#DB debug",
            2 => "NMI",
            3 => "#BP breakpoint",
            4 => "#OF overflow",
            5 => "#BR bound range",
            6 => "#UD invalid opcode",
            7 => "#NM device not available",
            8 => "#DF double fault",
            10 => "#TS invalid TSS",
            11 => "#NP segment not present",
            12 => "#SS stack fault",
            13 => "#GP general protection",
            14 => "#PF page fault",
            16 => "#MF x87 error",
            17 => "#AC alignment check",
            18 => "#MC machine check",
            19 => "#XM SIMD error",
            20 => "#VE virtualization",
            21 => "#CP control protection",
            9 | 15 | 22..=31 => "reserved exception",
            _ => "interrupt",
        }
    }
}

/// The exceptions for which the CPU pushes an error code, one bit per vector: #DF, #TS, #NP,
/// #SS, #GP, #PF, #AC, #CP, #VC, #SX. The entry stubs (`idt`) assemble from this mask.
pub const ERROR_CODE_VECTORS: u32 = (1 << 8)
    | (1 << 10)
    | (1 << 11)
    | (1 << 12)
    | (1 << 13)
    | (1 << 14)
    | (1 << 17)
    | (1 << 21)
    | (1 << 29)
    | (1 << 30);

/// A CPU exception to handle for a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    /// Which exception.
    pub vector: Vector,
    /// The error code, for vectors that have one.
    pub error_code: Option<u64>,
    /// CR2 at the time of a #PF (0 for other vectors).
    pub cr2: u64,
    /// Where it came from.
    pub source: ExceptionSource,
}

/// Whether a guest instruction raised an exception, or the hypervisor's return to the guest did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionSource {
    /// Guest code raised it; the frame is the guest's state at the fault.
    Guest,
    /// The frame the hypervisor was about to resume the guest with could not be loaded (a
    /// selector the CPU refused, a non-canonical RIP): the frame is that state, as if the
    /// guest had faulted there (Xen's pre-exception fixup of its exit `iretq`). Nothing at the
    /// frame's RIP ran, so it is never emulated.
    Exit,
}

/// Why the hypervisor was entered, decoded from the entry stub's frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// `syscall` from ring 3 (a hypercall from guest-kernel mode, a system call from
    /// guest-user mode).
    Syscall,
    /// A CPU exception for the guest.
    Exception(Exception),
    /// The local APIC timer, already acknowledged; `in_guest` says whether a guest ran.
    Timer {
        /// True if guest code was interrupted (the frame is the guest's).
        in_guest: bool,
    },
    /// The wake-up IPI, already acknowledged, that interrupted a guest.
    Wake,
    /// A non-maskable interrupt while a guest ran.
    Nmi,
}

/// What the dispatcher does with an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A guest-visible trap: `pv::trap`, then back to the guest.
    Guest(Trap),
    /// The hypervisor's own timer tick while it ran (idle): `pv::trap`, then back into the
    /// hypervisor.
    HypervisorTimer,
    /// An interrupt with nothing more to do (spurious, a wake-up of the idle loop).
    Nothing,
    /// A vector nothing should raise: logged and acknowledged.
    Unexpected(u64),
    /// An NMI while the hypervisor ran: reported.
    HypervisorNmi,
    /// An exception in the hypervisor: the fixup table decides.
    HypervisorException(Vector),
}

/// The `vector` value of a frame built by the SYSCALL entry.
pub const SYSCALL_VECTOR: u64 = 0x100;

/// Decodes an entry: `vector` and `cs` as the stub saved them, `error_code` from the frame and
/// `cr2` as read at entry.
pub fn decode(vector: u64, error_code: u64, cs: u64, cr2: u64) -> Entry {
    let in_guest = cs & 3 == 3;
    if vector == SYSCALL_VECTOR {
        return Entry::Guest(Trap::Syscall);
    }
    let Ok(v) = u8::try_from(vector) else {
        return Entry::Unexpected(vector);
    };
    match v {
        2 if in_guest => Entry::Guest(Trap::Nmi),
        2 => Entry::HypervisorNmi,
        0..=31 if in_guest => {
            let vector = Vector(v);
            Entry::Guest(Trap::Exception(Exception {
                vector,
                error_code: vector.has_error_code().then_some(error_code),
                cr2: if vector == Vector::PAGE_FAULT { cr2 } else { 0 },
                source: ExceptionSource::Guest,
            }))
        }
        0..=31 => Entry::HypervisorException(Vector(v)),
        TIMER_VECTOR if in_guest => Entry::Guest(Trap::Timer { in_guest: true }),
        TIMER_VECTOR => Entry::HypervisorTimer,
        WAKE_VECTOR if in_guest => Entry::Guest(Trap::Wake),
        WAKE_VECTOR | SPURIOUS_VECTOR => Entry::Nothing,
        _ => Entry::Unexpected(vector),
    }
}

/// RFLAGS bits the exit path forces.
const RFLAGS_MBS: u64 = 1 << 1;
const RFLAGS_IF: u64 = 1 << 9;
const RFLAGS_IOPL: u64 = 3 << 12;
const RFLAGS_VM: u64 = 1 << 17;

/// The last word on a frame about to be loaded into ring 3 (Xen's `iret_exit_to_guest`): RPL 3
/// forced on CS and SS, so no frame can return to a hypervisor ring; IOPL and VM cleared and IF
/// set in RFLAGS; and the one check the hardware would make in the hypervisor's ring on some
/// CPUs: a non-canonical RIP is #GP(0) there on Intel (after the privilege change elsewhere),
/// so it is raised here for the guest, the same on every CPU. Returns that exception, if any.
pub fn exit_check(frame: &mut TrapFrame) -> Option<Exception> {
    frame.cs |= 3;
    frame.ss |= 3;
    frame.rflags = (frame.rflags & !(RFLAGS_IOPL | RFLAGS_VM)) | RFLAGS_IF | RFLAGS_MBS;
    if !is_canonical(frame.rip) {
        return Some(Exception {
            vector: Vector::GENERAL_PROTECTION,
            error_code: Some(0),
            cr2: 0,
            source: ExceptionSource::Exit,
        });
    }
    None
}

/// Hands `trap` to the generic code and then checks the frame it leaves for the exit, as often
/// as the check finds an exception to deliver (each delivery leaves a frame of flat selectors
/// and a registered, canonical handler, or a domain that no longer runs).
#[cfg(target_os = "none")]
fn guest_round_trip(mut trap: Trap, frame: &mut TrapFrame) {
    loop {
        crate::pv::trap(trap, frame);
        match exit_check(frame) {
            None => return,
            Some(e) => trap = Trap::Exception(e),
        }
    }
}

/// The frame of a fault taken by the exit `iretq` itself: the registers are the guest's (all
/// were restored), and the hardware frame the `iretq` was popping is still on the stack at the
/// faulting RSP. Rebuilds the guest frame with the fault as its exception.
#[cfg(target_os = "none")]
fn frame_of_exit_fault(fault: &TrapFrame) -> Option<(TrapFrame, Exception)> {
    let slot = super::guest::frame_slot()?;
    // The iretq ran with RSP at the slot's RIP field.
    let iret_at = slot as u64 + core::mem::offset_of!(TrapFrame, rip) as u64;
    if fault.rsp != iret_at {
        return None;
    }
    // SAFETY: `iret_at` is inside this CPU's frame slot (checked just above), which the
    // faulting `iretq` was reading and nothing has written since: the CPU pushed the fault's
    // frame below it.
    let [rip, cs, rflags, rsp, ss] = unsafe { (iret_at as *const [u64; 5]).read() };
    let vector = Vector(fault.vector as u8);
    let frame = TrapFrame {
        rip,
        cs,
        rflags,
        rsp,
        ss,
        vector: fault.vector,
        error_code: fault.error_code,
        ..*fault
    };
    let e = Exception {
        vector,
        error_code: vector.has_error_code().then_some(fault.error_code),
        cr2: 0,
        source: ExceptionSource::Exit,
    };
    Some((frame, e))
}

/// Called by the entry stubs with the saved registers.
#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn ferrite_trap_dispatch(frame: &mut TrapFrame) {
    let cr2 = if frame.vector == u64::from(Vector::PAGE_FAULT.0) {
        cpu::read_cr2()
    } else {
        0
    };
    match decode(frame.vector, frame.error_code, frame.cs, cr2) {
        Entry::Guest(trap) => {
            if let Trap::Timer { .. } = trap {
                apic::timer_interrupt();
                apic::eoi();
            } else if trap == Trap::Wake {
                apic::eoi();
            }
            guest_round_trip(trap, frame);
        }
        Entry::HypervisorTimer => {
            apic::timer_interrupt();
            apic::eoi();
            crate::pv::trap(Trap::Timer { in_guest: false }, frame);
        }
        Entry::Nothing => {
            if frame.vector != u64::from(SPURIOUS_VECTOR) {
                apic::eoi();
            }
        }
        Entry::Unexpected(v) => {
            log::warn!("unexpected interrupt vector {v:#x}");
            apic::eoi();
        }
        Entry::HypervisorNmi => super::idt::report_nmi(frame),
        // Only the faults a guest-chosen operand can raise (#TS, #NP, #SS, #GP, #PF, #AC) are
        // fixed up; a trap (#DB, #BP), an NMI, #MC or #DF at a listed instruction is not that
        // instruction's failure.
        // A guest's data breakpoint on memory the hypervisor touched for it (DR0–3 hold guest
        // addresses only): a trap, ignored as Xen's `do_debug` ignores it in its own context.
        Entry::HypervisorException(Vector::DEBUG) => {
            let dr6 = super::debugreg::take_dr6();
            frame.rflags &= !(1 << 8);
            log_hypervisor_db(frame.rip, dr6);
        }
        Entry::HypervisorException(v) => match extable::search(frame.rip) {
            Some(Fixup::Resume(ip)) if v.is_fixable_fault() => frame.rip = ip,
            Some(Fixup::GuestExit) if v.is_fixable_fault() => {
                let Some((mut g, e)) = frame_of_exit_fault(frame) else {
                    super::idt::fatal_exception(frame)
                };
                guest_round_trip(Trap::Exception(e), &mut g);
                super::guest::enter(&g)
            }
            _ => super::idt::fatal_exception(frame),
        },
    }
}

/// #DBs taken in the hypervisor, the last one's RIP and DR6, and how many have been reported.
static HYPERVISOR_DB: [core::sync::atomic::AtomicU64; 4] =
    [const { core::sync::atomic::AtomicU64::new(0) }; 4];

/// Notes a #DB taken in the hypervisor. Nothing is logged here: it may have interrupted code
/// that holds the console's lock; [`report_hypervisor_db`] logs it from the next tick.
#[cfg(target_os = "none")]
fn log_hypervisor_db(rip: u64, dr6: u64) {
    use core::sync::atomic::Ordering;
    HYPERVISOR_DB[1].store(rip, Ordering::Relaxed);
    HYPERVISOR_DB[2].store(dr6, Ordering::Relaxed);
    HYPERVISOR_DB[0].fetch_add(1, Ordering::Release);
}

/// Logs the #DBs taken in the hypervisor since the last call, the first few only (a guest
/// chooses how many): called from the timer tick.
pub fn report_hypervisor_db() {
    use core::sync::atomic::Ordering;
    let seen = HYPERVISOR_DB[0].load(Ordering::Acquire);
    // Every CPU calls this on every tick: only a new #DB writes.
    if seen == HYPERVISOR_DB[3].load(Ordering::Relaxed) {
        return;
    }
    let reported = HYPERVISOR_DB[3].swap(seen, Ordering::Relaxed);
    if seen <= reported || reported >= 8 {
        return;
    }
    let (rip, dr6) = (
        HYPERVISOR_DB[1].load(Ordering::Relaxed),
        HYPERVISOR_DB[2].load(Ordering::Relaxed),
    );
    log::warn!(
        "{} #DB(s) in the hypervisor, the last at {rip:#x} (dr6 {dr6:#x}): a guest's \
         breakpoint, ignored",
        seen - reported
    );
}

/// Enters a guest on this CPU with `regs` (its first entry, or after a fault of the exit
/// itself), abandoning the current stack, through the same exit checks as every return.
#[cfg(target_os = "none")]
pub fn enter_guest(regs: &TrapFrame) -> ! {
    let mut f = *regs;
    if let Some(e) = exit_check(&mut f) {
        guest_round_trip(Trap::Exception(e), &mut f);
    }
    super::guest::enter(&f)
}

/// The selector a guest frame's CS gets when the hypervisor points it at a handler.
pub const GUEST_CS: u64 = selectors::FLAT_RING3_CS64 as u64;

#[cfg(test)]
mod tests {
    use super::*;

    fn exception(v: u8, ec: Option<u64>) -> Entry {
        Entry::Guest(Trap::Exception(Exception {
            vector: Vector(v),
            error_code: ec,
            cr2: if v == 14 { 0x1234 } else { 0 },
            source: ExceptionSource::Guest,
        }))
    }

    #[test]
    fn decode_names_every_kind_of_entry() {
        assert_eq!(
            decode(SYSCALL_VECTOR, 0, 0xe033, 0),
            Entry::Guest(Trap::Syscall)
        );
        assert_eq!(decode(13, 0x18, 0xe033, 0), exception(13, Some(0x18)));
        assert_eq!(decode(14, 3, 0xe033, 0x1234), exception(14, Some(3)));
        assert_eq!(
            decode(6, 0, 0xe033, 0x1234),
            exception(6, None),
            "no error code, no CR2"
        );
        assert_eq!(decode(2, 0, 0xe033, 0), Entry::Guest(Trap::Nmi));
        assert_eq!(decode(2, 0, 0xe008, 0), Entry::HypervisorNmi);
        assert_eq!(
            decode(13, 0, 0xe008, 0),
            Entry::HypervisorException(Vector::GENERAL_PROTECTION)
        );
        assert_eq!(
            decode(u64::from(TIMER_VECTOR), 0, 0xe033, 0),
            Entry::Guest(Trap::Timer { in_guest: true })
        );
        assert_eq!(
            decode(u64::from(TIMER_VECTOR), 0, 0xe008, 0),
            Entry::HypervisorTimer
        );
        assert_eq!(
            decode(u64::from(WAKE_VECTOR), 0, 0xe033, 0),
            Entry::Guest(Trap::Wake)
        );
        assert_eq!(decode(u64::from(WAKE_VECTOR), 0, 0xe008, 0), Entry::Nothing);
        assert_eq!(
            decode(u64::from(SPURIOUS_VECTOR), 0, 0xe033, 0),
            Entry::Nothing
        );
        assert_eq!(decode(0x80, 0, 0xe033, 0), Entry::Unexpected(0x80));
    }

    #[test]
    fn only_operand_faults_are_fixed_up() {
        let fixable: std::vec::Vec<u8> =
            (0..32).filter(|v| Vector(*v).is_fixable_fault()).collect();
        assert_eq!(fixable, [10, 11, 12, 13, 14, 17]);
    }

    #[test]
    fn error_code_vectors_match_the_sdm() {
        let with: std::vec::Vec<u8> = (0..32).filter(|v| Vector(*v).has_error_code()).collect();
        assert_eq!(with, [8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);
    }

    #[test]
    fn exit_check_forces_rpl3_and_flags_and_refuses_a_non_canonical_rip() {
        let mut f = TrapFrame {
            rip: 0x40_0000,
            cs: 0xe008,
            ss: 0,
            rflags: RFLAGS_IOPL | RFLAGS_VM | 1,
            ..TrapFrame::default()
        };
        assert_eq!(exit_check(&mut f), None);
        assert_eq!((f.cs, f.ss), (0xe00b, 3));
        assert_eq!(f.rflags, 1 | RFLAGS_IF | RFLAGS_MBS);
        for rip in [
            0x8000_0000_0000_0000u64,
            0x0000_8000_0000_0000,
            0xffff_7fff_ffff_ffff,
        ] {
            let mut f = TrapFrame {
                rip,
                ..TrapFrame::default()
            };
            let e = exit_check(&mut f).expect("non-canonical RIP");
            assert_eq!(
                (e.vector, e.error_code),
                (Vector::GENERAL_PROTECTION, Some(0))
            );
            assert_eq!(e.source, ExceptionSource::Exit);
        }
        let mut f = TrapFrame {
            rip: 0xffff_8000_0000_0000,
            ..TrapFrame::default()
        };
        assert_eq!(exit_check(&mut f), None, "upper half is canonical");
    }
}
