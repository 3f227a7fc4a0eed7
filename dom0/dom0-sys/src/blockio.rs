//! A block backend's data buffers and the two ways it moves them to and from its backing.
//!
//! A request's bytes live either in granted pages kept mapped (persistent grants: the I/O reads
//! and writes the guest's pages in place) or in a local page-aligned [`Bounce`] buffer (filled
//! and drained with grant copy). An [`IoBuf`] holds either, owns what it points into, and moves
//! to or from a file with one vectored call: synchronously ([`IoBuf::read_at`],
//! [`IoBuf::write_at`], for a thread pool) or through an io_uring ([`Uring`]) that keeps the
//! buffer until the kernel is done with it.

use crate::gntdev::GrantMapping;
use std::alloc::Layout;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::Arc;
use xen_abi::types::PAGE_SIZE;

/// A zeroed, page-aligned local buffer of whole pages (suits `O_DIRECT`).
#[derive(Debug)]
pub struct Bounce {
    ptr: NonNull<u8>,
    pages: usize,
}

// SAFETY: `Bounce` owns its allocation exclusively, like a `Box<[u8]>`.
unsafe impl Send for Bounce {}
// SAFETY: shared access only reads through `&self`.
unsafe impl Sync for Bounce {}

impl Bounce {
    fn layout(pages: usize) -> Layout {
        Layout::from_size_align(pages.max(1) * PAGE_SIZE, PAGE_SIZE).expect("bounce layout")
    }

    /// A buffer of `pages` zeroed pages (at least one).
    pub fn new(pages: usize) -> Bounce {
        let layout = Self::layout(pages);
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        Bounce {
            ptr,
            pages: pages.max(1),
        }
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.pages * PAGE_SIZE
    }

    /// Never true: a buffer has at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` owns `len()` initialised (zeroed at allocation) bytes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len()) }
    }

    /// The bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len()) }
    }
}

impl Drop for Bounce {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this very layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.pages)) }
    }
}

/// Where the bytes of one I/O are.
#[derive(Debug)]
enum Place {
    /// `len` bytes at the start of a bounce buffer.
    Bounce(Bounce, usize),
    /// Ranges `(mapping, offset, len)` of granted pages, in order.
    Mapped(Vec<(Arc<GrantMapping>, usize, usize)>),
}

/// The buffer of one read or write: a bounce buffer or a list of ranges of mapped grants.
#[derive(Debug)]
pub struct IoBuf {
    place: Place,
}

/// Why a range could not join an [`IoBuf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufError {
    /// The range is not inside the mapping or the buffer.
    OutOfRange,
}

impl std::fmt::Display for BufError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("I/O range outside its buffer")
    }
}

impl std::error::Error for BufError {}

impl IoBuf {
    /// The first `len` bytes of `bounce`.
    pub fn bounce(bounce: Bounce, len: usize) -> Result<IoBuf, BufError> {
        if len == 0 || len > bounce.len() {
            return Err(BufError::OutOfRange);
        }
        Ok(IoBuf {
            place: Place::Bounce(bounce, len),
        })
    }

    /// An empty list of mapped ranges, to [`IoBuf::push_mapped`] into.
    pub fn mapped() -> IoBuf {
        IoBuf {
            place: Place::Mapped(Vec::new()),
        }
    }

