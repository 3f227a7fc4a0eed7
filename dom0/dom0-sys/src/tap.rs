//! TAP devices (`/dev/net/tun`) for network backends: a non-persistent `IFF_TAP | IFF_NO_PI |
//! IFF_VNET_HDR | IFF_MULTI_QUEUE` interface (gone when its last queue's descriptor closes),
//! more queues attached to it ([`Tap::attach_queue`]: the kernel spreads what it sends out by
//! flow), its `virtio_net_hdr` size and offloads, and frame-at-a-time reads and writes
//! (`linux/if_tun.h`, `drivers/net/tun.c`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// `_IOW('T', 208, unsigned int)`.
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
/// `_IOW('T', 216, int)`.
const TUNSETVNETHDRSZ: libc::c_ulong = 0x4004_54d8;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;
const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
/// The flags every queue of our TAPs is opened with.
const FLAGS: libc::c_short = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;

/// `TUN_F_CSUM`: the device may hand us packets with a partial checksum.
pub const TUN_F_CSUM: u32 = 0x01;
/// `TUN_F_TSO4`: TCPv4 segmentation offload.
pub const TUN_F_TSO4: u32 = 0x02;
/// `TUN_F_TSO6`: TCPv6 segmentation offload.
pub const TUN_F_TSO6: u32 = 0x04;

/// The longest interface name (`IFNAMSIZ` - 1).
pub const MAX_NAME: usize = 15;

/// `struct ifreq` as TUNSETIFF reads and writes it: the name, then the flags in the union.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    pad: [u8; 22],
}

/// One queue of a TAP interface (the first, from [`Tap::create`], or another from
/// [`Tap::attach_queue`]); the interface is removed when its last queue is dropped.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Creates the TAP interface `name` (at most [`MAX_NAME`] bytes, no NUL) with vnet headers,
    /// its descriptor non-blocking.
    pub fn create(name: &str) -> io::Result<Tap> {
        if name.is_empty() || name.len() > MAX_NAME || name.bytes().any(|b| b == 0 || b == b'/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{name}' is not a valid interface name"),
            ));
        }
        Tap::open(name)
    }

    /// Another queue of this interface: frames written to it go out of the same interface,
    /// and the kernel hands each frame for us to one queue, by flow.
    pub fn attach_queue(&self) -> io::Result<Tap> {
        Tap::open(&self.name)
    }

    /// Opens `/dev/net/tun` and attaches it to interface `name` (made if it does not exist).
    fn open(name: &str) -> io::Result<Tap> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        let mut req = IfReq {
            name: [0; 16],
            flags: FLAGS,
            pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: `req` is a `struct ifreq` (40 bytes, the name NUL-terminated since it is at
        // most 15 bytes) that TUNSETIFF reads and writes, live for the call.
        unsafe { crate::ioctl(&file, TUNSETIFF, &mut req)? };
        let len = req.name.iter().position(|&b| b == 0).unwrap_or(16);
        Ok(Tap {
            file,
            name: String::from_utf8_lossy(&req.name[..len]).into_owned(),
        })
    }

    /// The interface's name as the kernel gave it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the `virtio_net_hdr` size in front of every frame (10, or 12 with `num_buffers`).
    pub fn set_vnet_hdr_size(&self, size: i32) -> io::Result<()> {
        let mut arg: libc::c_int = size;
        // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer, live for the call.
        unsafe { crate::ioctl(&self.file, TUNSETVNETHDRSZ, &mut arg)? };
        Ok(())
    }

    /// Sets which offloads (`TUN_F_*`) packets read from the device may carry.
    pub fn set_offload(&self, flags: u32) -> io::Result<()> {
        // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned long), not through a
        // pointer; the fd is ours and open.
        let rc = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                TUNSETOFFLOAD as libc::Ioctl,
                libc::c_ulong::from(flags),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` for a frame to read.
    pub fn wait_readable(&self, timeout_ms: i32) -> io::Result<bool> {
        crate::poll_readable(&self.file, timeout_ms)
    }

    /// Reads one frame (vnet header first) into `buf`; `None` if none is waiting.
    pub fn read_frame(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match (&self.file).read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes one frame (vnet header first) in one `write`.
    pub fn write_frame(&self, frame: &[u8]) -> io::Result<()> {
        let n = (&self.file).write(frame)?;
        if n != frame.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("tap took {n} of {} bytes", frame.len()),
            ));
        }
        Ok(())
    }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_is_struct_ifreq_sized() {
        assert_eq!(size_of::<IfReq>(), 40);
    }

    #[test]
    fn create_long_name_is_refused() {
        let e = Tap::create("vif12345.123456789").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
