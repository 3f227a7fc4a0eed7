//! `/dev/xen/privcmd`: hypercalls from dom0 userspace, and foreign mappings of another domain's
//! frames. Only hypercalls whose arguments this module builds itself are exposed, so every call
//! is safe to make.

use crate::{ioc_none, ioctl, SharedPages};
use std::fs::{File, OpenOptions};
use std::io;
use xen_abi::types::{DomId, Mfn, PAGE_SIZE};
use xen_abi::version::{
    XenCompileInfo, XenPlatformParameters, XenVer, XEN_CAPABILITIES_INFO_LEN,
    XEN_CHANGESET_INFO_LEN, XEN_COMMANDLINE_LEN, XEN_EXTRAVERSION_LEN,
};
use zerocopy::FromZeros;

/// The text of a NUL-terminated C string in `b` (all of `b` if it has no NUL).
pub fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

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

    /// The open device.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// `xen_version(XENVER_version, NULL)`: the hypervisor's (major, minor).
    pub fn xen_version(&self) -> io::Result<(u16, u16)> {
        // SAFETY: XENVER_version takes no buffer (its argument is NULL), so the hypervisor
        // touches no memory of ours.
        let v =
            unsafe { self.hypercall(HYPERVISOR_XEN_VERSION, [XENVER_VERSION, 0, 0, 0, 0])? } as u32;
        Ok(((v >> 16) as u16, v as u16))
    }

    /// `xen_version(cmd, buf)` for the sub-ops that fill a fixed-size buffer.
    fn xen_version_into<T: zerocopy::IntoBytes + zerocopy::FromBytes>(
        &self,
        cmd: XenVer,
        expected: usize,
        out: &mut T,
    ) -> io::Result<i32> {
        if size_of::<T>() != expected {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        // SAFETY: `out` is a live, writable `T` for the whole call, and its size is checked
        // above to be what sub-op `cmd` writes (`expected`, from version.h).
        unsafe {
            self.hypercall(
                HYPERVISOR_XEN_VERSION,
                [cmd as u64, out as *mut T as u64, 0, 0, 0],
            )
        }
    }

    /// The NUL-terminated text a string sub-op of `xen_version` fills: `XENVER_extraversion`,
    /// `XENVER_capabilities`, `XENVER_changeset` or `XENVER_commandline`.
    pub fn xen_version_string(&self, cmd: XenVer) -> io::Result<String> {
        match cmd {
            XenVer::Extraversion => self.xen_version_text::<XEN_EXTRAVERSION_LEN>(cmd),
            XenVer::Capabilities => self.xen_version_text::<XEN_CAPABILITIES_INFO_LEN>(cmd),
            XenVer::Changeset => self.xen_version_text::<XEN_CHANGESET_INFO_LEN>(cmd),
            XenVer::Commandline => self.xen_version_text::<XEN_COMMANDLINE_LEN>(cmd),
            _ => Err(io::Error::from(io::ErrorKind::InvalidInput)),
        }
    }

    fn xen_version_text<const N: usize>(&self, cmd: XenVer) -> io::Result<String> {
        let mut b = [0u8; N];
        self.xen_version_into(cmd, N, &mut b)?;
        Ok(c_string(&b))
    }

    /// `XENVER_compile_info`.
    pub fn xen_compile_info(&self) -> io::Result<XenCompileInfo> {
        let mut c = XenCompileInfo::new_zeroed();
        self.xen_version_into(XenVer::CompileInfo, size_of::<XenCompileInfo>(), &mut c)?;
        Ok(c)
    }

    /// `XENVER_platform_parameters`: where the hypervisor's virtual range starts.
    pub fn xen_platform_parameters(&self) -> io::Result<XenPlatformParameters> {
        let mut p = XenPlatformParameters::new_zeroed();
        self.xen_version_into(
            XenVer::PlatformParameters,
            size_of::<XenPlatformParameters>(),
            &mut p,
        )?;
        Ok(p)
    }

    /// `XENVER_pagesize`.
    pub fn xen_pagesize(&self) -> io::Result<u32> {
        // SAFETY: XENVER_pagesize takes no buffer (its argument is NULL).
        let v = unsafe {
            self.hypercall(
                HYPERVISOR_XEN_VERSION,
                [XenVer::Pagesize as u64, 0, 0, 0, 0],
            )?
        };
        Ok(v as u32)
    }

    /// Hypercall `op` with `args` (`IOCTL_PRIVCMD_HYPERCALL`); Xen's negative answer comes back
    /// as the OS error, anything else as the value (the ioctl's `int`).
    ///
    /// # Safety
    /// Every address among `args`, and every guest handle in the structures they point to,
    /// must be memory of this process valid for whatever the hypercall reads and writes there,
    /// for the duration of the call.
    pub(crate) unsafe fn hypercall(&self, op: u64, args: [u64; 5]) -> io::Result<i32> {
        let mut h = Hypercall { op, arg: args };
        // SAFETY: `h` is the privcmd_hypercall_t IOCTL_PRIVCMD_HYPERCALL takes; the caller
        // vouches for the memory the hypercall itself touches.
        unsafe { ioctl(&self.file, IOCTL_PRIVCMD_HYPERCALL, &mut h) }
    }
}

/// `struct privcmd_mmapbatch_v2`.
#[repr(C)]
struct MmapBatchV2 {
    num: libc::c_uint,
    dom: u16,
    addr: u64,
    arr: *const u64,
    err: *mut libc::c_int,
}

