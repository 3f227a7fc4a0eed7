//! Layout fragment for `features.h`.

use crate::checker::Fragment;
use xen_abi::features::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("features.h", &["xen/features.h"]);
    consts!(f;
        XENFEAT_writable_page_tables = XENFEAT_WRITABLE_PAGE_TABLES,
        XENFEAT_writable_descriptor_tables = XENFEAT_WRITABLE_DESCRIPTOR_TABLES,
        XENFEAT_auto_translated_physmap = XENFEAT_AUTO_TRANSLATED_PHYSMAP,
        XENFEAT_supervisor_mode_kernel = XENFEAT_SUPERVISOR_MODE_KERNEL,
        XENFEAT_pae_pgdir_above_4gb = XENFEAT_PAE_PGDIR_ABOVE_4GB,
        XENFEAT_mmu_pt_update_preserve_ad = XENFEAT_MMU_PT_UPDATE_PRESERVE_AD,
        XENFEAT_highmem_assist = XENFEAT_HIGHMEM_ASSIST,
        XENFEAT_gnttab_map_avail_bits = XENFEAT_GNTTAB_MAP_AVAIL_BITS,
        XENFEAT_hvm_callback_vector = XENFEAT_HVM_CALLBACK_VECTOR,
        XENFEAT_hvm_safe_pvclock = XENFEAT_HVM_SAFE_PVCLOCK,
        XENFEAT_hvm_pirqs = XENFEAT_HVM_PIRQS,
        XENFEAT_dom0 = XENFEAT_DOM0,
        XENFEAT_memory_op_vnode_supported = XENFEAT_MEMORY_OP_VNODE_SUPPORTED,
        XENFEAT_ARM_SMCCC_supported = XENFEAT_ARM_SMCCC_SUPPORTED,
        XENFEAT_linux_rsdp_unrestricted = XENFEAT_LINUX_RSDP_UNRESTRICTED,
        XENFEAT_not_direct_mapped = XENFEAT_NOT_DIRECT_MAPPED,
        XENFEAT_direct_mapped = XENFEAT_DIRECT_MAPPED,
        XENFEAT_NR_SUBMAPS = XENFEAT_NR_SUBMAPS,
    );
    f
}
