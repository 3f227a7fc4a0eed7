//! `xen.h`: hypercall numbers, `start_info`, `shared_info`, `vcpu_info`, the MMU update and
//! `mmuext_op` commands, `multicall_entry`, VIRQs, `SIF_*`, `VMASST_*`, `UVMF_*`, `console_io`.
//!
//! The x86-specific pieces `xen.h` embeds (`arch_vcpu_info`, `arch_shared_info`) live here too,
//! since `vcpu_info` and `shared_info` contain them; the rest of `arch-x86/*.h` is in
//! [`crate::arch_x86`].

use bitflags::bitflags;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub use crate::types::DomId;
use crate::types::{Mfn, Pfn, Port};

sub_op_enum! {
    /// A hypercall number: the value in `rax` at the `syscall` (`__HYPERVISOR_*`).
    #[doc(alias = "__HYPERVISOR")]
    pub enum Hypercall {
        #[doc(alias = "__HYPERVISOR_set_trap_table")]
        SetTrapTable = 0,
        #[doc(alias = "__HYPERVISOR_mmu_update")]
        MmuUpdate = 1,
        #[doc(alias = "__HYPERVISOR_set_gdt")]
        SetGdt = 2,
        #[doc(alias = "__HYPERVISOR_stack_switch")]
        StackSwitch = 3,
        #[doc(alias = "__HYPERVISOR_set_callbacks")]
        SetCallbacks = 4,
        #[doc(alias = "__HYPERVISOR_fpu_taskswitch")]
        FpuTaskswitch = 5,
        /// Compat since interface 0x00030101.
        #[doc(alias = "__HYPERVISOR_sched_op_compat")]
        SchedOpCompat = 6,
        #[doc(alias = "__HYPERVISOR_platform_op")]
        PlatformOp = 7,
        #[doc(alias = "__HYPERVISOR_set_debugreg")]
        SetDebugreg = 8,
        #[doc(alias = "__HYPERVISOR_get_debugreg")]
        GetDebugreg = 9,
        #[doc(alias = "__HYPERVISOR_update_descriptor")]
        UpdateDescriptor = 10,
        #[doc(alias = "__HYPERVISOR_memory_op")]
        MemoryOp = 12,
        #[doc(alias = "__HYPERVISOR_multicall")]
        Multicall = 13,
        #[doc(alias = "__HYPERVISOR_update_va_mapping")]
        UpdateVaMapping = 14,
        #[doc(alias = "__HYPERVISOR_set_timer_op")]
        SetTimerOp = 15,
        /// Compat since interface 0x00030202.
        #[doc(alias = "__HYPERVISOR_event_channel_op_compat")]
        EventChannelOpCompat = 16,
        #[doc(alias = "__HYPERVISOR_xen_version")]
        XenVersion = 17,
        #[doc(alias = "__HYPERVISOR_console_io")]
        ConsoleIo = 18,
        /// Compat since interface 0x00030202.
        #[doc(alias = "__HYPERVISOR_physdev_op_compat")]
        PhysdevOpCompat = 19,
        #[doc(alias = "__HYPERVISOR_grant_table_op")]
        GrantTableOp = 20,
        #[doc(alias = "__HYPERVISOR_vm_assist")]
        VmAssist = 21,
        #[doc(alias = "__HYPERVISOR_update_va_mapping_otherdomain")]
        UpdateVaMappingOtherdomain = 22,
        /// x86 only.
        #[doc(alias = "__HYPERVISOR_iret")]
        Iret = 23,
        #[doc(alias = "__HYPERVISOR_vcpu_op")]
        VcpuOp = 24,
        /// x86-64 only.
        #[doc(alias = "__HYPERVISOR_set_segment_base")]
        SetSegmentBase = 25,
        #[doc(alias = "__HYPERVISOR_mmuext_op")]
        MmuextOp = 26,
        #[doc(alias = "__HYPERVISOR_xsm_op")]
        XsmOp = 27,
        #[doc(alias = "__HYPERVISOR_nmi_op")]
        NmiOp = 28,
        #[doc(alias = "__HYPERVISOR_sched_op")]
        SchedOp = 29,
        #[doc(alias = "__HYPERVISOR_callback_op")]
        CallbackOp = 30,
        #[doc(alias = "__HYPERVISOR_xenoprof_op")]
        XenoprofOp = 31,
        #[doc(alias = "__HYPERVISOR_event_channel_op")]
        EventChannelOp = 32,
        #[doc(alias = "__HYPERVISOR_physdev_op")]
        PhysdevOp = 33,
        #[doc(alias = "__HYPERVISOR_hvm_op")]
        HvmOp = 34,
        #[doc(alias = "__HYPERVISOR_sysctl")]
        Sysctl = 35,
        #[doc(alias = "__HYPERVISOR_domctl")]
        Domctl = 36,
        #[doc(alias = "__HYPERVISOR_kexec_op")]
        KexecOp = 37,
        #[doc(alias = "__HYPERVISOR_tmem_op")]
        TmemOp = 38,
        #[doc(alias = "__HYPERVISOR_argo_op")]
        ArgoOp = 39,
        #[doc(alias = "__HYPERVISOR_xenpmu_op")]
        XenpmuOp = 40,
        #[doc(alias = "__HYPERVISOR_dm_op")]
        DmOp = 41,
        #[doc(alias = "__HYPERVISOR_hypfs_op")]
        HypfsOp = 42,
        #[doc(alias = "__HYPERVISOR_arch_0")]
        Arch0 = 48,
        #[doc(alias = "__HYPERVISOR_arch_1")]
        Arch1 = 49,
        #[doc(alias = "__HYPERVISOR_arch_2")]
        Arch2 = 50,
        #[doc(alias = "__HYPERVISOR_arch_3")]
        Arch3 = 51,
        #[doc(alias = "__HYPERVISOR_arch_4")]
        Arch4 = 52,
        #[doc(alias = "__HYPERVISOR_arch_5")]
        Arch5 = 53,
        #[doc(alias = "__HYPERVISOR_arch_6")]
        Arch6 = 54,
        #[doc(alias = "__HYPERVISOR_arch_7")]
        Arch7 = 55,
    }
}