const IOCTL_PRIVCMD_MMAPBATCH_V2: libc::c_ulong = ioc_none(b'P', 4, size_of::<MmapBatchV2>());
const _: () = assert!(size_of::<MmapBatchV2>() == 32);

/// A foreign mapping that failed for some frames: which, and the (negative) Xen errno of each.
#[derive(Debug)]
pub enum ForeignMapError {
    /// The call itself failed (bad domain, no privilege, bad arguments).
    Io(io::Error),
    /// These frames could not be mapped: `(index into the frame list, -errno)`. Nothing stays
    /// mapped.
    Frames(Vec<(usize, i32)>),
}

impl std::fmt::Display for ForeignMapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForeignMapError::Io(e) => write!(f, "IOCTL_PRIVCMD_MMAPBATCH_V2: {e}"),
            ForeignMapError::Frames(v) => {
                write!(f, "{} frame(s) not mapped:", v.len())?;
                for (i, e) in v.iter().take(8) {
                    write!(f, " #{i}: {}", io::Error::from_raw_os_error(-e))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ForeignMapError {}

impl From<io::Error> for ForeignMapError {
    fn from(e: io::Error) -> Self {
        ForeignMapError::Io(e)
    }
}

impl Privcmd {
    /// Maps frames of domain `domid` into this process as one contiguous range
    /// (`IOCTL_PRIVCMD_MMAPBATCH_V2`, as libxenforeignmemory's `xenforeignmemory_map`). For a PV
    /// domain, the kind Ferrite runs, the frames are machine frames it owns (what it names its
    /// pages by, e.g. in `console/ring-ref`); Xen checks each, and the caller must be privileged
    /// over `domid`. Read-only unless `writable`.
    ///
    /// All or nothing: if any frame fails, nothing stays mapped and the error lists each failed
    /// frame with its errno (a page of the range that Xen refused would fault on access, so no
    /// partial mapping is handed out).
    pub fn map_foreign(
        &self,
        domid: DomId,
        frames: &[Mfn],
        writable: bool,
    ) -> Result<ForeignMapping, ForeignMapError> {
        if frames.is_empty() || frames.len() > (libc::c_uint::MAX as usize) / PAGE_SIZE {
            return Err(io::Error::from(io::ErrorKind::InvalidInput).into());
        }
        let mut pages = crate::mmap_shared(&self.file, frames.len() * PAGE_SIZE, writable, 0)?;
        let arr: Vec<u64> = frames.iter().map(|f| f.0).collect();
        let mut err = vec![0 as libc::c_int; frames.len()];
        let mut arg = MmapBatchV2 {
            num: frames.len() as libc::c_uint,
            dom: domid.0,
            addr: pages.base_ptr() as u64,
            arr: arr.as_ptr(),
            err: err.as_mut_ptr(),
        };
        // SAFETY: `arg` is the privcmd_mmapbatch_v2 the ioctl takes; `arr` points to `num` frame
        // numbers and `err` to `num` ints, both live for the call; `addr` is the start of a fresh
        // privcmd mapping of exactly `num` pages (the kernel requires and checks that), owned by
        // `pages`, into which the kernel installs the foreign frames.
        let rc = unsafe { ioctl(&self.file, IOCTL_PRIVCMD_MMAPBATCH_V2, &mut arg) };
        let failed: Vec<(usize, i32)> = err
            .iter()
            .enumerate()
            .filter(|(_, e)| **e != 0)
            .map(|(i, e)| (i, *e))
            .collect();
        if !failed.is_empty() {
            pages.munmap();
            return Err(ForeignMapError::Frames(failed));
        }
        if let Err(e) = rc {
            pages.munmap();
            return Err(e.into());
        }
        Ok(ForeignMapping { pages })
    }
}

/// Frames of another domain mapped into this process by [`Privcmd::map_foreign`]; unmapped on
/// drop (the kernel drops its references to the frames with the range).
#[derive(Debug)]
pub struct ForeignMapping {
    pages: SharedPages,
}

crate::shared_pages_owner!(ForeignMapping);

impl ForeignMapping {
    /// Takes ownership of a privcmd mapping the kernel has filled.
    pub(crate) fn from_pages(pages: SharedPages) -> ForeignMapping {
        ForeignMapping { pages }
    }
}

impl Drop for ForeignMapping {
    fn drop(&mut self) {
        self.pages.munmap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Privcmd` over `/dev/null`: good enough for the checks made before any ioctl.
    fn null_privcmd() -> Privcmd {
        Privcmd {
            file: File::open("/dev/null").expect("/dev/null opens"),
        }
    }

    #[test]
    fn map_foreign_no_frames_is_invalid_input() {
        let Err(ForeignMapError::Io(e)) = null_privcmd().map_foreign(DomId(1), &[], false) else {
            panic!("an empty frame list was accepted");
        };
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn map_foreign_more_frames_than_a_batch_is_invalid_input() {
        let n = libc::c_uint::MAX as usize / PAGE_SIZE + 1;
        let frames = vec![Mfn(1); n];
        let Err(ForeignMapError::Io(e)) = null_privcmd().map_foreign(DomId(1), &frames, false)
        else {
            panic!("{n} frames were accepted");
        };
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn frames_error_names_each_failed_frame_and_its_errno() {
        let e = ForeignMapError::Frames(vec![(0, -libc::EPERM), (3, -libc::ESRCH)]);
        assert_eq!(
            e.to_string(),
            "2 frame(s) not mapped: #0: Operation not permitted (os error 1) \
             #3: No such process (os error 3)"
        );
    }
}
