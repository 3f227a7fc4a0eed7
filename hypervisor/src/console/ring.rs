//! The hypervisor's consumer of a domU's console ring (`io/console.h`: `in[1024]`, `out[2048]`,
//! then `in_cons, in_prod, out_cons, out_prod`), printing its output as `(dN) …` until a dom0
//! console daemon exists. Indices are read once, checked, and never trusted for addressing.

use crate::domain::Domain;
use crate::mm::guest::{frame_read, frame_write};

const OUT: usize = 1024;
const OUT_SIZE: u32 = 2048;
const OUT_CONS: usize = 3080;

/// Moves everything the guest produced in `out` to the log and frees the space.
pub fn drain(d: &Domain) {
    let Some((ring, xen_port)) = d.console_ring else {
        return;
    };
    let mut idx = [0u8; 8];
    if frame_read(ring, OUT_CONS, &mut idx).is_err() {
        return;
    }
    let cons = u32::from_le_bytes([idx[0], idx[1], idx[2], idx[3]]);
    let prod = u32::from_le_bytes([idx[4], idx[5], idx[6], idx[7]]);
    let avail = prod.wrapping_sub(cons);
    if avail == 0 {
        return;
    }
    if avail > OUT_SIZE {
        // A producer index more than the ring ahead (or behind): drop it all, as a well-formed
        // ring can never hold that much.
        log::debug!(
            "d{}: console ring indices out of range (cons {cons}, prod {prod}): resynchronised",
            d.id.0
        );
    } else {
        let mut buf = [0u8; OUT_SIZE as usize];
        let mut n = 0usize;
        let mut c = cons;
        while c != prod {
            let off = (c % OUT_SIZE) as usize;
            let run =
                ((OUT_SIZE as usize - off).min(prod.wrapping_sub(c) as usize)).min(buf.len() - n);
            if run == 0 || frame_read(ring, OUT + off, &mut buf[n..n + run]).is_err() {
                break;
            }
            n += run;
            c = c.wrapping_add(run as u32);
        }
        d.console_write(&buf[..n]);
    }
    let _ = frame_write(ring, OUT_CONS, &prod.to_le_bytes());
    crate::event::notify_guest(d.id, xen_port);
}
