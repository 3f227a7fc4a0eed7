//! The unsafe core of Ferrite's PV guest runtime: the entry point and Xen ELF notes, hypercalls
//! through `syscall` (as Linux issues them), and typed wrappers that pass only pointers to live
//! Rust objects. Guests link with `guest.ld` and define `guest_main`.
#![cfg_attr(target_os = "none", no_std)]
// On the host only the types and pure helpers are used (the guests build there as empty stubs).
#![cfg_attr(not(target_os = "none"), allow(dead_code, unused_imports))]

use xen_abi::xen::StartInfo;

// The Xen ELF notes every test guest carries: `xen-3.0`, `LOADER=generic`, `ENTRY`,
// `VIRT_BASE=0`, `PADDR_OFFSET=0`, a hypercall page, and support for running as dom0.
#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 4, 8, 5
    .asciz "Xen"
    .asciz "xen-3.0"
    .balign 4
    .long 4, 8, 6
    .asciz "Xen"
    .asciz "Ferrite"
    .balign 4
    .long 4, 8, 8
    .asciz "Xen"
    .asciz "generic"
    .balign 4
    .long 4, 8, 1
    .asciz "Xen"
    .quad _start
    .long 4, 8, 3
    .asciz "Xen"
    .quad 0
    .long 4, 8, 4
    .asciz "Xen"
    .quad 0
    .long 4, 8, 2
    .asciz "Xen"
    .quad hypercall_page
    .long 4, 8, 10
    .asciz "Xen"
    .ascii "dom0"
    .byte 0, 0, 0, 0
    .popsection

    .section .text.entry, "ax"
    .global _start
_start:
    movq %rsi, DOMU_SYS_START_INFO(%rip)
    leaq domu_sys_stack_top(%rip), %rsp
    xorl %ebp, %ebp
    call domu_sys_main
    ud2

    .section .bss.domu_sys_stack, "aw", @nobits
    .balign 16
domu_sys_stack:
    .skip 65536
domu_sys_stack_top:
"#,
    options(att_syntax)
);

#[no_mangle]
static mut DOMU_SYS_START_INFO: u64 = 0;

#[cfg(target_os = "none")]
extern "C" {
    fn guest_main();
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn domu_sys_main() -> ! {
    // SAFETY: `guest_main` is the test's entry point, defined once per guest binary.
    unsafe { guest_main() };
    shutdown(xen_abi::sched::ShutdownReason::Poweroff)
}

/// The `start_info` page the builder handed over in `rsi`.
pub fn start_info() -> &'static StartInfo {
    // SAFETY: `_start` stored the pointer before any Rust code ran; the builder maps the page for
    // the guest's lifetime and nothing in the guest writes it.
    unsafe { &*(core::ptr::addr_of!(DOMU_SYS_START_INFO).read() as *const StartInfo) }
}

/// A raw hypercall: number in `rax`, arguments in `rdi, rsi, rdx, r10, r8`.
///
/// # Safety
/// The arguments must be valid for hypercall `nr` (pointers to memory the hypervisor may read or
/// write as that call specifies).
#[inline(always)]
pub unsafe fn hypercall(nr: u32, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
    let ret: i64;
    // SAFETY: `syscall` from guest-kernel mode is a hypercall; it clobbers rcx and r11, and a
    // preempted one comes back with its continuation's arguments in the argument registers
    // (Xen's `hypercall_create_continuation`), so those are clobbered too, as Linux declares.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") u64::from(nr) => ret,
            inlateout("rdi") a1 => _,
            inlateout("rsi") a2 => _,
            inlateout("rdx") a3 => _,
            inlateout("r10") a4 => _,
            inlateout("r8") a5 => _,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    ret
}

use xen_abi::xen::Hypercall as H;

/// `console_io(CONSOLEIO_write)`.
pub fn console_write(bytes: &[u8]) -> i64 {
    // SAFETY: the buffer is a live slice of `len` bytes the hypervisor only reads.
    unsafe {
        hypercall(
            H::ConsoleIo as u32,
            0,
            bytes.len() as u64,
            bytes.as_ptr() as u64,
            0,
            0,
        )
    }
}

/// `sched_op(SCHEDOP_shutdown)`; never returns.
pub fn shutdown(reason: xen_abi::sched::ShutdownReason) -> ! {
    let arg = xen_abi::sched::SchedShutdown {
        reason: reason as u32,
    };
    loop {
        // SAFETY: `arg` is a live `sched_shutdown`.
        unsafe {
            hypercall(
                H::SchedOp as u32,
                xen_abi::sched::SchedOp::Shutdown as u64,
                core::ptr::addr_of!(arg) as u64,
                0,
                0,
                0,
            )
        };
    }
}

