//! `domctl` and `sysctl` through `/dev/xen/privcmd`, as libxc issues them: the control domain's
//! interface for building, inspecting and destroying domains (`xen/include/public/domctl.h`,
//! `sysctl.h`), with the interface versions of Xen 4.17.
//!
//! A sub-op whose argument carries a guest handle (a pointer Xen writes through) is exposed
//! only as a method that builds the handle itself ([`Privcmd::getdomaininfolist`],
//! [`Privcmd::readconsole`], [`Privcmd::getvcpuaffinity`]); the others go through
//! [`Privcmd::domctl`] and [`Privcmd::sysctl`] with an argument type that holds no pointer
//! ([`PlainDomctl`], [`PlainSysctl`]).

use crate::privcmd::Privcmd;
use std::io;
use xen_abi::domctl::{
    Domctl, XenDomctl, XenDomctlGetdomaininfo, XenDomctlGetvcpuinfo, XenDomctlVcpuaffinity,
    XEN_DOMCTL_INTERFACE_VERSION,
};
use xen_abi::sysctl::{
    Sysctl, XenSysctl, XenSysctlGetdomaininfolist, XenSysctlPhysinfo, XenSysctlReadconsole,
    XenSysctlSchedId, XEN_SYSCTL_INTERFACE_VERSION,
};
use xen_abi::types::DomId;
use xen_abi::xen::XenctlBitmap;
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes};

const HYPERVISOR_SYSCTL: u64 = 35;
const HYPERVISOR_DOMCTL: u64 = 36;

/// Writes to every page of `buf` (each byte written is the one already there) so that all are
/// present and writable before Xen reads or writes there: Xen never faults a dom0 page in, and
/// a page not yet touched (fresh from `mmap`, as large allocations are) makes the hypercall fail
/// with `EFAULT`.
pub(crate) fn prefault(buf: &mut [u8]) {
    let touch = |b: &mut u8| {
        let v = *b;
        *std::hint::black_box(b) = v;
    };
    for b in buf.iter_mut().step_by(xen_abi::types::PAGE_SIZE) {
        touch(b);
    }
    if let Some(b) = buf.last_mut() {
        touch(b);
    }
}

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

/// A sysctl argument with no guest handle in it (see [`PlainDomctl`]).
pub trait PlainSysctl: FromBytes + IntoBytes + Immutable {}

impl PlainSysctl for XenSysctlPhysinfo {}
impl PlainSysctl for XenSysctlSchedId {}

