//! Layout fragment for `memory.h`.

use crate::checker::Fragment;
use xen_abi::memory::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("memory.h", &["xen/memory.h"]);
    layout!(f, XenMemoryReservation => "struct xen_memory_reservation" {
        extent_start, nr_extents, extent_order, mem_flags, domid, _pad0,
    });
    layout!(f, XenMemoryExchange => "struct xen_memory_exchange" { r#in, out, nr_exchanged });
    layout!(f, XenMemoryDomain => "struct xen_memory_domain" { domid });
    layout!(f, XenMachphysMfnList => "struct xen_machphys_mfn_list" {
        max_extents, _pad0, extent_start, nr_extents, _pad1,
    });
    layout!(f, XenMachphysMapping => "struct xen_machphys_mapping" { v_start, v_end, max_mfn });
    layout!(f, XenAddToPhysmap => "struct xen_add_to_physmap" { domid, size, space, idx, gpfn });
    layout!(f, XenAddToPhysmapBatch => "struct xen_add_to_physmap_batch" {
        domid, space, size, u, idxs, gpfns, errs,
    });
    layout!(f, XenRemoveFromPhysmap => "struct xen_remove_from_physmap" { domid, _pad0, gpfn });
    layout!(f, XenMemoryMap => "struct xen_memory_map" { nr_entries, _pad0, buffer });
    layout!(f, XenForeignMemoryMap => "struct xen_foreign_memory_map" { domid, _pad0, map });
    layout!(f, XenPodTarget => "struct xen_pod_target" {
        target_pages, tot_pages, pod_cache_pages, pod_entries, domid, _pad0,
    });
    layout!(f, XenReservedDeviceMemory => "struct xen_reserved_device_memory" {
        start_pfn, nr_pages,
    });
    layout!(f, XenMemAcquireResource => "struct xen_mem_acquire_resource" {
        domid, r#type, id, nr_frames, pad, frame, frame_list,
    });
    layout!(f, XenVmemrange => "struct xen_vmemrange" { start, end, flags, nid });
    layout!(f, XenVnumaTopologyInfo => "struct xen_vnuma_topology_info" {
        domid, pad, nr_vnodes, nr_vcpus, nr_vmemranges, vdistance, vcpu_to_vnode, vmemrange,
    });
    sub_ops!(f, XenMem;
        XENMEM_increase_reservation = IncreaseReservation,
        XENMEM_decrease_reservation = DecreaseReservation,
        XENMEM_maximum_ram_page = MaximumRamPage,
        XENMEM_current_reservation = CurrentReservation,
        XENMEM_maximum_reservation = MaximumReservation,
        XENMEM_machphys_mfn_list = MachphysMfnList,
        XENMEM_populate_physmap = PopulatePhysmap,
        XENMEM_add_to_physmap = AddToPhysmap,
        XENMEM_memory_map = MemoryMap,
        XENMEM_machine_memory_map = MachineMemoryMap,
        XENMEM_exchange = Exchange,
        XENMEM_machphys_mapping = MachphysMapping,
        XENMEM_set_memory_map = SetMemoryMap,
        XENMEM_maximum_gpfn = MaximumGpfn,
        XENMEM_remove_from_physmap = RemoveFromPhysmap,
        XENMEM_set_pod_target = SetPodTarget,
        XENMEM_get_pod_target = GetPodTarget,
        XENMEM_get_sharing_freed_pages = GetSharingFreedPages,
        XENMEM_get_sharing_shared_pages = GetSharingSharedPages,
        XENMEM_paging_op = PagingOp,
        XENMEM_access_op = AccessOp,
        XENMEM_sharing_op = SharingOp,
        XENMEM_add_to_physmap_batch = AddToPhysmapBatch,
        XENMEM_claim_pages = ClaimPages,
        XENMEM_machphys_compat_mfn_list = MachphysCompatMfnList,
        XENMEM_get_vnumainfo = GetVnumainfo,
        XENMEM_reserved_device_memory_map = ReservedDeviceMemoryMap,
        XENMEM_acquire_resource = AcquireResource,
    );
    sub_ops!(f, XenMapSpace;
        XENMAPSPACE_shared_info = SharedInfo,
        XENMAPSPACE_grant_table = GrantTable,
        XENMAPSPACE_gmfn = Gmfn,
        XENMAPSPACE_gmfn_range = GmfnRange,
        XENMAPSPACE_gmfn_foreign = GmfnForeign,
        XENMAPSPACE_dev_mmio = DevMmio,
    );
    consts!(f;
        "offsetof(struct xen_add_to_physmap_batch, u.foreign_domid)" = 6,
        "offsetof(struct xen_add_to_physmap_batch, u.res0)" = 6,
        "XENMEMF_address_bits(32)" = xenmemf_address_bits(32),
        "XENMEMF_get_address_bits(0x1234)" = xenmemf_get_address_bits(0x1234),
        "XENMEMF_node(3)" = xenmemf_node(3),
        "XENMEMF_get_node(0x400)" = xenmemf_get_node(0x400),
        "XENMEMF_exact_node(2)" = xenmemf_exact_node(2),
        XENMEMF_populate_on_demand = XENMEMF_POPULATE_ON_DEMAND,
        XENMEMF_exact_node_request = XENMEMF_EXACT_NODE_REQUEST,
        XENMEMF_vnode = XENMEMF_VNODE,
        XENMAPIDX_grant_table_status = XENMAPIDX_GRANT_TABLE_STATUS,
        XENMEM_resource_ioreq_server = XENMEM_RESOURCE_IOREQ_SERVER,
        XENMEM_resource_grant_table = XENMEM_RESOURCE_GRANT_TABLE,
        XENMEM_resource_vmtrace_buf = XENMEM_RESOURCE_VMTRACE_BUF,
        XENMEM_resource_grant_table_id_shared = XENMEM_RESOURCE_GRANT_TABLE_ID_SHARED,
        XENMEM_resource_grant_table_id_status = XENMEM_RESOURCE_GRANT_TABLE_ID_STATUS,
    );
    f
}
