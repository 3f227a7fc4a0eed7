//! Layout fragment for `physdev.h`.

use crate::checker::Fragment;
use xen_abi::physdev::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("physdev.h", &["xen/physdev.h"]);
    layout!(f, PhysdevEoi => "struct physdev_eoi" { irq });
    layout!(f, PhysdevPirqEoiGmfn => "struct physdev_pirq_eoi_gmfn" { gmfn });
    layout!(f, PhysdevIrqStatusQuery => "struct physdev_irq_status_query" { irq, flags });
    layout!(f, PhysdevSetIopl => "struct physdev_set_iopl" { iopl });
    layout!(f, PhysdevSetIobitmap => "struct physdev_set_iobitmap" { bitmap, nr_ports, _pad0 });
    layout!(f, PhysdevApic => "struct physdev_apic" { apic_physbase, reg, value });
    layout!(f, PhysdevIrq => "struct physdev_irq" { irq, vector });
    layout!(f, PhysdevMapPirq => "struct physdev_map_pirq" {
        domid, _pad0, r#type, index, pirq, bus, devfn, entry_nr, _pad1, table_base,
    });
    layout!(f, PhysdevUnmapPirq => "struct physdev_unmap_pirq" { domid, _pad0, pirq });
    layout!(f, PhysdevManagePci => "struct physdev_manage_pci" { bus, devfn });
    layout!(f, PhysdevRestoreMsi => "struct physdev_restore_msi" { bus, devfn });
    layout!(f, PhysdevManagePciExt => "struct physdev_manage_pci_ext" {
        bus, devfn, _pad0, is_extfn, is_virtfn, physfn, _pad1,
    });
    layout!(f, PhysdevOpCompat => "struct physdev_op" { cmd, _pad0, u });
    layout!(f, PhysdevSetupGsi => "struct physdev_setup_gsi" { gsi, triggering, polarity, _pad0 });
    layout!(f, PhysdevGetFreePirq => "struct physdev_get_free_pirq" { r#type, pirq });
    layout!(f, PhysdevPciMmcfgReserved => "struct physdev_pci_mmcfg_reserved" {
        address, segment, start_bus, end_bus, flags,
    });
    layout!(f, PhysdevPciDeviceAdd => "struct physdev_pci_device_add" {
        seg, bus, devfn, flags, physfn, _pad0, optarr,
    });
    layout!(f, PhysdevPciDevice => "struct physdev_pci_device" { seg, bus, devfn });
    layout!(f, PhysdevDbgpOp => "struct physdev_dbgp_op" { op, bus, u });
    sub_ops!(f, PhysdevOp;
        PHYSDEVOP_IRQ_UNMASK_NOTIFY = IrqUnmaskNotify,
        PHYSDEVOP_irq_status_query = IrqStatusQuery,
        PHYSDEVOP_set_iopl = SetIopl,
        PHYSDEVOP_set_iobitmap = SetIobitmap,
        PHYSDEVOP_apic_read = ApicRead,
        PHYSDEVOP_apic_write = ApicWrite,
        PHYSDEVOP_alloc_irq_vector = AllocIrqVector,
        PHYSDEVOP_free_irq_vector = FreeIrqVector,
        PHYSDEVOP_eoi = Eoi,
        PHYSDEVOP_map_pirq = MapPirq,
        PHYSDEVOP_unmap_pirq = UnmapPirq,
        PHYSDEVOP_manage_pci_add = ManagePciAdd,
        PHYSDEVOP_manage_pci_remove = ManagePciRemove,
        PHYSDEVOP_pirq_eoi_gmfn_v1 = PirqEoiGmfnV1,
        PHYSDEVOP_restore_msi = RestoreMsi,
        PHYSDEVOP_manage_pci_add_ext = ManagePciAddExt,
        PHYSDEVOP_setup_gsi = SetupGsi,
        PHYSDEVOP_get_free_pirq = GetFreePirq,
        PHYSDEVOP_pci_mmcfg_reserved = PciMmcfgReserved,
        PHYSDEVOP_pci_device_add = PciDeviceAdd,
        PHYSDEVOP_pci_device_remove = PciDeviceRemove,
        PHYSDEVOP_restore_msi_ext = RestoreMsiExt,
        PHYSDEVOP_pirq_eoi_gmfn_v2 = PirqEoiGmfnV2,
        PHYSDEVOP_dbgp_op = DbgpOp,
        PHYSDEVOP_prepare_msix = PrepareMsix,
        PHYSDEVOP_release_msix = ReleaseMsix,
    );
    consts!(f;
        "offsetof(struct physdev_manage_pci_ext, physfn.devfn)" = 13,
        "offsetof(struct physdev_pci_device_add, physfn.devfn)" = 9,
        XENIRQSTAT_needs_eoi = XenIrqStat::NEEDS_EOI.bits(),
        XENIRQSTAT_shared = XenIrqStat::SHARED.bits(),
        MAP_PIRQ_TYPE_MSI = MAP_PIRQ_TYPE_MSI,
        MAP_PIRQ_TYPE_GSI = MAP_PIRQ_TYPE_GSI,
        MAP_PIRQ_TYPE_UNKNOWN = MAP_PIRQ_TYPE_UNKNOWN,
        MAP_PIRQ_TYPE_MSI_SEG = MAP_PIRQ_TYPE_MSI_SEG,
        MAP_PIRQ_TYPE_MULTI_MSI = MAP_PIRQ_TYPE_MULTI_MSI,
        XEN_PCI_MMCFG_RESERVED = XEN_PCI_MMCFG_RESERVED,
        XEN_PCI_DEV_EXTFN = XenPciDevFlags::EXTFN.bits(),
        XEN_PCI_DEV_VIRTFN = XenPciDevFlags::VIRTFN.bits(),
        XEN_PCI_DEV_PXM = XenPciDevFlags::PXM.bits(),
        PHYSDEVOP_DBGP_RESET_PREPARE = PHYSDEVOP_DBGP_RESET_PREPARE,
        PHYSDEVOP_DBGP_RESET_DONE = PHYSDEVOP_DBGP_RESET_DONE,
        PHYSDEVOP_DBGP_BUS_UNKNOWN = PHYSDEVOP_DBGP_BUS_UNKNOWN,
        PHYSDEVOP_DBGP_BUS_PCI = PHYSDEVOP_DBGP_BUS_PCI,
    );
    f
}