/// Per-vCPU timebase update and/or requested timeout.
pub const VIRQ_TIMER: u32 = 0;
/// Request the guest to dump debug info.
pub const VIRQ_DEBUG: u32 = 1;
/// (dom0) Bytes received on the emergency console.
pub const VIRQ_CONSOLE: u32 = 2;
/// (dom0) Exceptional event for some domain.
pub const VIRQ_DOM_EXC: u32 = 3;
/// (dom0) Trace buffer has records available.
pub const VIRQ_TBUF: u32 = 4;
/// (dom0) A domain has paused for debugging.
pub const VIRQ_DEBUGGER: u32 = 6;
/// XenOprofile sample available.
pub const VIRQ_XENOPROF: u32 = 7;
/// (dom0) Bytes received on the console ring.
pub const VIRQ_CON_RING: u32 = 8;
/// (dom0) Physical CPU state changed.
pub const VIRQ_PCPU_STATE: u32 = 9;
/// (dom0) A memory event has occurred.
pub const VIRQ_MEM_EVENT: u32 = 10;
/// Argo interdomain message notification.
pub const VIRQ_ARGO: u32 = 11;
/// (dom0) Low on heap memory.
pub const VIRQ_ENOMEM: u32 = 12;
/// Per-vCPU PMC interrupt.
pub const VIRQ_XENPMU: u32 = 13;
/// First architecture-specific VIRQ (`VIRQ_ARCH_0`..`VIRQ_ARCH_7` are 16..=23).
pub const VIRQ_ARCH_0: u32 = 16;
/// Last architecture-specific VIRQ.
pub const VIRQ_ARCH_7: u32 = 23;
/// Number of VIRQs.
pub const NR_VIRQS: u32 = 24;

/// The top bit of `mmu_update`'s and `mmuext_op`'s 32-bit count: a continuation of a preempted
/// batch, whose work so far is the count at `pdone` (Xen's `MMU_UPDATE_PREEMPTED`, from its
/// `asm/mm.h`, not the public headers). A guest may set it itself; Xen then adds to `*pdone`.
pub const MMU_UPDATE_PREEMPTED: u32 = 1 << 31;

