//! Running PV guests in ring 3: per-CPU SYSCALL stubs (the guest owns GS, so the stub finds the
//! CPU's stack through RIP-relative slots, as Xen's per-CPU stubs do), the first entry into a
//! guest, CPU state switched between vCPUs (CR3, segment selectors and bases, x87/SSE/AVX state
//! with XSAVE or FXSAVE, XCR0), and copies
//! to and from guest virtual memory that turn a fault into `EFAULT`.

use super::cpu::{rdmsr, wrmsr};
use super::idt::TrapFrame;
use super::percpu;
#[cfg(target_os = "none")]
use super::percpu::PerCpu;
#[cfg(target_os = "none")]
use crate::layout::percpu as area;
use crate::layout::{selectors, HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};
use core::arch::asm;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::trap::SYSCALL_VECTOR;

const MSR_EFER: u32 = 0xc000_0080;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SFMASK: u32 = 0xc000_0084;
/// `MSR_FS_BASE`.
pub const MSR_FS_BASE: u32 = 0xc000_0100;
/// `MSR_GS_BASE`.
pub const MSR_GS_BASE: u32 = 0xc000_0101;
/// `MSR_SHADOW_GS_BASE` (`KERNEL_GS_BASE`).
pub const MSR_SHADOW_GS_BASE: u32 = 0xc000_0102;

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .section .text.ferrite_guest, "ax"
    .global ferrite_syscall_common
ferrite_syscall_common:
    pushq %r11
    pushq ${cs}
    pushq %rcx
    pushq $0
    pushq ${vec}
    # The same register save, dispatch (vector SYSCALL_VECTOR) and IRET as every trap.
    jmp ferrite_trap_common

    .global ferrite_enter_frame
ferrite_enter_frame:
    movq %rdi, %rsp
    jmp ferrite_restore_frame

    # rdi = dst, rsi = src, rdx = len; rax = the bytes not copied (0: all). Whole quadwords
    # first, the tail bytewise (as Xen's __copy_to/from_guest_ll): string moves go a byte a step
    # otherwise, which costs hypercall arguments dearly under emulation.
    .global ferrite_copy_bytes
ferrite_copy_bytes:
    movq %rdx, %rcx
    shrq $3, %rcx
    andl $7, %edx
ferrite_copy_fault_ip_q:
    rep movsq
    movq %rdx, %rcx
ferrite_copy_fault_ip:
    rep movsb
    xorl %eax, %eax
    ret
ferrite_copy_fixup_q:
    leaq (%rdx,%rcx,8), %rax
    ret
ferrite_copy_fixup:
    movq %rcx, %rax
    ret

    # edi = MSR, rsi = value; eax = 0 written, 1 faulted (a value the CPU refused).
    .global ferrite_wrmsr_safe
ferrite_wrmsr_safe:
    movl %edi, %ecx
    movl %esi, %eax
    movq %rsi, %rdx
    shrq $32, %rdx
ferrite_wrmsr_ip:
    wrmsr
    xorl %eax, %eax
    ret
ferrite_wrmsr_fixup:
    movl $1, %eax
    ret
"#,
    crate::extable_entry!("ferrite_copy_fault_ip_q", "ferrite_copy_fixup_q"),
    crate::extable_entry!("ferrite_copy_fault_ip", "ferrite_copy_fixup"),
    crate::extable_entry!("ferrite_wrmsr_ip", "ferrite_wrmsr_fixup"),
    cs = const selectors::FLAT_RING3_CS64 as u64,
    vec = const SYSCALL_VECTOR,
    options(att_syntax)
);

