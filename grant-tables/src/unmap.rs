//! `GNTTABOP_unmap_grant_ref` and `GNTTABOP_unmap_and_replace` (`unmap_common`,
//! `unmap_common_complete`), one op and batched; the release path destruction shares.

use alloc::vec::Vec;

use xen_abi::grant_table::{
    GnttabStatus, GnttabUnmapAndReplace, GnttabUnmapGrantRef, GNTMAP_DEVICE_MAP, GNTMAP_HOST_MAP,
    GNTMAP_READONLY,
};
use xen_abi::{DomId, GrantHandle, Mfn};

use crate::active::PinKind;
use crate::dispatch::{batch, status_code};
use crate::mem::GrantMemory;
use crate::system::{FrameRef, GrantSystem};
use crate::table::MaptrackEntry;

/// What the hypervisor tears down after a successful unmap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unmapping {
    /// The frame that was mapped.
    pub mfn: Mfn,
    /// The granting domain.
    pub granter: DomId,
    /// Remove the host mapping at `host_addr`.
    pub host_unmapped: bool,
    /// Remove the device mapping.
    pub device_unmapped: bool,
    /// The host address to clear.
    pub host_addr: u64,
    /// `GNTTABOP_unmap_and_replace`: move the PTE at this address into `host_addr` and zap it.
    pub new_addr: Option<u64>,
    /// The mapping was read-only (writable ones mark the frame dirty).
    pub readonly: bool,
    /// The handle is free again (both sides unmapped).
    pub handle_freed: bool,
    /// References dropped on `mfn`.
    pub frame_ref: FrameRef,
    /// The owner is gone and this was the frame's last foreign reference: free it now.
    pub free_frame: Option<Mfn>,
    /// The granter died earlier and its grant table has no pins left: release its table frames.
    pub table_released: Option<DomId>,
}

impl GrantSystem {
    /// `GNTTABOP_unmap_grant_ref` for one op (`unmap_common` + `unmap_common_complete`).
    pub fn unmap_grant_ref<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        op: &GnttabUnmapGrantRef,
    ) -> Result<Unmapping, GnttabStatus> {
        self.unmap_common(mem, caller, op.handle, op.host_addr, op.dev_bus_addr, None)
    }

    /// `GNTTABOP_unmap_and_replace` for one op: as unmap with `dev_bus_addr = 0`, reporting
    /// `new_addr` for the hypervisor's PTE replacement.
    pub fn unmap_and_replace<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        op: &GnttabUnmapAndReplace,
    ) -> Result<Unmapping, GnttabStatus> {
        self.unmap_common(mem, caller, op.handle, op.host_addr, 0, Some(op.new_addr))
    }

    fn unmap_common<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        handle: GrantHandle,
        host_addr: u64,
        dev_bus_addr: u64,
        new_addr: Option<u64>,
    ) -> Result<Unmapping, GnttabStatus> {
        let lgt = self
            .domains
            .get(&caller)
            .ok_or(GnttabStatus::GeneralError)?;
        // `op->handle >= lgt->maptrack_limit` and "Zero flags" are both GNTST_bad_handle.
        let m = lgt
            .maptrack
            .get(handle.0 as usize)
            .copied()
            .flatten()
            .ok_or(GnttabStatus::BadHandle)?;
        let act = self
            .active_entry(m.dom, m.gref)
            .ok_or(GnttabStatus::BadHandle)?;
        if dev_bus_addr != 0 && dev_bus_addr != act.mfn.addr() {
            // "Bus address doesn't match gntref".
            return Err(GnttabStatus::GeneralError);
        }
        let mut done = 0;
        let mut remaining = m.flags;
        if host_addr != 0 && m.flags & GNTMAP_HOST_MAP != 0 {
            // `replace_grant_host_mapping` fails with GNTST_general_error when the PTE does not
            // map the frame; Ferrite compares with the address recorded at map time.
            if host_addr != m.host_addr {
                return Err(GnttabStatus::GeneralError);
            }
            remaining &= !GNTMAP_HOST_MAP;
            done |= GNTMAP_HOST_MAP | (m.flags & GNTMAP_READONLY);
        }
        if dev_bus_addr != 0 && m.flags & GNTMAP_DEVICE_MAP != 0 {
            remaining &= !GNTMAP_DEVICE_MAP;
            done |= GNTMAP_DEVICE_MAP | (m.flags & GNTMAP_READONLY);
        }
        let freed = remaining & (GNTMAP_HOST_MAP | GNTMAP_DEVICE_MAP) == 0;
        if let Some(d) = self.domains.get_mut(&caller) {
            if freed {
                d.put_handle(handle.0);
            } else if let Some(Some(slot)) = d.maptrack.get_mut(handle.0 as usize) {
                slot.flags = remaining;
            }
        }
        let mut u = self.unmap_complete(mem, m, done, new_addr);
        u.handle_freed = freed;
        Ok(u)
    }

    /// `unmap_common_complete`: drop the pins and frame references for the sides in `done`.
    pub(crate) fn unmap_complete<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        m: MaptrackEntry,
        done: u32,
        new_addr: Option<u64>,
    ) -> Unmapping {
        let readonly = done & GNTMAP_READONLY != 0;
        let mut kinds: heapless::Vec<PinKind, 2> = heapless::Vec::new();
        if done & GNTMAP_DEVICE_MAP != 0 {
            let _ = kinds.push(PinKind::Device);
        }
        if done & GNTMAP_HOST_MAP != 0 {
            let _ = kinds.push(PinKind::Host);
        }
        let n = kinds.len() as u32;
        let table_released = if n == 0 {
            None
        } else {
            self.unpin(mem, m.dom, m.gref, readonly, &kinds)
        };
        let free_frame = self.frame_put(m.mfn, n);
        Unmapping {
            mfn: m.mfn,
            granter: m.dom,
            host_unmapped: done & GNTMAP_HOST_MAP != 0,
            device_unmapped: done & GNTMAP_DEVICE_MAP != 0,
            host_addr: m.host_addr,
            new_addr,
            readonly: m.flags & GNTMAP_READONLY != 0,
            handle_freed: true,
            frame_ref: FrameRef {
                mfn: m.mfn,
                delta: -(n as i32),
            },
            free_frame,
            table_released,
        }
    }

    /// A batch of `GNTTABOP_unmap_grant_ref`, each op's status written back.
    pub fn unmap_grant_ref_batch<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        ops: &mut [GnttabUnmapGrantRef],
    ) -> Vec<Result<Unmapping, GnttabStatus>> {
        batch(
            ops,
            |op| self.unmap_grant_ref(mem, caller, op),
            |op, r| op.status = status_code(r),
        )
    }

    /// A batch of `GNTTABOP_unmap_and_replace`, each op's status written back.
    pub fn unmap_and_replace_batch<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        caller: DomId,
        ops: &mut [GnttabUnmapAndReplace],
    ) -> Vec<Result<Unmapping, GnttabStatus>> {
        batch(
            ops,
            |op| self.unmap_and_replace(mem, caller, op),
            |op, r| op.status = status_code(r),
        )
    }
}

