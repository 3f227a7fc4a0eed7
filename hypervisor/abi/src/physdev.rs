//! `physdev.h`: the `PHYSDEVOP_*` sub-ops of `physdev_op` — IOPL and I/O bitmap, PIRQ mapping and
//! EOI, IO-APIC access, GSI setup, and PCI device registration (what a Linux dom0 issues).

use bitflags::bitflags;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::types::{DomId, Gfn};

sub_op_enum! {
    /// `physdev_op` sub-ops (`PHYSDEVOP_*`).
    #[doc(alias = "PHYSDEVOP")]
    pub enum PhysdevOp {
        /// Old "unmask this IRQ" notification (no argument).
        #[doc(alias = "PHYSDEVOP_IRQ_UNMASK_NOTIFY")]
        IrqUnmaskNotify = 4,
        /// [`PhysdevIrqStatusQuery`].
        #[doc(alias = "PHYSDEVOP_irq_status_query")]
        IrqStatusQuery = 5,
        /// [`PhysdevSetIopl`].
        #[doc(alias = "PHYSDEVOP_set_iopl")]
        SetIopl = 6,
        /// [`PhysdevSetIobitmap`].
        #[doc(alias = "PHYSDEVOP_set_iobitmap")]
        SetIobitmap = 7,
        /// [`PhysdevApic`]: read an IO-APIC register.
        #[doc(alias = "PHYSDEVOP_apic_read")]
        ApicRead = 8,
        /// [`PhysdevApic`]: write an IO-APIC register.
        #[doc(alias = "PHYSDEVOP_apic_write")]
        ApicWrite = 9,
        /// [`PhysdevIrq`].
        #[doc(alias = "PHYSDEVOP_alloc_irq_vector")]
        AllocIrqVector = 10,
        /// [`PhysdevIrq`].
        #[doc(alias = "PHYSDEVOP_free_irq_vector")]
        FreeIrqVector = 11,
        /// [`PhysdevEoi`].
        #[doc(alias = "PHYSDEVOP_eoi")]
        Eoi = 12,
        /// [`PhysdevMapPirq`].
        #[doc(alias = "PHYSDEVOP_map_pirq")]
        MapPirq = 13,
        /// [`PhysdevUnmapPirq`].
        #[doc(alias = "PHYSDEVOP_unmap_pirq")]
        UnmapPirq = 14,
        /// [`PhysdevManagePci`].
        #[doc(alias = "PHYSDEVOP_manage_pci_add")]
        ManagePciAdd = 15,
        /// [`PhysdevManagePci`].
        #[doc(alias = "PHYSDEVOP_manage_pci_remove")]
        ManagePciRemove = 16,
        /// [`PhysdevPirqEoiGmfn`] (v1: also changes `PHYSDEVOP_eoi` semantics).
        #[doc(alias = "PHYSDEVOP_pirq_eoi_gmfn_v1")]
        PirqEoiGmfnV1 = 17,
        /// [`PhysdevRestoreMsi`].
        #[doc(alias = "PHYSDEVOP_restore_msi")]
        RestoreMsi = 19,
        /// [`PhysdevManagePciExt`].
        #[doc(alias = "PHYSDEVOP_manage_pci_add_ext")]
        ManagePciAddExt = 20,
        /// [`PhysdevSetupGsi`].
        #[doc(alias = "PHYSDEVOP_setup_gsi")]
        SetupGsi = 21,
        /// [`PhysdevGetFreePirq`].
        #[doc(alias = "PHYSDEVOP_get_free_pirq")]
        GetFreePirq = 23,
        /// [`PhysdevPciMmcfgReserved`].
        #[doc(alias = "PHYSDEVOP_pci_mmcfg_reserved")]
        PciMmcfgReserved = 24,
        /// [`PhysdevPciDeviceAdd`].
        #[doc(alias = "PHYSDEVOP_pci_device_add")]
        PciDeviceAdd = 25,
        /// [`PhysdevPciDevice`].
        #[doc(alias = "PHYSDEVOP_pci_device_remove")]
        PciDeviceRemove = 26,
        /// [`PhysdevPciDevice`].
        #[doc(alias = "PHYSDEVOP_restore_msi_ext")]
        RestoreMsiExt = 27,
        /// [`PhysdevPirqEoiGmfn`] (v2).
        #[doc(alias = "PHYSDEVOP_pirq_eoi_gmfn_v2")]
        PirqEoiGmfnV2 = 28,
        /// [`PhysdevDbgpOp`].
        #[doc(alias = "PHYSDEVOP_dbgp_op")]
        DbgpOp = 29,
        /// [`PhysdevPciDevice`].
        #[doc(alias = "PHYSDEVOP_prepare_msix")]
        PrepareMsix = 30,
        /// [`PhysdevPciDevice`].
        #[doc(alias = "PHYSDEVOP_release_msix")]
        ReleaseMsix = 31,
    }
}

