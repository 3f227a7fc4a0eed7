//! `hvm/params.h` (and `HVMOP_{set,get}_param` with `xen_hvm_param` from `hvm/hvm_op.h`): the
//! `HVM_PARAM_*` indexes guests and toolstacks query. A PV guest finds its store and console in
//! `start_info`; these serve PVH/HVM guests and toolstacks, and `HVMOP_get_param` on a PV domain
//! is answered with an error.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::types::DomId;

sub_op_enum! {
    /// The parameter sub-ops of `hvm_op` (`HVMOP_set_param`, `HVMOP_get_param`).
    #[doc(alias = "HVMOP")]
    pub enum HvmOpParam {
        /// [`XenHvmParam`] in.
        #[doc(alias = "HVMOP_set_param")]
        SetParam = 0,
        /// [`XenHvmParam`] in/out.
        #[doc(alias = "HVMOP_get_param")]
        GetParam = 1,
    }
}

/// `xen_hvm_param` (`HVMOP_set_param`, `HVMOP_get_param`).
#[doc(alias = "xen_hvm_param")]
#[doc(alias = "xen_hvm_param_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenHvmParam {
    pub domid: DomId,
    pub pad: u16,
    /// An `HVM_PARAM_*` index.
    pub index: u32,
    pub value: u64,
}
const _: () = assert!(size_of::<XenHvmParam>() == 16);

/// `HVM_PARAM_CALLBACK_IRQ`: how event upcalls are delivered (type in the top byte).
pub const HVM_PARAM_CALLBACK_IRQ: u32 = 0;
/// `HVM_PARAM_CALLBACK_IRQ_TYPE_MASK`.
pub const HVM_PARAM_CALLBACK_IRQ_TYPE_MASK: u64 = 0xFF00_0000_0000_0000;
/// `HVM_PARAM_CALLBACK_TYPE_GSI`.
pub const HVM_PARAM_CALLBACK_TYPE_GSI: u64 = 0;
/// `HVM_PARAM_CALLBACK_TYPE_PCI_INTX`.
pub const HVM_PARAM_CALLBACK_TYPE_PCI_INTX: u64 = 1;
/// `HVM_PARAM_CALLBACK_TYPE_VECTOR`.
pub const HVM_PARAM_CALLBACK_TYPE_VECTOR: u64 = 2;
/// `HVM_PARAM_STORE_PFN`: the xenstore ring's frame.
pub const HVM_PARAM_STORE_PFN: u32 = 1;
/// `HVM_PARAM_STORE_EVTCHN`: the xenstore event channel.
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
/// `HVM_PARAM_PAE_ENABLED` (deprecated, tools only).
pub const HVM_PARAM_PAE_ENABLED: u32 = 4;
/// `HVM_PARAM_IOREQ_PFN`.
pub const HVM_PARAM_IOREQ_PFN: u32 = 5;
/// `HVM_PARAM_BUFIOREQ_PFN`.
pub const HVM_PARAM_BUFIOREQ_PFN: u32 = 6;
/// `HVM_PARAM_VIRIDIAN`.
pub const HVM_PARAM_VIRIDIAN: u32 = 9;
/// `HVM_PARAM_TIMER_MODE`.
pub const HVM_PARAM_TIMER_MODE: u32 = 10;
/// `HVM_PARAM_HPET_ENABLED`.
pub const HVM_PARAM_HPET_ENABLED: u32 = 11;
/// `HVM_PARAM_IDENT_PT`.
pub const HVM_PARAM_IDENT_PT: u32 = 12;
/// `HVM_PARAM_DM_DOMAIN` (deprecated, tools only).
pub const HVM_PARAM_DM_DOMAIN: u32 = 13;
/// `HVM_PARAM_ACPI_S_STATE`.
pub const HVM_PARAM_ACPI_S_STATE: u32 = 14;
/// `HVM_PARAM_VM86_TSS`.
pub const HVM_PARAM_VM86_TSS: u32 = 15;
/// `HVM_PARAM_VPT_ALIGN`.
pub const HVM_PARAM_VPT_ALIGN: u32 = 16;
/// `HVM_PARAM_CONSOLE_PFN`: the PV console ring's frame.
pub const HVM_PARAM_CONSOLE_PFN: u32 = 17;
/// `HVM_PARAM_CONSOLE_EVTCHN`: the PV console event channel.
pub const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;
/// `HVM_PARAM_ACPI_IOPORTS_LOCATION`.
pub const HVM_PARAM_ACPI_IOPORTS_LOCATION: u32 = 19;
/// `HVM_PARAM_NESTEDHVM` (deprecated, tools only).
pub const HVM_PARAM_NESTEDHVM: u32 = 24;
/// `HVM_PARAM_BUFIOREQ_EVTCHN` (deprecated, tools only).
pub const HVM_PARAM_BUFIOREQ_EVTCHN: u32 = 26;
/// `HVM_PARAM_PAGING_RING_PFN`.
pub const HVM_PARAM_PAGING_RING_PFN: u32 = 27;
/// `HVM_PARAM_MONITOR_RING_PFN`.
pub const HVM_PARAM_MONITOR_RING_PFN: u32 = 28;
/// `HVM_PARAM_SHARING_RING_PFN`.
pub const HVM_PARAM_SHARING_RING_PFN: u32 = 29;
/// `HVM_PARAM_TRIPLE_FAULT_REASON`.
pub const HVM_PARAM_TRIPLE_FAULT_REASON: u32 = 31;
/// `HVM_PARAM_IOREQ_SERVER_PFN`.
pub const HVM_PARAM_IOREQ_SERVER_PFN: u32 = 32;
/// `HVM_PARAM_NR_IOREQ_SERVER_PAGES`.
pub const HVM_PARAM_NR_IOREQ_SERVER_PAGES: u32 = 33;
/// `HVM_PARAM_VM_GENERATION_ID_ADDR`.
pub const HVM_PARAM_VM_GENERATION_ID_ADDR: u32 = 34;
/// `HVM_PARAM_ALTP2M`.
pub const HVM_PARAM_ALTP2M: u32 = 35;
/// `HVM_PARAM_X87_FIP_WIDTH`.
pub const HVM_PARAM_X87_FIP_WIDTH: u32 = 36;
/// `HVM_PARAM_VM86_TSS_SIZED`.
pub const HVM_PARAM_VM86_TSS_SIZED: u32 = 37;
/// `HVM_PARAM_MCA_CAP`.
pub const HVM_PARAM_MCA_CAP: u32 = 38;
/// `HVM_NR_PARAMS`: indexes are below this.
pub const HVM_NR_PARAMS: u32 = 39;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;

    #[test]
    fn hvmop_param_round_trips_and_unknown_is_enosys() {
        assert_sub_op::<HvmOpParam>();
    }

    #[test]
    fn every_param_is_below_hvm_nr_params() {
        const { assert!(HVM_PARAM_MCA_CAP < HVM_NR_PARAMS) };
    }
}
