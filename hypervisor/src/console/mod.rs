//! The hypervisor console: the `log` facade on COM1 as `[time][cpu][level target] msg`, also
//! kept in the console ring ([`conring`]) for `XEN_SYSCTL_readconsole`.

pub mod conring;
#[cfg(target_os = "none")]
pub mod ring;

use crate::arch::x86_64::{cpu, percpu, tsc, uart};
use core::fmt::{self, Write};

/// The console lock, which also guards the console ring.
static LOCK: spin::Mutex<conring::ConRing> = spin::Mutex::new(conring::ConRing::new());

/// Writes to the UART and into the ring (whose lock the caller holds).
struct Tee<'a>(&'a mut conring::ConRing);

impl Write for Tee<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        uart::puts(s);
        self.0.puts(s.as_bytes());
        Ok(())
    }
}

/// What `XEN_SYSCTL_readconsole` reads: the span `(incremental, index)` names, copied out in
/// chunks through `out(offset, bytes)` (a guest buffer) up to `max` bytes, the console lock held
/// only while each chunk is taken from the ring (Xen copies without it too: bytes overwritten
/// meanwhile are the newest). With `clear`, what was read is dropped. Returns `(count, index)`
/// for the reply, or the first error of `out`.
pub fn read_ring<E>(
    incremental: bool,
    index: u32,
    max: u32,
    clear: bool,
    mut out: impl FnMut(u32, &[u8]) -> Result<(), E>,
) -> Result<(u32, u32), E> {
    let span = x86_64::instructions::interrupts::without_interrupts(|| {
        LOCK.lock().span(incremental, index)
    });
    let (mut c, mut sofar) = (span.start, 0u32);
    let mut chunk = [0u8; 256];
    while c != span.end && sofar < max {
        let room = ((max - sofar) as usize).min(chunk.len());
        let n = x86_64::instructions::interrupts::without_interrupts(|| {
            LOCK.lock().copy_from(c, span.end, &mut chunk[..room])
        });
        out(sofar, &chunk[..n])?;
        sofar += n as u32;
        c = c.wrapping_add(n as u32);
    }
    if clear {
        x86_64::instructions::interrupts::without_interrupts(|| LOCK.lock().clear_to(c));
    }
    Ok((sofar, c))
}

/// Serial input waiting for the initial domain's `CONSOLEIO_read` (Xen's `serial_rx_ring`: when
/// full, the oldest bytes are dropped).
static INPUT: spin::Mutex<heapless::Deque<u8, 1024>> = spin::Mutex::new(heapless::Deque::new());

/// Moves what arrived on the serial port into the input ring (from the tick of CPU 0, with
/// interrupts off). Returns true if anything arrived: the caller raises `VIRQ_CONSOLE`.
pub fn poll_input() -> bool {
    let mut got = false;
    // A bounded drain: the UART's FIFO holds 16 bytes.
    for _ in 0..64 {
        let Some(b) = uart::getb() else { break };
        #[cfg(target_os = "none")]
        let held = match crate::debug::key(b) {
            Some(n) => n,
            None => continue,
        };
        #[cfg(not(target_os = "none"))]
        let held = 0;
        let mut q = INPUT.lock();
        for _ in 0..held {
            if q.is_full() {
                let _ = q.pop_front();
            }
            let _ = q.push_back(0x1d);
        }
        if q.is_full() {
            let _ = q.pop_front();
        }
        let _ = q.push_back(b);
        got = true;
    }
    got
}

/// Puts bytes taken by [`read_input`] back at the front (a guest buffer that faulted).
pub fn unread_input(bytes: &[u8]) {
    let mut q = INPUT.lock();
    for &b in bytes.iter().rev() {
        if q.is_full() {
            let _ = q.pop_back();
        }
        let _ = q.push_front(b);
    }
}

/// Takes up to `buf.len()` bytes of serial input; returns how many.
pub fn read_input(buf: &mut [u8]) -> usize {
    let mut q = INPUT.lock();
    let mut n = 0;
    while n < buf.len() {
        let Some(b) = q.pop_front() else { break };
        buf[n] = b;
        n += 1;
    }
    n
}

/// Writes straight to the UART without the console lock: for fatal paths only.
#[derive(Debug)]
pub struct RawWriter;

impl Write for RawWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        uart::puts(s);
        Ok(())
    }
}

/// Prints without the console lock (exception dumps, panics, NMIs).
pub fn raw_write(args: fmt::Arguments<'_>) {
    let _ = RawWriter.write_fmt(args);
}

struct Logger;

static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ns = tsc::uptime_ns();
        let cpu = percpu::cpu_index();
        x86_64::instructions::interrupts::without_interrupts(|| {
            let mut ring = LOCK.lock();
            let _ = writeln!(
                Tee(&mut ring),
                "[{:5}.{:06}][{}][{:<5} {}] {}",
                ns / 1_000_000_000,
                (ns / 1000) % 1_000_000,
                cpu,
                record.level(),
                record.target(),
                record.args()
            );
        });
    }

    fn flush(&self) {}
}

/// Prints one line of a guest's console output as `(d<id>) text`, like Xen's `guest_loglvl`
/// output. Other domains' lines go into the console ring too; the initial domain's do not (Xen
/// writes the hardware domain's straight to the serial line unless `console_to_ring`).
pub fn guest_line(dom: xen_abi::DomId, text: &str) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut ring = LOCK.lock();
        if dom == xen_abi::DomId(0) {
            let _ = writeln!(RawWriter, "(d{}) {}", dom.0, text);
        } else {
            let _ = writeln!(Tee(&mut ring), "(d{}) {}", dom.0, text);
        }
    });
}

/// Installs the logger at `level`.
pub fn init(level: log::LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Prints the panic message and location, then ends the run.
pub fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    cpu::disable_interrupts();
    match info.location() {
        Some(l) => raw_write(format_args!(
            "\nPANIC: {} at {}:{}:{} (CPU {})\n",
            info.message(),
            l.file(),
            l.line(),
            l.column(),
            percpu::cpu_index()
        )),
        None => raw_write(format_args!(
            "\nPANIC: {} (CPU {})\n",
            info.message(),
            percpu::cpu_index()
        )),
    }
    crate::arch::x86_64::exit::debug_exit(crate::arch::x86_64::exit::ExitCode::Panic);
    cpu::halt_forever()
}
