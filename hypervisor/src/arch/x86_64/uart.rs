//! The 16550 UART on COM1 (0x3f8), polled: the hypervisor's console.

use super::cpu::{inb, outb};

/// COM1's I/O base.
pub const COM1: u16 = 0x3f8;

/// Programs COM1 for 115200 8N1 with FIFOs.
pub fn init() {
    // SAFETY: COM1's registers belong to the console driver alone; this is the 16550's
    // documented initialisation sequence.
    unsafe {
        outb(COM1 + 1, 0x00); // no interrupts
        outb(COM1 + 3, 0x80); // DLAB
        outb(COM1, 0x01); // divisor 1 = 115200
        outb(COM1 + 1, 0x00);
        outb(COM1 + 3, 0x03); // 8N1
        outb(COM1 + 2, 0xc7); // FIFO on, cleared, 14-byte threshold
        outb(COM1 + 4, 0x03); // DTR, RTS
    }
}

/// Sends one byte, waiting for the transmit holding register (bounded, so a missing UART
/// cannot hang the hypervisor).
pub fn putb(b: u8) {
    for _ in 0..100_000 {
        // SAFETY: reading the line status register of COM1 has no side effects.
        let lsr = unsafe { inb(COM1 + 5) };
        if lsr & 0x20 != 0 {
            break;
        }
        core::hint::spin_loop();
    }
    // SAFETY: writing the transmit register of COM1 only sends the byte.
    unsafe { outb(COM1, b) };
}

/// Sends a string, turning `\n` into `\r\n`.
pub fn puts(s: &str) {
    for b in s.bytes() {
        if b == b'\n' {
            putb(b'\r');
        }
        putb(b);
    }
}

/// A received byte, if one is waiting (polled: COM1's interrupt is not routed).
pub fn getb() -> Option<u8> {
    // SAFETY: reading COM1's line status register has no side effects; reading the receive
    // buffer only consumes the byte the status says is there.
    unsafe { (inb(COM1 + 5) & 1 != 0).then(|| inb(COM1)) }
}