    /// Appends `len` bytes at `offset` of a granted mapping. Panics on a bounce buffer.
    pub fn push_mapped(
        &mut self,
        m: Arc<GrantMapping>,
        offset: usize,
        len: usize,
    ) -> Result<(), BufError> {
        let Place::Mapped(v) = &mut self.place else {
            panic!("push_mapped on a bounce IoBuf");
        };
        if len == 0 || offset.checked_add(len).is_none_or(|e| e > m.len()) {
            return Err(BufError::OutOfRange);
        }
        v.push((m, offset, len));
        Ok(())
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        match &self.place {
            Place::Bounce(_, l) => *l,
            Place::Mapped(v) => v.iter().map(|r| r.2).sum(),
        }
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bounce buffer's bytes, if this is one (to grant-copy out after a read).
    pub fn bounce_bytes(&self) -> Option<&[u8]> {
        match &self.place {
            Place::Bounce(b, l) => Some(&b.as_slice()[..*l]),
            Place::Mapped(_) => None,
        }
    }

    /// Gives the bounce buffer back for reuse.
    pub fn into_bounce(self) -> Option<Bounce> {
        match self.place {
            Place::Bounce(b, _) => Some(b),
            Place::Mapped(_) => None,
        }
    }

    /// True if the kernel may write into every range (a read needs writable mappings).
    fn writable(&self) -> bool {
        match &self.place {
            Place::Bounce(..) => true,
            Place::Mapped(v) => v.iter().all(|(m, _, _)| m.writable()),
        }
    }

    /// The iovecs of the ranges. Each points into memory `self` owns (the bounce buffer, or a
    /// mapping an `Arc` keeps alive), so they stay valid while `self` lives.
    fn iovecs(&self) -> Vec<libc::iovec> {
        match &self.place {
            Place::Bounce(b, l) => vec![libc::iovec {
                iov_base: b.ptr.as_ptr().cast(),
                iov_len: *l,
            }],
            Place::Mapped(v) => v
                .iter()
                .map(|(m, off, len)| libc::iovec {
                    iov_base: m.base_ptr().wrapping_add(*off).cast(),
                    iov_len: *len,
                })
                .collect(),
        }
    }

    /// Reads `len()` bytes of `file` at `at` into the buffer.
    pub fn read_at(&mut self, file: &File, at: u64) -> io::Result<()> {
        if !self.writable() {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        let mut iov = self.iovecs();
        transfer(file, at, &mut iov, true)
    }

    /// Writes the buffer's `len()` bytes to `file` at `at`.
    pub fn write_at(&self, file: &File, at: u64) -> io::Result<()> {
        let mut iov = self.iovecs();
        transfer(file, at, &mut iov, false)
    }
}

/// Drops the first `n` bytes from `iov` (after a short transfer); returns how many iovecs are
/// left at the front to skip.
fn advance(iov: &mut [libc::iovec], mut n: usize) -> usize {
    let mut skip = 0;
    for v in iov.iter_mut() {
        if n == 0 {
            break;
        }
        let k = n.min(v.iov_len);
        v.iov_base = v.iov_base.cast::<u8>().wrapping_add(k).cast();
        v.iov_len -= k;
        n -= k;
        if v.iov_len == 0 {
            skip += 1;
        }
    }
    skip
}

/// `preadv`/`pwritev` of all of `iov` at `at`, resumed after short transfers.
fn transfer(file: &File, mut at: u64, iov: &mut [libc::iovec], read: bool) -> io::Result<()> {
    let mut start = 0;
    while start < iov.len() {
        let rest = &mut iov[start..];
        let cnt = libc::c_int::try_from(rest.len().min(1024)).unwrap_or(1024);
        let off = libc::off_t::try_from(at).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: every iovec points into memory the caller's IoBuf owns and keeps alive for the
        // call (a bounce buffer, or granted pages mapped writable when reading — checked by the
        // caller); the kernel bounds each access by iov_len.
        let n = unsafe {
            if read {
                libc::preadv(file.as_raw_fd(), rest.as_ptr(), cnt, off)
            } else {
                libc::pwritev(file.as_raw_fd(), rest.as_ptr(), cnt, off)
            }
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        at += n as u64;
        start += advance(rest, n as usize);
    }
    Ok(())
}

/// What finished in a [`Uring`].
#[derive(Debug)]
pub enum Completion {
    /// A read or write: `Ok` when every byte moved; the buffer comes back.
    Data {
        /// The caller's tag.
        tag: u64,
        /// The outcome.
        result: io::Result<()>,
        /// The buffer.
        buf: IoBuf,
    },
    /// An fsync (datasync).
    Sync {
        /// The caller's tag.
        tag: u64,
        /// The outcome.
        result: io::Result<()>,
    },
    /// A file descriptor polled with [`Uring::poll_readable`] became readable.
    Readable {
        /// The caller's tag.
        tag: u64,
    },
}

enum OpKind {
    Data {
        buf: IoBuf,
        iov: Vec<libc::iovec>,
        start: usize,
        at: u64,
        read: bool,
        file: Arc<File>,
    },
    Sync {
        _file: Arc<File>,
    },
    Poll {
        _fd: Arc<dyn AsRawFd + Send + Sync>,
    },
}

struct Op {
    tag: u64,
    kind: OpKind,
}

/// An io_uring that owns every buffer (and file) it has in flight until the kernel completes
/// the operation: callers hand buffers in and get them back in [`Completion`]s, so no memory the
/// kernel may still touch is freed or reused. Dropping it waits for outstanding reads and writes.
pub struct Uring {
    ring: io_uring::IoUring,
    ops: Vec<Option<Op>>,
    free: Vec<usize>,
    data_in_flight: usize,
}

// SAFETY: the only non-`Send` parts are the iovecs' raw pointers, which point into buffers the
// same `Uring` owns (bounce buffers, or mappings kept by `Arc`s) and move with it; the kernel
// side of an io_uring is not tied to the thread that made it.
unsafe impl Send for Uring {}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uring")
            .field("in_flight", &(self.ops.len() - self.free.len()))
            .finish()
    }
}

impl Uring {
    /// A ring with room for `entries` submissions at once.
    pub fn new(entries: u32) -> io::Result<Uring> {
        Ok(Uring {
            ring: io_uring::IoUring::new(entries)?,
            ops: Vec::new(),
            free: Vec::new(),
            data_in_flight: 0,
        })
    }