sub_op_enum! {
    /// The command in the low 2 bits of `mmu_update.ptr` (`MMU_*`).
    #[doc(alias = "MMU_NORMAL_PT_UPDATE")]
    pub enum MmuUpdateCmd {
        /// Checked `*ptr = val`; `ptr` is a machine address.
        #[doc(alias = "MMU_NORMAL_PT_UPDATE")]
        NormalPtUpdate = 0,
        /// `ptr` is the machine address of the frame whose M2P entry becomes `val`.
        #[doc(alias = "MMU_MACHPHYS_UPDATE")]
        MachphysUpdate = 1,
        /// Atomically `*ptr = val | (*ptr & (A|D))`.
        #[doc(alias = "MMU_PT_UPDATE_PRESERVE_AD")]
        PtUpdatePreserveAd = 2,
        /// Checked `*ptr = val`; `val` is never translated.
        #[doc(alias = "MMU_PT_UPDATE_NO_TRANSLATE")]
        PtUpdateNoTranslate = 3,
    }
}

sub_op_enum! {
    /// `mmuext_op.cmd` (`MMUEXT_*`).
    #[doc(alias = "mmuext_cmd")]
    pub enum MmuextCmd {
        #[doc(alias = "MMUEXT_PIN_L1_TABLE")]
        PinL1Table = 0,
        #[doc(alias = "MMUEXT_PIN_L2_TABLE")]
        PinL2Table = 1,
        #[doc(alias = "MMUEXT_PIN_L3_TABLE")]
        PinL3Table = 2,
        #[doc(alias = "MMUEXT_PIN_L4_TABLE")]
        PinL4Table = 3,
        #[doc(alias = "MMUEXT_UNPIN_TABLE")]
        UnpinTable = 4,
        #[doc(alias = "MMUEXT_NEW_BASEPTR")]
        NewBaseptr = 5,
        #[doc(alias = "MMUEXT_TLB_FLUSH_LOCAL")]
        TlbFlushLocal = 6,
        #[doc(alias = "MMUEXT_INVLPG_LOCAL")]
        InvlpgLocal = 7,
        #[doc(alias = "MMUEXT_TLB_FLUSH_MULTI")]
        TlbFlushMulti = 8,
        #[doc(alias = "MMUEXT_INVLPG_MULTI")]
        InvlpgMulti = 9,
        #[doc(alias = "MMUEXT_TLB_FLUSH_ALL")]
        TlbFlushAll = 10,
        #[doc(alias = "MMUEXT_INVLPG_ALL")]
        InvlpgAll = 11,
        #[doc(alias = "MMUEXT_FLUSH_CACHE")]
        FlushCache = 12,
        #[doc(alias = "MMUEXT_SET_LDT")]
        SetLdt = 13,
        #[doc(alias = "MMUEXT_NEW_USER_BASEPTR")]
        NewUserBaseptr = 15,
        #[doc(alias = "MMUEXT_CLEAR_PAGE")]
        ClearPage = 16,
        #[doc(alias = "MMUEXT_COPY_PAGE")]
        CopyPage = 17,
        #[doc(alias = "MMUEXT_FLUSH_CACHE_GLOBAL")]
        FlushCacheGlobal = 18,
        #[doc(alias = "MMUEXT_MARK_SUPER")]
        MarkSuper = 19,
        #[doc(alias = "MMUEXT_UNMARK_SUPER")]
        UnmarkSuper = 20,
    }
}

/// `UVMF_NONE`: no flushing at all.
pub const UVMF_NONE: u64 = 0;
/// `UVMF_TLB_FLUSH`: flush entire TLB(s).
pub const UVMF_TLB_FLUSH: u64 = 1;
/// `UVMF_INVLPG`: flush only one entry.
pub const UVMF_INVLPG: u64 = 2;
/// `UVMF_FLUSHTYPE_MASK`.
pub const UVMF_FLUSHTYPE_MASK: u64 = 3;
/// `UVMF_MULTI`: flush a subset of TLBs (the rest of the flags word is a pointer to a vCPU mask).
pub const UVMF_MULTI: u64 = 0;
/// `UVMF_LOCAL`: flush the local TLB.
pub const UVMF_LOCAL: u64 = 0;
/// `UVMF_ALL`: flush all TLBs.
pub const UVMF_ALL: u64 = 4;

