//! Layout fragment for `xen.h`.

use crate::checker::Fragment;
use xen_abi::types::DomId;
use xen_abi::xen::{self, *};

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("xen.h", &["xen/xen.h"]);

    layout!(f, MmuUpdate => "struct mmu_update" { ptr, val });
    layout!(f, MmuextOp => "struct mmuext_op" { cmd, _pad0, arg1, arg2 });
    layout!(f, MulticallEntry => "struct multicall_entry" { op, result, args });
    layout!(f, VcpuTimeInfo => "struct vcpu_time_info" {
        version, pad0, tsc_timestamp, system_time, tsc_to_system_mul, tsc_shift, flags, pad1,
    });
    layout!(f, ArchVcpuInfo => "struct arch_vcpu_info" { cr2, pad });
    layout!(f, VcpuInfo => "struct vcpu_info" {
        evtchn_upcall_pending, evtchn_upcall_mask, _pad0, evtchn_pending_sel, arch, time,
    });
    layout!(f, ArchSharedInfo => "struct arch_shared_info" {
        max_pfn, pfn_to_mfn_frame_list_list, nmi_reason, p2m_cr3, p2m_vaddr, p2m_generation,
    });
    layout!(f, SharedInfo => "struct shared_info" {
        vcpu_info, evtchn_pending, evtchn_mask, wc_version, wc_sec, wc_nsec, wc_sec_hi, arch,
    });
    layout!(f, StartInfo => "struct start_info" {
        magic, nr_pages, shared_info, flags, _pad0, store_mfn, store_evtchn, _pad1, console,
        pt_base, nr_pt_frames, mfn_list, mod_start, mod_len, cmd_line, first_p2m_pfn,
        nr_p2m_frames,
    });
    layout!(f, XenMultibootModList => "struct xen_multiboot_mod_list" {
        mod_start, mod_end, cmdline, pad,
    });
    layout!(f, Dom0VgaConsoleInfo => "dom0_vga_console_info_t" { video_type, _pad0, u });
    layout!(f, XenUuid => "xen_uuid_t" { a });
    layout!(f, XenctlBitmap => "struct xenctl_bitmap" { bitmap, nr_bits, _pad0 });

    // The unions mirrored as raw words: check where each variant's members sit.
    let vesa = |o: usize| o + 4; // `u` starts at offset 4
    sub_ops!(f, MmuUpdateCmd;
        MMU_NORMAL_PT_UPDATE = NormalPtUpdate,
        MMU_MACHPHYS_UPDATE = MachphysUpdate,
        MMU_PT_UPDATE_PRESERVE_AD = PtUpdatePreserveAd,
        MMU_PT_UPDATE_NO_TRANSLATE = PtUpdateNoTranslate,
    );
    sub_ops!(f, MmuextCmd;
        MMUEXT_PIN_L1_TABLE = PinL1Table,
        MMUEXT_PIN_L2_TABLE = PinL2Table,
        MMUEXT_PIN_L3_TABLE = PinL3Table,
        MMUEXT_PIN_L4_TABLE = PinL4Table,
        MMUEXT_UNPIN_TABLE = UnpinTable,
        MMUEXT_NEW_BASEPTR = NewBaseptr,
        MMUEXT_TLB_FLUSH_LOCAL = TlbFlushLocal,
        MMUEXT_INVLPG_LOCAL = InvlpgLocal,
        MMUEXT_TLB_FLUSH_MULTI = TlbFlushMulti,
        MMUEXT_INVLPG_MULTI = InvlpgMulti,
        MMUEXT_TLB_FLUSH_ALL = TlbFlushAll,
        MMUEXT_INVLPG_ALL = InvlpgAll,
        MMUEXT_FLUSH_CACHE = FlushCache,
        MMUEXT_SET_LDT = SetLdt,
        MMUEXT_NEW_USER_BASEPTR = NewUserBaseptr,
        MMUEXT_CLEAR_PAGE = ClearPage,
        MMUEXT_COPY_PAGE = CopyPage,
        MMUEXT_FLUSH_CACHE_GLOBAL = FlushCacheGlobal,
        MMUEXT_MARK_SUPER = MarkSuper,
        MMUEXT_UNMARK_SUPER = UnmarkSuper,
    );
    sub_ops!(f, ConsoleIoCmd;
        CONSOLEIO_write = Write,
        CONSOLEIO_read = Read,
    );
    sub_ops!(f, VmAssistCmd;
        VMASST_CMD_enable = Enable,
        VMASST_CMD_disable = Disable,
    );
    consts!(f;
        "sizeof(((struct start_info *)0)->console)" = size_of::<StartInfoConsole>(),
        "offsetof(struct start_info, console.domU.mfn)" = 72,
        "offsetof(struct start_info, console.domU.evtchn)" = 80,
        "offsetof(struct start_info, console.dom0.info_off)" = 72,
        "offsetof(struct start_info, console.dom0.info_size)" = 76,
        "offsetof(struct mmuext_op, arg1.linear_addr)" = 8,
        "offsetof(struct mmuext_op, arg2.nr_ents)" = 16,
        "offsetof(struct mmuext_op, arg2.vcpumask)" = 16,
        "offsetof(struct mmuext_op, arg2.src_mfn)" = 16,
        "sizeof(((dom0_vga_console_info_t *)0)->u)" = size_of::<VgaVesaLfb>(),
        "offsetof(dom0_vga_console_info_t, u.text_mode_3.font_height)" = vesa(0),
        "offsetof(dom0_vga_console_info_t, u.text_mode_3.cursor_x)" = vesa(2),
        "offsetof(dom0_vga_console_info_t, u.text_mode_3.cursor_y)" = vesa(4),
        "offsetof(dom0_vga_console_info_t, u.text_mode_3.rows)" = vesa(6),
        "offsetof(dom0_vga_console_info_t, u.text_mode_3.columns)" = vesa(8),
        "sizeof(((dom0_vga_console_info_t *)0)->u.text_mode_3)" = size_of::<VgaTextMode3>(),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.width)" = vesa(0),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.height)" = vesa(2),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.bytes_per_line)" = vesa(4),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.bits_per_pixel)" = vesa(6),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.lfb_base)" = vesa(8),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.lfb_size)" = vesa(12),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.red_pos)" = vesa(16),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.rsvd_size)" = vesa(23),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.gbl_caps)" = vesa(24),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.mode_attrs)" = vesa(28),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.pad)" = vesa(30),
        "offsetof(dom0_vga_console_info_t, u.vesa_lfb.ext_lfb_base)" = vesa(32),
    );

    for h in <Hypercall as xen_abi::SubOp>::ALL {
        f.push_const(
            &format!("__HYPERVISOR_{}", hypercall_c_suffix(*h)),
            *h as i128,
        );
    }
    consts!(f;
        VIRQ_TIMER = xen::VIRQ_TIMER, VIRQ_DEBUG = xen::VIRQ_DEBUG,
        VIRQ_CONSOLE = xen::VIRQ_CONSOLE, VIRQ_DOM_EXC = xen::VIRQ_DOM_EXC,
        VIRQ_TBUF = xen::VIRQ_TBUF, VIRQ_DEBUGGER = xen::VIRQ_DEBUGGER,
        VIRQ_XENOPROF = xen::VIRQ_XENOPROF, VIRQ_CON_RING = xen::VIRQ_CON_RING,
        VIRQ_PCPU_STATE = xen::VIRQ_PCPU_STATE, VIRQ_MEM_EVENT = xen::VIRQ_MEM_EVENT,
        VIRQ_ARGO = xen::VIRQ_ARGO, VIRQ_ENOMEM = xen::VIRQ_ENOMEM,
        VIRQ_XENPMU = xen::VIRQ_XENPMU, VIRQ_ARCH_0 = xen::VIRQ_ARCH_0,
        VIRQ_ARCH_7 = xen::VIRQ_ARCH_7, NR_VIRQS = xen::NR_VIRQS,



        UVMF_NONE = xen::UVMF_NONE, UVMF_TLB_FLUSH = xen::UVMF_TLB_FLUSH,
        UVMF_INVLPG = xen::UVMF_INVLPG, UVMF_FLUSHTYPE_MASK = xen::UVMF_FLUSHTYPE_MASK,
        UVMF_MULTI = xen::UVMF_MULTI, UVMF_LOCAL = xen::UVMF_LOCAL, UVMF_ALL = xen::UVMF_ALL,

        VMASST_TYPE_4gb_segments = xen::VMASST_TYPE_4GB_SEGMENTS,
        VMASST_TYPE_4gb_segments_notify = xen::VMASST_TYPE_4GB_SEGMENTS_NOTIFY,
        VMASST_TYPE_writable_pagetables = xen::VMASST_TYPE_WRITABLE_PAGETABLES,
        VMASST_TYPE_pae_extended_cr3 = xen::VMASST_TYPE_PAE_EXTENDED_CR3,
        VMASST_TYPE_architectural_iopl = xen::VMASST_TYPE_ARCHITECTURAL_IOPL,
        VMASST_TYPE_runstate_update_flag = xen::VMASST_TYPE_RUNSTATE_UPDATE_FLAG,
        VMASST_TYPE_m2p_strict = xen::VMASST_TYPE_M2P_STRICT,

        DOMID_FIRST_RESERVED = DomId::FIRST_RESERVED.0, DOMID_SELF = DomId::SELF.0,
        DOMID_IO = DomId::IO.0, DOMID_XEN = DomId::XEN.0, DOMID_COW = DomId::COW.0,
        DOMID_INVALID = DomId::INVALID.0, DOMID_IDLE = DomId::IDLE.0, DOMID_MASK = DomId::MASK.0,
        "sizeof(domid_t)" = size_of::<DomId>(),

        XEN_PVCLOCK_TSC_STABLE_BIT = xen::XEN_PVCLOCK_TSC_STABLE_BIT,
        XEN_PVCLOCK_GUEST_STOPPED = xen::XEN_PVCLOCK_GUEST_STOPPED,
        XEN_LEGACY_MAX_VCPUS = xen::XEN_LEGACY_MAX_VCPUS,
        "sizeof(xen_ulong_t) * 8" = xen::EVTCHN_2L_WORDS,
        MAX_GUEST_CMDLINE = xen::MAX_GUEST_CMDLINE,

        SIF_PRIVILEGED = SifFlags::PRIVILEGED.bits(),
        SIF_INITDOMAIN = SifFlags::INITDOMAIN.bits(),
        SIF_MULTIBOOT_MOD = SifFlags::MULTIBOOT_MOD.bits(),
        SIF_MOD_START_PFN = SifFlags::MOD_START_PFN.bits(),
        SIF_VIRT_P2M_4TOOLS = SifFlags::VIRT_P2M_4TOOLS.bits(),
        SIF_PM_MASK = SifFlags::PM_MASK.bits(),

        XEN_VGATYPE_TEXT_MODE_3 = xen::XEN_VGATYPE_TEXT_MODE_3,
        XEN_VGATYPE_VESA_LFB = xen::XEN_VGATYPE_VESA_LFB,
        XEN_VGATYPE_EFI_LFB = xen::XEN_VGATYPE_EFI_LFB,
        "sizeof(xen_domain_handle_t)" = size_of::<XenDomainHandle>(),
    );
    f
}

/// The C spelling of a hypercall: `__HYPERVISOR_<suffix>`.
fn hypercall_c_suffix(h: Hypercall) -> String {
    // CamelCase → snake_case, digits kept attached (`Arch0` → `arch_0`).
    let name = format!("{h:?}");
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else if ch.is_ascii_digit() {
            out.push('_');
            out.push(ch);
        } else {
            out.push(ch);
        }
    }
    out
}