/// A hypercall whose one argument is a pointer to `op`, which the hypervisor reads and writes
/// (`platform_op`, `mca`, `sysctl`, `domctl`).
pub fn hypercall_with<T: zerocopy::IntoBytes + zerocopy::FromBytes>(nr: u32, op: &mut T) -> i64 {
    // SAFETY: `op` is a live, exclusively borrowed plain-data struct for the call's duration;
    // any bytes the hypervisor writes into it are a valid `T` (`FromBytes`).
    unsafe { hypercall(nr, core::ptr::from_mut(op) as u64, 0, 0, 0, 0) }
}

/// A hypercall whose argument (if any) is a buffer the hypervisor reads and writes.
pub fn hypercall_buf(nr: u32, cmd: u64, buf: &mut [u8]) -> i64 {
    // SAFETY: the buffer is a live, exclusively borrowed slice for the call's duration.
    unsafe { hypercall(nr, cmd, buf.as_mut_ptr() as u64, 0, 0, 0) }
}

/// A hypercall with only integer arguments. Calls whose arguments are pointers must use the
/// typed wrappers instead; integers that happen to be addresses are the caller's test intent
/// (e.g. a deliberately bad pointer), which the hypervisor must reject.
pub fn hypercall_ints(nr: u32, a: [u64; 5]) -> i64 {
    // SAFETY: a well-behaved hypervisor validates every argument; integer arguments cannot make
    // it write this guest's memory except through addresses the test chose on purpose.
    unsafe { hypercall(nr, a[0], a[1], a[2], a[3], a[4]) }
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    struct W;
    impl Write for W {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            console_write(s.as_bytes());
            Ok(())
        }
    }
    let _ = writeln!(W, "Test result: FAILURE: panic: {info}");
    shutdown(xen_abi::sched::ShutdownReason::Crash)
}

/// Reads the u64 at `va` (volatile). For test kernels reading pages they mapped: an unmapped
/// address is a page fault for the caller's trap table.
pub fn read_u64(va: u64) -> u64 {
    // SAFETY: the callers pass addresses of their own mappings (or expect the fault).
    unsafe { (va as *const u64).read_volatile() }
}

/// Writes the u64 at `va` (volatile); see [`read_u64`].
pub fn write_u64(va: u64, v: u64) {
    // SAFETY: as in `read_u64`, for writable mappings.
    unsafe { (va as *mut u64).write_volatile(v) }
}

/// `SCHEDOP_yield`.
pub fn yield_cpu() {
    hypercall_ints(H::SchedOp as u32, [0, 0, 0, 0, 0]);
}

/// Assembler lines (AT&T) that push the System V callee-saved registers, for `global_asm!`
/// routines that leave their caller's stack and come back to it; [`pop_callee_saved!`] undoes it.
#[macro_export]
macro_rules! push_callee_saved {
    () => {
        "pushq %rbx\npushq %rbp\npushq %r12\npushq %r13\npushq %r14\npushq %r15\n"
    };
}

/// Assembler lines that pop what [`push_callee_saved!`] pushed.
#[macro_export]
macro_rules! pop_callee_saved {
    () => {
        "popq %r15\npopq %r14\npopq %r13\npopq %r12\npopq %rbp\npopq %rbx\n"
    };
}

pub mod events;
pub mod failsafe;
pub mod gnttab;
pub mod memory;
pub mod mmu;
pub mod traps;
pub mod user;

/// `multicall` over `entries`; each entry's `result` is filled in.
pub fn multicall(entries: &mut [xen_abi::xen::MulticallEntry]) -> i64 {
    // SAFETY: a live, exclusively borrowed array of `multicall_entry`; the entries' own
    // arguments are the caller's (integers, or pointers to live objects).
    unsafe {
        hypercall(
            H::Multicall as u32,
            entries.as_mut_ptr() as u64,
            entries.len() as u64,
            0,
            0,
            0,
        )
    }
}

/// `console_io(CONSOLEIO_write)` of `len` bytes at an arbitrary address, to test the
/// hypervisor's checks of bad guest pointers.
pub fn console_write_raw(addr: u64, len: u64) -> i64 {
    hypercall_ints(H::ConsoleIo as u32, [0, len, addr, 0, 0])
}

