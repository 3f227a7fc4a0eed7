//! `features.h`: the `XENFEAT_*` bits `XENVER_get_features` reports (submap 0).

/// `XENFEAT_writable_page_tables`: the guest may write its page tables directly.
#[doc(alias = "XENFEAT_writable_page_tables")]
pub const XENFEAT_WRITABLE_PAGE_TABLES: u32 = 0;
/// `XENFEAT_writable_descriptor_tables`: the guest may write its descriptor tables directly.
#[doc(alias = "XENFEAT_writable_descriptor_tables")]
pub const XENFEAT_WRITABLE_DESCRIPTOR_TABLES: u32 = 1;
/// `XENFEAT_auto_translated_physmap`: the hypervisor translates guest frames (not PV).
#[doc(alias = "XENFEAT_auto_translated_physmap")]
pub const XENFEAT_AUTO_TRANSLATED_PHYSMAP: u32 = 2;
/// `XENFEAT_supervisor_mode_kernel`: the guest kernel runs in ring 0.
#[doc(alias = "XENFEAT_supervisor_mode_kernel")]
pub const XENFEAT_SUPERVISOR_MODE_KERNEL: u32 = 3;
/// `XENFEAT_pae_pgdir_above_4gb`: PAE page directories may sit above 4 GiB.
#[doc(alias = "XENFEAT_pae_pgdir_above_4gb")]
pub const XENFEAT_PAE_PGDIR_ABOVE_4GB: u32 = 4;
/// `XENFEAT_mmu_pt_update_preserve_ad`: `MMU_PT_UPDATE_PRESERVE_AD` is supported (Linux requires it).
#[doc(alias = "XENFEAT_mmu_pt_update_preserve_ad")]
pub const XENFEAT_MMU_PT_UPDATE_PRESERVE_AD: u32 = 5;
/// `XENFEAT_highmem_assist`: `MMUEXT_{CLEAR,COPY}_PAGE` are supported.
#[doc(alias = "XENFEAT_highmem_assist")]
pub const XENFEAT_HIGHMEM_ASSIST: u32 = 6;
/// `XENFEAT_gnttab_map_avail_bits`: `GNTMAP_guest_avail_mask` is honoured (Linux requires it).
#[doc(alias = "XENFEAT_gnttab_map_avail_bits")]
pub const XENFEAT_GNTTAB_MAP_AVAIL_BITS: u32 = 7;
/// `XENFEAT_hvm_callback_vector`: HVM only.
#[doc(alias = "XENFEAT_hvm_callback_vector")]
pub const XENFEAT_HVM_CALLBACK_VECTOR: u32 = 8;
/// `XENFEAT_hvm_safe_pvclock`: HVM only.
#[doc(alias = "XENFEAT_hvm_safe_pvclock")]
pub const XENFEAT_HVM_SAFE_PVCLOCK: u32 = 9;
/// `XENFEAT_hvm_pirqs`: HVM only.
#[doc(alias = "XENFEAT_hvm_pirqs")]
pub const XENFEAT_HVM_PIRQS: u32 = 10;
/// `XENFEAT_dom0`: the domain is dom0 (set for the hardware domain).
#[doc(alias = "XENFEAT_dom0")]
pub const XENFEAT_DOM0: u32 = 11;
/// `XENFEAT_memory_op_vnode_supported`: `XENMEM_*` take vNUMA node hints.
#[doc(alias = "XENFEAT_memory_op_vnode_supported")]
pub const XENFEAT_MEMORY_OP_VNODE_SUPPORTED: u32 = 13;
/// `XENFEAT_ARM_SMCCC_supported`: ARM only.
#[doc(alias = "XENFEAT_ARM_SMCCC_supported")]
pub const XENFEAT_ARM_SMCCC_SUPPORTED: u32 = 14;
/// `XENFEAT_linux_rsdp_unrestricted`: Linux may use the RSDP where it likes (PVH dom0).
#[doc(alias = "XENFEAT_linux_rsdp_unrestricted")]
pub const XENFEAT_LINUX_RSDP_UNRESTRICTED: u32 = 15;
/// `XENFEAT_not_direct_mapped`: guest memory is not 1:1 mapped (ARM).
#[doc(alias = "XENFEAT_not_direct_mapped")]
pub const XENFEAT_NOT_DIRECT_MAPPED: u32 = 16;
/// `XENFEAT_direct_mapped`: guest memory is 1:1 mapped (ARM).
#[doc(alias = "XENFEAT_direct_mapped")]
pub const XENFEAT_DIRECT_MAPPED: u32 = 17;
/// `XENFEAT_NR_SUBMAPS`: number of 32-bit feature submaps.
pub const XENFEAT_NR_SUBMAPS: u32 = 1;

/// The submap-0 bit for feature number `feat`, or `None` if it lies in another submap.
pub const fn feature_bit(feat: u32) -> Option<u32> {
    if feat < 32 {
        Some(1 << feat)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_bit_of_linux_required_features() {
        assert_eq!(feature_bit(XENFEAT_MMU_PT_UPDATE_PRESERVE_AD), Some(1 << 5));
        assert_eq!(feature_bit(XENFEAT_GNTTAB_MAP_AVAIL_BITS), Some(1 << 7));
        assert_eq!(feature_bit(32), None);
    }
}
