//! `/dev/xen/gntdev`: map a foreign domain's grant references into this process (with an
//! optional unmap notification), and copy to or from granted pages without mapping them.

use crate::{ioc_none, ioctl, SharedPages};
use std::fs::{File, OpenOptions};
use std::io;
use std::sync::Arc;
use xen_abi::types::{DomId, GrantRef, Port, PAGE_SIZE};

#[repr(C)]
struct GrantRefArg {
    domid: u32,
    r#ref: u32,
}

/// `struct ioctl_gntdev_map_grant_ref` with its one-element `refs` array; the real call passes a
/// larger buffer of the same prefix.
#[repr(C)]
struct MapGrantRefHeader {
    count: u32,
    pad: u32,
    index: u64,
}

#[repr(C)]
struct UnmapGrantRef {
    index: u64,
    count: u32,
    pad: u32,
}

#[repr(C)]
struct UnmapNotify {
    index: u64,
    action: u32,
    event_channel_port: u32,
}

/// `struct ioctl_gntdev_grant_copy_segment`: `source` and `dest` are each either a local
/// virtual address or `{ ref: u32, offset: u16, domid: u16 }`, packed into a `u64`.
#[repr(C)]
#[derive(Clone, Copy)]
struct CopySegment {
    source: u64,
    dest: u64,
    len: u16,
    flags: u16,
    status: i16,
}

#[repr(C)]
struct GrantCopy {
    count: libc::c_uint,
    segments: *mut CopySegment,
}

const IOCTL_GNTDEV_MAP_GRANT_REF: libc::c_ulong = ioc_none(
    b'G',
    0,
    size_of::<MapGrantRefHeader>() + size_of::<GrantRefArg>(),
);
const IOCTL_GNTDEV_UNMAP_GRANT_REF: libc::c_ulong = ioc_none(b'G', 1, size_of::<UnmapGrantRef>());
const IOCTL_GNTDEV_SET_UNMAP_NOTIFY: libc::c_ulong = ioc_none(b'G', 7, size_of::<UnmapNotify>());
const IOCTL_GNTDEV_GRANT_COPY: libc::c_ulong = ioc_none(b'G', 8, size_of::<GrantCopy>());
const UNMAP_NOTIFY_SEND_EVENT: u32 = 0x2;
const GNTCOPY_SOURCE_GREF: u16 = 1 << 0;
const GNTCOPY_DEST_GREF: u16 = 1 << 1;

/// One open `/dev/xen/gntdev`.
#[derive(Debug)]
pub struct Gntdev {
    file: File,
}

/// A span of a foreign granted page: `len` bytes at `offset` of grant `gref` of `domid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForeignSpan {
    /// The granting domain.
    pub domid: DomId,
    /// The grant.
    pub gref: GrantRef,
    /// Offset in the page.
    pub offset: u16,
    /// Length (offset + len <= PAGE_SIZE).
    pub len: u16,
}

/// A grant copy that Xen refused for one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyFailed {
    /// Index of the first failed span.
    pub index: usize,
    /// Its `GNTST_*` status.
    pub status: i16,
}

/// Why a grant copy did not happen.
#[derive(Debug)]
pub enum CopyError {
    /// A span is not inside one page, or the spans do not fit the local buffer.
    BadSpan(usize),
    /// The ioctl itself failed.
    Io(io::Error),
    /// Xen failed a segment (e.g. `GNTST_bad_gntref`).
    Segment(CopyFailed),
}

impl std::fmt::Display for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyError::BadSpan(i) => write!(f, "grant copy span {i} outside its page or buffer"),
            CopyError::Io(e) => write!(f, "IOCTL_GNTDEV_GRANT_COPY: {e}"),
            CopyError::Segment(s) => {
                write!(f, "grant copy segment {} status {}", s.index, s.status)
            }
        }
    }
}

impl std::error::Error for CopyError {}

fn foreign_word(s: &ForeignSpan) -> u64 {
    u64::from(s.gref.0) | (u64::from(s.offset) << 32) | (u64::from(s.domid.0) << 48)
}

