//! The QEMU command line Ferrite runs under (TCG; see docs for the QEMU 7.2 traps), and a runner
//! that captures the serial console line by line under a hard timeout.

use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The I/O port of QEMU's `isa-debug-exit` device (the hypervisor writes its verdict there).
pub const DEBUG_EXIT_IOBASE: u16 = 0xf4;

/// QEMU's exit status when the hypervisor reports success (`0x10 << 1 | 1`).
pub const EXIT_SUCCESS: i32 = 33;
/// Exit status for a failed self-test.
pub const EXIT_FAILURE: i32 = 35;
/// Exit status after a hypervisor panic.
pub const EXIT_PANIC: i32 = 37;
/// Exit status after an unexpected exception.
pub const EXIT_EXCEPTION: i32 = 39;

/// How to run one machine.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The ISO to boot.
    pub iso: PathBuf,
    /// Number of CPUs (`-smp`).
    pub smp: u32,
    /// Memory in MiB (`-m`).
    pub mem_mib: u32,
    /// `-no-reboot`: a reset ends QEMU (status 0) instead of restarting the machine.
    pub no_reboot: bool,
}

impl Machine {
    /// The full QEMU command. `-cpu max,-smap`: QEMU 7.2's TCG pops IRET frames with
    /// SMAP-checked accesses, which breaks PV kernels' own `iretq` in ring 3.
    pub fn command(&self) -> Command {
        self.command_with("tcg", "max,-smap")
    }

    /// The full QEMU command with another `-accel` (e.g. `tcg,thread=single`) and `-cpu`.
    pub fn command_with(&self, accel: &str, cpu: &str) -> Command {
        let mut c = Command::new("qemu-system-x86_64");
        c.args(["-accel", accel, "-machine", "q35", "-cpu", cpu])
            .args([
                "-smp",
                &self.smp.to_string(),
                "-m",
                &format!("{}M", self.mem_mib),
            ])
            .args([
                "-display", "none", "-vga", "none", "-nic", "none", "-monitor", "none",
            ])
            .args(["-serial", "stdio"]);
        if self.no_reboot {
            c.arg("-no-reboot");
        }
        c.args([
            "-device",
            &format!("isa-debug-exit,iobase={DEBUG_EXIT_IOBASE:#x},iosize=0x04"),
        ])
        .arg("-cdrom")
        .arg(&self.iso)
        .args(["-boot", "d"]);
        c
    }
}

/// What a captured run produced.
#[derive(Debug)]
pub struct Outcome {
    /// QEMU's exit status; `None` if it was killed.
    pub status: Option<i32>,
    /// True if the hard timeout killed it.
    pub timed_out: bool,
    /// The line that made the runner stop QEMU early, if any.
    pub stopped_on: Option<String>,
    /// The whole serial log.
    pub log: String,
    /// Wall-clock duration.
    pub elapsed: Duration,
    /// When each line arrived, from QEMU's start (one entry per line of `log`, in order).
    pub line_times: Vec<Duration>,
}

impl Outcome {
    /// When the first line containing `needle` arrived, from QEMU's start.
    pub fn time_of(&self, needle: &str) -> Option<Duration> {
        self.log
            .lines()
            .zip(&self.line_times)
            .find(|(l, _)| l.contains(needle))
            .map(|(_, t)| *t)
    }
}

/// Runs `machine`, writing the serial log to `log_path` as it arrives (and echoing it when
/// `echo`), killing QEMU after `timeout` or as soon as `stop_at(line)` is true.
pub fn run_captured(
    machine: &Machine,
    log_path: &Path,
    timeout: Duration,
    echo: bool,
    stop_at: &dyn Fn(&str) -> bool,
) -> Result<Outcome> {
    run_captured_with_input(machine, log_path, timeout, echo, stop_at, None)
}

/// Typed input for the serial console: once a line containing `after` appears, `bytes` are
/// written to the machine's serial port.
#[derive(Debug, Clone)]
pub struct SerialInput {
    /// The line fragment to wait for.
    pub after: String,
    /// What to type.
    pub bytes: Vec<u8>,
}

/// [`run_captured`], typing `input` on the serial console when its trigger line appears.
pub fn run_captured_with_input(
    machine: &Machine,
    log_path: &Path,
    timeout: Duration,
    echo: bool,
    stop_at: &dyn Fn(&str) -> bool,
    input: Option<SerialInput>,
) -> Result<Outcome> {
    run_command_captured(machine.command(), log_path, timeout, echo, stop_at, input)
}