sub_op_enum! {
    /// `console_io` commands (`CONSOLEIO_*`).
    #[doc(alias = "CONSOLEIO")]
    pub enum ConsoleIoCmd {
        #[doc(alias = "CONSOLEIO_write")]
        Write = 0,
        #[doc(alias = "CONSOLEIO_read")]
        Read = 1,
    }
}

sub_op_enum! {
    /// `vm_assist` commands (`VMASST_CMD_*`).
    #[doc(alias = "VMASST_CMD")]
    pub enum VmAssistCmd {
        #[doc(alias = "VMASST_CMD_enable")]
        Enable = 0,
        #[doc(alias = "VMASST_CMD_disable")]
        Disable = 1,
    }
}

/// `VMASST_TYPE_4gb_segments` (x86-32 only).
#[doc(alias = "VMASST_TYPE_4gb_segments")]
pub const VMASST_TYPE_4GB_SEGMENTS: u32 = 0;
/// `VMASST_TYPE_4gb_segments_notify` (x86-32 only).
#[doc(alias = "VMASST_TYPE_4gb_segments_notify")]
pub const VMASST_TYPE_4GB_SEGMENTS_NOTIFY: u32 = 1;
/// `VMASST_TYPE_writable_pagetables`: trap and emulate guest writes to its page tables.
#[doc(alias = "VMASST_TYPE_writable_pagetables")]
pub const VMASST_TYPE_WRITABLE_PAGETABLES: u32 = 2;
/// `VMASST_TYPE_pae_extended_cr3` (x86-32 PAE only).
#[doc(alias = "VMASST_TYPE_pae_extended_cr3")]
pub const VMASST_TYPE_PAE_EXTENDED_CR3: u32 = 3;
/// `VMASST_TYPE_architectural_iopl`: the virtual IOPL lives in the bounce frame's RFLAGS.
#[doc(alias = "VMASST_TYPE_architectural_iopl")]
pub const VMASST_TYPE_ARCHITECTURAL_IOPL: u32 = 4;
/// `VMASST_TYPE_runstate_update_flag`: `XEN_RUNSTATE_UPDATE` in `state_entry_time`.
#[doc(alias = "VMASST_TYPE_runstate_update_flag")]
pub const VMASST_TYPE_RUNSTATE_UPDATE_FLAG: u32 = 5;
/// `VMASST_TYPE_m2p_strict`: the M2P is not mapped in guest user mode.
#[doc(alias = "VMASST_TYPE_m2p_strict")]
pub const VMASST_TYPE_M2P_STRICT: u32 = 32;

/// `mmu_update`: one page-table (or M2P) update. The low 2 bits of `ptr` are an [`MmuUpdateCmd`].
#[doc(alias = "mmu_update")]
#[doc(alias = "mmu_update_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct MmuUpdate {
    /// Machine address of the PTE (or of the frame, for `MMU_MACHPHYS_UPDATE`), plus the command.
    pub ptr: u64,
    /// New contents of the PTE (or the new M2P entry).
    pub val: u64,
}
const _: () = assert!(size_of::<MmuUpdate>() == 16);

impl MmuUpdate {
    /// The command in `ptr`'s low 2 bits.
    pub fn cmd(&self) -> MmuUpdateCmd {
        // All four 2-bit values are defined, so this cannot fail; ENOSYS is unreachable.
        MmuUpdateCmd::try_from((self.ptr & 3) as u32).unwrap_or(MmuUpdateCmd::NormalPtUpdate)
    }
    /// `ptr` without the command bits.
    #[doc(alias = "ptr")]
    pub const fn addr(&self) -> u64 {
        self.ptr & !3
    }
}

