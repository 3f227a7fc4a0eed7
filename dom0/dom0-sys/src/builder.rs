//! The hypercalls a PV domain builder makes through `/dev/xen/privcmd` beyond the plain domctls
//! (libxenctrl's `xc_domain_populate_physmap`, `xc_domain_set_memory_map`,
//! `xc_evtchn_alloc_unbound`, `pin_table`, `xc_vcpu_setcontext`, and
//! `xenforeignmemory_map_resource`): each builds its own guest handles over buffers it
//! pre-faults, so every call is safe to make.

use crate::ctl::prefault;
use crate::privcmd::{ForeignMapping, Privcmd};
use crate::{ioc_none, ioctl};
use std::io;
use xen_abi::arch_x86::VcpuGuestContext;
use xen_abi::domctl::{Domctl, XenDomctlVcpucontext};
use xen_abi::event_channel::{EvtchnAllocUnbound, EvtchnOp};
use xen_abi::grant_table::{GnttabOp, GnttabSetupTable};
use xen_abi::memory::{E820Entry, XenForeignMemoryMap, XenMem, XenMemoryMap, XenMemoryReservation};
use xen_abi::types::{DomId, Mfn, Port, PAGE_SIZE};
use xen_abi::xen::{Hypercall, MmuextCmd, MmuextOp};
use zerocopy::IntoBytes;

/// `struct privcmd_mmap_resource`.
#[repr(C)]
struct MmapResource {
    dom: u16,
    _pad: u16,
    r#type: u32,
    id: u32,
    idx: u32,
    num: u64,
    addr: u64,
}
const _: () = assert!(size_of::<MmapResource>() == 32);

const IOCTL_PRIVCMD_MMAP_RESOURCE: libc::c_ulong = ioc_none(b'P', 7, size_of::<MmapResource>());

impl Privcmd {
    /// `XENMEM_populate_physmap` for `domid`: one extent of `2^order` pages at each GPFN of
    /// `frames` (each the first of its extent). For a PV domain Xen writes each extent's first
    /// MFN back in place of the GPFN. Returns how many extents were populated (fewer than asked
    /// when Xen ran out).
    pub fn populate_physmap(
        &self,
        domid: DomId,
        order: u32,
        frames: &mut [u64],
    ) -> io::Result<usize> {
        prefault(frames.as_mut_bytes());
        let arg = XenMemoryReservation {
            extent_start: frames.as_mut_ptr() as u64,
            nr_extents: frames.len() as u64,
            extent_order: order,
            mem_flags: 0,
            domid,
            _pad0: [0; 6],
        };
        // SAFETY: the reservation's one handle, `extent_start`, points to `frames`, whose length
        // is `nr_extents`, what Xen reads and writes at most; `arg` and `frames` outlive the call.
        let n = unsafe {
            self.hypercall(
                Hypercall::MemoryOp as u64,
                [
                    XenMem::PopulatePhysmap as u64,
                    &arg as *const _ as u64,
                    0,
                    0,
                    0,
                ],
            )?
        };
        Ok(usize::try_from(n).unwrap_or(0).min(frames.len()))
    }

    /// `XENMEM_set_memory_map`: the E820 map `domid` reads with `XENMEM_memory_map`.
    pub fn set_memory_map(&self, domid: DomId, entries: &[E820Entry]) -> io::Result<()> {
        let mut buf = entries.to_vec();
        prefault(buf.as_mut_bytes());
        let arg = XenForeignMemoryMap {
            domid,
            _pad0: [0; 6],
            map: XenMemoryMap {
                nr_entries: u32::try_from(buf.len())
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
                _pad0: 0,
                buffer: buf.as_ptr() as u64,
            },
        };
        // SAFETY: the one handle, `map.buffer`, points to `buf`, `nr_entries` entries that Xen
        // only reads; `arg` and `buf` outlive the call.
        unsafe {
            self.hypercall(
                Hypercall::MemoryOp as u64,
                [
                    XenMem::SetMemoryMap as u64,
                    &arg as *const _ as u64,
                    0,
                    0,
                    0,
                ],
            )?
        };
        Ok(())
    }

    /// `EVTCHNOP_alloc_unbound`: a fresh port in `dom` that `remote` may bind.
    pub fn evtchn_alloc_unbound(&self, dom: DomId, remote: DomId) -> io::Result<Port> {
        let mut arg = EvtchnAllocUnbound {
            dom,
            remote_dom: remote,
            port: Port(0),
        };
        // SAFETY: `arg` is the whole evtchn_alloc_unbound Xen reads and writes, live for the
        // call; it holds no handle.
        unsafe {
            self.hypercall(
                Hypercall::EventChannelOp as u64,
                [EvtchnOp::AllocUnbound as u64, &raw mut arg as u64, 0, 0, 0],
            )?
        };
        Ok(arg.port)
    }

