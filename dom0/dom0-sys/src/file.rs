//! What a block backend needs from its backing file or device beyond `std`: hole punching,
//! block-device discard and size, and direct I/O.

use crate::ioctl;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

/// `BLKGETSIZE64` = `_IOR(0x12, 114, size_t)`.
const BLKGETSIZE64: libc::c_ulong =
    (2 << 30) | ((size_of::<u64>() as libc::c_ulong) << 16) | (0x12 << 8) | 114;
/// `BLKDISCARD` = `_IO(0x12, 119)`.
const BLKDISCARD: libc::c_ulong = (0x12 << 8) | 119;
/// `BLKSSZGET` = `_IO(0x12, 104)`.
const BLKSSZGET: libc::c_ulong = (0x12 << 8) | 104;

/// Opens `path` for a backend: read-only or read-write, with `O_DIRECT` when asked.
pub fn open_backing(path: &str, writable: bool, direct: bool) -> io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(writable);
    if direct {
        o.custom_flags(libc::O_DIRECT);
    }
    o.open(path)
}

/// True if `f` is a block device.
pub fn is_block_device(f: &File) -> io::Result<bool> {
    Ok(f.metadata()?.file_type().is_block_device())
}

/// Size in bytes of a regular file or a block device.
pub fn size_bytes(f: &File) -> io::Result<u64> {
    if is_block_device(f)? {
        let mut size = 0u64;
        // SAFETY: BLKGETSIZE64 writes one u64 to the pointer, which is live for the call.
        unsafe { ioctl(f, BLKGETSIZE64, &mut size)? };
        Ok(size)
    } else {
        Ok(f.metadata()?.len())
    }
}

/// Logical sector size of a block device (512 for a regular file).
pub fn logical_sector_size(f: &File) -> io::Result<u32> {
    if is_block_device(f)? {
        let mut ssz: libc::c_int = 0;
        // SAFETY: BLKSSZGET writes one int to the pointer, which is live for the call.
        unsafe { ioctl(f, BLKSSZGET, &mut ssz)? };
        u32::try_from(ssz).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
    } else {
        Ok(512)
    }
}

/// Discards `len` bytes at `offset`: punches a hole in a file (its size unchanged), or issues
/// `BLKDISCARD` on a block device.
pub fn discard(f: &File, offset: u64, len: u64) -> io::Result<()> {
    if is_block_device(f)? {
        let mut range = [offset, len];
        // SAFETY: BLKDISCARD reads a u64[2] {start, len} from the pointer, live for the call.
        unsafe { ioctl(f, BLKDISCARD, range.as_mut_ptr())? };
        return Ok(());
    }
    let (Ok(off), Ok(l)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // SAFETY: fallocate on an open fd with integer arguments; no memory is passed.
    let rc = unsafe {
        libc::fallocate(
            f.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            off,
            l,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
