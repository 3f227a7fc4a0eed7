//! `/dev/xen/privcmd`: hypercalls from dom0 userspace. Only hypercalls whose arguments this
//! module builds itself are exposed, so every call is safe to make.

use crate::{ioc_none, ioctl};
use std::fs::{File, OpenOptions};
use std::io;

#[repr(C)]
struct Hypercall {
    op: u64,
    arg: [u64; 5],
}

const IOCTL_PRIVCMD_HYPERCALL: libc::c_ulong = ioc_none(b'P', 0, size_of::<Hypercall>());
const HYPERVISOR_XEN_VERSION: u64 = 17;
const XENVER_VERSION: u64 = 0;

/// One open `/dev/xen/privcmd`.
#[derive(Debug)]
pub struct Privcmd {
    file: File,
}

impl Privcmd {
    /// Opens `/dev/xen/privcmd`.
    pub fn open() -> io::Result<Privcmd> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/xen/privcmd")?;
        Ok(Privcmd { file })
    }

    /// `xen_version(XENVER_version, NULL)`: the hypervisor's (major, minor).
    pub fn xen_version(&self) -> io::Result<(u16, u16)> {
        let mut h = Hypercall {
            op: HYPERVISOR_XEN_VERSION,
            arg: [XENVER_VERSION, 0, 0, 0, 0],
        };
        // SAFETY: `h` is the privcmd_hypercall_t IOCTL_PRIVCMD_HYPERCALL takes; XENVER_version takes
        // no buffer (its argument is NULL), so the hypervisor touches no memory of ours.
        let v = unsafe { ioctl(&self.file, IOCTL_PRIVCMD_HYPERCALL, &mut h)? } as u32;
        Ok(((v >> 16) as u16, v as u16))
    }
}
