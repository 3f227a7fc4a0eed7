//! `xen_version` (Xen's `common/kernel.c`): version, build and feature queries.

use crate::domain::Domain;
use crate::pv::{read_guest_struct, write_guest, write_guest_struct};
use xen_abi::version::{XenCompileInfo, XenFeatureInfo, XenPlatformParameters, XenVer};
use xen_abi::{Errno, XenResult};

/// `XENVER_get_features` submap 0 for a PV guest, as Xen 4.17 reports it.
pub fn features(dom: &Domain) -> u32 {
    use xen_abi::features::*;
    let mut f = (1 << XENFEAT_MEMORY_OP_VNODE_SUPPORTED)
        | (1 << XENFEAT_MMU_PT_UPDATE_PRESERVE_AD)
        | (1 << XENFEAT_HIGHMEM_ASSIST)
        | (1 << XENFEAT_GNTTAB_MAP_AVAIL_BITS);
    if dom.privileged {
        f |= 1 << XENFEAT_DOM0;
    }
    if dom.vm_assist.load(core::sync::atomic::Ordering::Relaxed)
        & (1 << xen_abi::xen::VMASST_TYPE_PAE_EXTENDED_CR3)
        != 0
    {
        f |= 1 << XENFEAT_PAE_PGDIR_ABOVE_4GB;
    }
    f
}

/// `s` in a NUL-terminated field of `N` bytes (truncated to fit).
fn padded<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut b = [0u8; N];
    let n = s.len().min(N - 1);
    b[..n].copy_from_slice(&s[..n]);
    b
}

/// `xen_version(cmd, arg)`: Xen 4.17's answers, with Ferrite named in the extraversion and
/// build information.
pub fn xen_version(dom: &Domain, cmd: u64, arg: u64) -> XenResult<u64> {
    match XenVer::try_from(u32::try_from(cmd).map_err(|_| Errno::ENOSYS)?)? {
        // XENVER_version
        XenVer::Version => Ok((4 << 16) | 17),
        // XENVER_extraversion
        XenVer::Extraversion => write_guest(arg, &padded::<16>(b".0-ferrite")).map(|()| 0),
        // XENVER_compile_info
        XenVer::CompileInfo => {
            let info = XenCompileInfo {
                compiler: padded(b"rustc"),
                compile_by: padded(b"ferrite"),
                compile_domain: padded(b"ferrite"),
                compile_date: padded(crate::VERSION.as_bytes()),
            };
            write_guest_struct(arg, &info).map(|()| 0)
        }
        // XENVER_capabilities
        XenVer::Capabilities => write_guest(arg, &padded::<1024>(b"xen-3.0-x86_64 ")).map(|()| 0),
        // XENVER_changeset
        XenVer::Changeset => write_guest(arg, &padded::<64>(b"ferrite")).map(|()| 0),
        // XENVER_platform_parameters
        XenVer::PlatformParameters => {
            let p = XenPlatformParameters {
                virt_start: crate::layout::HYPERVISOR_VIRT_START,
            };
            write_guest_struct(arg, &p).map(|()| 0)
        }
        // XENVER_get_features: XENFEAT_NR_SUBMAPS is 1.
        XenVer::GetFeatures => {
            let mut fi: XenFeatureInfo = read_guest_struct(arg)?;
            if fi.submap_idx != 0 {
                return Err(Errno::EINVAL);
            }
            fi.submap = features(dom);
            write_guest_struct(arg, &fi).map(|()| 0)
        }
        // XENVER_pagesize
        XenVer::Pagesize => Ok(4096),
        // XENVER_guest_handle
        XenVer::GuestHandle => write_guest(arg, &[0u8; 16]).map(|()| 0),
        // XENVER_commandline
        XenVer::Commandline => {
            if !dom.privileged {
                return Err(Errno::EPERM);
            }
            let cl = crate::boot::entry::boot_info().cmdline.as_bytes();
            write_guest(arg, &padded::<1024>(cl)).map(|()| 0)
        }
        // XENVER_build_id
        XenVer::BuildId => Err(Errno::ENODATA),
    }
}