#[cfg(target_os = "none")]
extern "C" {
    fn ferrite_syscall_common();
    fn ferrite_enter_frame(frame: *const TrapFrame) -> !;
    fn ferrite_copy_bytes(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn ferrite_wrmsr_safe(msr: u32, value: u64) -> u32;
}

/// Offset of the SYSCALL stub page in a CPU's area (mapped read-execute).
pub const STUB_PAGE: u64 = 0x8000;

/// The stub's machine code, with its RIP-relative displacements filled in for a stub at `stub`
/// whose slots (saved RSP, stack top, target) are at `slots`.
pub fn stub_code(stub: u64, slots: [u64; 3]) -> [u8; 32] {
    let mut c = [0xccu8; 32];
    let rel = |at: usize, len: usize, target: u64| -> [u8; 4] {
        // Displacement from the end of the instruction; every slot is within ±2 GiB of the stub
        // (same per-CPU area).
        let next = stub + (at + len) as u64;
        ((target.wrapping_sub(next)) as i64 as i32).to_le_bytes()
    };
    // mov %rsp, saved(%rip)
    c[0..3].copy_from_slice(&[0x48, 0x89, 0x25]);
    let d = rel(0, 7, slots[0]);
    c[3..7].copy_from_slice(&d);
    // mov top(%rip), %rsp
    c[7..10].copy_from_slice(&[0x48, 0x8b, 0x25]);
    let d = rel(7, 7, slots[1]);
    c[10..14].copy_from_slice(&d);
    // pushq $FLAT_RING3_SS
    c[14] = 0x68;
    c[15..19].copy_from_slice(&u32::from(selectors::FLAT_RING3_DS).to_le_bytes());
    // pushq saved(%rip)
    c[19..21].copy_from_slice(&[0xff, 0x35]);
    let d = rel(19, 6, slots[0]);
    c[21..25].copy_from_slice(&d);
    // jmp *target(%rip)
    c[25..27].copy_from_slice(&[0xff, 0x25]);
    let d = rel(25, 6, slots[2]);
    c[27..31].copy_from_slice(&d);
    c
}

/// `IA32_PAT`.
pub const MSR_PAT: u32 = 0x277;
/// The PAT Xen programs on every CPU and reports to PV guests (`XEN_MSR_PAT`): WB, WT, UC-, UC,
/// WC, WP, UC, UC.
pub const XEN_MSR_PAT: u64 = 0x0000_0501_0007_0406;

/// Prepares this CPU to run guests: its SYSCALL stub, the SYSCALL MSRs, CR4 (FXSR for guests,
/// PGE, SMEP where present, OSXSAVE where XSAVE is), XCR0 and the x87/SSE defaults.
///
/// # Safety
/// Must run on CPU `cpu` after its area is mapped and its GDT loaded.
#[cfg(target_os = "none")]
pub unsafe fn init_cpu(cpu: usize, pcpu: &'static PerCpu) -> Result<(), crate::mm::MmError> {
    let base = percpu::area_base(cpu);
    let stub = base + STUB_PAGE;
    let slots = [
        core::ptr::addr_of!(pcpu.syscall_saved_rsp) as u64,
        core::ptr::addr_of!(pcpu.syscall_stack_top) as u64,
        core::ptr::addr_of!(pcpu.syscall_target) as u64,
    ];
    pcpu.syscall_stack_top
        .store(base + area::STACK.1, core::sync::atomic::Ordering::Relaxed);
    pcpu.syscall_target.store(
        ferrite_syscall_common as *const () as u64,
        core::sync::atomic::Ordering::Relaxed,
    );
    crate::mm::map_stub_page(stub, &stub_code(stub, slots))?;
    // SAFETY: architectural MSRs; STAR selects the reserved GDT selectors (0xe008 for SYSCALL,
    // 0xe023 as the SYSRET base), LSTAR/CSTAR the stub just mapped, SFMASK clears IF, TF, DF,
    // NT, AC and IOPL on entry. EFER.SCE enables SYSCALL.
    unsafe {
        wrmsr(
            MSR_STAR,
            (u64::from(selectors::FLAT_RING3_CS32) << 48)
                | (u64::from(selectors::HYPERVISOR_CS) << 32),
        );
        wrmsr(MSR_LSTAR, stub);
        wrmsr(MSR_CSTAR, stub);
        wrmsr(MSR_SFMASK, 0x0007_7700);
        wrmsr(MSR_EFER, rdmsr(MSR_EFER) | 1);
        // Xen's PAT: entries 0-3 as at reset (the hypervisor's own mappings use only those),
        // 4 WC and 5 WP for guests with cache control (Linux reads it and maps WC with it).
        wrmsr(MSR_PAT, XEN_MSR_PAT);
    }
    let smep = super::cpu::cpuid(7, 0).ebx & (1 << 7) != 0;
    let max_leaf = super::cpu::cpuid(0, 0).eax;
    let xf = if max_leaf >= 0xd {
        let d = super::cpu::cpuid(0xd, 0);
        switched_components(
            super::cpu::cpuid(1, 0).ecx,
            (u64::from(d.edx) << 32) | u64::from(d.eax),
        )
    } else {
        0
    };
    // SAFETY: OSFXSR/OSXMMEXCPT let guests use SSE (the hypervisor itself is soft-float), PGE
    // keeps the hypervisor's global mappings across guest CR3 loads, SMEP stops the hypervisor
    // from executing guest pages, OSXSAVE (where XSAVE exists) lets guests and `fpu_save` use
    // XSAVE, with XCR0 the components CPUID says this CPU has (`switched_components`).
    // CR0: MP set, EM and TS clear.
    unsafe {
        let (cr0, cr4) = super::cpu::read_cr0_cr4();
        let cr4 = cr4
            | (1 << 9)
            | (1 << 10)
            | (1 << 7)
            | if smep { 1 << 20 } else { 0 }
            | if xf != 0 { 1 << 18 } else { 0 };
        asm!("mov cr4, {}", in(reg) cr4, options(nostack));
        let cr0 = (cr0 | (1 << 1)) & !((1 << 2) | (1 << 3));
        asm!("mov cr0, {}", in(reg) cr0, options(nostack));
        asm!("fninit", options(nostack));
        if xf != 0 {
            asm!("xsetbv", in("ecx") 0u32, in("eax") xf as u32, in("edx") (xf >> 32) as u32, options(nomem, nostack, preserves_flags));
        }
    }
    // Every CPU computes the same values (Ferrite assumes symmetric CPUs, as for its other
    // CPUID-gated features).
    XFEATURES.store(xf, Ordering::Relaxed);
    XSAVE_SIZE.store(
        if xf != 0 {
            xsave_size_for(xf, host_xstate_component)
        } else {
            0
        },
        Ordering::Relaxed,
    );
    if cpu == 0 {
        log::info!(
            "guest FPU state: {}",
            if xf != 0 {
                alloc::format!("XSAVE, XCR0 {xf:#x}, {} bytes", xsave_size())
            } else {
                alloc::string::String::from("FXSAVE (no XSAVE)")
            }
        );
    }
    Ok(())
}

/// Where the current CPU keeps the guest frame while in the hypervisor: the top of its stack.
pub fn frame_slot() -> Option<*mut TrapFrame> {
    let top = percpu::this_cpu()?
        .syscall_stack_top
        .load(core::sync::atomic::Ordering::Relaxed);
    Some((top - core::mem::size_of::<TrapFrame>() as u64) as *mut TrapFrame)
}

/// Loads `regs` into this CPU's frame slot and returns to the guest with them, abandoning the
/// current stack (`trap::enter_guest` checked them).
#[cfg(target_os = "none")]
pub(super) fn enter(regs: &TrapFrame) -> ! {
    let slot = frame_slot().expect("guests run only on CPUs with a per-CPU area");
    // SAFETY: the slot is the reserved top of this CPU's stack, which no Rust frame uses (CPUs
    // start their Rust code below it); `ferrite_enter_frame` pops it and `iretq`s to ring 3.
    unsafe {
        slot.write(*regs);
        ferrite_enter_frame(slot)
    }
}

/// Segment selectors and bases a vCPU keeps across context switches.
#[derive(Clone, Copy, Debug, Default)]
pub struct SegmentState {
    pub ds: u16,
    pub es: u16,
    pub fs: u16,
    pub gs: u16,
    pub fs_base: u64,
    /// The active GS base.
    pub gs_base: u64,
    /// The inactive GS base (user's while in kernel mode and vice versa).
    pub gs_shadow: u64,
}

/// Reads this CPU's live segment state.
pub fn save_segments() -> SegmentState {
    let (ds, es, fs, gs): (u16, u16, u16, u16);
    // SAFETY: reading segment registers has no side effects.
    unsafe {
        asm!("mov {0:x}, ds", "mov {1:x}, es", "mov {2:x}, fs", "mov {3:x}, gs", out(reg) ds, out(reg) es, out(reg) fs, out(reg) gs, options(nomem, nostack));
    }
    SegmentState {
        ds,
        es,
        fs,
        gs,
        fs_base: segment_base(SegmentBase::Fs),
        gs_base: segment_base(SegmentBase::Gs),
        gs_shadow: segment_base(SegmentBase::GsShadow),
    }
}

/// A guest segment base register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentBase {
    /// `MSR_FS_BASE`.
    Fs,
    /// `MSR_GS_BASE`: the active GS base.
    Gs,
    /// `MSR_SHADOW_GS_BASE`: the inactive GS base (`swapgs` exchanges the two).
    GsShadow,
}