/// `mmuext_op`: one extended MMU command.
///
/// Both unions of the C struct are mirrored as their full 8-byte width (`arg1`, `arg2`); the
/// accessors name the variants.
#[doc(alias = "mmuext_op")]
#[doc(alias = "mmuext_op_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct MmuextOp {
    /// An [`MmuextCmd`] number.
    pub cmd: u32,
    pub _pad0: u32,
    /// `mfn` (`[UN]PIN_TABLE`, NEW_BASEPTR, NEW_USER_BASEPTR, CLEAR_PAGE, COPY_PAGE,
    /// `[UN]MARK_SUPER`) or `linear_addr` (INVLPG_LOCAL, INVLPG_ALL, SET_LDT).
    pub arg1: u64,
    /// `nr_ents` (SET_LDT), `vcpumask` guest handle (TLB_FLUSH_MULTI, INVLPG_MULTI) or `src_mfn`
    /// (COPY_PAGE).
    pub arg2: u64,
}
const _: () = assert!(size_of::<MmuextOp>() == 24);

impl MmuextOp {
    /// `arg1.mfn`.
    pub const fn mfn(&self) -> Mfn {
        Mfn(self.arg1)
    }
    /// `arg1.linear_addr`.
    pub const fn linear_addr(&self) -> u64 {
        self.arg1
    }
    /// `arg2.nr_ents` (the low 32 bits on little-endian x86).
    pub const fn nr_ents(&self) -> u32 {
        self.arg2 as u32
    }
    /// `arg2.vcpumask`: guest address of a vCPU bitmap.
    pub const fn vcpumask(&self) -> u64 {
        self.arg2
    }
    /// `arg2.src_mfn`.
    pub const fn src_mfn(&self) -> Mfn {
        Mfn(self.arg2)
    }
}

/// `multicall_entry`: one call of a `multicall` batch; `result` is written back.
#[doc(alias = "multicall_entry")]
#[doc(alias = "multicall_entry_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct MulticallEntry {
    pub op: u64,
    pub result: u64,
    pub args: [u64; 6],
}
const _: () = assert!(size_of::<MulticallEntry>() == 64);

/// `XEN_PVCLOCK_TSC_STABLE_BIT` in `vcpu_time_info.flags`.
pub const XEN_PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;
/// `XEN_PVCLOCK_GUEST_STOPPED` in `vcpu_time_info.flags`.
pub const XEN_PVCLOCK_GUEST_STOPPED: u8 = 1 << 1;

/// `vcpu_time_info`: the pvclock of one vCPU (32 bytes), versioned like a seqlock.
#[doc(alias = "vcpu_time_info")]
#[doc(alias = "vcpu_time_info_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct VcpuTimeInfo {
    /// Odd while an update is in progress.
    pub version: u32,
    pub pad0: u32,
    /// TSC at the last update.
    pub tsc_timestamp: u64,
    /// Nanoseconds since boot at `tsc_timestamp`.
    pub system_time: u64,
    pub tsc_to_system_mul: u32,
    pub tsc_shift: i8,
    /// `XEN_PVCLOCK_*`.
    pub flags: u8,
    pub pad1: [u8; 2],
}
const _: () = assert!(size_of::<VcpuTimeInfo>() == 32);

/// `arch_vcpu_info` (x86-64): the guest's virtual CR2.
#[doc(alias = "arch_vcpu_info")]
#[doc(alias = "arch_vcpu_info_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ArchVcpuInfo {
    pub cr2: u64,
    pub pad: u64,
}
const _: () = assert!(size_of::<ArchVcpuInfo>() == 16);

/// `vcpu_info`: one vCPU's event upcall flags and time (64 bytes).
#[doc(alias = "vcpu_info")]
#[doc(alias = "vcpu_info_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct VcpuInfo {
    pub evtchn_upcall_pending: u8,
    pub evtchn_upcall_mask: u8,
    pub _pad0: [u8; 6],
    /// One bit per word of `shared_info.evtchn_pending` (2-level ABI).
    pub evtchn_pending_sel: u64,
    pub arch: ArchVcpuInfo,
    pub time: VcpuTimeInfo,
}
const _: () = assert!(size_of::<VcpuInfo>() == 64);

/// `arch_shared_info` (x86): the P2M the toolstack reads for save/restore.
#[doc(alias = "arch_shared_info")]
#[doc(alias = "arch_shared_info_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ArchSharedInfo {
    /// Number of entries in the P2M, or `~0` for a virtually mapped P2M.
    pub max_pfn: u64,
    /// Frame of the list of frames of the list of P2M frames (3-level tree).
    pub pfn_to_mfn_frame_list_list: Mfn,
    pub nmi_reason: u64,
    /// `cr3` of the P2M's address space (`xen_pfn_to_cr3`), for a virtually mapped P2M.
    pub p2m_cr3: u64,
    pub p2m_vaddr: u64,
    pub p2m_generation: u64,
}
const _: () = assert!(size_of::<ArchSharedInfo>() == 48);

