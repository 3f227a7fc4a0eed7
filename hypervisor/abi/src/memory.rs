//! `memory.h`: the `XENMEM_*` sub-ops of `memory_op` — reservations, exchange, the M2P, physmap
//! changes, the (machine) memory map and populate-on-demand — and their argument structs.
//!
//! The tools-only paging, access and sharing ops (`xen_mem_paging_op`, `xen_mem_access_op`,
//! `xen_mem_sharing_op`) and `xen_reserved_device_memory_map` are numbered but not mirrored: no PV
//! guest or PV toolstack path uses them (see docs/abi/README.md).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::types::{DomId, Gfn, Mfn};

sub_op_enum! {
    /// `memory_op` sub-ops (`XENMEM_*`): the low bits of the command word (see
    /// [`MEMOP_EXTENT_SHIFT`]).
    #[doc(alias = "XENMEM")]
    pub enum XenMem {
        /// [`XenMemoryReservation`]: allocate extents to a domain.
        #[doc(alias = "XENMEM_increase_reservation")]
        IncreaseReservation = 0,
        /// [`XenMemoryReservation`]: release the listed frames.
        #[doc(alias = "XENMEM_decrease_reservation")]
        DecreaseReservation = 1,
        /// Returns the largest machine frame in use.
        #[doc(alias = "XENMEM_maximum_ram_page")]
        MaximumRamPage = 2,
        /// `domid_t` in; returns the domain's current page count.
        #[doc(alias = "XENMEM_current_reservation")]
        CurrentReservation = 3,
        /// `domid_t` in; returns the domain's page limit.
        #[doc(alias = "XENMEM_maximum_reservation")]
        MaximumReservation = 4,
        /// [`XenMachphysMfnList`]: the frames backing the M2P.
        #[doc(alias = "XENMEM_machphys_mfn_list")]
        MachphysMfnList = 5,
        /// [`XenMemoryReservation`]: populate the listed guest frames.
        #[doc(alias = "XENMEM_populate_physmap")]
        PopulatePhysmap = 6,
        /// [`XenAddToPhysmap`].
        #[doc(alias = "XENMEM_add_to_physmap")]
        AddToPhysmap = 7,
        /// [`XenMemoryMap`]: the domain's pseudo-physical E820.
        #[doc(alias = "XENMEM_memory_map")]
        MemoryMap = 9,
        /// [`XenMemoryMap`]: the host E820 (privileged).
        #[doc(alias = "XENMEM_machine_memory_map")]
        MachineMemoryMap = 10,
        /// [`XenMemoryExchange`].
        #[doc(alias = "XENMEM_exchange")]
        Exchange = 11,
        /// [`XenMachphysMapping`]: where the M2P is mapped.
        #[doc(alias = "XENMEM_machphys_mapping")]
        MachphysMapping = 12,
        /// [`XenForeignMemoryMap`]: set a domain's E820 (toolstack).
        #[doc(alias = "XENMEM_set_memory_map")]
        SetMemoryMap = 13,
        /// `domid_t` in; returns the largest guest frame.
        #[doc(alias = "XENMEM_maximum_gpfn")]
        MaximumGpfn = 14,
        /// [`XenRemoveFromPhysmap`].
        #[doc(alias = "XENMEM_remove_from_physmap")]
        RemoveFromPhysmap = 15,
        /// [`XenPodTarget`].
        #[doc(alias = "XENMEM_set_pod_target")]
        SetPodTarget = 16,
        /// [`XenPodTarget`].
        #[doc(alias = "XENMEM_get_pod_target")]
        GetPodTarget = 17,
        #[doc(alias = "XENMEM_get_sharing_freed_pages")]
        GetSharingFreedPages = 18,
        #[doc(alias = "XENMEM_get_sharing_shared_pages")]
        GetSharingSharedPages = 19,
        #[doc(alias = "XENMEM_paging_op")]
        PagingOp = 20,
        #[doc(alias = "XENMEM_access_op")]
        AccessOp = 21,
        #[doc(alias = "XENMEM_sharing_op")]
        SharingOp = 22,
        /// [`XenAddToPhysmapBatch`].
        #[doc(alias = "XENMEM_add_to_physmap_batch")]
        AddToPhysmapBatch = 23,
        /// [`XenMemoryReservation`] (toolstack): claim pages for a domain being built.
        #[doc(alias = "XENMEM_claim_pages")]
        ClaimPages = 24,
        #[doc(alias = "XENMEM_machphys_compat_mfn_list")]
        MachphysCompatMfnList = 25,
        /// [`XenVnumaTopologyInfo`].
        #[doc(alias = "XENMEM_get_vnumainfo")]
        GetVnumainfo = 26,
        #[doc(alias = "XENMEM_reserved_device_memory_map")]
        ReservedDeviceMemoryMap = 27,
        /// [`XenMemAcquireResource`].
        #[doc(alias = "XENMEM_acquire_resource")]
        AcquireResource = 28,
    }
}

