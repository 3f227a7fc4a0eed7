//! Layout fragment for `elfnote.h`.

use crate::checker::Fragment;
use xen_abi::elfnote::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("elfnote.h", &["xen/elfnote.h"]);
    sub_ops!(f, ElfNote;
        XEN_ELFNOTE_INFO = Info,
        XEN_ELFNOTE_ENTRY = Entry,
        XEN_ELFNOTE_HYPERCALL_PAGE = HypercallPage,
        XEN_ELFNOTE_VIRT_BASE = VirtBase,
        XEN_ELFNOTE_PADDR_OFFSET = PaddrOffset,
        XEN_ELFNOTE_XEN_VERSION = XenVersion,
        XEN_ELFNOTE_GUEST_OS = GuestOs,
        XEN_ELFNOTE_GUEST_VERSION = GuestVersion,
        XEN_ELFNOTE_LOADER = Loader,
        XEN_ELFNOTE_PAE_MODE = PaeMode,
        XEN_ELFNOTE_FEATURES = Features,
        XEN_ELFNOTE_BSD_SYMTAB = BsdSymtab,
        XEN_ELFNOTE_HV_START_LOW = HvStartLow,
        XEN_ELFNOTE_L1_MFN_VALID = L1MfnValid,
        XEN_ELFNOTE_SUSPEND_CANCEL = SuspendCancel,
        XEN_ELFNOTE_INIT_P2M = InitP2m,
        XEN_ELFNOTE_MOD_START_PFN = ModStartPfn,
        XEN_ELFNOTE_SUPPORTED_FEATURES = SupportedFeatures,
        XEN_ELFNOTE_PHYS32_ENTRY = Phys32Entry,
    );
    consts!(f;
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
