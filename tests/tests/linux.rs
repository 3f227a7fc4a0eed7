//! Debian's Linux (`linux-image-amd64`, the bzImage as Debian ships it) as dom0 on Ferrite.

use anyhow::Result;
use tests::Boot;

/// What the kernel of the initial domain shutting down with `SHUTDOWN_crash` makes QEMU exit
/// with (`ExitCode::GuestCrash`).
const EXIT_GUEST_CRASH: i32 = 43;

/// Without an initramfs Linux gets through its whole kernel initialisation — the bzImage
/// unpacked by the hypervisor, the PV MMU, events, timers, the console, ACPI, the PCI scan —
/// to the root mount, which has nothing to mount, and panics there (a crash shutdown).
#[test]
fn linux_dom0_boots_through_kernel_init_to_the_root_mount() -> Result<()> {
    let kernel = xtask::linux::kernel()?;
    let run = Boot::new("linux_dom0_no_initramfs")
        .smp(2)
        .mem(2048)
        .cmdline("loglvl=info dom0_mem=512M")
        .module(kernel, xtask::linux::DOM0_CMDLINE)
        .timeout(std::time::Duration::from_secs(240))
        .run()?;
    run.line("unpacked the bzImage's Xz payload")?;
    run.line("(d0) [")?;
    run.line("Xen version: 4.17.0-ferrite")?;
    // Offered FIFO events, Linux takes them, as on Xen.
    run.line("xen:events: Using FIFO-based ABI")?;
    run.line("printk: console [hvc0] enabled")?;
    run.line("Grant table initialized")?;
    // dom0 gets one vCPU per physical CPU, as on Xen; the second comes up through
    // VCPUOP_initialise once Linux has released the bootstrap page tables.
    run.line("smp: Brought up 1 node, 2 CPUs")?;
    run.line("VFS: Unable to mount root fs")?;
    for bad in [
        "*** FATAL EXCEPTION",
        "PANIC:",
        "multicall(s) failed",
        "Oops",
        "BUG:",
    ] {
        anyhow::ensure!(!run.log.contains(bad), "'{bad}' in the log\n{}", run.tail());
    }
    run.expect_exit(EXIT_GUEST_CRASH)?;
    Ok(())
}

/// Debian's unmodified kernel and initramfs (`/boot/vmlinuz-*`, `/boot/initrd.img-*`) from a
/// GRUB entry shaped like a Xen system's (`dom0_mem=1024M,max:1024M dom0_max_vcpus=2` on the
/// hypervisor line, `console=hvc0 earlyprintk=xen` on the kernel's): initramfs-tools' `/init`
/// loads its drivers, finds no root device (there is no disk without a hardware domain) and,
/// asked by `panic=1`, reboots the machine.
#[test]
fn linux_dom0_runs_debians_own_initramfs_from_a_xen_shaped_grub_entry() -> Result<()> {
    let kernel = xtask::linux::kernel()?;
    let initrd = xtask::linux::debian_initrd()?;
    let run = Boot::new("linux_dom0_debian_initrd")
        .smp(2)
        .mem(2048)
        .cmdline("dom0_mem=1024M,max:1024M dom0_max_vcpus=2")
        .module(kernel, &format!("{} panic=1", xtask::linux::DOM0_CMDLINE))
        .module(initrd, "")
        .timeout(std::time::Duration::from_secs(300))
        .run()?;
    run.line("d0: 1024 MiB of")?;
    run.line("Trying to unpack rootfs image as initramfs...")?;
    run.line("Freeing initrd memory")?;
    run.line("Run /init as init process")?;
    run.line("Loading, please wait...")?;
    run.line("Begin: Loading essential drivers")?;
    run.line("No root device specified")?;
    run.line("Rebooting automatically due to panic= boot argument")?;
    run.line("d0: shutdown: Reboot")?;
    for bad in ["*** FATAL EXCEPTION", "multicall(s) failed", "Oops", "BUG:"] {
        anyhow::ensure!(!run.log.contains(bad), "'{bad}' in the log\n{}", run.tail());
    }
    run.expect_exit(0)?;
    Ok(())
}

/// The boot of `cargo xtask run --linux` (the busybox initramfs and its shell), named `name`,
/// with `command` typed at the shell's prompt.
fn shell_boot(name: &str, command: &[u8]) -> Result<tests::Run> {
    let kernel = xtask::linux::kernel()?;
    let initrd = xtask::target_dir()
        .join("test-isos")
        .join("linux-shell-initrd.gz");
    xtask::linux::initramfs(xtask::linux::SHELL_INIT, &initrd)?;
    let run = Boot::new(name)
        .smp(2)
        .mem(2048)
        .cmdline("loglvl=info dom0_mem=512M")
        .module(kernel, xtask::linux::DOM0_CMDLINE)
        .module(initrd, "")
        .type_after("built-in shell (ash)", command)
        .timeout(std::time::Duration::from_secs(240))
        .run()?;
    run.line("as dom0 on xen 4.17.0-ferrite")?;
    for bad in ["*** FATAL EXCEPTION", "multicall(s) failed", "Oops", "BUG:"] {
        anyhow::ensure!(!run.log.contains(bad), "'{bad}' in the log\n{}", run.tail());
    }
    Ok(run)
}

