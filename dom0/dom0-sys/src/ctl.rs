//! `domctl` and `sysctl` through `/dev/xen/privcmd`, as libxc issues them: the control domain's
//! interface for building, inspecting and destroying domains (`xen/include/public/domctl.h`,
//! `sysctl.h`), with the interface versions of Xen 4.17.
//!
//! A sub-op whose argument carries a guest handle (a pointer Xen writes through) is exposed
//! only as a method that builds the handle itself ([`Privcmd::getdomaininfolist`]); the
//! others go through [`Privcmd::domctl`] with an argument type that holds no pointer
//! ([`PlainDomctl`]).

use crate::privcmd::Privcmd;
use std::io;
use xen_abi::domctl::{Domctl, XenDomctl, XenDomctlGetdomaininfo, XEN_DOMCTL_INTERFACE_VERSION};
use xen_abi::sysctl::{
    Sysctl, XenSysctl, XenSysctlGetdomaininfolist, XEN_SYSCTL_INTERFACE_VERSION,
};
use xen_abi::types::DomId;
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes};

/// A hypercall buffer made resident for the call: Xen copies to and from a PV guest's
/// memory through its page tables and fails with `-EFAULT` on a page that is not present (it
/// never faults one in), and a fresh zeroed allocation is usually not. libxc uses locked pages
/// from `/dev/xen/hypercall`; here the buffer is `mlock`ed (every page faulted in and kept),
/// or, if that is refused, each page is written once.
struct Resident {
    ptr: *mut u8,
    len: usize,
    locked: bool,
}

impl Resident {
    fn new(buf: &mut [u8]) -> Resident {
        let (ptr, len) = (buf.as_mut_ptr(), buf.len());
        // SAFETY: `ptr`/`len` describe memory of ours (the borrowed slice); mlock changes no
        // contents.
        let locked = len > 0 && unsafe { libc::mlock(ptr.cast(), len) } == 0;
        if !locked {
            for i in (0..len).step_by(4096) {
                // SAFETY: `i < len`, inside the slice; a volatile read and write back of the same
                // byte faults the page in without changing it.
                unsafe { ptr.add(i).write_volatile(ptr.add(i).read_volatile()) };
            }
        }
        Resident { ptr, len, locked }
    }
}

impl Drop for Resident {
    fn drop(&mut self) {
        if self.locked {
            // SAFETY: the range locked in `new`, still owned by the caller's buffer.
            unsafe { libc::munlock(self.ptr.cast(), self.len) };
        }
    }
}

const HYPERVISOR_SYSCTL: u64 = 35;
const HYPERVISOR_DOMCTL: u64 = 36;

/// A domctl argument with no guest handle in it: Xen reads and writes only the 128-byte union
/// inside `xen_domctl` itself, so issuing it cannot make Xen touch other memory of ours.
pub trait PlainDomctl: FromBytes + IntoBytes + Immutable {}

/// No argument (`pausedomain`, `unpausedomain`, `destroydomain`).
impl PlainDomctl for () {}
impl PlainDomctl for XenDomctlGetdomaininfo {}
impl PlainDomctl for xen_abi::domctl::XenDomctlMaxMem {}
impl PlainDomctl for xen_abi::domctl::XenDomctlMaxVcpus {}
impl PlainDomctl for xen_abi::domctl::XenDomctlGetvcpuinfo {}
impl PlainDomctl for xen_abi::domctl::XenDomctlSetdomainhandle {}
impl PlainDomctl for xen_abi::domctl::XenDomctlAddressSize {}
impl PlainDomctl for xen_abi::domctl::XenDomctlTscInfo {}
impl PlainDomctl for xen_abi::domctl::XenDomctlCreatedomain {}

impl Privcmd {
    /// `domctl(cmd)` on `domain` with `arg` in the union; `arg` is updated from what Xen wrote
    /// back, and the whole `xen_domctl` is returned (some sub-ops answer in its `domain`).
    /// Xen's error (`-errno`) comes back as the OS error.
    pub fn domctl<T: PlainDomctl>(
        &self,
        cmd: Domctl,
        domain: DomId,
        arg: &mut T,
    ) -> io::Result<XenDomctl> {
        let mut op = XenDomctl::new_zeroed();
        op.cmd = cmd as u32;
        op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
        op.domain = domain;
        if !op.set_arg(arg) {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        // SAFETY: `op` is a whole xen_domctl that lives across the call; `T: PlainDomctl`
        // promises its union holds no guest handle, so Xen reads and writes only `op`.
        unsafe { self.hypercall(HYPERVISOR_DOMCTL, [&raw mut op as u64, 0, 0, 0, 0])? };
        if let Some(back) = op.arg::<T>() {
            *arg = back;
        }
        Ok(op)
    }

    /// `XEN_DOMCTL_getdomaininfo`: one domain's information.
    pub fn getdomaininfo(&self, domain: DomId) -> io::Result<XenDomctlGetdomaininfo> {
        let mut info = XenDomctlGetdomaininfo::new_zeroed();
        self.domctl(Domctl::Getdomaininfo, domain, &mut info)?;
        Ok(info)
    }

    /// `XEN_SYSCTL_getdomaininfolist`: up to `max` domains with IDs from `first` up, in order.
    pub fn getdomaininfolist(
        &self,
        first: DomId,
        max: u32,
    ) -> io::Result<Vec<XenDomctlGetdomaininfo>> {
        let mut buf = vec![XenDomctlGetdomaininfo::new_zeroed(); max as usize];
        let _lock = Resident::new(buf.as_mut_bytes());
        let arg = XenSysctlGetdomaininfolist {
            first_domain: first,
            max_domains: max,
            buffer: buf.as_mut_ptr() as u64,
            ..Default::default()
        };
        let mut op = XenSysctl::new_zeroed();
        op.cmd = Sysctl::Getdomaininfolist as u32;
        op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
        op.set_arg(&arg);
        // SAFETY: `op` lives across the call; its one handle, `buffer`, points to `max` entries
        // of `buf`, which outlives the call and is what the sub-op writes at most.
        unsafe { self.hypercall(HYPERVISOR_SYSCTL, [&raw mut op as u64, 0, 0, 0, 0])? };
        let n = op
            .arg::<XenSysctlGetdomaininfolist>()
            .map_or(0, |a| a.num_domains)
            .min(max);
        buf.truncate(n as usize);
        Ok(buf)
    }

    /// Every domain, in order of ID.
    pub fn domains(&self) -> io::Result<Vec<XenDomctlGetdomaininfo>> {
        const BATCH: u32 = 256;
        let mut all = Vec::new();
        let mut next = 0u32;
        while next < u32::from(DomId::FIRST_RESERVED.0) {
            let got = self.getdomaininfolist(DomId(next as u16), BATCH)?;
            let Some(last) = got.last() else { break };
            next = u32::from(last.domain.0) + 1;
            let full = got.len() == BATCH as usize;
            all.extend(got);
            if !full {
                break;
            }
        }
        Ok(all)
    }
}