    /// `MMUEXT_PIN_L4_TABLE` of `mfn` on behalf of `domid` (`foreigndom`): Xen validates the
    /// page tables from there down and types them, as the domain's own.
    pub fn pin_l4_table(&self, domid: DomId, mfn: Mfn) -> io::Result<()> {
        let mut op = MmuextOp {
            cmd: MmuextCmd::PinL4Table as u32,
            _pad0: 0,
            arg1: mfn.0,
            arg2: 0,
        };
        // SAFETY: one mmuext_op, live for the call; `pdone` is NULL and PIN_L4_TABLE takes no
        // handle.
        unsafe {
            self.hypercall(
                Hypercall::MmuextOp as u64,
                [&raw mut op as u64, 1, 0, u64::from(domid.0), 0],
            )?
        };
        Ok(())
    }

    /// `XEN_DOMCTL_setvcpucontext`: `ctxt` becomes vCPU `vcpu`'s state.
    pub fn setvcpucontext(
        &self,
        domid: DomId,
        vcpu: u32,
        ctxt: &VcpuGuestContext,
    ) -> io::Result<()> {
        let mut buf = Box::new(*ctxt);
        prefault(buf.as_mut_bytes());
        let arg = XenDomctlVcpucontext {
            vcpu,
            _pad0: 0,
            ctxt: &raw const *buf as u64,
        };
        // SAFETY: the argument's one handle points to `buf`, a whole vcpu_guest_context that
        // Xen only reads, live (boxed) for the call.
        unsafe { self.domctl_raw(Domctl::Setvcpucontext, domid, &arg)? };
        Ok(())
    }

    /// `GNTTABOP_setup_table` for `domid`: the frame of its grant table's first page (an MFN
    /// for a PV domain), as libxenguest's fallback when `XENMEM_acquire_resource` is missing.
    /// Xen's per-op `GNTST_*` failure comes back as `Err` with that status in the message.
    pub fn gnttab_first_frame(&self, domid: DomId) -> io::Result<Mfn> {
        let mut frame = [0u64; 1];
        prefault(frame.as_mut_bytes());
        let mut arg = GnttabSetupTable {
            dom: domid,
            nr_frames: 1,
            frame_list: frame.as_mut_ptr() as u64,
            ..Default::default()
        };
        // SAFETY: one gnttab_setup_table, live for the call; its one handle, `frame_list`,
        // points to `frame`, room for the `nr_frames` (1) frame Xen writes.
        unsafe {
            self.hypercall(
                Hypercall::GrantTableOp as u64,
                [GnttabOp::SetupTable as u64, &raw mut arg as u64, 1, 0, 0],
            )?
        };
        if arg.status != 0 {
            return Err(io::Error::other(format!(
                "GNTTABOP_setup_table: status {}",
                arg.status
            )));
        }
        Ok(Mfn(frame[0]))
    }

    /// Maps `num` frames of resource `type`/`id` of `domid` from frame `idx`
    /// (`IOCTL_PRIVCMD_MMAP_RESOURCE`, `XENMEM_acquire_resource`), writable: e.g. a domain's
    /// grant table (`XENMEM_resource_grant_table`, id 0 = the shared frames).
    pub fn map_resource(
        &self,
        domid: DomId,
        r#type: u16,
        id: u32,
        idx: u32,
        num: usize,
    ) -> io::Result<ForeignMapping> {
        if num == 0 || num > 64 {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let mut pages = crate::mmap_shared(self.file(), num * PAGE_SIZE, true, 0)?;
        let mut arg = MmapResource {
            dom: domid.0,
            _pad: 0,
            r#type: u32::from(r#type),
            id,
            idx,
            num: num as u64,
            addr: pages.base_ptr() as u64,
        };
        // SAFETY: `arg` is the privcmd_mmap_resource the ioctl takes; `addr` is the start of a
        // fresh privcmd mapping of exactly `num` pages owned by `pages`, into which the kernel
        // installs the resource's frames.
        if let Err(e) = unsafe { ioctl(self.file(), IOCTL_PRIVCMD_MMAP_RESOURCE, &mut arg) } {
            pages.munmap();
            return Err(e);
        }
        Ok(ForeignMapping::from_pages(pages))
    }
}