/// The shell of `cargo xtask run --linux`: `/init` runs from the busybox initramfs, reads the
/// hypervisor's identity from `/sys/hypervisor`, and `poweroff -f` typed at the shell ends the
/// machine with the poweroff status (QEMU 33).
#[test]
fn linux_dom0_runs_init_and_powers_off() -> Result<()> {
    let run = shell_boot("linux_dom0_shell", b"poweroff -f\n")?;
    run.line("d0: shutdown: Poweroff")?;
    run.expect_exit(tests::EXIT_SUCCESS)?;
    Ok(())
}

/// `reboot -f` at the shell resets the machine, as Xen's `machine_restart` does for the
/// hardware domain: QEMU, run with `-no-reboot`, ends with status 0 on the reset (a halt would
/// time out, a debug-exit status would be odd).
#[test]
fn linux_dom0_reboot_resets_the_machine() -> Result<()> {
    let run = shell_boot("linux_dom0_reboot", b"reboot -f\n")?;
    run.line("d0: shutdown: Reboot")?;
    run.line("resetting the machine")?;
    run.expect_exit(0)?;
    Ok(())
}

/// A check boot's hard timeout: `LINUX_BOOT_TIMEOUT` seconds (default 600; a soak hunting a
/// hang sets it lower, since a timed-out boot ends with the hypervisor's state dump).
fn boot_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(
        std::env::var("LINUX_BOOT_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(600),
    )
}

/// The check script's boot on `hv`: Debian's kernel as a 2-vCPU dom0 with 512 MiB.
fn check_boot(name: &str, xen: bool) -> Result<tests::Run> {
    check_boot_with(name, xen, 2, 2, xtask::linux::CheckLoad::Full)
}

/// The check script's boot with `vcpus` dom0 vCPUs (`dom0_max_vcpus=`) on `smp` CPUs.
fn check_boot_with(
    name: &str,
    xen: bool,
    smp: u32,
    vcpus: u32,
    load: xtask::linux::CheckLoad,
) -> Result<tests::Run> {
    let kernel = xtask::linux::kernel()?;
    let initrd = xtask::target_dir()
        .join("test-isos")
        .join(format!("{name}-initrd.gz"));
    xtask::linux::initramfs(&xtask::linux::check_init_with(vcpus, load)?, &initrd)?;
    let mut boot = Boot::new(name)
        .smp(smp)
        .mem(2048)
        .module(kernel, xtask::linux::DOM0_CMDLINE)
        .module(initrd, "")
        .timeout(boot_timeout());
    boot = if xen {
        // Xen's lazy FPU switching loses state under QEMU 7.2's TCG (docs/rig.md).
        boot.on_xen().cmdline(&format!(
            "dom0_mem=512M,max:512M dom0_max_vcpus={vcpus} spec-ctrl=eager-fpu"
        ))
    } else {
        boot.cmdline(&format!("loglvl=info dom0_mem=512M dom0_max_vcpus={vcpus}"))
    };
    let run = boot.run()?;
    let verdict = run.line("linux-check: ")?;
    anyhow::ensure!(
        verdict.contains("linux-check: PASS"),
        "{verdict}\n{}",
        run.tail()
    );
    Ok(run)
}

/// dom0 with 1, 2 and 4 vCPUs on 2 and 4 physical CPUs (more vCPUs than CPUs included): every
/// vCPU comes up, runs work pinned to it, and Linux's IPIs, timers and console all go through
/// event channels without a lost wake-up (the light check script).
fn smp_matrix(smp: u32, vcpus: u32) -> Result<()> {
    let run = check_boot_with(
        &format!("linux_dom0_{vcpus}vcpus_on_smp{smp}"),
        false,
        smp,
        vcpus,
        xtask::linux::CheckLoad::Light,
    )?;
    run.line(&format!("{vcpus} vCPU(s)"))?;
    if vcpus > 1 {
        run.line(&format!("smp: Brought up 1 node, {vcpus} CPUs"))?;
    }
    run.expect_exit(tests::EXIT_SUCCESS)?;
    Ok(())
}

#[test]
fn linux_dom0_with_1_vcpu_on_smp2() -> Result<()> {
    smp_matrix(2, 1)
}

#[test]
fn linux_dom0_with_4_vcpus_on_smp2() -> Result<()> {
    smp_matrix(2, 4)
}

#[test]
fn linux_dom0_with_4_vcpus_on_smp4() -> Result<()> {
    smp_matrix(4, 4)
}

/// Debian's kernel as a 2-vCPU dom0 runs the check script (xtask::linux::check_init): the
/// vCPUs, Xen 4.17's identity, 256 MiB through tmpfs and SHA-256, 2,000 fork+exec, work on
/// each vCPU, a clean kernel log — and powers off.
#[test]
fn linux_dom0_passes_the_check_script_with_2_vcpus() -> Result<()> {
    check_boot("linux_dom0_check", false)?.expect_exit(tests::EXIT_SUCCESS)?;
    Ok(())
}