impl SegmentBase {
    const fn msr(self) -> u32 {
        match self {
            SegmentBase::Fs => MSR_FS_BASE,
            SegmentBase::Gs => MSR_GS_BASE,
            SegmentBase::GsShadow => MSR_SHADOW_GS_BASE,
        }
    }
}

/// Reads a guest segment base of this CPU.
pub fn segment_base(which: SegmentBase) -> u64 {
    rdmsr(which.msr())
}

/// Writes a guest segment base of this CPU. Callers check the value canonical ([`GuestVa`]);
/// should the CPU still refuse it, the `wrmsr`'s fault is caught through the fixup table and
/// the write reported as failed (the base is then unchanged).
#[cfg(target_os = "none")]
pub fn set_segment_base(which: SegmentBase, value: u64) -> Result<(), GuestAccessError> {
    // SAFETY: FS_BASE, GS_BASE and SHADOW_GS_BASE hold guest bases only (the hypervisor uses
    // neither FS nor GS); a faulting write resumes at `ferrite_wrmsr_fixup`.
    match unsafe { ferrite_wrmsr_safe(which.msr(), value) } {
        0 => Ok(()),
        _ => Err(GuestAccessError::BadAddress),
    }
}

/// Host builds have no MSRs.
#[cfg(not(target_os = "none"))]
pub fn set_segment_base(_which: SegmentBase, _value: u64) -> Result<(), GuestAccessError> {
    Err(GuestAccessError::BadAddress)
}

/// Exchanges the active and inactive GS bases (Xen's `toggle_guest_mode` does it with
/// `swapgs`).
pub fn swap_gs_bases() {
    let active = segment_base(SegmentBase::Gs);
    let inactive = segment_base(SegmentBase::GsShadow);
    // Both values were read from the registers themselves, so the CPU takes them back.
    let _ = set_segment_base(SegmentBase::Gs, inactive);
    let _ = set_segment_base(SegmentBase::GsShadow, active);
}

/// Loads segment state for a guest. Returns false if a selector could not be loaded (it is
/// replaced by the null selector; the caller delivers the failsafe callback). A base the CPU
/// refuses (never one checked canonical) becomes 0.
pub fn load_segments(s: &SegmentState) -> bool {
    let mut ok = true;
    for (sel, which) in [(s.ds, 0u8), (s.es, 1), (s.fs, 2), (s.gs, 3)] {
        if !load_selector(which, sel) {
            let _ = load_selector(which, 0);
            ok = false;
        }
    }
    for (which, base) in [
        (SegmentBase::Fs, s.fs_base),
        (SegmentBase::Gs, s.gs_base),
        (SegmentBase::GsShadow, s.gs_shadow),
    ] {
        if set_segment_base(which, base).is_err() {
            let _ = set_segment_base(which, 0);
        }
    }
    ok
}

