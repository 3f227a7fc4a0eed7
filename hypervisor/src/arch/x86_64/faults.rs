//! Deliberate faults for the `selftest=` command-line option: each must end in the exception
//! dump with the expected vector.

/// Executes `ud2` (#UD, vector 6).
pub fn invalid_opcode() -> ! {
    // SAFETY: raises #UD, which the dispatcher turns into a fatal dump; never returns.
    unsafe { core::arch::asm!("ud2", options(noreturn)) }
}

/// Reads from `va`, which the caller expects to be unmapped (#PF, vector 14).
pub fn read_unmapped(va: u64) -> u64 {
    // SAFETY: a volatile read whose only possible effect is the page fault the self-test wants;
    // if `va` were mapped the read would merely return its contents.
    unsafe { (va as *const u64).read_volatile() }
}

/// Writes to the hypervisor's own text (#PF with P|W: W^X must forbid it).
pub fn write_text() {
    let target = write_text as *const () as *mut u8;
    // SAFETY: the write must fault because text is mapped read-only; if W^X were broken it would
    // overwrite the first byte of this function with its own value (a no-op).
    unsafe { target.write_volatile(target.read_volatile()) };
}

#[cfg(target_os = "none")]
core::arch::global_asm!(
    ".pushsection .rodata.selftest_nx, \"a\"",
    ".global ferrite_nx_probe",
    "ferrite_nx_probe: ret",
    ".popsection"
);

/// Calls a `ret` that lives in read-only data (#PF with I/D: NX must forbid it).
#[cfg(target_os = "none")]
pub fn execute_data() {
    extern "C" {
        fn ferrite_nx_probe();
    }
    // SAFETY: the call must fault because .rodata is mapped NX; if NX were broken the code is a
    // single `ret` and the call returns harmlessly.
    unsafe { ferrite_nx_probe() };
}

/// Host builds have no NX probe.
#[cfg(not(target_os = "none"))]
pub fn execute_data() {}
