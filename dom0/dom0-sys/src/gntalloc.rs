//! `/dev/xen/gntalloc`: grant pages of this domain to another one (a frontend's side: used by
//! the rig's hostile test frontend, which drives a backend from dom0).

use crate::{ioc_none, ioctl, SharedPages};
use std::fs::{File, OpenOptions};
use std::io;
use xen_abi::types::{DomId, GrantRef, PAGE_SIZE};

#[repr(C)]
struct DeallocGref {
    index: u64,
    count: u32,
}

/// Header of `struct ioctl_gntalloc_alloc_gref`; `gref_ids[count]` follow it.
#[repr(C)]
struct AllocGrefHeader {
    domid: u16,
    flags: u16,
    count: u32,
    index: u64,
}

/// `sizeof(struct ioctl_gntalloc_alloc_gref)`: the 16-byte header and one `u32`, padded to the
/// struct's 8-byte alignment (24).
const IOCTL_GNTALLOC_ALLOC_GREF: libc::c_ulong = ioc_none(
    b'G',
    5,
    (size_of::<AllocGrefHeader>() + size_of::<u32>()).next_multiple_of(8),
);
const IOCTL_GNTALLOC_DEALLOC_GREF: libc::c_ulong = ioc_none(b'G', 6, size_of::<DeallocGref>());
const GNTALLOC_FLAG_WRITABLE: u16 = 1;

/// One open `/dev/xen/gntalloc`.
#[derive(Debug)]
pub struct Gntalloc {
    file: File,
}

/// Pages granted to another domain; the grants end (once the peer unmaps) on drop.
#[derive(Debug)]
pub struct GrantedPages {
    dev: std::sync::Arc<Gntalloc>,
    pages: SharedPages,
    index: u64,
    refs: Vec<GrantRef>,
}

impl Gntalloc {
    /// Opens `/dev/xen/gntalloc`.
    pub fn open() -> io::Result<std::sync::Arc<Gntalloc>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/xen/gntalloc")?;
        Ok(std::sync::Arc::new(Gntalloc { file }))
    }

    /// Allocates `count` zeroed pages granted (writable) to `domid`.
    pub fn alloc(
        self: &std::sync::Arc<Self>,
        domid: DomId,
        count: u32,
    ) -> io::Result<GrantedPages> {
        if count == 0 || count as usize > u32::MAX as usize / PAGE_SIZE {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let words = (size_of::<AllocGrefHeader>() + count as usize * 4).div_ceil(8);
        let mut buf = vec![0u64; words];
        buf[0] = u64::from(domid.0)
            | (u64::from(GNTALLOC_FLAG_WRITABLE) << 16)
            | (u64::from(count) << 32);
        // SAFETY: `buf` holds an AllocGrefHeader followed by room for `count` u32 grant ids, the
        // layout IOCTL_GNTALLOC_ALLOC_GREF reads and writes; it lives for the call.
        unsafe { ioctl(&self.file, IOCTL_GNTALLOC_ALLOC_GREF, buf.as_mut_ptr())? };
        let index = buf[1];
        let refs = (0..count as usize)
            .map(|i| {
                let w = buf[2 + i / 2];
                GrantRef(if i % 2 == 0 {
                    w as u32
                } else {
                    (w >> 32) as u32
                })
            })
            .collect();
        let pages = match crate::mmap_shared(&self.file, count as usize * PAGE_SIZE, true, index) {
            Ok(p) => p,
            Err(e) => {
                let _ = self.dealloc(index, count);
                return Err(e);
            }
        };
        Ok(GrantedPages {
            dev: std::sync::Arc::clone(self),
            pages,
            index,
            refs,
        })
    }

    fn dealloc(&self, index: u64, count: u32) -> io::Result<()> {
        let mut arg = DeallocGref { index, count };
        // SAFETY: `arg` is the struct IOCTL_GNTALLOC_DEALLOC_GREF takes, live for the call.
        unsafe { ioctl(&self.file, IOCTL_GNTALLOC_DEALLOC_GREF, &mut arg)? };
        Ok(())
    }
}

impl GrantedPages {
    /// The grant references, one per page.
    pub fn refs(&self) -> &[GrantRef] {
        &self.refs
    }
}

crate::shared_pages_owner!(GrantedPages);

impl Drop for GrantedPages {
    fn drop(&mut self) {
        self.pages.munmap();
        let _ = self.dev.dealloc(self.index, self.refs.len() as u32);
    }
}