/// Loads one selector the guest had; false if it faulted (see `segments`).
fn load_selector(which: u8, sel: u16) -> bool {
    use super::segments::{load, Seg};
    let seg = match which {
        0 => Seg::Ds,
        1 => Seg::Es,
        2 => Seg::Fs,
        _ => Seg::Gs,
    };
    load(seg, sel)
}

/// XCR0 bit of the x87 state component.
pub const XSTATE_FP: u64 = 1 << 0;
/// XCR0 bit of the SSE state component (XMM registers, MXCSR).
pub const XSTATE_SSE: u64 = 1 << 1;
/// XCR0 bit of the AVX state component (upper halves of the YMM registers).
pub const XSTATE_YMM: u64 = 1 << 2;
/// The state components Ferrite switches between vCPUs when the CPU has them. AVX-512 (opmask,
/// ZMM_Hi256, Hi16_ZMM), MPX, PKRU and the XSAVES-only components are left out: guests never
/// see them enabled.
pub const XSTATE_SWITCHED: u64 = XSTATE_FP | XSTATE_SSE | XSTATE_YMM;
/// Size of the legacy (FXSAVE) region plus the XSAVE header.
pub const XSAVE_AREA_MIN: u32 = 512 + 64;

/// The XCR0 this CPU runs the hypervisor with: every component in [`XSTATE_SWITCHED`] the CPU
/// has, or 0 without XSAVE (guest state is then switched with FXSAVE).
static XFEATURES: AtomicU64 = AtomicU64::new(0);
/// The uncompressed XSAVE area size for [`XFEATURES`] (0 without XSAVE).
static XSAVE_SIZE: AtomicU32 = AtomicU32::new(0);

/// The components Ferrite switches on a CPU whose CPUID leaf 1 ECX is `leaf1_ecx` and whose
/// leaf 0xD sub-leaf 0 offers `supported` (EDX:EAX): 0 without XSAVE or without both x87 and
/// SSE; AVX when both the feature flag and its state component are there.
pub fn switched_components(leaf1_ecx: u32, supported: u64) -> u64 {
    const XSAVE: u32 = 1 << 26;
    const AVX: u32 = 1 << 28;
    if leaf1_ecx & XSAVE == 0 || supported & (XSTATE_FP | XSTATE_SSE) != XSTATE_FP | XSTATE_SSE {
        return 0;
    }
    let mut c = XSTATE_FP | XSTATE_SSE;
    if leaf1_ecx & AVX != 0 && supported & XSTATE_YMM != 0 {
        c |= XSTATE_YMM;
    }
    c & XSTATE_SWITCHED
}

/// The uncompressed (standard-form) XSAVE area size for the components in `xcr0`, where
/// `component(i)` gives CPUID leaf 0xD sub-leaf `i`'s size (EAX) and offset (EBX): the end of
/// the last component, and never less than the legacy region plus header.
pub fn xsave_size_for(xcr0: u64, component: impl Fn(u32) -> (u32, u32)) -> u32 {
    (2..63u32)
        .filter(|&i| xcr0 & (1 << i) != 0)
        .map(|i| {
            let (size, offset) = component(i);
            offset.saturating_add(size)
        })
        .fold(XSAVE_AREA_MIN, u32::max)
}

/// Xen's `handle_xsetbv` rules for a new XCR0 (`valid_xcr0`, within what the hypervisor
/// offers): x87 always; AVX needs SSE; AVX-512's three components need AVX and come together;
/// MPX's two come together; nothing outside `allowed`.
pub fn xcr0_valid(xcr0: u64, allowed: u64) -> bool {
    const AVX512: u64 = (1 << 5) | (1 << 6) | (1 << 7);
    const MPX: u64 = (1 << 3) | (1 << 4);
    xcr0 & !allowed == 0
        && xcr0 & XSTATE_FP != 0
        && (xcr0 & XSTATE_YMM == 0 || xcr0 & XSTATE_SSE != 0)
        && (xcr0 & AVX512 == 0 || (xcr0 & XSTATE_YMM != 0 && xcr0 & AVX512 == AVX512))
        && (xcr0 & MPX == 0 || xcr0 & MPX == MPX)
}

/// The XCR0 Ferrite runs with and switches guest state under (0: no XSAVE, FXSAVE is used).
pub fn xfeatures() -> u64 {
    XFEATURES.load(Ordering::Relaxed)
}

/// The uncompressed XSAVE area size for [`xfeatures`] (0 without XSAVE).
pub fn xsave_size() -> u32 {
    XSAVE_SIZE.load(Ordering::Relaxed)
}

/// CPUID leaf 0xD sub-leaf `i`: (size, offset) of state component `i`.
pub fn host_xstate_component(i: u32) -> (u32, u32) {
    let r = super::cpu::cpuid(0xd, i);
    (r.eax, r.ebx)
}

