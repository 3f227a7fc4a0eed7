//! `struct xenctl_bitmap` (a guest buffer of `nr_bits` bits, byte by byte, least significant
//! bit first) to and from Ferrite's masks of up to 64 CPUs or NUMA nodes, as Xen's
//! `xenctl_bitmap_to_bitmap` and `bitmap_to_xenctl_bitmap` do: at most `(nbits + 7) / 8` bytes
//! are read (the last masked to `nr_bits` when the guest's buffer is the shorter), and on the
//! way out the host's bytes are written and the rest of the guest's buffer zero-filled. The
//! guest memory is reached through the callbacks, so this is pure and host-tested.

use crate::XenResult;

/// Bytes of a guest bitmap of `nr_bits`, computed as Xen does in `unsigned int`:
/// `(nr_bits + 7) / 8` wraps, so a map of more than `2^32 - 8` bits is empty.
fn guest_bytes(nr_bits: u32) -> u32 {
    nr_bits.wrapping_add(7) / 8
}

/// Reads a guest bitmap of `nr_bits` into a mask of the host's `nbits` (≤ 64): `read(i)` gives
/// the guest's byte `i`.
pub fn from_guest(
    nr_bits: u32,
    nbits: u32,
    mut read: impl FnMut(u32) -> XenResult<u8>,
) -> XenResult<u64> {
    let guest = guest_bytes(nr_bits);
    let copy = guest.min(nbits.min(64).div_ceil(8));
    let mut mask = 0u64;
    for i in 0..copy {
        let mut b = read(i)?;
        if i + 1 == guest && !nr_bits.is_multiple_of(8) {
            b &= !(0xffu8 << (nr_bits % 8));
        }
        mask |= u64::from(b) << (8 * i);
    }
    if nbits < 64 {
        mask &= (1u64 << nbits) - 1;
    }
    Ok(mask)
}

/// Writes `mask` (the host's `nbits`, ≤ 64) into a guest bitmap of `nr_bits`: `write(i, bytes)`
/// stores bytes from the guest's byte `i`. The map's bytes go in one call and the zero fill in
/// 256-byte pieces (a buffer of up to 512 MiB, as the guest may name, is not filled byte by
/// byte); the first fault ends it.
pub fn to_guest(
    mask: u64,
    nr_bits: u32,
    nbits: u32,
    mut write: impl FnMut(u32, &[u8]) -> XenResult<()>,
) -> XenResult<()> {
    let guest = guest_bytes(nr_bits);
    let copy = guest.min(nbits.min(64).div_ceil(8));
    let bits = if nbits < 64 {
        mask & ((1u64 << nbits) - 1)
    } else {
        mask
    };
    if copy > 0 {
        write(0, &bits.to_le_bytes()[..copy as usize])?;
    }
    let zeros = [0u8; 256];
    let mut at = copy;
    while at < guest {
        let n = (guest - at).min(zeros.len() as u32);
        write(at, &zeros[..n as usize])?;
        at += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_from(buf: &[u8]) -> impl FnMut(u32) -> XenResult<u8> + '_ {
        |i| Ok(buf[i as usize])
    }

    #[test]
    fn reads_only_the_hosts_bytes_and_masks_the_guests_last_partial_byte() {
        // 2 host CPUs: one byte read, bits above 1 dropped.
        assert_eq!(from_guest(128, 2, read_from(&[0xff; 16])), Ok(0b11));
        // A 3-bit guest map on a 64-CPU host: bits 3..8 of its one byte are not its.
        assert_eq!(from_guest(3, 64, read_from(&[0xff])), Ok(0b111));
        // An empty guest map reads nothing.
        assert_eq!(
            from_guest(0, 64, |_| panic!("read past a 0-bit map")),
            Ok(0)
        );
        // Byte order: byte 1 holds CPUs 8..16.
        assert_eq!(from_guest(16, 16, read_from(&[0x01, 0x80])), Ok(0x8001));
    }

    #[test]
    fn writes_the_hosts_bytes_then_zeroes_the_rest_of_the_guests_buffer() {
        let put = |out: &mut [u8], i: u32, b: &[u8]| {
            out[i as usize..i as usize + b.len()].copy_from_slice(b);
            Ok(())
        };
        let mut out = [0xaau8; 4];
        to_guest(0b10, 32, 2, |i, b| put(&mut out, i, b)).unwrap();
        assert_eq!(out, [0b10, 0, 0, 0]);
        // A guest buffer shorter than the host's map gets what fits.
        let mut out = [0u8; 1];
        to_guest(0x1ff, 8, 16, |i, b| put(&mut out, i, b)).unwrap();
        assert_eq!(out, [0xff]);
        // A long buffer is zero-filled in pieces, every byte once.
        let mut out = [0xaau8; 1000];
        let mut calls = 0;
        to_guest(0b11, 8000, 2, |i, b| {
            calls += 1;
            put(&mut out, i, b)
        })
        .unwrap();
        assert_eq!(out[0], 0b11);
        assert!(out[1..].iter().all(|b| *b == 0));
        assert_eq!(
            calls,
            1 + 4,
            "the map's byte, then 999 zeros in 256-byte pieces"
        );
    }

    #[test]
    fn a_fault_is_passed_on() {
        use crate::Errno;
        assert_eq!(from_guest(8, 8, |_| Err(Errno::EFAULT)), Err(Errno::EFAULT));
        assert_eq!(
            to_guest(1, 8, 8, |_, _| Err(Errno::EFAULT)),
            Err(Errno::EFAULT)
        );
    }
}
