//! Safe wrappers for Linux's Xen devices, the only `unsafe` code on Ferrite's dom0 side:
//! `/dev/xen/evtchn`, `/dev/xen/gntdev` (map, unmap, unmap-notify, grant copy),
//! `/dev/xen/gntalloc`, `/dev/xen/privcmd` (hypercalls, foreign mappings), TAP devices, raw terminals, and the file operations a block backend
//! needs beyond `std` (hole punching, block-device discard).
//!
//! Every ioctl number and argument struct below is the one in the Linux UAPI headers Xen ships
//! as `/usr/include/xen/sys/{evtchn,gntdev,gntalloc,privcmd}.h`.

pub mod blockio;
pub mod builder;
pub mod ctl;
pub mod evtchn;
pub mod file;
pub mod gntalloc;
pub mod gntdev;
pub mod privcmd;
pub mod tap;
pub mod tty;
pub mod xsd;

use std::io;
use std::os::fd::AsRawFd;

/// `_IOC(_IOC_NONE, ty, nr, size)`: the ioctl encoding the Xen device headers use.
const fn ioc_none(ty: u8, nr: u8, size: usize) -> libc::c_ulong {
    ((size as libc::c_ulong) << 16) | ((ty as libc::c_ulong) << 8) | nr as libc::c_ulong
}

/// Issues `ioctl(fd, request, arg)` and maps a negative return to the OS error.
///
/// # Safety
/// `arg` must point to a value of the type `request` expects, valid for reads and writes of
/// that type's size, for the duration of the call.
unsafe fn ioctl<F: AsRawFd, T>(f: &F, request: libc::c_ulong, arg: *mut T) -> io::Result<i32> {
    // SAFETY: the fd is open (borrowed from a live owner); the caller guarantees `arg` matches
    // `request`.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), request as libc::Ioctl, arg) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Waits until any of `fds` is readable or `timeout_ms` passes; which of them are (none after
/// a timeout or an interrupted wait).
pub fn poll_readable_any(fds: &[std::os::fd::RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let n = poll(&mut p, timeout_ms)?;
    Ok(p.iter()
        .map(|p| n > 0 && p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0)
        .collect())
}

/// Waits until `fd` is readable or `timeout_ms` passes; true if readable.
pub fn poll_readable<F: AsRawFd>(f: &F, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: f.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd and nfds is 1.
    let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    match rc {
        n if n < 0 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        _ => Ok(p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0),
    }
}

/// Waits until one of `fds` is ready or `timeout_ms` passes (`poll(2)`; -1 waits forever) and
/// returns how many are; each entry's `revents` says what happened. An interrupted wait is 0.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a live, exclusively borrowed slice of `fds.len()` initialised pollfds,
    // which poll(2) reads and whose `revents` it writes, within the slice only.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(rc as usize)
}

/// Pages shared with another domain and mapped into this process (by gntdev or gntalloc). All
/// access copies bytes or uses whole-word atomics: the peer may write at any time, so nothing
/// hands out a reference into them.
#[derive(Debug)]
pub struct SharedPages {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: the pages are plain memory owned by the mapping that holds this value; every access
// copies or is atomic, so moving or sharing it between threads is sound.
unsafe impl Send for SharedPages {}
// SAFETY: as above: `&self` methods only copy out or load atomically.
unsafe impl Sync for SharedPages {}

impl SharedPages {
    /// True if mapped writable; writes into a read-only mapping are refused with a panic that
    /// names the mistake instead of a SIGSEGV.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The first byte, for I/O that the kernel does into the pages (see [`blockio`]).
    pub(crate) fn base_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// True for an empty mapping (never made).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn atomic_at(&self, offset: usize) -> &std::sync::atomic::AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "shared index offset in bounds and aligned"
        );
        // SAFETY: in bounds and 4-aligned (asserted; mappings are page-aligned); the memory lives
        // as long as `self`; the peer accesses these words only as whole u32s.
        unsafe {
            &*self
                .ptr
                .as_ptr()
                .add(offset)
                .cast::<std::sync::atomic::AtomicU32>()
        }
    }
}

impl xen_abi::io::ring::RingMemory for SharedPages {
    fn size(&self) -> usize {
        self.len
    }