/// CPUID leaf 0xD for a PV guest, as Xen's PV policy gives it, where `xfeatures` are the
/// components Ferrite switches (0: no XSAVE, an empty leaf), `xcr0` the vCPU's and `host` the
/// hardware's answer for `sub`: sub-leaf 0 offers the switched components, with the area size
/// for the vCPU's XCR0 (EBX) and for all of them (ECX); sub-leaf 1 the XSAVEOPT, XSAVEC and
/// XGETBV1 flags (not XSAVES: it needs ring 0); sub-leaves 2–62 the size, offset and alignment
/// flag of each switched component; the rest is empty.
pub fn xstate_cpuid(sub: u32, xfeatures: u64, xcr0: u64, host: [u32; 4]) -> [u32; 4] {
    let size = |c| xsave_size_for(c, host_xstate_component);
    match sub {
        _ if xfeatures == 0 => [0; 4],
        0 => [
            xfeatures as u32,
            size(xcr0),
            size(xfeatures),
            (xfeatures >> 32) as u32,
        ],
        1 => [host[0] & 0x7, 0, 0, 0],
        2..=62 if xfeatures & (1 << sub) != 0 => [host[0], host[1], host[2] & 2, 0],
        _ => [0; 4],
    }
}

/// Reads XCR0 (`xgetbv`); only with CR4.OSXSAVE set, i.e. when [`xfeatures`] is non-zero.
fn xgetbv0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: callers check that XSAVE is enabled (CR4.OSXSAVE set by `init_cpu`); XGETBV of
    // XCR0 reads a register and nothing else.
    unsafe {
        asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Loads XCR0 with `value` unless it holds it already.
///
/// # Safety
/// CR4.OSXSAVE must be set and `value` must satisfy [`xcr0_valid`] against [`xfeatures`] (the
/// components this CPU enabled at `init_cpu`), so XSETBV cannot fault.
unsafe fn set_xcr0(value: u64) {
    if xgetbv0() != value {
        // SAFETY: forwarded from the caller; the hypervisor itself uses no XSAVE-managed state.
        unsafe {
            asm!("xsetbv", in("ecx") 0u32, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nomem, nostack, preserves_flags))
        };
    }
}

/// One 64-byte block of an XSAVE area (the area must be 64-byte aligned).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct XsaveBlock([u8; 64]);

/// A vCPU's x87/SSE/AVX state while it does not run: a heap-allocated, 64-byte-aligned area in
/// XSAVE's standard form sized for [`xfeatures`] (just the 512-byte FXSAVE region without
/// XSAVE), and the guest's XCR0.
pub struct FpuState {
    area: alloc::boxed::Box<[XsaveBlock]>,
    /// The guest's XCR0 (`xsetbv`), loaded while it runs; 0 without XSAVE.
    pub xcr0: u64,
}

impl core::fmt::Debug for FpuState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "FpuState {{ {} bytes, xcr0 {:#x} }}",
            self.area.len() * 64,
            self.xcr0
        )
    }
}

impl Default for FpuState {
    /// The architectural initial state: FCW 0x37f and MXCSR 0x1f80 in the legacy region, an
    /// all-zero XSAVE header (XSTATE_BV = 0: XRSTOR puts every component in its init state),
    /// and XCR0 = x87|SSE, as Xen starts a PV vCPU (`xcr0` 0 means `XSTATE_FP_SSE`) until the
    /// guest kernel's `xsetbv`.
    fn default() -> Self {
        let xcr0 = if xfeatures() != 0 {
            XSTATE_FP | XSTATE_SSE
        } else {
            0
        };
        FpuState::init(xsave_size() as usize, xcr0)
    }
}

impl FpuState {
    /// The init state in an area of `size` bytes (at least the 512-byte legacy region).
    fn init(size: usize, xcr0: u64) -> Self {
        let mut area =
            alloc::vec![XsaveBlock([0; 64]); size.max(512).div_ceil(64)].into_boxed_slice();
        area[0].0[0..2].copy_from_slice(&0x037fu16.to_le_bytes()); // FCW
        area[0].0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes()); // MXCSR
        area[0].0[28..32].copy_from_slice(&0xffffu32.to_le_bytes()); // MXCSR_MASK
        FpuState { area, xcr0 }
    }
}

/// Saves the live x87/SSE/AVX state of the vCPU leaving this CPU: XSAVE of every switched
/// component (under the hypervisor's full XCR0, whatever the guest enabled), or FXSAVE.
pub fn fpu_save(s: &mut FpuState) {
    let xf = xfeatures();
    let area = s.area.as_mut_ptr().cast::<u8>();
    if xf != 0 {
        // SAFETY: `xf` is what `init_cpu` enabled on every CPU. XSAVE writes at most
        // `xsave_size()` bytes (the area's size, see `Default`) to a 64-byte-aligned area we own.
        unsafe {
            set_xcr0(xf);
            asm!("xsave64 [{}]", in(reg) area, in("eax") xf as u32, in("edx") (xf >> 32) as u32, options(nostack));
        }
    } else {
        // SAFETY: FXSAVE writes 512 bytes to a 16-byte-aligned buffer we own; CR4.OSFXSR is set.
        unsafe { asm!("fxsave64 [{}]", in(reg) area, options(nostack)) };
    }
    // MXCSR's reserved bits would make the restore #GP: keep only the defined ones.
    let b = &mut s.area[0].0;
    let mxcsr = u32::from_le_bytes([b[24], b[25], b[26], b[27]]) & 0xffff;
    b[24..28].copy_from_slice(&mxcsr.to_le_bytes());
}