/// Reads `p2m[0]` from the p2m list the builder mapped, then that frame's entry in the
/// read-only M2P at `m2p_base` (which the caller got from `XENMEM_machphys_mapping`).
pub fn read_p2m0_and_m2p(m2p_base: u64, max_mfn: u64) -> Option<(u64, u64)> {
    let p2m = start_info().mfn_list as *const u64;
    // SAFETY: `mfn_list` is mapped by the builder for `nr_pages` entries (at least one).
    let mfn = unsafe { p2m.read_volatile() };
    if mfn > max_mfn {
        return None;
    }
    // SAFETY: the hypervisor maps the M2P read-only at `m2p_base` for every frame up to
    // `max_mfn`, as `XENMEM_machphys_mapping` reported.
    let pfn = unsafe { ((m2p_base + mfn * 8) as *const u64).read_volatile() };
    Some((mfn, pfn))
}

/// A hypercall with a 64-bit number (to test that numbers beyond the table are refused).
pub fn hypercall_raw_nr(nr: u64) -> i64 {
    let ret: i64;
    // SAFETY: an out-of-range number must be refused with -ENOSYS; no argument is a pointer.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") 0u64, in("rsi") 0u64, in("rdx") 0u64, in("r10") 0u64, in("r8") 0u64,
            lateout("rcx") _, lateout("r11") _,
            options(nostack)
        );
    }
    ret
}

/// `mmuext_op` with one `MMUEXT_NEW_USER_BASEPTR` for `mfn`.
pub fn new_user_baseptr(mfn: u64) -> i64 {
    let op = xen_abi::xen::MmuextOp {
        cmd: 15,
        _pad0: 0,
        arg1: mfn,
        arg2: 0,
    };
    // SAFETY: a live one-element `mmuext_op` array; no done-count pointer; DOMID_SELF.
    unsafe {
        hypercall(
            H::MmuextOp as u32,
            core::ptr::addr_of!(op) as u64,
            1,
            0,
            0x7ff0,
            0,
        )
    }
}

/// `callback_op(CALLBACKOP_register)` of `kind` at `address`.
pub fn register_callback(kind: u16, address: u64, mask_events: bool) -> i64 {
    let reg = xen_abi::callback::CallbackRegister {
        r#type: kind,
        flags: u16::from(mask_events),
        _pad0: 0,
        address,
    };
    // SAFETY: a live `callback_register`.
    unsafe {
        hypercall(
            H::CallbackOp as u32,
            0,
            core::ptr::addr_of!(reg) as u64,
            0,
            0,
            0,
        )
    }
}

/// The L4's machine frame, read through the emulated `mov %cr3`.
pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: a privileged read the hypervisor emulates for the guest kernel.
    unsafe { core::arch::asm!("mov {}, cr3", out(reg) v, options(nomem, nostack)) };
    v
}

/// `rdmsr`, emulated by the hypervisor for the guest kernel (FS/GS bases, EFER).
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: a privileged read the hypervisor emulates; an MSR it refuses raises #GP, which the
    // test's trap table reports.
    unsafe {
        core::arch::asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

#[cfg(target_os = "none")]
static mut STATIC_BUFFER: [u64; 8192] = [0; 8192];

/// A 64 KiB buffer for a test's own use; hand it out once.
#[cfg(target_os = "none")]
pub fn static_buffer() -> &'static mut [u64; 8192] {
    static TAKEN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    assert!(
        !TAKEN.swap(true, core::sync::atomic::Ordering::SeqCst),
        "the static buffer is handed out once"
    );
    // SAFETY: the flag above guarantees a single mutable reference for the program's lifetime.
    unsafe { &mut *core::ptr::addr_of_mut!(STATIC_BUFFER) }
}

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is unprivileged (CR4.TSD is clear for PV guests) and has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// One page of this guest shared with the hypervisor or another domain, as the memory of a
/// `xen_abi` ring: indices through whole-word atomics, data by copies, never a reference.
#[derive(Debug)]
pub struct SharedPage {
    va: u64,
}

impl SharedPage {
    /// The page mapped at `va`.
    ///
    /// # Safety
    /// `va` must be page-aligned and mapped read-write for as long as the value is used.
    pub unsafe fn new(va: u64) -> SharedPage {
        SharedPage { va }
    }

    fn index(&self, offset: usize) -> &core::sync::atomic::AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset <= xen_abi::PAGE_SIZE - 4,
            "ring index offset aligned and inside the page"
        );
        // SAFETY: 4-aligned and inside the mapped page (asserted; `new`'s contract); the peer
        // accesses the index only as a whole u32, hence an atomic.
        unsafe { &*((self.va + offset as u64) as *const core::sync::atomic::AtomicU32) }
    }

    fn range(&self, offset: usize, len: usize) -> *mut u8 {
        assert!(
            offset
                .checked_add(len)
                .is_some_and(|e| e <= xen_abi::PAGE_SIZE),
            "ring access inside the page"
        );
        (self.va + offset as u64) as *mut u8
    }
}