#[cfg(test)]
mod tests {
    //! unmap_grant_ref, unmap_and_replace and their batches, each citing the Xen 4.17 behaviour.
    use super::*;
    use crate::fixtures::*;

    use crate::system::FrameRef;
    use xen_abi::grant_table::{GTF_PERMIT_ACCESS, GTF_READING, GTF_WRITING};

    #[test]
    fn unmap_grant_ref_never_allocated_handle_is_bad_handle() {
        // unmap_common: op->handle >= lgt->maptrack_limit -> GNTST_bad_handle.
        let (mut sys, mut mem) = granted(false);
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &uop(GrantHandle(0))),
            Err(GnttabStatus::BadHandle)
        );
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &uop(GrantHandle(u32::MAX))),
            Err(GnttabStatus::BadHandle)
        );
    }

    #[test]
    fn unmap_grant_ref_free_handle_is_bad_handle() {
        // unmap_common: "Zero flags for handle" -> GNTST_bad_handle (also a second unmap).
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        assert!(sys.unmap_grant_ref(&mut mem, BACK, &uop(m.handle)).is_ok());
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &uop(m.handle)),
            Err(GnttabStatus::BadHandle)
        );
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &uop(GrantHandle(m.handle.0 + 1))),
            Err(GnttabStatus::BadHandle)
        );
    }

    #[test]
    fn unmap_grant_ref_other_domains_handle_is_bad_handle() {
        // Handles index the caller's own maptrack table.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, OTHER, &uop(m.handle)),
            Err(GnttabStatus::BadHandle)
        );
    }

    #[test]
    fn unmap_grant_ref_wrong_host_addr_is_general_error() {
        // unmap_common: replace_grant_host_mapping fails -> GNTST_general_error; the mapping stays.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        let op = GnttabUnmapGrantRef {
            host_addr: VA + 0x1000,
            ..uop(m.handle)
        };
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &op),
            Err(GnttabStatus::GeneralError)
        );
        assert!(sys.maptrack_entry(BACK, m.handle).is_some());
        assert_ne!(flags(&mem, FRONT, R) & GTF_WRITING, 0);
    }

    #[test]
    fn unmap_grant_ref_wrong_dev_bus_addr_is_general_error() {
        // unmap_common: "Bus address doesn't match gntref" -> GNTST_general_error.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW | GNTMAP_DEVICE_MAP))
            .expect("map");
        let op = GnttabUnmapGrantRef {
            dev_bus_addr: m.dev_bus_addr + 0x1000,
            ..uop(m.handle)
        };
        assert_eq!(
            sys.unmap_grant_ref(&mut mem, BACK, &op),
            Err(GnttabStatus::GeneralError)
        );
    }

    #[test]
    fn unmap_grant_ref_last_mapping_clears_reading_and_writing() {
        // unmap_common_complete: no writable pins -> clear GTF_writing; pin == 0 -> GTF_reading.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        let u = sys
            .unmap_grant_ref(&mut mem, BACK, &uop(m.handle))
            .expect("unmap");
        assert!(u.host_unmapped && u.handle_freed && !u.readonly);
        assert_eq!(
            u.frame_ref,
            FrameRef {
                mfn: m.mfn,
                delta: -1
            }
        );
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
        assert_eq!(sys.active_entry(FRONT, R), None);
        assert!(!sys.frame_is_mapped(m.mfn));
    }

    #[test]
    fn unmap_grant_ref_rw_with_ro_remaining_clears_only_writing() {
        // unmap_common_complete: GTF_writing goes with the last writable pin, GTF_reading stays.
        let (mut sys, mut mem) = granted(false);
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("ro");
        let w = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("rw");
        sys.unmap_grant_ref(&mut mem, BACK, &uop(w.handle))
            .expect("unmap rw");
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS | GTF_READING);
    }

    #[test]
    fn unmap_grant_ref_host_side_of_host_and_device_map_keeps_handle() {
        // unmap_common: only the sides named are unmapped; the handle is freed when no
        // GNTMAP_host_map/device_map remains.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW | GNTMAP_DEVICE_MAP))
            .expect("map");
        let u = sys
            .unmap_grant_ref(&mut mem, BACK, &uop(m.handle))
            .expect("host side");
        assert!(u.host_unmapped && !u.device_unmapped && !u.handle_freed);
        assert_eq!(sys.foreign_map_count(m.mfn), 1);
        assert_ne!(
            flags(&mem, FRONT, R) & GTF_WRITING,
            0,
            "device pin still writable"
        );
        let dev = GnttabUnmapGrantRef {
            host_addr: 0,
            dev_bus_addr: m.dev_bus_addr,
            handle: m.handle,
            ..Default::default()
        };
        let u = sys
            .unmap_grant_ref(&mut mem, BACK, &dev)
            .expect("device side");
        assert!(u.device_unmapped && u.handle_freed);
        assert_eq!(flags(&mem, FRONT, R), GTF_PERMIT_ACCESS);
    }

    #[test]
    fn unmap_grant_ref_zero_addresses_is_okay_and_keeps_mapping() {
        // unmap_common: host_addr == 0 and dev_bus_addr == 0 unmap nothing, status okay.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        let op = GnttabUnmapGrantRef {
            host_addr: 0,
            ..uop(m.handle)
        };
        let u = sys.unmap_grant_ref(&mut mem, BACK, &op).expect("no-op");
        assert!(!u.host_unmapped && !u.handle_freed);
        assert!(sys.maptrack_entry(BACK, m.handle).is_some());
    }

    #[test]
    fn unmap_and_replace_reports_new_addr_and_frees_handle() {
        // unmap_and_replace: unmap_common with new_addr and dev_bus_addr = 0.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        let op = GnttabUnmapAndReplace {
            host_addr: VA,
            new_addr: 0x5000,
            handle: m.handle,
            ..Default::default()
        };
        let u = sys.unmap_and_replace(&mut mem, BACK, &op).expect("replace");
        assert_eq!(u.new_addr, Some(0x5000));
        assert!(u.handle_freed);
        let mut ops = [op];
        sys.unmap_and_replace_batch(&mut mem, BACK, &mut ops);
        assert_eq!(ops[0].status, GnttabStatus::BadHandle.code());
    }

    #[test]
    fn unmap_grant_ref_batch_reports_each_status() {
        // gnttab_unmap_grant_ref: each op's status is copied back individually.
        let (mut sys, mut mem) = granted(false);
        let m = sys
            .map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RW))
            .expect("map");
        let mut ops = [uop(GrantHandle(77)), uop(m.handle), uop(m.handle)];
        sys.unmap_grant_ref_batch(&mut mem, BACK, &mut ops);
        assert_eq!(ops.map(|o| o.status), [-4, 0, -4]);
    }
}