/// Restores the x87/SSE/AVX state of the vCPU entering this CPU and loads its XCR0. XRSTOR runs
/// under the hypervisor's full XCR0, so nothing a guest set can make it fault: the area is
/// hypervisor memory written only by `Default` and `fpu_save`, and the guest's XCR0 was checked
/// by [`xcr0_valid`] when it was set. Should the CPU refuse the area anyway, the fault is caught
/// through the fixup table and the vCPU gets the initial state instead.
pub fn fpu_restore(s: &FpuState) {
    if !fpu_load(s) {
        log::error!("XRSTOR refused a saved FPU state: the vCPU continues from the initial state");
        let init = FpuState::default();
        let _ = fpu_load(&FpuState {
            xcr0: s.xcr0,
            ..init
        });
    }
}

/// AMD (and Hygon) CPUs without `RstrFpErrPtrs` (CPUID 0x80000008 EBX bit 2) save and restore
/// the x87 FIP, FDP and FOP only while an x87 exception is pending (Xen's `cpu_bug_fpu_ptrs`):
/// a restore would leave the previous vCPU's pointers in place (XSA-172).
#[cfg(target_os = "none")]
fn fpu_ptrs_bug() -> bool {
    static BUG: spin::Once<bool> = spin::Once::new();
    *BUG.call_once(|| {
        let v = super::cpu::cpuid(0, 0);
        // "AuthenticAMD" and "HygonGenuine", by their EBX words.
        let amd_like = v.ebx == 0x6874_7541 || v.ebx == 0x6f67_7948;
        let rstr = super::cpu::cpuid(0x8000_0000, 0).eax >= 0x8000_0008
            && super::cpu::cpuid(0x8000_0008, 0).ebx & (1 << 2) != 0;
        let bug = amd_like && !rstr;
        if bug {
            log::info!("x87: FIP/FDP/FOP scrubbed before each restore (no RstrFpErrPtrs)");
        }
        bug
    })
}

/// Before a restore on a CPU with [`fpu_ptrs_bug`]: when the state to load has no unmasked
/// exception pending (so its own pointers will not be loaded), x87 state of the hypervisor's
/// making is loaded first (Xen's `fnclex; ffree %st(7); fildl`), so FIP/FDP/FOP never carry
/// another vCPU's values.
#[cfg(target_os = "none")]
fn scrub_fpu_ptrs(s: &FpuState, xsave: bool) {
    if !fpu_ptrs_bug() {
        return;
    }
    let legacy = &s.area[0].0;
    let fcw = u16::from_le_bytes([legacy[0], legacy[1]]);
    let fsw = u16::from_le_bytes([legacy[2], legacy[3]]);
    // With XSAVE, only when the x87 component is restored from the area (XSTATE_BV.FP).
    let fp_restored = !xsave || s.area.get(8).is_some_and(|h| h.0[0] & 1 != 0);
    if fp_restored && fsw & !fcw & 0x3f == 0 {
        // SAFETY: x87 instructions with CR0.TS clear (a restore is under way); `fild` reads
        // four bytes of the area, which is hypervisor memory; the state they leave is replaced
        // by the restore that follows.
        unsafe {
            asm!(
                "fnclex",
                "ffree st(7)",
                "fild dword ptr [{}]",
                in(reg) legacy.as_ptr(),
                options(nostack),
            )
        };
    }
}

/// Loads `s` into the CPU; false if XRSTOR faulted (the fixup table resumed it).
fn fpu_load(s: &FpuState) -> bool {
    let xf = xfeatures();
    let area = s.area.as_ptr().cast::<u8>();
    #[cfg(target_os = "none")]
    scrub_fpu_ptrs(s, xf != 0);
    if xf != 0 {
        let xcr0 = if xcr0_valid(s.xcr0, xf) {
            s.xcr0
        } else {
            XSTATE_FP | XSTATE_SSE
        };
        let faulted: u32;
        // SAFETY: `xf` is what `init_cpu` enabled; the area is 64-byte aligned, `xsave_size()`
        // long, in standard form with a header only XSAVE (under the same `xf`) or `Default`
        // wrote, and MXCSR's reserved bits clear; a fault resumes at label 4 through the
        // fixup table. `xcr0` is valid for this CPU (checked above).
        unsafe {
            set_xcr0(xf);
            asm!(
                "xor {f:e}, {f:e}",
                "2:",
                "xrstor64 [{area}]",
                "jmp 3f",
                "4:",
                "mov {f:e}, 1",
                "3:",
                crate::extable_entry!("2b", "4b"),
                area = in(reg) area,
                f = out(reg) faulted,
                in("eax") xf as u32,
                in("edx") (xf >> 32) as u32,
                options(nostack),
            );
            set_xcr0(xcr0);
        }
        faulted == 0
    } else {
        // SAFETY: FXRSTOR reads a 16-byte-aligned 512-byte area with a valid MXCSR.
        unsafe { asm!("fxrstor64 [{}]", in(reg) area, options(nostack)) };
        true
    }
}

/// Emulated `xsetbv` of XCR0 for the vCPU running on this CPU: if `value` is valid and within
/// what Ferrite switches, loads it and keeps it in `s`; otherwise returns false (the guest
/// gets #GP(0)).
pub fn set_guest_xcr0(s: &mut FpuState, value: u64) -> bool {
    let xf = xfeatures();
    if xf == 0 || !xcr0_valid(value, xf) {
        return false;
    }
    // SAFETY: XSAVE is enabled (`xf` non-zero) and `value` was just checked against it. The
    // running guest's state stays live: components it enables now hold what its last restore
    // (or its own use) left, never another vCPU's.
    unsafe { set_xcr0(value) };
    s.xcr0 = value;
    true
}

