//! The console ring (Xen's `conring`): the last [`CONRING_SIZE`] bytes the hypervisor printed,
//! for `XEN_SYSCTL_readconsole` (`xl dmesg`). Indices are free-running 32-bit counters, the
//! producer's and the oldest byte kept (`conringp`, `conringc`); a read names its start with
//! an index so that `xl dmesg` can go on from where its last read ended.

/// Bytes kept (Xen's default `conring_size`, 16 KiB). A power of two, so free-running 32-bit
/// indices wrap in step with the buffer.
pub const CONRING_SIZE: usize = 16384;
const _: () = assert!(CONRING_SIZE.is_power_of_two());

/// The ring.
pub struct ConRing {
    buf: [u8; CONRING_SIZE],
    /// One past the newest byte.
    prod: u32,
    /// The oldest byte still kept.
    cons: u32,
}

impl Default for ConRing {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a read starts and ends (`read_console_ring`'s `c` and `p`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// The first byte to copy.
    pub start: u32,
    /// One past the last byte there is.
    pub end: u32,
}

impl ConRing {
    /// An empty ring.
    pub const fn new() -> Self {
        ConRing {
            buf: [0; CONRING_SIZE],
            prod: 0,
            cons: 0,
        }
    }

    /// Appends `s` (`conring_puts`), dropping the oldest bytes beyond the size.
    pub fn puts(&mut self, s: &[u8]) {
        for &b in s {
            self.buf[self.prod as usize % CONRING_SIZE] = b;
            self.prod = self.prod.wrapping_add(1);
        }
        if self.prod.wrapping_sub(self.cons) > CONRING_SIZE as u32 {
            self.cons = self.prod.wrapping_sub(CONRING_SIZE as u32);
        }
    }

    /// What a read covers (`read_console_ring`): from the oldest byte kept, or — for an
    /// `incremental` read whose `index` lies in the kept span (after the oldest, at most the
    /// newest end) — from `index`; to the newest byte.
    pub fn span(&self, incremental: bool, index: u32) -> Span {
        let (c, p) = (self.cons, self.prod);
        let inside = if c <= p {
            c < index && index <= p
        } else {
            c < index || index <= p
        };
        Span {
            start: if incremental && inside { index } else { c },
            end: p,
        }
    }

    /// Copies up to `out.len()` bytes from `at` onwards (not past `end`, nor past the ring's
    /// wrap): returns how many.
    pub fn copy_from(&self, at: u32, end: u32, out: &mut [u8]) -> usize {
        let idx = at as usize % CONRING_SIZE;
        let len = (end.wrapping_sub(at) as usize)
            .min(CONRING_SIZE - idx)
            .min(out.len());
        out[..len].copy_from_slice(&self.buf[idx..idx + len]);
        len
    }

    /// `clear` after a read that stopped at `c` (Xen: everything read is dropped, and at most
    /// the ring's size is kept).
    pub fn clear_to(&mut self, c: u32) {
        let p = self.prod;
        self.cons = if p.wrapping_sub(c) > CONRING_SIZE as u32 {
            p.wrapping_sub(CONRING_SIZE as u32)
        } else {
            c
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(r: &ConRing, s: Span) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = s.start;
        while at != s.end {
            let mut chunk = [0u8; 100];
            let n = r.copy_from(at, s.end, &mut chunk);
            out.extend_from_slice(&chunk[..n]);
            at = at.wrapping_add(n as u32);
        }
        out
    }

    #[test]
    fn keeps_the_last_bytes_and_reads_them_in_order() {
        let mut r = Box::new(ConRing::new());
        r.puts(b"hello ");
        r.puts(b"world");
        assert_eq!(read_all(&r, r.span(false, 0)), b"hello world");
        let big: Vec<u8> = (0..CONRING_SIZE + 300).map(|i| (i % 251) as u8).collect();
        r.puts(&big);
        let got = read_all(&r, r.span(false, 0));
        assert_eq!(got.len(), CONRING_SIZE);
        assert_eq!(got, big[big.len() - CONRING_SIZE..]);
    }

    #[test]
    fn incremental_reads_go_on_from_the_index_inside_the_span_only() {
        let mut r = Box::new(ConRing::new());
        r.puts(b"0123456789");
        assert_eq!(r.span(true, 4), Span { start: 4, end: 10 });
        // At the end: nothing new.
        assert_eq!(r.span(true, 10), Span { start: 10, end: 10 });
        // The oldest byte itself, or past the end: from the oldest.
        assert_eq!(r.span(true, 0), Span { start: 0, end: 10 });
        assert_eq!(r.span(true, 11), Span { start: 0, end: 10 });
        // Not incremental: from the oldest whatever the index.
        assert_eq!(r.span(false, 4), Span { start: 0, end: 10 });
    }

    #[test]
    fn indices_wrap_at_2_pow_32() {
        let mut r = Box::new(ConRing::new());
        r.prod = u32::MAX - 3;
        r.cons = u32::MAX - 3;
        r.puts(b"abcdefgh");
        assert_eq!(r.prod, 4);
        let s = r.span(false, 0);
        assert_eq!(read_all(&r, s), b"abcdefgh");
        assert_eq!(
            r.span(true, u32::MAX),
            Span {
                start: u32::MAX,
                end: 4
            }
        );
        assert_eq!(read_all(&r, r.span(true, 1)), b"fgh");
    }

    #[test]
    fn clear_drops_what_was_read() {
        let mut r = Box::new(ConRing::new());
        r.puts(b"abcdef");
        r.clear_to(4);
        assert_eq!(read_all(&r, r.span(false, 0)), b"ef");
        r.clear_to(6);
        assert_eq!(r.span(false, 0), Span { start: 6, end: 6 });
    }
}