    /// Operations submitted and not completed.
    pub fn in_flight(&self) -> usize {
        self.ops.len() - self.free.len()
    }

    fn slot(&mut self, op: Op) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.ops[i] = Some(op);
                i
            }
            None => {
                self.ops.push(Some(op));
                self.ops.len() - 1
            }
        }
    }

    fn release(&mut self, i: usize) -> Option<Op> {
        let op = self.ops.get_mut(i)?.take()?;
        self.free.push(i);
        Some(op)
    }

    /// Queues the SQE for slot `i` (built from what the slot owns), submitting first if the
    /// submission queue is full.
    fn push(&mut self, i: usize) -> io::Result<()> {
        let Some(op) = self.ops[i].as_ref() else {
            return Err(io::ErrorKind::NotFound.into());
        };
        use io_uring::{opcode, types::Fd};
        let entry = match &op.kind {
            OpKind::Data {
                iov,
                start,
                at,
                read,
                file,
                ..
            } => {
                let rest = &iov[*start..];
                let fd = Fd(file.as_raw_fd());
                let n = u32::try_from(rest.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
                if *read {
                    opcode::Readv::new(fd, rest.as_ptr(), n).offset(*at).build()
                } else {
                    opcode::Writev::new(fd, rest.as_ptr(), n)
                        .offset(*at)
                        .build()
                }
            }
            OpKind::Sync { _file } => opcode::Fsync::new(Fd(_file.as_raw_fd()))
                .flags(io_uring::types::FsyncFlags::DATASYNC)
                .build(),
            OpKind::Poll { _fd } => {
                opcode::PollAdd::new(Fd(_fd.as_raw_fd()), libc::POLLIN as u32).build()
            }
        }
        .user_data(i as u64);
        loop {
            // SAFETY: the entry points only into memory slot `i` owns (iovecs and the buffer
            // they describe, kept by `self.ops[i]` until its completion is reaped, and the
            // owning `Arc` of the file or fd); a slot is released only in `reap`, after the
            // kernel's completion for it.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    fn start(&mut self, op: Op) -> io::Result<()> {
        let data = matches!(op.kind, OpKind::Data { .. });
        let i = self.slot(op);
        if let Err(e) = self.push(i) {
            self.release(i);
            return Err(e);
        }
        if data {
            self.data_in_flight += 1;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes of `file` at `at` into `buf`. On an error the buffer comes back.
    pub fn read(
        &mut self,
        file: &Arc<File>,
        at: u64,
        buf: IoBuf,
        tag: u64,
    ) -> Result<(), (io::Error, IoBuf)> {
        if !buf.writable() {
            return Err((io::ErrorKind::PermissionDenied.into(), buf));
        }
        self.data(file, at, buf, tag, true)
    }

    /// Writes `buf` to `file` at `at`. On an error the buffer comes back.
    pub fn write(
        &mut self,
        file: &Arc<File>,
        at: u64,
        buf: IoBuf,
        tag: u64,
    ) -> Result<(), (io::Error, IoBuf)> {
        self.data(file, at, buf, tag, false)
    }

    fn data(
        &mut self,
        file: &Arc<File>,
        at: u64,
        buf: IoBuf,
        tag: u64,
        read: bool,
    ) -> Result<(), (io::Error, IoBuf)> {
        let iov = buf.iovecs();
        let i = self.slot(Op {
            tag,
            kind: OpKind::Data {
                buf,
                iov,
                start: 0,
                at,
                read,
                file: Arc::clone(file),
            },
        });
        match self.push(i) {
            Ok(()) => {
                self.data_in_flight += 1;
                Ok(())
            }
            Err(e) => match self.release(i).map(|o| o.kind) {
                Some(OpKind::Data { buf, .. }) => Err((e, buf)),
                _ => unreachable!("slot {i} holds the data op just made"),
            },
        }
    }

    /// `fdatasync(file)`.
    pub fn sync(&mut self, file: &Arc<File>, tag: u64) -> io::Result<()> {
        self.start(Op {
            tag,
            kind: OpKind::Sync {
                _file: Arc::clone(file),
            },
        })
    }

    /// Completes once with [`Completion::Readable`] when `fd` is readable.
    pub fn poll_readable(
        &mut self,
        fd: Arc<dyn AsRawFd + Send + Sync>,
        tag: u64,
    ) -> io::Result<()> {
        self.start(Op {
            tag,
            kind: OpKind::Poll { _fd: fd },
        })
    }

    /// Submits what is queued, waits until at least one completion is there or `timeout`
    /// passes, and returns every completion available (possibly none: a short transfer is
    /// resubmitted rather than reported).
    pub fn wait(&mut self, timeout: std::time::Duration) -> io::Result<Vec<Completion>> {
        let ts = io_uring::types::Timespec::from(timeout);
        let args = io_uring::types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.reap()
    }

    fn reap(&mut self) -> io::Result<Vec<Completion>> {
        let cqes: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        let mut out = Vec::new();
        for (ud, res) in cqes {
            let i = usize::try_from(ud).unwrap_or(usize::MAX);
            let Some(mut op) = self.release(i) else {
                continue;
            };
            if let OpKind::Data { iov, start, at, .. } = &mut op.kind {
                if res > 0 {
                    // Move past what was done; a short transfer goes on from there.
                    *at += res as u64;
                    *start += advance(&mut iov[*start..], res as usize);
                    if *start < iov.len() {
                        let j = self.slot(op);
                        if let Err(e) = self.push(j) {
                            self.data_in_flight -= 1;
                            if let Some(Op {
                                tag,
                                kind: OpKind::Data { buf, .. },
                            }) = self.release(j)
                            {
                                out.push(Completion::Data {
                                    tag,
                                    result: Err(e),
                                    buf,
                                });
                            }
                        }
                        continue;
                    }
                }
            }
            let result = match res {
                r if r < 0 => Err(io::Error::from_raw_os_error(-r)),
                _ => Ok(()),
            };
            out.push(match op.kind {
                OpKind::Data {
                    buf, start, iov, ..
                } => {
                    self.data_in_flight -= 1;
                    let result = match result {
                        // Zero bytes with some left: the file ended.
                        Ok(()) if start < iov.len() => Err(io::ErrorKind::UnexpectedEof.into()),
                        r => r,
                    };
                    Completion::Data {
                        tag: op.tag,
                        result,
                        buf,
                    }
                }
                OpKind::Sync { .. } => Completion::Sync {
                    tag: op.tag,
                    result,
                },
                OpKind::Poll { .. } => Completion::Readable { tag: op.tag },
            });
        }
        Ok(out)
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        // The kernel may still write into buffers of reads and writes: wait for them (polls
        // hold no memory and end with the ring).
        while self.data_in_flight > 0 {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // Cannot wait: leak the buffers rather than free memory in use.
                    for op in self.ops.drain(..).flatten() {
                        std::mem::forget(op);
                    }
                    return;
                }
            }
            if self.reap().is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    fn temp(bytes: &[u8]) -> (Arc<File>, std::path::PathBuf) {
        let p = std::env::temp_dir().join(format!(
            "dom0-sys-io-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        f.write_all(bytes).unwrap();
        (Arc::new(f), p)
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    #[test]
    fn advance_skips_whole_and_partial_iovecs() {
        let mut a = [0u8; 10];
        let mut iov = [
            libc::iovec {
                iov_base: a.as_mut_ptr().cast(),
                iov_len: 4,
            },
            libc::iovec {
                iov_base: a.as_mut_ptr().wrapping_add(4).cast(),
                iov_len: 6,
            },
        ];
        assert_eq!(advance(&mut iov, 5), 1);
        assert_eq!(iov[1].iov_len, 5);
        assert_eq!(iov[1].iov_base, a.as_mut_ptr().wrapping_add(5).cast());
        assert_eq!(advance(&mut iov[1..], 5), 1);
    }

    #[test]
    fn sync_bounce_round_trip() {
        let data = pattern(3 * PAGE_SIZE);
        let (f, p) = temp(&data);
        let mut b = IoBuf::bounce(Bounce::new(2), 5000).unwrap();
        b.read_at(&f, 100).unwrap();
        assert_eq!(b.bounce_bytes().unwrap(), &data[100..5100]);
        b.write_at(&f, 2 * PAGE_SIZE as u64).unwrap();
        let back = std::fs::read(&p).unwrap();
        assert_eq!(&back[2 * PAGE_SIZE..2 * PAGE_SIZE + 5000], &data[100..5100]);
        // Reading past the end is an error, not a partly filled buffer taken as whole.
        let mut c = IoBuf::bounce(Bounce::new(1), 4096).unwrap();
        assert_eq!(
            c.read_at(&f, back.len() as u64 - 10).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn bounce_rejects_bad_lengths() {
        assert!(IoBuf::bounce(Bounce::new(1), 0).is_err());
        assert!(IoBuf::bounce(Bounce::new(1), PAGE_SIZE + 1).is_err());
    }

    #[test]
    fn uring_reads_writes_and_syncs() {
        let data = pattern(4 * PAGE_SIZE);
        let (f, p) = temp(&data);
        let mut u = match Uring::new(8) {
            Ok(u) => u,
            // A kernel without io_uring (or a sandbox that forbids it) cannot run this test.
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return,
            Err(e) => panic!("io_uring_setup: {e}"),
        };
        let r = IoBuf::bounce(Bounce::new(2), 2 * PAGE_SIZE).unwrap();
        u.read(&f, PAGE_SIZE as u64, r, 7).unwrap();
        let mut w = Bounce::new(1);
        w.as_mut_slice().fill(0xa5);
        u.write(&f, 0, IoBuf::bounce(w, 512).unwrap(), 8).unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            got.extend(u.wait(Duration::from_secs(5)).unwrap());
        }
        for c in got {
            match c {
                Completion::Data {
                    tag: 7,
                    result,
                    buf,
                } => {
                    result.unwrap();
                    assert_eq!(buf.bounce_bytes().unwrap(), &data[PAGE_SIZE..3 * PAGE_SIZE]);
                }
                Completion::Data { tag: 8, result, .. } => result.unwrap(),
                c => panic!("unexpected {c:?}"),
            }
        }
        u.sync(&f, 9).unwrap();
        let c = u.wait(Duration::from_secs(5)).unwrap();
        assert!(matches!(
            c[..],
            [Completion::Sync {
                tag: 9,
                result: Ok(())
            }]
        ));
        let back = std::fs::read(&p).unwrap();
        assert!(back[..512].iter().all(|&b| b == 0xa5));
        assert_eq!(&back[512..], &data[512..]);
        // A read past the end completes as an error with the buffer returned.
        let r = IoBuf::bounce(Bounce::new(1), PAGE_SIZE).unwrap();
        u.read(&f, back.len() as u64 - 100, r, 10).unwrap();
        // (The first completion is short and resubmitted: `wait` may come back empty.)
        let mut c = Vec::new();
        while c.is_empty() {
            c = u.wait(Duration::from_secs(5)).unwrap();
        }
        match &c[..] {
            [Completion::Data {
                tag: 10,
                result: Err(e),
                buf,
            }] => {
                assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
                assert_eq!(buf.len(), PAGE_SIZE);
            }
            c => panic!("unexpected {c:?}"),
        }
        assert_eq!(u.in_flight(), 0);
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn uring_poll_and_timeout() {
        let mut u = match Uring::new(4) {
            Ok(u) => u,
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return,
            Err(e) => panic!("io_uring_setup: {e}"),
        };
        let (rx, mut tx) = std::os::unix::net::UnixStream::pair().unwrap();
        u.poll_readable(Arc::new(rx), 3).unwrap();
        // Nothing readable: the wait times out empty.
        assert!(u.wait(Duration::from_millis(50)).unwrap().is_empty());
        tx.write_all(b"x").unwrap();
        let c = u.wait(Duration::from_secs(5)).unwrap();
        assert!(matches!(c[..], [Completion::Readable { tag: 3 }]));
    }
}