/// A guest virtual address that passed Xen's `is_canonical_address` (bits 63–47 equal): the
/// one check for every address a guest hands over to be loaded later into RIP, RSP or a
/// segment base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestVa(u64);

impl GuestVa {
    /// `va` if it is canonical.
    pub const fn new(va: u64) -> Option<GuestVa> {
        if is_canonical(va) {
            Some(GuestVa(va))
        } else {
            None
        }
    }

    /// The address.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// True if `va` is canonical (bits 63–47 all equal).
pub const fn is_canonical(va: u64) -> bool {
    ((va as i64) << 16 >> 16) as u64 == va
}

/// Why a guest copy failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestAccessError {
    /// The range touches the hypervisor's reserved range or wraps.
    BadAddress,
    /// A page was not mapped (or not writable) in the guest's page tables.
    Fault,
}

/// True if `[va, va + len)` lies wholly outside the hypervisor's reserved range.
pub fn guest_range_ok(va: u64, len: usize) -> bool {
    let Some(end) = va.checked_add(len as u64) else {
        return false;
    };
    end <= HYPERVISOR_VIRT_START || va >= HYPERVISOR_VIRT_END || len == 0
}

/// Copies from guest virtual address `va` (in the current page tables) into `buf`.
#[cfg(target_os = "none")]
pub fn copy_from_guest(va: u64, buf: &mut [u8]) -> Result<(), GuestAccessError> {
    if !guest_range_ok(va, buf.len()) {
        return Err(GuestAccessError::BadAddress);
    }
    // SAFETY: the source is guest memory below or above the hypervisor range (checked); a fault
    // on it is caught through the fixup table (`extable`) and turned into a short copy. The destination is
    // hypervisor memory we own.
    let left = unsafe { ferrite_copy_bytes(buf.as_mut_ptr(), va as *const u8, buf.len()) };
    if left == 0 {
        Ok(())
    } else {
        Err(GuestAccessError::Fault)
    }
}

/// Copies `data` to guest virtual address `va` (in the current page tables).
#[cfg(target_os = "none")]
pub fn copy_to_guest(va: u64, data: &[u8]) -> Result<(), GuestAccessError> {
    if !guest_range_ok(va, data.len()) {
        return Err(GuestAccessError::BadAddress);
    }
    // SAFETY: as in `copy_from_guest`; with CR0.WP set, a read-only guest page faults too.
    let left = unsafe { ferrite_copy_bytes(va as *mut u8, data.as_ptr(), data.len()) };
    if left == 0 {
        Ok(())
    } else {
        Err(GuestAccessError::Fault)
    }
}

/// Whether the CPU has `MSR_TSC_AUX` (RDTSCP or RDPID), checked once.
#[cfg(target_os = "none")]
fn host_has_tsc_aux() -> bool {
    static HAS: spin::Once<bool> = spin::Once::new();
    *HAS.call_once(|| {
        let ext = super::cpu::cpuid(0x8000_0000, 0).eax >= 0x8000_0001
            && super::cpu::cpuid(0x8000_0001, 0).edx & (1 << 27) != 0;
        ext || super::cpu::cpuid(7, 0).ecx & (1 << 22) != 0
    })
}

/// Loads a vCPU's `MSR_TSC_AUX` into this CPU (Xen's `wrmsr_tsc_aux`), when the CPU has it.
#[cfg(target_os = "none")]
pub fn load_tsc_aux(value: u32) {
    if host_has_tsc_aux() {
        // SAFETY: the CPU has TSC_AUX (checked above); only `rdtscp`/`rdpid` read it, and
        // the hypervisor uses neither.
        unsafe { wrmsr(0xc000_0103, u64::from(value)) };
    }
}