/// Bits of the `memory_op` command word above the sub-op: the start extent of a preempted call
/// (Xen's `MEMOP_EXTENT_SHIFT`, from its `common/memory.c`, not the public headers).
pub const MEMOP_EXTENT_SHIFT: u32 = 6;
/// Mask of the sub-op in the `memory_op` command word.
pub const MEMOP_CMD_MASK: u32 = (1 << MEMOP_EXTENT_SHIFT) - 1;

/// `XENMEMF_address_bits(x)`: restrict allocations to below `2^x`.
pub const fn xenmemf_address_bits(x: u32) -> u32 {
    x
}
/// `XENMEMF_get_address_bits(x)`.
pub const fn xenmemf_get_address_bits(x: u32) -> u32 {
    x & 0xff
}
/// `XENMEMF_node(x)`: prefer NUMA node `x`.
pub const fn xenmemf_node(x: u32) -> u32 {
    (x.wrapping_add(1)) << 8
}
/// `XENMEMF_get_node(x)`.
pub const fn xenmemf_get_node(x: u32) -> u32 {
    ((x >> 8).wrapping_sub(1)) & 0xff
}
/// `XENMEMF_populate_on_demand`.
#[doc(alias = "XENMEMF_populate_on_demand")]
pub const XENMEMF_POPULATE_ON_DEMAND: u32 = 1 << 16;
/// `XENMEMF_exact_node_request`.
#[doc(alias = "XENMEMF_exact_node_request")]
pub const XENMEMF_EXACT_NODE_REQUEST: u32 = 1 << 17;
/// `XENMEMF_exact_node(n)`.
pub const fn xenmemf_exact_node(n: u32) -> u32 {
    xenmemf_node(n) | XENMEMF_EXACT_NODE_REQUEST
}
/// `XENMEMF_vnode`: the node in the flags is a virtual node.
#[doc(alias = "XENMEMF_vnode")]
pub const XENMEMF_VNODE: u32 = 1 << 18;

/// `xen_memory_reservation` (increase/decrease reservation, populate physmap, claim pages).
#[doc(alias = "xen_memory_reservation")]
#[doc(alias = "xen_memory_reservation_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenMemoryReservation {
    /// Guest handle to an array of `xen_pfn_t` (frames in or out), or null.
    pub extent_start: u64,
    /// Number of extents.
    pub nr_extents: u64,
    /// Each extent is `2^extent_order` pages.
    pub extent_order: u32,
    /// `XENMEMF_*`.
    pub mem_flags: u32,
    /// The domain; `DOMID_SELF` for the caller.
    pub domid: DomId,
    pub _pad0: [u8; 6],
}
const _: () = assert!(size_of::<XenMemoryReservation>() == 32);