/// [`run_captured_with_input`] for a QEMU command built by the caller (e.g.
/// [`Machine::command_with`]).
pub fn run_command_captured(
    mut command: Command,
    log_path: &Path,
    timeout: Duration,
    echo: bool,
    stop_at: &dyn Fn(&str) -> bool,
    input: Option<SerialInput>,
) -> Result<Outcome> {
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut log_file = std::fs::File::create(log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let start = Instant::now();
    let mut child = command
        // Always a pipe: the harness types the hypervisor's dump keys when a boot times out.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting qemu-system-x86_64")?;
    let stdout = child.stdout.take().context("qemu stdout")?;
    // Kept open until QEMU ends: closing it early would end the serial input.
    let mut stdin = child.stdin.take();
    let mut input = input;
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).replace('\r', "");
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut log = String::new();
    let mut line_times = Vec::new();
    let mut stopped_on = None;
    let mut timed_out = false;
    let mut dump_asked: Option<Instant> = None;
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() && dump_asked.is_none() {
            // Before giving up: Ctrl-] three times asks Ferrite for its state dump
            // (hypervisor/src/debug.rs); a few seconds of output are kept in the log.
            if let Some(w) = stdin.as_mut() {
                let _ = w.write_all(&[0x1d, 0x1d, 0x1d]);
                let _ = w.flush();
            }
            dump_asked = Some(Instant::now());
        }
        if dump_asked.is_some_and(|t| t.elapsed() > Duration::from_secs(4)) {
            timed_out = true;
            break;
        }
        let left = if dump_asked.is_some() {
            Duration::from_millis(200)
        } else {
            left
        };
        match rx.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(line) => {
                let _ = log_file.write_all(line.as_bytes());
                if echo {
                    print!("{line}");
                    let _ = std::io::stdout().flush();
                }
                log.push_str(&line);
                line_times.push(start.elapsed());
                if input.as_ref().is_some_and(|i| line.contains(&i.after)) {
                    if let (Some(i), Some(w)) = (input.take(), stdin.as_mut()) {
                        w.write_all(&i.bytes)
                            .context("typing on the serial console")?;
                        w.flush().context("typing on the serial console")?;
                    }
                }
                if stop_at(line.trim_end()) {
                    stopped_on = Some(line.trim_end().to_string());
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(_)) = child.try_wait() {
                    // Drain what is left after exit.
                    continue;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // QEMU closes its stdout as it exits, or (after a stop line) is about to write its verdict:
    // give it a bounded moment to finish by itself before killing it.
    if !timed_out {
        let grace = Instant::now();
        while grace.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let status = match child.try_wait().context("polling qemu")? {
        Some(s) => s.code(),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    };
    drop(stdin);
    // Collect any output still buffered.
    let _ = reader.join();
    while let Ok(line) = rx.try_recv() {
        let _ = log_file.write_all(line.as_bytes());
        if echo {
            print!("{line}");
        }
        log.push_str(&line);
        line_times.push(start.elapsed());
    }
    Ok(Outcome {
        status,
        timed_out,
        stopped_on,
        log,
        elapsed: start.elapsed(),
        line_times,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_finds_the_first_matching_line() {
        let o = Outcome {
            status: Some(0),
            timed_out: false,
            stopped_on: None,
            log: "a\nRun /init\nRun /init again\n".into(),
            elapsed: Duration::from_secs(3),
            line_times: vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(3),
            ],
        };
        assert_eq!(o.time_of("Run /init"), Some(Duration::from_secs(2)));
        assert_eq!(o.time_of("nowhere"), None);
    }

    #[test]
    fn command_uses_tcg_without_smap_and_debug_exit() {
        let m = Machine {
            iso: "x.iso".into(),
            smp: 4,
            mem_mib: 512,
            no_reboot: true,
        };
        let args: Vec<String> = m
            .command()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("-accel tcg"));
        assert!(joined.contains("-cpu max,-smap"));
        assert!(joined.contains("-smp 4 -m 512M"));
        assert!(joined.contains("isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assert!(joined.ends_with("-cdrom x.iso -boot d"));
    }
}