/// `XEN_LEGACY_MAX_VCPUS`: the number of `vcpu_info`s inside `shared_info`.
pub const XEN_LEGACY_MAX_VCPUS: usize = 32;

/// Words in each of `shared_info`'s 2-level event bitmaps (`sizeof(xen_ulong_t) * 8`).
pub const EVTCHN_2L_WORDS: usize = 64;

/// `shared_info`: the page every domain shares with the hypervisor.
#[doc(alias = "shared_info")]
#[doc(alias = "shared_info_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct SharedInfo {
    pub vcpu_info: [VcpuInfo; XEN_LEGACY_MAX_VCPUS],
    /// 2-level event channel pending bits, one per port.
    pub evtchn_pending: [u64; EVTCHN_2L_WORDS],
    /// 2-level event channel mask bits, one per port.
    pub evtchn_mask: [u64; EVTCHN_2L_WORDS],
    /// Wallclock version counter (seqlock like `vcpu_time_info.version`).
    pub wc_version: u32,
    pub wc_sec: u32,
    pub wc_nsec: u32,
    pub wc_sec_hi: u32,
    pub arch: ArchSharedInfo,
}
const _: () = assert!(size_of::<SharedInfo>() == 3136);

/// `MAX_GUEST_CMDLINE`: size of `start_info.cmd_line`.
pub const MAX_GUEST_CMDLINE: usize = 1024;

/// `start_info.console`: a union of `domU { mfn; evtchn; }` and `dom0 { info_off; info_size; }`,
/// mirrored as its 16 bytes (two little-endian words) with accessors for both variants.
#[doc(alias = "console")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct StartInfoConsole {
    pub raw: [u64; 2],
}
const _: () = assert!(size_of::<StartInfoConsole>() == 16);

impl StartInfoConsole {
    /// The domU variant: the console ring's frame and event channel.
    pub const fn domu(mfn: Mfn, evtchn: Port) -> StartInfoConsole {
        StartInfoConsole {
            raw: [mfn.0, evtchn.0 as u64],
        }
    }
    /// The dom0 variant: where `dom0_vga_console_info` sits inside `start_info`'s page, and its size.
    pub const fn dom0(info_off: u32, info_size: u32) -> StartInfoConsole {
        StartInfoConsole {
            raw: [info_off as u64 | (info_size as u64) << 32, 0],
        }
    }
    /// `console.domU.mfn`.
    pub const fn domu_mfn(&self) -> Mfn {
        Mfn(self.raw[0])
    }
    /// `console.domU.evtchn`.
    pub const fn domu_evtchn(&self) -> Port {
        Port(self.raw[1] as u32)
    }
    /// `console.dom0.info_off`.
    pub const fn dom0_info_off(&self) -> u32 {
        self.raw[0] as u32
    }
    /// `console.dom0.info_size`.
    pub const fn dom0_info_size(&self) -> u32 {
        (self.raw[0] >> 32) as u32
    }
}

/// `start_info`: what a PV guest finds at `rsi` when it starts (the page the builder fills).
#[doc(alias = "start_info")]
#[doc(alias = "start_info_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct StartInfo {
    /// `"xen-<version>-<platform>"`, e.g. `xen-3.0-x86_64`.
    pub magic: [u8; 32],
    /// Total pages allocated to this domain.
    pub nr_pages: u64,
    /// Machine address of the shared info page.
    pub shared_info: u64,
    /// `SIF_*`.
    pub flags: u32,
    pub _pad0: u32,
    /// Machine frame of the xenstore ring.
    pub store_mfn: Mfn,
    /// Event channel of the xenstore ring.
    pub store_evtchn: Port,
    pub _pad1: u32,
    pub console: StartInfoConsole,
    /// Virtual address of the top-level page table.
    pub pt_base: u64,
    /// Number of bootstrap page-table frames.
    pub nr_pt_frames: u64,
    /// Virtual address of the P2M list.
    pub mfn_list: u64,
    /// Virtual address (or PFN with `SIF_MOD_START_PFN`) of the initial module.
    pub mod_start: u64,
    /// Size in bytes of the initial module.
    pub mod_len: u64,
    /// NUL-terminated command line (`int8_t` in C).
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    /// First PFN forming the initial P2M table.
    pub first_p2m_pfn: Pfn,
    /// Number of PFNs forming the initial P2M table.
    pub nr_p2m_frames: u64,
}
const _: () = assert!(size_of::<StartInfo>() == 1168);