/// `physdev_eoi` (`PHYSDEVOP_eoi`).
#[doc(alias = "physdev_eoi")]
#[doc(alias = "physdev_eoi_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevEoi {
    /// The PIRQ.
    pub irq: u32,
}
const _: () = assert!(size_of::<PhysdevEoi>() == 4);

/// `physdev_pirq_eoi_gmfn` (`PHYSDEVOP_pirq_eoi_gmfn_v1`/`_v2`): a page of "needs EOI" bits.
#[doc(alias = "physdev_pirq_eoi_gmfn")]
#[doc(alias = "physdev_pirq_eoi_gmfn_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevPirqEoiGmfn {
    pub gmfn: Gfn,
}
const _: () = assert!(size_of::<PhysdevPirqEoiGmfn>() == 8);

bitflags! {
    /// `physdev_irq_status_query.flags` (`XENIRQSTAT_*`).
    #[doc(alias = "XENIRQSTAT")]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct XenIrqStat: u32 {
        /// `PHYSDEVOP_eoi` is needed when the IRQ has been serviced.
        #[doc(alias = "XENIRQSTAT_needs_eoi")]
        const NEEDS_EOI = 1 << 0;
        /// The IRQ is shared with another domain.
        #[doc(alias = "XENIRQSTAT_shared")]
        const SHARED = 1 << 1;
    }
}

/// `physdev_irq_status_query` (`PHYSDEVOP_irq_status_query`).
#[doc(alias = "physdev_irq_status_query")]
#[doc(alias = "physdev_irq_status_query_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevIrqStatusQuery {
    pub irq: u32,
    /// OUT: [`XenIrqStat`].
    pub flags: u32,
}
const _: () = assert!(size_of::<PhysdevIrqStatusQuery>() == 8);

/// `physdev_set_iopl` (`PHYSDEVOP_set_iopl`).
#[doc(alias = "physdev_set_iopl")]
#[doc(alias = "physdev_set_iopl_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevSetIopl {
    /// 0..=3.
    pub iopl: u32,
}
const _: () = assert!(size_of::<PhysdevSetIopl>() == 4);

/// `physdev_set_iobitmap` (`PHYSDEVOP_set_iobitmap`).
#[doc(alias = "physdev_set_iobitmap")]
#[doc(alias = "physdev_set_iobitmap_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevSetIobitmap {
    /// Guest handle to the bitmap (`uint8`).
    pub bitmap: u64,
    pub nr_ports: u32,
    pub _pad0: u32,
}
const _: () = assert!(size_of::<PhysdevSetIobitmap>() == 16);

/// `physdev_apic` (`PHYSDEVOP_apic_read`, `PHYSDEVOP_apic_write`).
#[doc(alias = "physdev_apic")]
#[doc(alias = "physdev_apic_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevApic {
    /// Physical base of the IO-APIC.
    pub apic_physbase: u64,
    pub reg: u32,
    /// IN (write) or OUT (read).
    pub value: u32,
}
const _: () = assert!(size_of::<PhysdevApic>() == 16);

/// `physdev_irq` (`PHYSDEVOP_alloc_irq_vector`, `PHYSDEVOP_free_irq_vector`).
#[doc(alias = "physdev_irq")]
#[doc(alias = "physdev_irq_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevIrq {
    pub irq: u32,
    pub vector: u32,
}
const _: () = assert!(size_of::<PhysdevIrq>() == 8);