impl Gntdev {
    /// Opens `/dev/xen/gntdev`.
    pub fn open() -> io::Result<Arc<Gntdev>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/xen/gntdev")?;
        Ok(Arc::new(Gntdev { file }))
    }

    /// Maps `refs` of `domid` as one virtually contiguous range (writable or read-only).
    pub fn map_grant_refs(
        self: &Arc<Self>,
        domid: DomId,
        refs: &[GrantRef],
        writable: bool,
    ) -> io::Result<GrantMapping> {
        if refs.is_empty() || refs.len() > u32::MAX as usize / PAGE_SIZE {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        // The header then `count` refs, as u64 words so the buffer is aligned for the header.
        let words = (size_of::<MapGrantRefHeader>() + refs.len() * size_of::<GrantRefArg>())
            .div_ceil(size_of::<u64>());
        let mut buf = vec![0u64; words];
        buf[0] = refs.len() as u64; // count, pad = 0
        for (i, r) in refs.iter().enumerate() {
            // refs[i] = { domid, ref } at byte 16 + 8 i: one u64 word each, little-endian.
            buf[2 + i] = u64::from(domid.0) | (u64::from(r.0) << 32);
        }
        // SAFETY: `buf` starts with a MapGrantRefHeader followed by `count` GrantRefArgs, the
        // layout IOCTL_GNTDEV_MAP_GRANT_REF reads (and writes `index` into); it lives for the call.
        unsafe { ioctl(&self.file, IOCTL_GNTDEV_MAP_GRANT_REF, buf.as_mut_ptr())? };
        let index = buf[1];
        let pages = match crate::mmap_shared(&self.file, refs.len() * PAGE_SIZE, writable, index) {
            Ok(p) => p,
            Err(e) => {
                let _ = self.unmap_index(index, refs.len() as u32);
                return Err(e);
            }
        };
        Ok(GrantMapping {
            dev: Arc::clone(self),
            pages,
            index,
            count: refs.len() as u32,
        })
    }

    fn unmap_index(&self, index: u64, count: u32) -> io::Result<()> {
        let mut arg = UnmapGrantRef {
            index,
            count,
            pad: 0,
        };
        // SAFETY: `arg` is the struct IOCTL_GNTDEV_UNMAP_GRANT_REF takes, live for the call.
        unsafe { ioctl(&self.file, IOCTL_GNTDEV_UNMAP_GRANT_REF, &mut arg)? };
        Ok(())
    }

    fn copy(
        &self,
        spans: &[ForeignSpan],
        buf_ptr: *mut u8,
        buf_len: usize,
        to_local: bool,
    ) -> Result<(), CopyError> {
        let mut at = 0usize;
        let mut placed = Vec::with_capacity(spans.len());
        for (i, s) in spans.iter().enumerate() {
            placed.push((*s, at));
            at = at
                .checked_add(usize::from(s.len))
                .ok_or(CopyError::BadSpan(i))?;
        }
        let status = self.copy_placed(&placed, buf_ptr, buf_len, to_local)?;
        match status.iter().position(|s| *s != 0) {
            Some(index) => Err(CopyError::Segment(CopyFailed {
                index,
                status: status[index],
            })),
            None => Ok(()),
        }
    }

    /// One `IOCTL_GNTDEV_GRANT_COPY` of every span to or from its own offset in the caller's
    /// buffer; each segment's status (0 or a `GNTST_*` error).
    fn copy_placed(
        &self,
        spans: &[(ForeignSpan, usize)],
        buf_ptr: *mut u8,
        buf_len: usize,
        to_local: bool,
    ) -> Result<Vec<i16>, CopyError> {
        let mut segs = Vec::with_capacity(spans.len());
        for (i, (s, at)) in spans.iter().enumerate() {
            let end = at
                .checked_add(usize::from(s.len))
                .ok_or(CopyError::BadSpan(i))?;
            if usize::from(s.offset) + usize::from(s.len) > PAGE_SIZE || end > buf_len || s.len == 0
            {
                return Err(CopyError::BadSpan(i));
            }
            // The local address of this span: inside the caller's buffer (checked just above).
            let local = buf_ptr.wrapping_add(*at) as u64;
            let (source, dest, flags) = if to_local {
                (foreign_word(s), local, GNTCOPY_SOURCE_GREF)
            } else {
                (local, foreign_word(s), GNTCOPY_DEST_GREF)
            };
            segs.push(CopySegment {
                source,
                dest,
                len: s.len,
                flags,
                status: 0,
            });
        }
        if segs.is_empty() {
            return Ok(Vec::new());
        }
        let mut arg = GrantCopy {
            count: segs.len() as libc::c_uint,
            segments: segs.as_mut_ptr(),
        };
        // SAFETY: `arg` points to `count` initialised segments, each naming a local range inside
        // the caller's buffer (bounds checked above; the buffer is borrowed for this call, mutably
        // when the kernel writes into it) and a foreign grant the hypervisor checks itself.
        unsafe { ioctl(&self.file, IOCTL_GNTDEV_GRANT_COPY, &mut arg) }.map_err(CopyError::Io)?;
        Ok(segs.iter().map(|s| s.status).collect())
    }

    /// Copies each foreign span into `buf` at the offset given with it, all in one ioctl;
    /// returns each span's status (0, or the `GNTST_*` error of a span Xen refused, the others
    /// copied all the same). An error means nothing was copied.
    pub fn copy_in_placed(
        &self,
        spans: &[(ForeignSpan, usize)],
        buf: &mut [u8],
    ) -> Result<Vec<i16>, CopyError> {
        self.copy_placed(spans, buf.as_mut_ptr(), buf.len(), true)
    }

    /// Copies `buf` at the offset given with each foreign span out to it, all in one ioctl;
    /// each span's status as [`Gntdev::copy_in_placed`].
    pub fn copy_out_placed(
        &self,
        spans: &[(ForeignSpan, usize)],
        buf: &[u8],
    ) -> Result<Vec<i16>, CopyError> {
        // The kernel only reads local memory for this direction.
        self.copy_placed(spans, buf.as_ptr().cast_mut(), buf.len(), false)
    }

    /// Copies the foreign `spans`, in order, into `buf` (contiguously from its start).
    pub fn copy_in(&self, spans: &[ForeignSpan], buf: &mut [u8]) -> Result<(), CopyError> {
        self.copy(spans, buf.as_mut_ptr(), buf.len(), true)
    }

    /// Copies `buf` (contiguously from its start) out to the foreign `spans`, in order.
    pub fn copy_out(&self, spans: &[ForeignSpan], buf: &[u8]) -> Result<(), CopyError> {
        // The kernel only reads local memory for this direction.
        self.copy(spans, buf.as_ptr().cast_mut(), buf.len(), false)
    }
}

/// Foreign pages mapped into this process; unmapped (and released in gntdev) on drop.
#[derive(Debug)]
pub struct GrantMapping {
    dev: Arc<Gntdev>,
    pages: SharedPages,
    index: u64,
    count: u32,
}

crate::shared_pages_owner!(GrantMapping);

impl GrantMapping {
    /// `IOCTL_GNTDEV_SET_UNMAP_NOTIFY`: when this mapping goes away (even if the process dies),
    /// the kernel sends an event on `port` so the peer learns the backend is gone.
    pub fn set_unmap_notify(&self, port: Port) -> io::Result<()> {
        let mut arg = UnmapNotify {
            index: self.index,
            action: UNMAP_NOTIFY_SEND_EVENT,
            event_channel_port: port.0,
        };
        // SAFETY: `arg` is the struct IOCTL_GNTDEV_SET_UNMAP_NOTIFY takes, live for the call.
        unsafe { ioctl(&self.dev.file, IOCTL_GNTDEV_SET_UNMAP_NOTIFY, &mut arg)? };
        Ok(())
    }
}

impl Drop for GrantMapping {
    fn drop(&mut self) {
        self.pages.munmap();
        let _ = self.dev.unmap_index(self.index, self.count);
    }
}