bitflags! {
    /// `start_info.flags` (`SIF_*`).
    #[doc(alias = "SIF")]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SifFlags: u32 {
        /// Is the domain privileged?
        #[doc(alias = "SIF_PRIVILEGED")]
        const PRIVILEGED = 1 << 0;
        /// Is this the initial control domain?
        #[doc(alias = "SIF_INITDOMAIN")]
        const INITDOMAIN = 1 << 1;
        /// Is `mod_start` a multiboot module list?
        #[doc(alias = "SIF_MULTIBOOT_MOD")]
        const MULTIBOOT_MOD = 1 << 2;
        /// Is `mod_start` a PFN?
        #[doc(alias = "SIF_MOD_START_PFN")]
        const MOD_START_PFN = 1 << 3;
        /// Do the tools understand a virtually mapped P2M?
        #[doc(alias = "SIF_VIRT_P2M_4TOOLS")]
        const VIRT_P2M_4TOOLS = 1 << 4;
        /// Reserved for xen-pm options.
        #[doc(alias = "SIF_PM_MASK")]
        const PM_MASK = 0xFF << 8;
    }
}

/// `xen_multiboot_mod_list`: one module when `SIF_MULTIBOOT_MOD` is set.
#[doc(alias = "xen_multiboot_mod_list")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenMultibootModList {
    pub mod_start: u32,
    /// Address of the last byte (inclusive).
    pub mod_end: u32,
    pub cmdline: u32,
    pub pad: u32,
}
const _: () = assert!(size_of::<XenMultibootModList>() == 16);

/// `XEN_VGATYPE_TEXT_MODE_3`.
pub const XEN_VGATYPE_TEXT_MODE_3: u8 = 0x03;
/// `XEN_VGATYPE_VESA_LFB`.
pub const XEN_VGATYPE_VESA_LFB: u8 = 0x23;
/// `XEN_VGATYPE_EFI_LFB`.
pub const XEN_VGATYPE_EFI_LFB: u8 = 0x70;

/// The `text_mode_3` variant of `dom0_vga_console_info.u` (10 bytes, padded to the union's 36).
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct VgaTextMode3 {
    pub font_height: u16,
    pub cursor_x: u16,
    pub cursor_y: u16,
    pub rows: u16,
    pub columns: u16,
}

/// The `vesa_lfb` variant of `dom0_vga_console_info.u` (36 bytes: the union's size).
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct VgaVesaLfb {
    pub width: u16,
    pub height: u16,
    pub bytes_per_line: u16,
    pub bits_per_pixel: u16,
    pub lfb_base: u32,
    /// In units of 64 KiB.
    pub lfb_size: u32,
    pub red_pos: u8,
    pub red_size: u8,
    pub green_pos: u8,
    pub green_size: u8,
    pub blue_pos: u8,
    pub blue_size: u8,
    pub rsvd_pos: u8,
    pub rsvd_size: u8,
    pub gbl_caps: u32,
    pub mode_attrs: u16,
    pub pad: u16,
    /// High 32 bits of `lfb_base`.
    pub ext_lfb_base: u32,
}
const _: () = assert!(size_of::<VgaVesaLfb>() == 36);

/// `dom0_vga_console_info`: the boot console dom0 inherits (at `start_info.console.dom0`).
///
/// The C union `u` is mirrored as its 36 bytes (`[u32; 9]`, keeping its 4-byte alignment); the
/// accessors copy a variant out or in.
#[doc(alias = "dom0_vga_console_info")]
#[doc(alias = "dom0_vga_console_info_t")]
#[doc(alias = "xen_vga_console_info")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Dom0VgaConsoleInfo {
    /// `XEN_VGATYPE_*`.
    pub video_type: u8,
    pub _pad0: [u8; 3],
    pub u: [u32; 9],
}
const _: () = assert!(size_of::<Dom0VgaConsoleInfo>() == 40);

