//! `elfnote.h`: the `XEN_ELFNOTE_*` note types a PV kernel's ELF image carries (name `"Xen"`).

sub_op_enum! {
    /// Note types of the `"Xen"` ELF notes the domain builder reads (`XEN_ELFNOTE_*`).
    ///
    /// A builder skips note types it does not know; the `ENOSYS` of `try_from` only says so.
    #[doc(alias = "XEN_ELFNOTE")]
    pub enum ElfNote {
        /// NAME=VALUE pair (legacy `__xen_guest` string).
        #[doc(alias = "XEN_ELFNOTE_INFO")]
        Info = 0,
        /// Virtual entry point.
        #[doc(alias = "XEN_ELFNOTE_ENTRY")]
        Entry = 1,
        /// Virtual address of the hypercall page.
        #[doc(alias = "XEN_ELFNOTE_HYPERCALL_PAGE")]
        HypercallPage = 2,
        /// Virtual address the kernel is linked at.
        #[doc(alias = "XEN_ELFNOTE_VIRT_BASE")]
        VirtBase = 3,
        /// Offset between virtual and pseudo-physical addresses (legacy).
        #[doc(alias = "XEN_ELFNOTE_PADDR_OFFSET")]
        PaddrOffset = 4,
        /// Must be `"xen-3.0"`.
        #[doc(alias = "XEN_ELFNOTE_XEN_VERSION")]
        XenVersion = 5,
        /// Guest OS name, e.g. `"linux"`.
        #[doc(alias = "XEN_ELFNOTE_GUEST_OS")]
        GuestOs = 6,
        /// Guest OS version.
        #[doc(alias = "XEN_ELFNOTE_GUEST_VERSION")]
        GuestVersion = 7,
        /// Loader type: `"generic"`.
        #[doc(alias = "XEN_ELFNOTE_LOADER")]
        Loader = 8,
        /// PAE mode string (x86-32).
        #[doc(alias = "XEN_ELFNOTE_PAE_MODE")]
        PaeMode = 9,
        /// Feature string: `feat|feat|!feat`.
        #[doc(alias = "XEN_ELFNOTE_FEATURES")]
        Features = 10,
        /// Load the BSD symbol table.
        #[doc(alias = "XEN_ELFNOTE_BSD_SYMTAB")]
        BsdSymtab = 11,
        /// Lowest address the hypervisor range may start at (x86-32 PAE).
        #[doc(alias = "XEN_ELFNOTE_HV_START_LOW")]
        HvStartLow = 12,
        /// PTE mask and value saying which L1 entries hold valid MFNs.
        #[doc(alias = "XEN_ELFNOTE_L1_MFN_VALID")]
        L1MfnValid = 13,
        /// Whether `SCHEDOP_shutdown(suspend)` may return 1 on cancel.
        #[doc(alias = "XEN_ELFNOTE_SUSPEND_CANCEL")]
        SuspendCancel = 14,
        /// Virtual address for the initial P2M list (or none).
        #[doc(alias = "XEN_ELFNOTE_INIT_P2M")]
        InitP2m = 15,
        /// The kernel understands `SIF_MOD_START_PFN`.
        #[doc(alias = "XEN_ELFNOTE_MOD_START_PFN")]
        ModStartPfn = 16,
        /// Bitmap of `XENFEAT_*` the kernel supports.
        #[doc(alias = "XEN_ELFNOTE_SUPPORTED_FEATURES")]
        SupportedFeatures = 17,
        /// 32-bit physical entry point (PVH).
        #[doc(alias = "XEN_ELFNOTE_PHYS32_ENTRY")]
        Phys32Entry = 18,
    }
}

/// `XEN_ELFNOTE_MAX`: the largest guest note type.
pub const XEN_ELFNOTE_MAX: u32 = 18;
/// `XEN_ELFNOTE_CRASH_INFO`: crash-dump note.
pub const XEN_ELFNOTE_CRASH_INFO: u32 = 0x100_0001;
/// `XEN_ELFNOTE_CRASH_REGS`: crash-dump register note.
pub const XEN_ELFNOTE_CRASH_REGS: u32 = 0x100_0002;
/// `XEN_ELFNOTE_DUMPCORE_NONE`: xen dump-core note.
pub const XEN_ELFNOTE_DUMPCORE_NONE: u32 = 0x200_0000;
/// `XEN_ELFNOTE_DUMPCORE_HEADER`.
pub const XEN_ELFNOTE_DUMPCORE_HEADER: u32 = 0x200_0001;
/// `XEN_ELFNOTE_DUMPCORE_XEN_VERSION`.
pub const XEN_ELFNOTE_DUMPCORE_XEN_VERSION: u32 = 0x200_0002;
/// `XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION`.
pub const XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION: u32 = 0x200_0003;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;

    #[test]
    fn elfnote_round_trips_and_unknown_is_enosys() {
        assert_sub_op::<ElfNote>();
        assert_eq!(ElfNote::try_from(XEN_ELFNOTE_MAX), Ok(ElfNote::Phys32Entry));
    }
}