/// `xen_memory_exchange` (`XENMEM_exchange`): trade `in` extents for `out` extents.
#[doc(alias = "xen_memory_exchange")]
#[doc(alias = "xen_memory_exchange_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenMemoryExchange {
    /// The frames to give up (C `in`).
    pub r#in: XenMemoryReservation,
    /// The extents wanted instead.
    pub out: XenMemoryReservation,
    /// OUT: extents exchanged so far (also the restart point).
    pub nr_exchanged: u64,
}
const _: () = assert!(size_of::<XenMemoryExchange>() == 72);

/// `xen_memory_domain`: the argument of the reservation queries.
#[doc(alias = "xen_memory_domain")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenMemoryDomain {
    pub domid: DomId,
}
const _: () = assert!(size_of::<XenMemoryDomain>() == 2);

/// `xen_machphys_mfn_list` (`XENMEM_machphys_mfn_list`).
#[doc(alias = "xen_machphys_mfn_list")]
#[doc(alias = "xen_machphys_mfn_list_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenMachphysMfnList {
    /// Size of the `extent_start` array.
    pub max_extents: u32,
    pub _pad0: u32,
    /// Guest handle to an array of `xen_pfn_t`.
    pub extent_start: u64,
    /// OUT: entries filled.
    pub nr_extents: u32,
    pub _pad1: u32,
}
const _: () = assert!(size_of::<XenMachphysMfnList>() == 24);

/// `xen_machphys_mapping` (`XENMEM_machphys_mapping`): the M2P's virtual range.
#[doc(alias = "xen_machphys_mapping")]
#[doc(alias = "xen_machphys_mapping_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenMachphysMapping {
    pub v_start: u64,
    pub v_end: u64,
    /// Largest MFN that can be looked up.
    pub max_mfn: u64,
}
const _: () = assert!(size_of::<XenMachphysMapping>() == 24);

sub_op_enum! {
    /// `xen_add_to_physmap.space` (`XENMAPSPACE_*`, C's `enum phys_map_space`).
    #[doc(alias = "phys_map_space")]
    pub enum XenMapSpace {
        /// The shared info page.
        #[doc(alias = "XENMAPSPACE_shared_info")]
        SharedInfo = 0,
        /// A grant table frame (`idx`; `XENMAPIDX_grant_table_status` for status frames).
        #[doc(alias = "XENMAPSPACE_grant_table")]
        GrantTable = 1,
        /// A guest frame.
        #[doc(alias = "XENMAPSPACE_gmfn")]
        Gmfn = 2,
        /// A range of guest frames (`XENMEM_add_to_physmap` only).
        #[doc(alias = "XENMAPSPACE_gmfn_range")]
        GmfnRange = 3,
        /// A frame of another domain (`XENMEM_add_to_physmap_batch` only).
        #[doc(alias = "XENMAPSPACE_gmfn_foreign")]
        GmfnForeign = 4,
        /// Device MMIO (ARM only).
        #[doc(alias = "XENMAPSPACE_dev_mmio")]
        DevMmio = 5,
    }
}

/// `XENMAPIDX_grant_table_status`: in `idx`, selects grant status frames.
#[doc(alias = "XENMAPIDX_grant_table_status")]
pub const XENMAPIDX_GRANT_TABLE_STATUS: u64 = 0x8000_0000;

/// `xen_add_to_physmap` (`XENMEM_add_to_physmap`).
#[doc(alias = "xen_add_to_physmap")]
#[doc(alias = "xen_add_to_physmap_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenAddToPhysmap {
    pub domid: DomId,
    /// Pages to go through for `XENMAPSPACE_gmfn_range`.
    pub size: u16,
    /// A [`XenMapSpace`] number.
    pub space: u32,
    /// Index into the space.
    pub idx: u64,
    /// Where the page should appear.
    pub gpfn: Gfn,
}
const _: () = assert!(size_of::<XenAddToPhysmap>() == 24);