/// `MAP_PIRQ_TYPE_MSI`.
pub const MAP_PIRQ_TYPE_MSI: i32 = 0x0;
/// `MAP_PIRQ_TYPE_GSI`.
pub const MAP_PIRQ_TYPE_GSI: i32 = 0x1;
/// `MAP_PIRQ_TYPE_UNKNOWN`.
pub const MAP_PIRQ_TYPE_UNKNOWN: i32 = 0x2;
/// `MAP_PIRQ_TYPE_MSI_SEG`: like MSI, with the PCI segment in `bus`'s high 16 bits.
pub const MAP_PIRQ_TYPE_MSI_SEG: i32 = 0x3;
/// `MAP_PIRQ_TYPE_MULTI_MSI`.
pub const MAP_PIRQ_TYPE_MULTI_MSI: i32 = 0x4;

/// `physdev_map_pirq` (`PHYSDEVOP_map_pirq`).
#[doc(alias = "physdev_map_pirq")]
#[doc(alias = "physdev_map_pirq_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevMapPirq {
    pub domid: DomId,
    pub _pad0: u16,
    /// `MAP_PIRQ_TYPE_*`.
    pub r#type: i32,
    /// GSI or MSI-X entry index.
    pub index: i32,
    /// IN (requested, or -1 for any) or OUT.
    pub pirq: i32,
    /// High 16 bits: segment for `_MSI_SEG` and `_MULTI_MSI`.
    pub bus: i32,
    pub devfn: i32,
    pub entry_nr: i32,
    pub _pad1: u32,
    /// MSI-X table base.
    pub table_base: u64,
}
const _: () = assert!(size_of::<PhysdevMapPirq>() == 40);

/// `physdev_unmap_pirq` (`PHYSDEVOP_unmap_pirq`).
#[doc(alias = "physdev_unmap_pirq")]
#[doc(alias = "physdev_unmap_pirq_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevUnmapPirq {
    pub domid: DomId,
    pub _pad0: u16,
    pub pirq: i32,
}
const _: () = assert!(size_of::<PhysdevUnmapPirq>() == 8);

/// `physdev_manage_pci` (`PHYSDEVOP_manage_pci_add`/`_remove`).
#[doc(alias = "physdev_manage_pci")]
#[doc(alias = "physdev_manage_pci_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevManagePci {
    pub bus: u8,
    pub devfn: u8,
}
const _: () = assert!(size_of::<PhysdevManagePci>() == 2);

/// `physdev_restore_msi` (`PHYSDEVOP_restore_msi`).
#[doc(alias = "physdev_restore_msi")]
#[doc(alias = "physdev_restore_msi_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevRestoreMsi {
    pub bus: u8,
    pub devfn: u8,
}
const _: () = assert!(size_of::<PhysdevRestoreMsi>() == 2);

/// The anonymous `physfn { bus; devfn; }` of [`PhysdevManagePciExt`] and [`PhysdevPciDeviceAdd`].
#[doc(alias = "physfn")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysFn {
    pub bus: u8,
    pub devfn: u8,
}

/// `physdev_manage_pci_ext` (`PHYSDEVOP_manage_pci_add_ext`).
#[doc(alias = "physdev_manage_pci_ext")]
#[doc(alias = "physdev_manage_pci_ext_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevManagePciExt {
    pub bus: u8,
    pub devfn: u8,
    pub _pad0: u16,
    pub is_extfn: u32,
    pub is_virtfn: u32,
    /// For a virtual function: its physical function.
    pub physfn: PhysFn,
    pub _pad1: u16,
}
const _: () = assert!(size_of::<PhysdevManagePciExt>() == 16);

/// `physdev_op`: the argument of the old `physdev_op_compat` hypercall (#19). The C union `u`
/// (of `irq_status_query`, `set_iopl`, `set_iobitmap`, `apic_op`, `irq_op`) is its 16 bytes.
#[doc(alias = "physdev_op")]
#[doc(alias = "physdev_op_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevOpCompat {
    /// A [`PhysdevOp`] number.
    pub cmd: u32,
    pub _pad0: u32,
    pub u: [u64; 2],
}
const _: () = assert!(size_of::<PhysdevOpCompat>() == 24);

/// `physdev_setup_gsi` (`PHYSDEVOP_setup_gsi`).
#[doc(alias = "physdev_setup_gsi")]
#[doc(alias = "physdev_setup_gsi_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevSetupGsi {
    pub gsi: i32,
    /// 0 edge, 1 level.
    pub triggering: u8,
    /// 0 active high, 1 active low.
    pub polarity: u8,
    pub _pad0: [u8; 2],
}
const _: () = assert!(size_of::<PhysdevSetupGsi>() == 8);

