//! Boot foundation: the banner's CPU count and memory total, SMP bring-up, timers, logging, the
//! command line, boot modules, and the exception dump for deliberate faults.

use anyhow::Result;
use tests::{is_log_line, Boot, EXIT_EXCEPTION, EXIT_PANIC, EXIT_SUCCESS};

/// The memory total the banner reports must be within 1% of what QEMU was given.
fn check_memory(run: &tests::Run, mib: u64) -> Result<()> {
    let kib = run.number_after("memory total ")?;
    let given = mib * 1024;
    let diff = given.abs_diff(kib);
    anyhow::ensure!(
        diff * 100 <= given,
        "{}: memory total {kib} KiB is not within 1% of {given} KiB",
        run.name
    );
    Ok(())
}

fn boot_selftest(name: &str, smp: u32, mem: u64, extra: &str) -> Result<tests::Run> {
    let run = Boot::new(name)
        .smp(smp)
        .mem(mem as u32)
        .cmdline(&format!("selftest=boot {extra}"))
        .run()?;
    run.expect_exit(EXIT_SUCCESS)?;
    run.line("selftest boot: PASS")?;
    let banner = run.line("(Xen 4.17 ABI)")?;
    anyhow::ensure!(
        banner.contains(&format!(", {smp} CPUs online")),
        "{name}: banner {banner:?} does not report {smp} CPUs"
    );
    check_memory(&run, mem)?;
    Ok(run)
}

#[test]
fn boot_smp1_256m_banner_reports_one_cpu_and_memory() -> Result<()> {
    let run = boot_selftest("boot_smp1_256m", 1, 256, "")?;
    run.line("timer: one-shot fired 1 time(s)")?;
    // Default log level is info: no debug lines, and every console line has the log format.
    anyhow::ensure!(
        !run.log.contains("DEBUG "),
        "debug lines printed at the default log level"
    );
    for l in run.log.lines().filter(|l| l.starts_with('[')) {
        anyhow::ensure!(is_log_line(l), "malformed log line {l:?}");
    }
    Ok(())
}

#[test]
fn boot_smp4_512m_brings_up_every_cpu() -> Result<()> {
    let run = boot_selftest("boot_smp4_512m", 4, 512, "")?;
    for cpu in 1..4 {
        run.line(&format!("CPU{cpu} online"))?;
    }
    Ok(())
}

#[test]
fn boot_smp2_4g_memory_above_4g_and_loglvl_all() -> Result<()> {
    let run = boot_selftest("boot_smp2_4g", 2, 4096, "loglvl=all")?;
    run.line("DEBUG hypervisor::boot::start] memory map:")?;
    Ok(())
}

#[test]
fn boot_with_modules_lists_them_and_keeps_them_out_of_the_allocator() -> Result<()> {
    let dir = xtask::target_dir().join("test-isos");
    std::fs::create_dir_all(&dir)?;
    let a = dir.join("module-a.bin");
    let b = dir.join("module-b.bin");
    std::fs::write(&a, vec![0xa5u8; 300 * 1024])?;
    std::fs::write(&b, vec![0x5au8; 5000])?;
    let run = Boot::new("boot_modules")
        .cmdline("selftest=boot")
        .module(&a, "domu name=a memory=64")
        .module(&b, "initrd")
        .run()?;
    run.expect_exit(EXIT_SUCCESS)?;
    run.line(", 2 module(s)")?;
    let m0 = run.line("module 0: ")?;
    anyhow::ensure!(
        m0.contains("(300 KiB) 'domu name=a memory=64'"),
        "module 0 line {m0:?}"
    );
    run.line("module 1: ")?;
    run.line("2 module(s), the boot information and the image are excluded from the allocator")?;
    Ok(())
}

#[test]
fn loglvl_unknown_value_is_reported_and_boot_continues() -> Result<()> {
    let run = Boot::new("loglvl_bad")
        .cmdline("loglvl=loud selftest=boot")
        .run()?;
    run.expect_exit(EXIT_SUCCESS)?;
    run.line("loglvl=loud: unknown level")?;
    Ok(())
}

fn fault(name: &str, vector_text: &str, extra: &[&str]) -> Result<()> {
    let run = Boot::new(&format!("selftest_{name}"))
        .cmdline(&format!("selftest={name}"))
        .run()?;
    run.expect_exit(EXIT_EXCEPTION)?;
    run.line("*** FATAL EXCEPTION on CPU 0 ***")?;
    run.line(vector_text)?;
    run.line("RIP 0xffff82d0")?;
    for e in extra {
        run.line(e)?;
    }
    run.line("Machine stopped.")?;
    anyhow::ensure!(
        !run.log.contains("selftest") || !run.log.contains("PASS"),
        "a faulting self-test reported PASS"
    );
    Ok(())
}

#[test]
fn selftest_ud_dumps_vector_6_and_fails() -> Result<()> {
    fault("ud", "vector 6 (#UD invalid opcode)", &[])
}

#[test]
fn selftest_pf_dumps_vector_14_with_cr2() -> Result<()> {
    fault(
        "pf",
        "vector 14 (#PF page fault) error code 0x0000",
        &["CR2 0xffff808000001000"],
    )
}

#[test]
fn selftest_wx_write_to_text_faults() -> Result<()> {
    // Error code P|W: the page is present but read-only.
    fault("wx", "vector 14 (#PF page fault) error code 0x0003", &[])
}

#[test]
fn selftest_nx_execute_data_faults() -> Result<()> {
    // Error code P|I/D: an instruction fetch from a present NX page.
    fault("nx", "vector 14 (#PF page fault) error code 0x0011", &[])
}

#[test]
fn selftest_panic_prints_panic_and_exits_with_panic_status() -> Result<()> {
    let run = Boot::new("selftest_panic")
        .cmdline("selftest=panic")
        .run_expecting_panic()?;
    run.expect_exit(EXIT_PANIC)?;
    let line = run.line(
        "PANIC: selftest panic requested on the command line at hypervisor/src/selftest.rs:",
    )?;
    anyhow::ensure!(line.contains("(CPU 0)"), "{line:?}");
    Ok(())
}

#[test]
fn selftest_unknown_name_fails_with_message() -> Result<()> {
    let run = Boot::new("selftest_unknown")
        .cmdline("selftest=bogus")
        .run()?;
    run.expect_exit(tests::EXIT_FAILURE)?;
    run.line("selftest: unknown test 'bogus'")?;
    Ok(())
}
