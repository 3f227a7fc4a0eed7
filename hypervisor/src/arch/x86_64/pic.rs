//! The legacy 8259 PICs: remapped away from the exception vectors and fully masked, since the
//! local APIC delivers every interrupt Ferrite uses. (Left alone, the PIT's IRQ 0 would arrive on
//! vector 8 and look like a double fault.)

use super::cpu::outb;

/// Remaps both PICs to vectors 0x20–0x2f and masks every line.
pub fn disable() {
    // SAFETY: ports 0x20/0x21/0xa0/0xa1 are the two 8259s, which nothing else drives; this is
    // their documented ICW1–ICW4 initialisation followed by masking all lines.
    unsafe {
        outb(0x20, 0x11);
        outb(0xa0, 0x11);
        outb(0x21, 0x20);
        outb(0xa1, 0x28);
        outb(0x21, 0x04);
        outb(0xa1, 0x02);
        outb(0x21, 0x01);
        outb(0xa1, 0x01);
        outb(0x21, 0xff);
        outb(0xa1, 0xff);
    }
}
