//! Layout fragment for `elfnote.h`.

use crate::checker::Fragment;
use xen_abi::elfnote::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("elfnote.h", &["xen/elfnote.h"]);
    consts!(f;
        XEN_ELFNOTE_INFO = ElfNote::Info,
        XEN_ELFNOTE_ENTRY = ElfNote::Entry,
        XEN_ELFNOTE_HYPERCALL_PAGE = ElfNote::HypercallPage,
        XEN_ELFNOTE_VIRT_BASE = ElfNote::VirtBase,
        XEN_ELFNOTE_PADDR_OFFSET = ElfNote::PaddrOffset,
        XEN_ELFNOTE_XEN_VERSION = ElfNote::XenVersion,
        XEN_ELFNOTE_GUEST_OS = ElfNote::GuestOs,
        XEN_ELFNOTE_GUEST_VERSION = ElfNote::GuestVersion,
        XEN_ELFNOTE_LOADER = ElfNote::Loader,
        XEN_ELFNOTE_PAE_MODE = ElfNote::PaeMode,
        XEN_ELFNOTE_FEATURES = ElfNote::Features,
        XEN_ELFNOTE_BSD_SYMTAB = ElfNote::BsdSymtab,
        XEN_ELFNOTE_HV_START_LOW = ElfNote::HvStartLow,
        XEN_ELFNOTE_L1_MFN_VALID = ElfNote::L1MfnValid,
        XEN_ELFNOTE_SUSPEND_CANCEL = ElfNote::SuspendCancel,
        XEN_ELFNOTE_INIT_P2M = ElfNote::InitP2m,
        XEN_ELFNOTE_MOD_START_PFN = ElfNote::ModStartPfn,
        XEN_ELFNOTE_SUPPORTED_FEATURES = ElfNote::SupportedFeatures,
        XEN_ELFNOTE_PHYS32_ENTRY = ElfNote::Phys32Entry,
        XEN_ELFNOTE_MAX = XEN_ELFNOTE_MAX,
        XEN_ELFNOTE_CRASH_INFO = XEN_ELFNOTE_CRASH_INFO,
        XEN_ELFNOTE_CRASH_REGS = XEN_ELFNOTE_CRASH_REGS,
        XEN_ELFNOTE_DUMPCORE_NONE = XEN_ELFNOTE_DUMPCORE_NONE,
        XEN_ELFNOTE_DUMPCORE_HEADER = XEN_ELFNOTE_DUMPCORE_HEADER,
        XEN_ELFNOTE_DUMPCORE_XEN_VERSION = XEN_ELFNOTE_DUMPCORE_XEN_VERSION,
        XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION = XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION,
    );
    f
}
