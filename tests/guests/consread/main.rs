//! consread: the initial domain reads the serial console. It binds `VIRQ_CONSOLE`, announces that
//! it waits, and the test harness types a line; the guest blocks until the VIRQ arrives and reads
//! the line with `CONSOLEIO_read`. A read into an unmapped buffer is -EFAULT and loses nothing.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{abi::xen::Hypercall, println, sys, sys::events, Test};

/// What the harness types (tests/tests/pv.rs), without the newline.
#[cfg(target_os = "none")]
const EXPECTED: &[u8] = b"ferrite-input-42";

#[cfg(target_os = "none")]
fn console_read(buf: &mut [u8]) -> i64 {
    sys::hypercall_ints(
        Hypercall::ConsoleIo as u32,
        [1, buf.len() as u64, buf.as_mut_ptr() as u64, 0, 0],
    )
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    // VIRQ_CONSOLE = 2.
    let port = match events::bind_virq(2) {
        Ok(p) => p,
        Err(e) => {
            t.check(false, format_args!("bind_virq(VIRQ_CONSOLE) failed: {e}"));
            t.finish()
        }
    };
    let before = events::events(port);
    let mut line = [0u8; 64];
    let mut len = 0;
    println!("consread: waiting for console input");
    let deadline = events::system_time() + 30_000_000_000;
    events::wait_until(|| events::events(port) != before || events::system_time() >= deadline);
    // Let the whole line arrive (byte by byte under emulation), then try a bad buffer: -EFAULT,
    // and the input stays for the reads below.
    let settle = events::system_time() + 300_000_000;
    while events::system_time() < settle {
        core::hint::spin_loop();
    }
    t.eq(
        sys::hypercall_ints(Hypercall::ConsoleIo as u32, [1, 4, 0x4000_0000, 0, 0]),
        -14,
        "CONSOLEIO_read into an unmapped buffer is -EFAULT",
    );
    while events::system_time() < deadline {
        let mut chunk = [0u8; 8];
        let n = console_read(&mut chunk);
        if n < 0 {
            t.check(false, format_args!("CONSOLEIO_read failed: {n}"));
            break;
        }
        for &b in &chunk[..n as usize] {
            if len < line.len() {
                line[len] = b;
                len += 1;
            }
        }
        if line[..len].iter().any(|&b| b == b'\n' || b == b'\r') {
            break;
        }
        if n == 0 {
            // Wait for VIRQ_CONSOLE (or the periodic timer).
            events::block();
        }
    }
    let text = line[..len]
        .split(|&b| b == b'\n' || b == b'\r')
        .next()
        .unwrap_or(&[]);
    println!(
        "consread: read {:?}",
        core::str::from_utf8(text).unwrap_or("?")
    );
    t.eq(text, EXPECTED, "the typed line");
    t.check(
        events::events(port) > before,
        format_args!("VIRQ_CONSOLE arrived"),
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