impl xen_abi::io::ring::RingMemory for SharedPage {
    fn size(&self) -> usize {
        xen_abi::PAGE_SIZE
    }

    fn read_index(&self, offset: usize) -> xen_abi::io::ring::RingIdx {
        self.index(offset)
            .load(core::sync::atomic::Ordering::Acquire)
    }

    fn write_index(&mut self, offset: usize, value: xen_abi::io::ring::RingIdx) {
        self.index(offset)
            .store(value, core::sync::atomic::Ordering::Release)
    }

    fn full_fence(&self) {
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst)
    }

    fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        let src = self.range(offset, dst.len());
        // SAFETY: inside the mapped page (checked by `range`), not overlapping the local `dst`;
        // the bytes are copied once and the caller validates what it uses.
        unsafe { core::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) }
    }

    fn write_bytes(&mut self, offset: usize, src: &[u8]) {
        let dst = self.range(offset, src.len());
        // SAFETY: inside the page, mapped writable (checked by `range`; `new`'s contract), not
        // overlapping `src`.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) }
    }
}

/// The console page of `start_info.console.domU` and its port, or `None` if there is none. The
/// page is in the initial mapping at its PFN (VIRT_BASE 0), found through the read-only M2P.
fn console_page() -> Option<(SharedPage, xen_abi::Port)> {
    use zerocopy::{FromZeros, IntoBytes};
    let si = start_info();
    let (mfn, port) = (si.console.domu_mfn(), si.console.domu_evtchn());
    if mfn.0 == 0 || port.0 == 0 {
        return None;
    }
    let mut m2p = xen_abi::memory::XenMachphysMapping::new_zeroed();
    hypercall_buf(
        H::MemoryOp as u32,
        xen_abi::memory::XenMem::MachphysMapping as u64,
        m2p.as_mut_bytes(),
    );
    // SAFETY: the M2P is mapped read-only for every machine frame at `v_start`.
    let pfn = unsafe { ((m2p.v_start + mfn.0 * 8) as *const u64).read_volatile() };
    // SAFETY: the builder maps the console page read-write at its PFN for the guest's lifetime.
    let page = unsafe { SharedPage::new(pfn * xen_abi::PAGE_SIZE as u64) };
    Some((page, port))
}

/// Writes `bytes` through the domU console ring (`start_info.console.domU`) with
/// `xen_abi`'s `XENCONS_OUT`: copies into `out` what fits and publishes `out_prod` (yielding
/// while the ring is full, which makes the hypervisor drain it), notifies the console port, and
/// yields until the backend has consumed everything (as Linux's `hvc_xen` and XTF do). Returns
/// false if there is no ring or its indices are out of range.
pub fn console_ring_write(bytes: &[u8]) -> bool {
    use xen_abi::io::console::XENCONS_OUT;
    let Some((mut page, port)) = console_page() else {
        return false;
    };
    let mut rest = bytes;
    while !rest.is_empty() {
        match XENCONS_OUT.write(&mut page, rest) {
            Ok(0) => yield_cpu(),
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(_) => return false,
        }
    }
    let mut send = xen_abi::event_channel::EvtchnSend { port };
    hypercall_buf(
        H::EventChannelOp as u32,
        xen_abi::event_channel::EvtchnOp::Send as u64,
        zerocopy::IntoBytes::as_mut_bytes(&mut send),
    );
    loop {
        match XENCONS_OUT.queued(&page) {
            Ok(0) => return true,
            Ok(_) => yield_cpu(),
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SharedPage;
    use xen_abi::io::console::{XenconsInterface, XENCONS_OUT};
    use xen_abi::io::ring::RingMemory;
    use zerocopy::FromBytes;

    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    #[test]
    fn shared_page_console_write_then_read_lands_at_xencons_offsets() {
        let mut page = Page([0; 4096]);
        let va = page.0.as_mut_ptr() as u64;
        // SAFETY: `page` is a live, page-aligned, writable 4 KiB buffer that outlives `mem`.
        let mut mem = unsafe { SharedPage::new(va) };
        assert_eq!(mem.size(), 4096);
        assert_eq!(XENCONS_OUT.write(&mut mem, b"hello"), Ok(5));
        let mut buf = [0u8; 8];
        assert_eq!(XENCONS_OUT.read(&mut mem, &mut buf), Ok(5));
        assert_eq!(&buf[..5], b"hello");
        let (ring, _) = XenconsInterface::read_from_prefix(&page.0).expect("a page holds it");
        assert_eq!((ring.out_prod, ring.out_cons), (5, 5));
        assert_eq!(&ring.out[..5], b"hello");
    }
}