impl Privcmd {
    /// `domctl(cmd)` on `domain` with `arg` in the union, the whole `xen_domctl` returned as Xen
    /// left it; `InvalidInput` if `arg` is larger than the union.
    ///
    /// # Safety
    /// Every guest handle in `arg` must point to memory of this process valid for what the
    /// sub-op reads and writes there, for the duration of the call.
    pub(crate) unsafe fn domctl_raw<T: IntoBytes + Immutable>(
        &self,
        cmd: Domctl,
        domain: DomId,
        arg: &T,
    ) -> io::Result<XenDomctl> {
        let mut op = XenDomctl::new_zeroed();
        op.cmd = cmd as u32;
        op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
        op.domain = domain;
        if !op.set_arg(arg) {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        // SAFETY: `op` is a whole xen_domctl that lives across the call; the caller vouches for
        // the handles in its union.
        unsafe { self.hypercall(HYPERVISOR_DOMCTL, [&raw mut op as u64, 0, 0, 0, 0])? };
        Ok(op)
    }

    /// `sysctl(cmd)` with `arg` in the union (see [`Privcmd::domctl_raw`]).
    ///
    /// # Safety
    /// As [`Privcmd::domctl_raw`].
    unsafe fn sysctl_raw<T: IntoBytes + Immutable>(
        &self,
        cmd: Sysctl,
        arg: &T,
    ) -> io::Result<XenSysctl> {
        let mut op = XenSysctl::new_zeroed();
        op.cmd = cmd as u32;
        op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
        if !op.set_arg(arg) {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        // SAFETY: `op` is a whole xen_sysctl that lives across the call; the caller vouches for
        // the handles in its union.
        unsafe { self.hypercall(HYPERVISOR_SYSCTL, [&raw mut op as u64, 0, 0, 0, 0])? };
        Ok(op)
    }

    /// `domctl(cmd)` on `domain` with `arg` in the union; `arg` is updated from what Xen wrote
    /// back, and the whole `xen_domctl` is returned (some sub-ops answer in its `domain`).
    /// Xen's error (`-errno`) comes back as the OS error.
    pub fn domctl<T: PlainDomctl>(
        &self,
        cmd: Domctl,
        domain: DomId,
        arg: &mut T,
    ) -> io::Result<XenDomctl> {
        // SAFETY: `T: PlainDomctl` promises the union holds no guest handle, so Xen reads and
        // writes only the `xen_domctl` itself.
        let op = unsafe { self.domctl_raw(cmd, domain, arg)? };
        if let Some(back) = op.arg::<T>() {
            *arg = back;
        }
        Ok(op)
    }

    /// `sysctl(cmd)` with `arg` in the union; `arg` is updated from what Xen wrote back.
    pub fn sysctl<T: PlainSysctl>(&self, cmd: Sysctl, arg: &mut T) -> io::Result<()> {
        // SAFETY: `T: PlainSysctl` promises the union holds no guest handle, so Xen reads and
        // writes only the `xen_sysctl` itself.
        let op = unsafe { self.sysctl_raw(cmd, arg)? };
        if let Some(back) = op.arg::<T>() {
            *arg = back;
        }
        Ok(())
    }

    /// `XEN_SYSCTL_physinfo`: the host's CPUs, memory and capabilities.
    pub fn physinfo(&self) -> io::Result<XenSysctlPhysinfo> {
        let mut p = XenSysctlPhysinfo::new_zeroed();
        self.sysctl(Sysctl::Physinfo, &mut p)?;
        Ok(p)
    }

    /// `XEN_SYSCTL_sched_id`: the scheduler (`XEN_SCHEDULER_*`).
    pub fn sched_id(&self) -> io::Result<u32> {
        let mut s = XenSysctlSchedId::new_zeroed();
        self.sysctl(Sysctl::SchedId, &mut s)?;
        Ok(s.sched_id)
    }

    /// `XEN_SYSCTL_readconsole`: up to `buf.len()` bytes of the hypervisor's console ring.
    /// Incremental from `index` if given (the oldest byte otherwise); `clear` empties the ring
    /// after reading. Returns the bytes read and the index to continue from.
    pub fn readconsole(
        &self,
        buf: &mut [u8],
        index: Option<u32>,
        clear: bool,
    ) -> io::Result<(usize, u32)> {
        prefault(buf);
        let arg = XenSysctlReadconsole {
            clear: u8::from(clear),
            incremental: u8::from(index.is_some()),
            index: index.unwrap_or(0),
            buffer: buf.as_mut_ptr() as u64,
            count: u32::try_from(buf.len()).unwrap_or(u32::MAX),
            ..Default::default()
        };
        // SAFETY: the argument's one handle, `buffer`, points to `buf`, whose
        // length is the `count` Xen writes at most, and `buf` outlives the call.
        let op = unsafe { self.sysctl_raw(Sysctl::Readconsole, &arg)? };
        let back = op.arg::<XenSysctlReadconsole>().unwrap_or(arg);
        Ok(((back.count as usize).min(buf.len()), back.index))
    }

    /// `XEN_DOMCTL_getvcpuinfo`: one vCPU's state.
    pub fn getvcpuinfo(&self, domain: DomId, vcpu: u32) -> io::Result<XenDomctlGetvcpuinfo> {
        let mut info = XenDomctlGetvcpuinfo {
            vcpu,
            ..Default::default()
        };
        self.domctl(Domctl::Getvcpuinfo, domain, &mut info)?;
        Ok(info)
    }

    /// `XEN_DOMCTL_getvcpuaffinity`: a vCPU's (hard, soft) affinity as bitmaps of `nr_cpus`
    /// bits (byte `i` bit `j` = CPU `8i+j`).
    pub fn getvcpuaffinity(
        &self,
        domain: DomId,
        vcpu: u32,
        nr_cpus: u32,
    ) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let bytes = nr_cpus.div_ceil(8).max(1) as usize;
        let (mut hard, mut soft) = (vec![0u8; bytes], vec![0u8; bytes]);
        prefault(&mut hard);
        prefault(&mut soft);
        let arg = XenDomctlVcpuaffinity {
            vcpu,
            flags: xen_abi::domctl::XEN_VCPUAFFINITY_HARD | xen_abi::domctl::XEN_VCPUAFFINITY_SOFT,
            cpumap_hard: XenctlBitmap {
                bitmap: hard.as_mut_ptr() as u64,
                nr_bits: (bytes * 8) as u32,
                _pad0: 0,
            },
            cpumap_soft: XenctlBitmap {
                bitmap: soft.as_mut_ptr() as u64,
                nr_bits: (bytes * 8) as u32,
                _pad0: 0,
            },
        };
        // SAFETY: the argument's two handles point to `hard` and `soft`, each
        // `bytes` long, which is `nr_bits / 8`, what Xen writes at most; both outlive the call.
        unsafe { self.domctl_raw(Domctl::Getvcpuaffinity, domain, &arg)? };
        Ok((hard, soft))
    }

    /// `XEN_DOMCTL_setvcpuaffinity`: sets a vCPU's hard and/or soft affinity (bitmaps of
    /// `8 * len` CPUs; `None` leaves that one alone). Xen writes the effective affinity back into
    /// the maps it was given.
    pub fn setvcpuaffinity(
        &self,
        domain: DomId,
        vcpu: u32,
        mut hard: Option<&mut [u8]>,
        mut soft: Option<&mut [u8]>,
    ) -> io::Result<()> {
        let map = |m: &mut Option<&mut [u8]>, flag: u32| match m {
            Some(b) => {
                prefault(b);
                (
                    flag,
                    XenctlBitmap {
                        bitmap: b.as_mut_ptr() as u64,
                        // At most the map's bits (a huge map is only partly used).
                        nr_bits: (b.len().min(1 << 20) * 8) as u32,
                        _pad0: 0,
                    },
                )
            }
            None => (0, XenctlBitmap::new_zeroed()),
        };
        let (fh, cpumap_hard) = map(&mut hard, xen_abi::domctl::XEN_VCPUAFFINITY_HARD);
        let (fs, cpumap_soft) = map(&mut soft, xen_abi::domctl::XEN_VCPUAFFINITY_SOFT);
        if fh | fs == 0 {
            return Ok(());
        }
        let arg = XenDomctlVcpuaffinity {
            vcpu,
            flags: fh | fs,
            cpumap_hard,
            cpumap_soft,
        };
        // SAFETY: each handle the argument holds points to the caller's map
        // (`hard`/`soft`, borrowed mutably for the whole call) of `nr_bits / 8` bytes, what Xen
        // reads and writes back at most; a map not given is not flagged, so Xen ignores it.
        unsafe { self.domctl_raw(Domctl::Setvcpuaffinity, domain, &arg)? };
        Ok(())
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
        prefault(buf.as_mut_slice().as_mut_bytes());
        let arg = XenSysctlGetdomaininfolist {
            first_domain: first,
            max_domains: max,
            buffer: buf.as_mut_ptr() as u64,
            ..Default::default()
        };
        // SAFETY: the argument's one handle, `buffer`, points to `max` entries
        // of `buf`, which outlives the call and is what the sub-op writes at most.
        let op = unsafe { self.sysctl_raw(Sysctl::Getdomaininfolist, &arg)? };
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

#[cfg(test)]
mod tests {
    use super::prefault;

    #[test]
    fn prefault_keeps_the_contents() {
        let mut b: Vec<u8> = (0..3 * 4096 + 5).map(|i| (i % 251) as u8 + 1).collect();
        let want = b.clone();
        prefault(&mut b);
        assert_eq!(b, want);
        prefault(&mut []);
    }
}