/// `xen_add_to_physmap_batch` (`XENMEM_add_to_physmap_batch`).
///
/// The C union `u` (`foreign_domid` for `XENMAPSPACE_gmfn_foreign`, else `res0` = 0) is one `u16`.
#[doc(alias = "xen_add_to_physmap_batch")]
#[doc(alias = "xen_add_to_physmap_batch_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenAddToPhysmapBatch {
    pub domid: DomId,
    /// A [`XenMapSpace`] number.
    pub space: u16,
    /// Number of pages.
    pub size: u16,
    /// `u.foreign_domid` or `u.res0`.
    pub u: u16,
    /// Guest handle to `xen_ulong_t` indexes.
    pub idxs: u64,
    /// Guest handle to `xen_pfn_t` destinations.
    pub gpfns: u64,
    /// Guest handle to `int` per-index errors (OUT).
    pub errs: u64,
}
const _: () = assert!(size_of::<XenAddToPhysmapBatch>() == 32);

impl XenAddToPhysmapBatch {
    /// `u.foreign_domid`.
    pub const fn foreign_domid(&self) -> DomId {
        DomId(self.u)
    }
}

/// `xen_remove_from_physmap` (`XENMEM_remove_from_physmap`).
#[doc(alias = "xen_remove_from_physmap")]
#[doc(alias = "xen_remove_from_physmap_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenRemoveFromPhysmap {
    pub domid: DomId,
    pub _pad0: [u8; 6],
    pub gpfn: Gfn,
}
const _: () = assert!(size_of::<XenRemoveFromPhysmap>() == 16);

/// `xen_memory_map` (`XENMEM_memory_map`, `XENMEM_machine_memory_map`): an E820 buffer.
#[doc(alias = "xen_memory_map")]
#[doc(alias = "xen_memory_map_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenMemoryMap {
    /// IN: entries the buffer holds; OUT: entries written.
    pub nr_entries: u32,
    pub _pad0: u32,
    /// Guest handle to an array of [`E820Entry`].
    pub buffer: u64,
}
const _: () = assert!(size_of::<XenMemoryMap>() == 16);

/// `xen_foreign_memory_map` (`XENMEM_set_memory_map`).
#[doc(alias = "xen_foreign_memory_map")]
#[doc(alias = "xen_foreign_memory_map_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenForeignMemoryMap {
    pub domid: DomId,
    pub _pad0: [u8; 6],
    pub map: XenMemoryMap,
}
const _: () = assert!(size_of::<XenForeignMemoryMap>() == 24);

/// One entry of the E820 map `XENMEM_memory_map` returns: Xen's (and Linux's) packed
/// `struct e820entry`, 20 bytes. The public headers do not define it, so the layout test cannot
/// check it against C; this is the layout of the BIOS interface.
#[doc(alias = "e820entry")]
#[doc(alias = "e820_entry")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C, packed)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    /// `E820_*`.
    pub r#type: u32,
}
const _: () = assert!(size_of::<E820Entry>() == 20);

/// E820 type: usable RAM.
pub const E820_RAM: u32 = 1;
/// E820 type: reserved.
pub const E820_RESERVED: u32 = 2;
/// E820 type: ACPI tables, reclaimable.
pub const E820_ACPI: u32 = 3;
/// E820 type: ACPI NVS.
pub const E820_NVS: u32 = 4;
/// E820 type: unusable.
pub const E820_UNUSABLE: u32 = 5;

/// `xen_pod_target` (`XENMEM_set_pod_target`, `XENMEM_get_pod_target`).
#[doc(alias = "xen_pod_target")]
#[doc(alias = "xen_pod_target_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenPodTarget {
    pub target_pages: u64,
    pub tot_pages: u64,
    pub pod_cache_pages: u64,
    pub pod_entries: u64,
    pub domid: DomId,
    pub _pad0: [u8; 6],
}
const _: () = assert!(size_of::<XenPodTarget>() == 40);

/// `xen_reserved_device_memory`: one region of `XENMEM_reserved_device_memory_map`.
#[doc(alias = "xen_reserved_device_memory")]
#[doc(alias = "xen_reserved_device_memory_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenReservedDeviceMemory {
    pub start_pfn: Mfn,
    pub nr_pages: u64,
}
const _: () = assert!(size_of::<XenReservedDeviceMemory>() == 16);

