//! Running PV guests in ring 3: per-CPU SYSCALL stubs (the guest owns GS, so the stub finds the
//! CPU's stack through RIP-relative slots, as Xen's per-CPU stubs do), the first entry into a
//! guest, CPU state switched between vCPUs (CR3, segment selectors and bases, FPU), and copies
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

/// The `vector` value of a frame built by the SYSCALL entry.
pub const SYSCALL_VECTOR: u64 = 0x100;

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

    .global ferrite_copy_bytes
    .global ferrite_copy_fault_ip
    .global ferrite_copy_fixup
ferrite_copy_bytes:
    movq %rdx, %rcx
ferrite_copy_fault_ip:
    rep movsb
    xorl %eax, %eax
    ret
ferrite_copy_fixup:
    movq %rcx, %rax
    ret
"#,
    cs = const selectors::FLAT_RING3_CS64 as u64,
    vec = const SYSCALL_VECTOR,
    options(att_syntax)
);

#[cfg(target_os = "none")]
extern "C" {
    fn ferrite_syscall_common();
    fn ferrite_enter_frame(frame: *const TrapFrame) -> !;
    fn ferrite_copy_bytes(dst: *mut u8, src: *const u8, len: usize) -> usize;
    static ferrite_copy_fault_ip: u8;
    static ferrite_copy_fixup: u8;
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

/// Prepares this CPU to run guests: its SYSCALL stub, the SYSCALL MSRs, CR4 (FXSR for guests,
/// PGE, SMEP where present) and the x87/SSE defaults.
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
    }
    let smep = super::cpu::cpuid(7, 0).ebx & (1 << 7) != 0;
    // SAFETY: OSFXSR/OSXMMEXCPT let guests use SSE (the hypervisor itself is soft-float), PGE
    // keeps the hypervisor's global mappings across guest CR3 loads, SMEP stops the hypervisor
    // from executing guest pages. CR0: MP set, EM and TS clear.
    unsafe {
        let (cr0, cr4) = super::cpu::read_cr0_cr4();
        let cr4 = cr4 | (1 << 9) | (1 << 10) | (1 << 7) | if smep { 1 << 20 } else { 0 };
        asm!("mov cr4, {}", in(reg) cr4, options(nostack));
        let cr0 = (cr0 | (1 << 1)) & !((1 << 2) | (1 << 3));
        asm!("mov cr0, {}", in(reg) cr0, options(nostack));
        asm!("fninit", options(nostack));
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

/// Enters a guest for the first time on this CPU with `regs`, abandoning the current stack.
#[cfg(target_os = "none")]
pub fn enter(regs: &TrapFrame) -> ! {
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
        fs_base: rdmsr(MSR_FS_BASE),
        gs_base: rdmsr(MSR_GS_BASE),
        gs_shadow: rdmsr(MSR_SHADOW_GS_BASE),
    }
}

/// Loads segment state for a guest. Returns false if a selector could not be loaded (it is
/// replaced by the null selector; the caller delivers the failsafe callback).
pub fn load_segments(s: &SegmentState) -> bool {
    let mut ok = true;
    for (sel, which) in [(s.ds, 0u8), (s.es, 1), (s.fs, 2), (s.gs, 3)] {
        if !load_selector(which, sel) {
            let _ = load_selector(which, 0);
            ok = false;
        }
    }
    // SAFETY: bases of guest segments; the hypervisor uses neither FS nor GS.
    unsafe {
        wrmsr(MSR_FS_BASE, s.fs_base);
        wrmsr(MSR_GS_BASE, s.gs_base);
        wrmsr(MSR_SHADOW_GS_BASE, s.gs_shadow);
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

/// A 512-byte FXSAVE area.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct FpuState(pub [u8; 512]);

impl core::fmt::Debug for FpuState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FpuState")
    }
}

impl Default for FpuState {
    /// The state after `fninit` with MXCSR's reset value.
    fn default() -> Self {
        let mut a = [0u8; 512];
        a[0..2].copy_from_slice(&0x037fu16.to_le_bytes()); // FCW
        a[24..28].copy_from_slice(&0x1f80u32.to_le_bytes()); // MXCSR
        a[28..32].copy_from_slice(&0xffffu32.to_le_bytes()); // MXCSR_MASK
        FpuState(a)
    }
}

/// Saves the x87/SSE state.
pub fn fpu_save(s: &mut FpuState) {
    // SAFETY: FXSAVE writes 512 bytes to a 16-byte-aligned buffer we own; CR4.OSFXSR is set.
    unsafe { asm!("fxsave64 [{}]", in(reg) s.0.as_mut_ptr(), options(nostack)) };
}

/// Restores the x87/SSE state.
pub fn fpu_restore(s: &FpuState) {
    let mut copy = *s;
    // MXCSR reserved bits would #GP: keep only the defined ones.
    let mxcsr = u32::from_le_bytes([copy.0[24], copy.0[25], copy.0[26], copy.0[27]]) & 0xffff;
    copy.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
    // SAFETY: FXRSTOR reads a 16-byte-aligned 512-byte area with a valid MXCSR.
    unsafe { asm!("fxrstor64 [{}]", in(reg) copy.0.as_ptr(), options(nostack)) };
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
    // on it is caught by `fixup_exception` and turned into a short copy. The destination is
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

/// If the hypervisor faulted inside the guest-copy routine, resumes at its fixup (which
/// returns the bytes left). Returns false for any other fault.
pub fn fixup_exception(frame: &mut TrapFrame) -> bool {
    #[cfg(target_os = "none")]
    {
        // SAFETY: only the addresses of the asm labels are taken.
        let (ip, fixup) = unsafe {
            (
                &ferrite_copy_fault_ip as *const u8 as u64,
                &ferrite_copy_fixup as *const u8 as u64,
            )
        };
        if frame.rip == ip && (frame.vector == 14 || frame.vector == 13) {
            frame.rip = fixup;
            return true;
        }
    }
    let _ = frame;
    false
}

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
    fn guest_range_excludes_hypervisor_slots() {
        assert!(guest_range_ok(0x1000, 10));
        assert!(guest_range_ok(0xffff_ffff_8000_0000, 4096));
        assert!(!guest_range_ok(HYPERVISOR_VIRT_START - 4, 8));
        assert!(!guest_range_ok(0xffff_8300_0000_0000, 1));
        assert!(!guest_range_ok(u64::MAX - 2, 8));
    }
}