/// The same script on Debian's Xen 4.17 under the same QEMU: it checks Linux, not Ferrite's
/// wishes.
#[test]
fn linux_dom0_check_script_passes_on_xen_4_17() -> Result<()> {
    check_boot("linux_dom0_check_xen", true)?;
    Ok(())
}

/// The check-script boot on Ferrite back to back (`LINUX_SOAK_RUNS`, default 20): every run must
/// pass. `cargo test -p tests --test linux linux_dom0_check_soak -- --ignored --nocapture`
#[test]
#[ignore = "a soak of about 30 minutes"]
fn linux_dom0_check_soak() -> Result<()> {
    let runs: u32 = std::env::var("LINUX_SOAK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for i in 1..=runs {
        let t = std::time::Instant::now();
        check_boot("linux_dom0_check_soak", false)?.expect_exit(tests::EXIT_SUCCESS)?;
        eprintln!("linux soak: run {i} of {runs} passed in {:?}", t.elapsed());
    }
    Ok(())
}

/// The `/init` of the domU in [`linux_domu_beside_linux_dom0_reaches_init_and_crashes_alone`]:
/// it says what it runs on, then crashes its kernel through sysrq.
const DOMU_INIT: &str = r#"#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "domu-init: reached /init on $(cat /sys/hypervisor/type) $(cat /sys/hypervisor/version/major).$(cat /sys/hypervisor/version/minor) with $(grep -c '^processor' /proc/cpuinfo) vCPU(s) and $(awk '/MemTotal/{print $2}' /proc/meminfo) kB"
echo "domu-init: crashing the kernel through sysrq"
echo c > /proc/sysrq-trigger
echo "domu-init: still alive after the crash"
"#;

/// Debian's kernel as a domU (a boot module with its own initramfs) beside the same kernel as
/// dom0: the domU reaches its `/init`, whose lines come through its console ring into the
/// hypervisor's log, then crashes its kernel (`echo c > /proc/sysrq-trigger`); only the domU
/// dies, and dom0's shell still answers afterwards. The domU has no xenstore (there is no
/// xenstored yet): its `start_info.store_evtchn` is 0, which Linux 6.1 reads as "xenstored runs
/// here" (`XS_LOCAL`, xenbus_probe.c), so it allocates its own store page and port and never
/// probes xenbus frontends — nothing waits (docs/linux.md).
#[test]
fn linux_domu_beside_linux_dom0_reaches_init_and_crashes_alone() -> Result<()> {
    let kernel = xtask::linux::kernel()?;
    let dir = xtask::target_dir().join("test-isos");
    let dom0_initrd = dir.join("linux-shell-initrd.gz");
    xtask::linux::initramfs(xtask::linux::SHELL_INIT, &dom0_initrd)?;
    let domu_initrd = dir.join("linux-domu-initrd.gz");
    xtask::linux::initramfs(DOMU_INIT, &domu_initrd)?;
    let run = Boot::new("linux_domu_beside_dom0")
        .smp(2)
        .mem(2048)
        .cmdline("loglvl=info dom0_mem=512M")
        .module(&kernel, xtask::linux::DOM0_CMDLINE)
        .module(dom0_initrd, "")
        .module(
            &kernel,
            "domu name=linux memory=256 vcpus=2 -- console=hvc0 xen.fifo_events=0",
        )
        .module(domu_initrd, "")
        .type_after(
            "d1: shutdown: Crash",
            b"echo dom0-alive-$((6*7)); poweroff -f\n",
        )
        .timeout(std::time::Duration::from_secs(400))
        .run()?;
    // dom0 runs FIFO events; the domU is told to keep the 2-level ABI, so Linux exercises both.
    run.line("(d0) [")?;
    anyhow::ensure!(
        run.log
            .lines()
            .any(|l| l.starts_with("(d0)") && l.contains("Using FIFO-based ABI")),
        "dom0 did not use FIFO events"
    );
    anyhow::ensure!(
        run.log
            .lines()
            .any(|l| l.starts_with("(d1)") && l.contains("Using 2-level ABI")),
        "the domU did not use 2-level events"
    );
    run.line("(d1) domu-init: reached /init on xen 4.17 with 2 vCPU(s)")?;
    run.line("(d1) domu-init: crashing the kernel through sysrq")?;
    // Linux's panic notifier reports the crash (SCHEDOP_shutdown, SHUTDOWN_crash) and the
    // hypervisor tears the domain down.
    run.line("(d1) [")?;
    run.line("Kernel panic - not syncing: sysrq triggered crash")?;
    run.line("d1: shutdown: Crash")?;
    run.line("d1: destroyed")?;
    anyhow::ensure!(
        !run.log.contains("domu-init: still alive"),
        "the domU survived its crash\n{}",
        run.tail()
    );
    run.line("dom0-alive-42")?;
    run.line("d0: shutdown: Poweroff")?;
    run.expect_exit(tests::EXIT_SUCCESS)?;
    Ok(())
}