impl Dom0VgaConsoleInfo {
    /// `u.text_mode_3`.
    pub fn text_mode_3(&self) -> VgaTextMode3 {
        let bytes = self.u.as_bytes();
        VgaTextMode3::read_from_prefix(bytes)
            .map(|(v, _)| v)
            .unwrap_or_default()
    }
    /// `u.vesa_lfb`.
    pub fn vesa_lfb(&self) -> VgaVesaLfb {
        VgaVesaLfb::read_from_bytes(self.u.as_bytes()).unwrap_or_default()
    }
    /// Store `v` as `u.vesa_lfb`.
    pub fn set_vesa_lfb(&mut self, v: &VgaVesaLfb) {
        self.u.as_mut_bytes().copy_from_slice(v.as_bytes());
    }
    /// Store `v` as `u.text_mode_3` (the rest of the union is zeroed).
    pub fn set_text_mode_3(&mut self, v: &VgaTextMode3) {
        let bytes = self.u.as_mut_bytes();
        bytes.fill(0);
        bytes[..size_of::<VgaTextMode3>()].copy_from_slice(v.as_bytes());
    }
}

/// `xen_domain_handle_t`: a domain's 16-byte UUID.
#[doc(alias = "xen_domain_handle_t")]
pub type XenDomainHandle = [u8; 16];

/// `xen_uuid_t`.
#[doc(alias = "xen_uuid_t")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenUuid {
    pub a: [u8; 16],
}
const _: () = assert!(size_of::<XenUuid>() == 16);

/// `xenctl_bitmap` (tools interface): a guest handle to a bitmap and its length in bits.
#[doc(alias = "xenctl_bitmap")]
#[doc(alias = "xenctl_bitmap_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenctlBitmap {
    /// Guest handle (`XEN_GUEST_HANDLE_64(uint8)`): guest virtual address of the bits.
    pub bitmap: u64,
    pub nr_bits: u32,
    pub _pad0: u32,
}
const _: () = assert!(size_of::<XenctlBitmap>() == 16);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;
    use crate::Errno;
    use zerocopy::FromZeros;

    #[test]
    fn sub_op_enums_round_trip_and_unknown_is_enosys() {
        assert_sub_op::<Hypercall>();
        assert_sub_op::<MmuUpdateCmd>();
        assert_sub_op::<MmuextCmd>();
        assert_sub_op::<ConsoleIoCmd>();
        assert_sub_op::<VmAssistCmd>();
    }

    #[test]
    fn hypercall_11_is_a_hole_and_is_enosys() {
        assert_eq!(Hypercall::try_from(11), Err(Errno::ENOSYS));
        assert_eq!(Hypercall::try_from(23), Ok(Hypercall::Iret));
    }

    #[test]
    fn mmu_update_cmd_is_low_two_bits() {
        let u = MmuUpdate {
            ptr: 0x1234_5001,
            val: 0,
        };
        assert_eq!(u.cmd(), MmuUpdateCmd::MachphysUpdate);
        assert_eq!(u.addr(), 0x1234_5000);
    }

    #[test]
    fn start_info_console_variants_round_trip() {
        let c = StartInfoConsole::domu(Mfn(0x1234), Port(7));
        assert_eq!((c.domu_mfn(), c.domu_evtchn()), (Mfn(0x1234), Port(7)));
        let c = StartInfoConsole::dom0(0x800, 40);
        assert_eq!((c.dom0_info_off(), c.dom0_info_size()), (0x800, 40));
    }

    #[test]
    fn vga_vesa_lfb_round_trips() {
        let mut info = Dom0VgaConsoleInfo::new_zeroed();
        let v = VgaVesaLfb {
            width: 1024,
            height: 768,
            ext_lfb_base: 1,
            ..VgaVesaLfb::default()
        };
        info.set_vesa_lfb(&v);
        assert_eq!(info.vesa_lfb().width, 1024);
        assert_eq!(info.vesa_lfb().ext_lfb_base, 1);
    }
}