    fn read_index(&self, offset: usize) -> xen_abi::io::ring::RingIdx {
        self.atomic_at(offset)
            .load(std::sync::atomic::Ordering::Acquire)
    }

    fn write_index(&mut self, offset: usize, value: xen_abi::io::ring::RingIdx) {
        assert!(self.writable, "index store into a read-only shared mapping");
        self.atomic_at(offset)
            .store(value, std::sync::atomic::Ordering::Release)
    }

    fn full_fence(&self) {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst)
    }

    fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        assert!(
            offset.checked_add(dst.len()).is_some_and(|e| e <= self.len),
            "shared read in bounds"
        );
        // SAFETY: the source range is inside the mapping (asserted) and does not overlap `dst`, a
        // local buffer. The peer may write concurrently: the bytes are copied once and validated
        // by the caller, never trusted in place.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            )
        }
    }

    fn write_bytes(&mut self, offset: usize, src: &[u8]) {
        assert!(self.writable, "write into a read-only shared mapping");
        assert!(
            offset.checked_add(src.len()).is_some_and(|e| e <= self.len),
            "shared write in bounds"
        );
        // SAFETY: the destination range is inside the mapping and the mapping is writable (both
        // asserted) and does not overlap `src`.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(offset), src.len())
        }
    }
}

/// Makes a type that owns its mapping in a field `pages: SharedPages` read and write through it
/// (`Deref`/`DerefMut` to [`SharedPages`]).
macro_rules! shared_pages_owner {
    ($t:ty) => {
        impl std::ops::Deref for $t {
            type Target = $crate::SharedPages;
            fn deref(&self) -> &$crate::SharedPages {
                &self.pages
            }
        }

        impl std::ops::DerefMut for $t {
            fn deref_mut(&mut self) -> &mut $crate::SharedPages {
                &mut self.pages
            }
        }
    };
}
pub(crate) use shared_pages_owner;

/// `mmap(NULL, len, prot, MAP_SHARED, fd, offset)` of a device that hands out page ranges.
fn mmap_shared<F: AsRawFd>(
    f: &F,
    len: usize,
    writable: bool,
    offset: u64,
) -> io::Result<SharedPages> {
    let prot = if writable {
        libc::PROT_READ | libc::PROT_WRITE
    } else {
        libc::PROT_READ
    };
    let off =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a fresh shared mapping of the device at the offset it just returned for `len` bytes;
    // no existing memory is affected.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            off,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let ptr = std::ptr::NonNull::new(ptr.cast::<u8>())
        .ok_or_else(|| io::Error::other("mmap returned null"))?;
    Ok(SharedPages { ptr, len, writable })
}

impl SharedPages {
    /// Unmaps the pages; called once by the owner's `Drop`.
    fn munmap(&mut self) {
        if self.len != 0 {
            // SAFETY: `ptr`/`len` came from `mmap_shared` and are unmapped only here (len is
            // zeroed after); no reference into the pages outlives `self` (every accessor copies).
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
            self.len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xen_abi::io::ring::RingMemory;

    fn zero_page(writable: bool) -> SharedPages {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/zero")
            .expect("/dev/zero opens");
        mmap_shared(&f, 4096, writable, 0).expect("/dev/zero maps")
    }

    #[test]
    fn writable_mapping_takes_writes_and_indices() {
        let mut p = zero_page(true);
        assert!(p.writable());
        p.write_bytes(8, b"ferrite");
        p.write_index(0, 0x1234);
        let mut b = [0u8; 7];
        p.read_bytes(8, &mut b);
        assert_eq!(&b, b"ferrite");
        assert_eq!(p.read_index(0), 0x1234);
        p.munmap();
    }

    #[test]
    #[should_panic(expected = "write into a read-only shared mapping")]
    fn write_into_read_only_mapping_panics_with_a_message_not_a_fault() {
        let mut p = zero_page(false);
        assert!(!p.writable());
        p.write_bytes(0, b"x");
    }

    #[test]
    #[should_panic(expected = "index store into a read-only shared mapping")]
    fn index_store_into_read_only_mapping_panics_with_a_message_not_a_fault() {
        let mut p = zero_page(false);
        p.write_index(0, 1);
    }
}