/// `XENMEM_resource_ioreq_server`.
#[doc(alias = "XENMEM_resource_ioreq_server")]
pub const XENMEM_RESOURCE_IOREQ_SERVER: u16 = 0;
/// `XENMEM_resource_grant_table`.
#[doc(alias = "XENMEM_resource_grant_table")]
pub const XENMEM_RESOURCE_GRANT_TABLE: u16 = 1;
/// `XENMEM_resource_vmtrace_buf`.
#[doc(alias = "XENMEM_resource_vmtrace_buf")]
pub const XENMEM_RESOURCE_VMTRACE_BUF: u16 = 2;
/// `XENMEM_resource_grant_table_id_shared`.
#[doc(alias = "XENMEM_resource_grant_table_id_shared")]
pub const XENMEM_RESOURCE_GRANT_TABLE_ID_SHARED: u32 = 0;
/// `XENMEM_resource_grant_table_id_status`.
#[doc(alias = "XENMEM_resource_grant_table_id_status")]
pub const XENMEM_RESOURCE_GRANT_TABLE_ID_STATUS: u32 = 1;

/// `xen_mem_acquire_resource` (`XENMEM_acquire_resource`): map another domain's resource frames.
#[doc(alias = "xen_mem_acquire_resource")]
#[doc(alias = "xen_mem_acquire_resource_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenMemAcquireResource {
    pub domid: DomId,
    /// `XENMEM_resource_*`.
    pub r#type: u16,
    pub id: u32,
    pub nr_frames: u32,
    pub pad: u32,
    pub frame: u64,
    /// Guest handle to `xen_pfn_t` frames.
    pub frame_list: u64,
}
const _: () = assert!(size_of::<XenMemAcquireResource>() == 32);

/// `xen_vmemrange`: one vNUMA memory range.
#[doc(alias = "xen_vmemrange")]
#[doc(alias = "xen_vmemrange_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenVmemrange {
    pub start: u64,
    pub end: u64,
    pub flags: u32,
    pub nid: u32,
}
const _: () = assert!(size_of::<XenVmemrange>() == 24);

/// `xen_vnuma_topology_info` (`XENMEM_get_vnumainfo`); each C union of a handle and a `uint64_t
/// pad` is one `u64`.
#[doc(alias = "xen_vnuma_topology_info")]
#[doc(alias = "xen_vnuma_topology_info_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenVnumaTopologyInfo {
    pub domid: DomId,
    pub pad: u16,
    pub nr_vnodes: u32,
    pub nr_vcpus: u32,
    pub nr_vmemranges: u32,
    pub vdistance: u64,
    pub vcpu_to_vnode: u64,
    pub vmemrange: u64,
}
const _: () = assert!(size_of::<XenVnumaTopologyInfo>() == 40);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;

    #[test]
    fn memory_enums_round_trip_and_unknown_is_enosys() {
        assert_sub_op::<XenMem>();
        assert_sub_op::<XenMapSpace>();
        assert_eq!(XenMem::try_from(8), Err(crate::Errno::ENOSYS));
    }

    #[test]
    fn memf_node_round_trips() {
        assert_eq!(xenmemf_get_node(xenmemf_node(3)), 3);
        assert_eq!(
            xenmemf_get_address_bits(xenmemf_address_bits(32) | xenmemf_node(1)),
            32
        );
    }

    #[test]
    fn command_word_splits_into_sub_op_and_start_extent() {
        let cmd = (5 << MEMOP_EXTENT_SHIFT) | XenMem::PopulatePhysmap as u32;
        assert_eq!(
            XenMem::try_from(cmd & MEMOP_CMD_MASK),
            Ok(XenMem::PopulatePhysmap)
        );
        assert_eq!(cmd >> MEMOP_EXTENT_SHIFT, 5);
    }
}
