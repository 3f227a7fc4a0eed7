//! The hypervisor's consumer of a domU's console ring (`io/console.h`, `struct
//! xencons_interface`), printing its `out` as `(dN) …` until a dom0 console daemon exists. The
//! layout and index checks are `xen_abi::io::console::XENCONS_OUT`'s; this file only supplies the
//! guest frame as its memory.

use core::sync::atomic::{fence, Ordering};

use crate::domain::Domain;
use crate::mm::guest::{frame_read, frame_read_u64, frame_write};
use xen_abi::io::console::{XENCONS_OUT, XENCONS_OUT_SIZE};
use xen_abi::io::ring::{RingError, RingIdx, RingMemory};
use xen_abi::{Mfn, PAGE_SIZE};

/// One guest frame as ring memory: every access is a copy through the direct map (`mm::guest`),
/// never a reference. A frame outside RAM has size 0, which the ring refuses before any access.
struct GuestFrame {
    mfn: Mfn,
    size: usize,
}

impl GuestFrame {
    fn new(mfn: Mfn) -> GuestFrame {
        let size = if frame_read(mfn, 0, &mut []).is_ok() {
            PAGE_SIZE
        } else {
            0
        };
        GuestFrame { mfn, size }
    }
}

impl RingMemory for GuestFrame {
    fn size(&self) -> usize {
        self.size
    }

    fn read_index(&self, offset: usize) -> RingIdx {
        // One volatile load of the aligned u64 holding the 4-aligned index, so the guest cannot
        // make it torn; `mm::guest` has no u32 accessor.
        let word = frame_read_u64(self.mfn, offset & !7).unwrap_or(0);
        let idx = (word >> ((offset & 4) * 8)) as u32;
        fence(Ordering::Acquire);
        idx
    }

    fn write_index(&mut self, offset: usize, value: RingIdx) {
        fence(Ordering::Release);
        let _ = frame_write(self.mfn, offset, &value.to_le_bytes());
    }

    fn full_fence(&self) {
        fence(Ordering::SeqCst);
    }

    fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        let _ = frame_read(self.mfn, offset, dst);
    }

    fn write_bytes(&mut self, offset: usize, src: &[u8]) {
        let _ = frame_write(self.mfn, offset, src);
    }
}

/// Moves everything the guest produced in `out` to the log, frees the space and tells the guest.
/// Indices a well-formed ring cannot hold (more than the ring ahead, or behind) are dropped:
/// `out_cons` is set to `out_prod` and nothing is printed.
pub fn drain(d: &Domain) {
    let Some((ring, xen_port)) = d.console_ring else {
        return;
    };
    let mut page = GuestFrame::new(ring);
    let mut buf = [0u8; XENCONS_OUT_SIZE as usize];
    match XENCONS_OUT.read(&mut page, &mut buf) {
        Ok(0) => return,
        Ok(n) => d.console_write(buf.get(..n).unwrap_or_default()),
        Err(RingError::Overflow { prod, cons, .. }) => {
            log::debug!(
                "d{}: console ring indices out of range (cons {cons}, prod {prod}): resynchronised",
                d.id.0
            );
            if XENCONS_OUT.resync(&mut page).is_err() {
                return;
            }
        }
        Err(_) => return,
    }
    crate::event::notify_guest(d.id, xen_port);
}