/// Host builds have no MSRs.
#[cfg(not(target_os = "none"))]
pub fn load_tsc_aux(_value: u32) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_code_displacements_reach_the_slots() {
        let stub = 0xffff_8200_0000_8000u64;
        let slots = [
            0xffff_8200_0000_0100,
            0xffff_8200_0000_0108,
            0xffff_8200_0000_0110,
        ];
        let c = stub_code(stub, slots);
        let disp = |at: usize| i32::from_le_bytes([c[at], c[at + 1], c[at + 2], c[at + 3]]) as i64;
        assert_eq!((stub as i64 + 7 + disp(3)) as u64, slots[0]);
        assert_eq!((stub as i64 + 14 + disp(10)) as u64, slots[1]);
        assert_eq!(c[14], 0x68);
        assert_eq!((stub as i64 + 25 + disp(21)) as u64, slots[0]);
        assert_eq!((stub as i64 + 31 + disp(27)) as u64, slots[2]);
    }

    #[test]
    fn switched_components_need_xsave_and_take_avx_only_with_its_flag() {
        const XSAVE: u32 = 1 << 26;
        const AVX: u32 = 1 << 28;
        assert_eq!(switched_components(AVX, 0x7), 0, "no XSAVE flag");
        assert_eq!(switched_components(XSAVE, 0x1), 0, "no SSE component");
        assert_eq!(
            switched_components(XSAVE, 0x7),
            0x3,
            "AVX state but no AVX flag"
        );
        assert_eq!(
            switched_components(XSAVE | AVX, 0x3),
            0x3,
            "AVX flag but no state"
        );
        assert_eq!(switched_components(XSAVE | AVX, 0x7), 0x7);
        // AVX-512, MPX and PKRU are never switched, whatever the CPU has.
        assert_eq!(switched_components(XSAVE | AVX, 0x2ff), 0x7);
    }

    #[test]
    fn xsave_size_is_the_end_of_the_last_component() {
        // Skylake-X's standard layout: AVX at 576 (256 bytes), MPX at 960/1024, AVX-512 from
        // 1088 to 2688, PKRU at 2688 (8 bytes).
        let layout = |i: u32| match i {
            2 => (256, 576),
            3 => (64, 960),
            4 => (64, 1024),
            5 => (64, 1088),
            6 => (512, 1152),
            7 => (1024, 1664),
            9 => (8, 2688),
            _ => (0, 0),
        };
        assert_eq!(xsave_size_for(0x3, layout), 576);
        assert_eq!(xsave_size_for(0x7, layout), 832);
        assert_eq!(xsave_size_for(0xe7, layout), 2688);
        assert_eq!(xsave_size_for(0x2e7, layout), 2696);
        // A bogus offset cannot wrap the size.
        assert_eq!(xsave_size_for(0x7, |_| (u32::MAX, 8)), u32::MAX);
    }

    #[test]
    fn xcr0_valid_follows_xens_rules() {
        let all = 0x2ff;
        assert!(xcr0_valid(0x1, all));
        assert!(xcr0_valid(0x3, all));
        assert!(xcr0_valid(0x7, all));
        assert!(xcr0_valid(0xe7, all));
        assert!(xcr0_valid(0x1f, all));
        assert!(!xcr0_valid(0x0, all), "x87 is mandatory");
        assert!(!xcr0_valid(0x6, all), "x87 is mandatory");
        assert!(!xcr0_valid(0x5, all), "AVX without SSE");
        assert!(!xcr0_valid(0x63, all), "AVX-512 without AVX");
        assert!(!xcr0_valid(0x67, all), "AVX-512 components apart");
        assert!(!xcr0_valid(0xf, all), "MPX components apart");
        assert!(!xcr0_valid(0x7, 0x3), "AVX not offered");
        assert!(!xcr0_valid(0x3 | (1 << 63), all), "reserved bit 63");
        assert!(!xcr0_valid(0x203, 0x7), "PKRU not offered");
    }

    #[test]
    fn xstate_cpuid_describes_only_switched_components() {
        assert_eq!(xstate_cpuid(0, 0, 0, [7, 832, 832, 0]), [0; 4], "no XSAVE");
        assert_eq!(xstate_cpuid(2, 0, 0, [256, 576, 0, 0]), [0; 4]);
        // x87|SSE only: sizes need no host sub-leaf.
        assert_eq!(
            xstate_cpuid(0, 0x3, 0x3, [0x2ff, 2696, 2696, 0]),
            [0x3, 576, 576, 0]
        );
        assert_eq!(
            xstate_cpuid(1, 0x3, 0x3, [0x1f, 1, 2, 3]),
            [0x7, 0, 0, 0],
            "XSAVEOPT, XSAVEC, XGETBV1; not XSAVES or XFD"
        );
        assert_eq!(
            xstate_cpuid(2, 0x3, 0x3, [256, 576, 0, 0]),
            [0; 4],
            "AVX not switched"
        );
        assert_eq!(
            xstate_cpuid(2, 0x7, 0x3, [256, 576, 3, 9]),
            [256, 576, 2, 0]
        );
        assert_eq!(
            xstate_cpuid(9, 0x7, 0x7, [8, 2688, 0, 0]),
            [0; 4],
            "no PKRU"
        );
        assert_eq!(xstate_cpuid(63, 0x7, 0x7, [1, 1, 1, 1]), [0; 4]);
    }

    #[test]
    fn fresh_fpu_state_is_the_init_state() {
        let s = FpuState::init(832, 3);
        assert_eq!(s.area.len() * 64, 832);
        assert_eq!(s.xcr0, 3);
        assert_eq!(s.area.as_ptr() as usize % 64, 0);
        assert_eq!(&s.area[0].0[0..2], &0x037fu16.to_le_bytes());
        assert_eq!(&s.area[0].0[24..28], &0x1f80u32.to_le_bytes());
        assert!(
            s.area[8..].iter().all(|b| b.0 == [0; 64]),
            "XSAVE header zero"
        );
        assert_eq!(FpuState::init(0, 0).area.len() * 64, 512, "FXSAVE area");
        assert_eq!(FpuState::init(2696, 7).area.len() * 64, 2752, "rounded up");
    }

    #[test]
    fn guest_range_excludes_hypervisor_slots() {
        assert!(guest_range_ok(0x1000, 10));
        assert!(guest_range_ok(0xffff_ffff_8000_0000, 4096));
        assert!(!guest_range_ok(HYPERVISOR_VIRT_START - 4, 8));
        assert!(!guest_range_ok(0xffff_8300_0000_0000, 1));
        assert!(!guest_range_ok(u64::MAX - 2, 8));
    }
}