/// `physdev_get_free_pirq` (`PHYSDEVOP_get_free_pirq`).
#[doc(alias = "physdev_get_free_pirq")]
#[doc(alias = "physdev_get_free_pirq_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevGetFreePirq {
    /// `MAP_PIRQ_TYPE_*`.
    pub r#type: i32,
    /// OUT.
    pub pirq: u32,
}
const _: () = assert!(size_of::<PhysdevGetFreePirq>() == 8);

/// `XEN_PCI_MMCFG_RESERVED`: the MMCFG area is reserved in the E820.
pub const XEN_PCI_MMCFG_RESERVED: u32 = 0x1;

/// `physdev_pci_mmcfg_reserved` (`PHYSDEVOP_pci_mmcfg_reserved`).
#[doc(alias = "physdev_pci_mmcfg_reserved")]
#[doc(alias = "physdev_pci_mmcfg_reserved_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevPciMmcfgReserved {
    pub address: u64,
    pub segment: u16,
    pub start_bus: u8,
    pub end_bus: u8,
    /// `XEN_PCI_MMCFG_RESERVED`.
    pub flags: u32,
}
const _: () = assert!(size_of::<PhysdevPciMmcfgReserved>() == 16);

bitflags! {
    /// `physdev_pci_device_add.flags` (`XEN_PCI_DEV_*`).
    #[doc(alias = "XEN_PCI_DEV")]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct XenPciDevFlags: u32 {
        #[doc(alias = "XEN_PCI_DEV_EXTFN")]
        const EXTFN = 0x1;
        #[doc(alias = "XEN_PCI_DEV_VIRTFN")]
        const VIRTFN = 0x2;
        /// `optarr[0]` holds the proximity domain.
        #[doc(alias = "XEN_PCI_DEV_PXM")]
        const PXM = 0x4;
    }
}

/// `physdev_pci_device_add` (`PHYSDEVOP_pci_device_add`): the fixed part; the flexible `optarr`
/// of `u32` follows.
#[doc(alias = "physdev_pci_device_add")]
#[doc(alias = "physdev_pci_device_add_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevPciDeviceAdd {
    pub seg: u16,
    pub bus: u8,
    pub devfn: u8,
    /// [`XenPciDevFlags`].
    pub flags: u32,
    pub physfn: PhysFn,
    pub _pad0: u16,
    /// The flexible array member.
    pub optarr: [u32; 0],
}
const _: () = assert!(size_of::<PhysdevPciDeviceAdd>() == 12);

/// `physdev_pci_device` (`PHYSDEVOP_pci_device_remove`, `restore_msi_ext`, `prepare_msix`,
/// `release_msix`).
#[doc(alias = "physdev_pci_device")]
#[doc(alias = "physdev_pci_device_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevPciDevice {
    pub seg: u16,
    pub bus: u8,
    pub devfn: u8,
}
const _: () = assert!(size_of::<PhysdevPciDevice>() == 4);

/// `PHYSDEVOP_DBGP_RESET_PREPARE`.
pub const PHYSDEVOP_DBGP_RESET_PREPARE: u8 = 1;
/// `PHYSDEVOP_DBGP_RESET_DONE`.
pub const PHYSDEVOP_DBGP_RESET_DONE: u8 = 2;
/// `PHYSDEVOP_DBGP_BUS_UNKNOWN`.
pub const PHYSDEVOP_DBGP_BUS_UNKNOWN: u8 = 0;
/// `PHYSDEVOP_DBGP_BUS_PCI`.
pub const PHYSDEVOP_DBGP_BUS_PCI: u8 = 1;

/// `physdev_dbgp_op` (`PHYSDEVOP_dbgp_op`); the C union `u` has one member, `pci`.
#[doc(alias = "physdev_dbgp_op")]
#[doc(alias = "physdev_dbgp_op_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct PhysdevDbgpOp {
    pub op: u8,
    pub bus: u8,
    /// `u.pci`.
    pub u: PhysdevPciDevice,
}
const _: () = assert!(size_of::<PhysdevDbgpOp>() == 6);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;

    #[test]
    fn physdevop_round_trips_and_unknown_is_enosys() {
        assert_sub_op::<PhysdevOp>();
        assert_eq!(PhysdevOp::try_from(18), Err(crate::Errno::ENOSYS));
        assert_eq!(PhysdevOp::try_from(22), Err(crate::Errno::ENOSYS));
    }
}
