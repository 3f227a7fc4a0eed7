//! `XEN_DOMCTL_createdomain` (Xen's `domain_create`): an empty PV domain for the toolstack to
//! build — `shared_info`, its event channels and grant table with the limits it asked for,
//! `max_vcpus` vCPUs that the toolstack brings into being with `XEN_DOMCTL_max_vcpus`, no
//! memory, and paused (`controller_pause_count` 1) until it is unpaused.

use super::{Domain, DomainState, Vcpu};
use crate::arch::x86_64::idt::TrapFrame;
use crate::layout::selectors;
use crate::mm::typing::{Asker, PageType};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering};
use xen_abi::domctl::{DomctlCdf, XenDomctlCreatedomain, XEN_DOMCTL_GRANT_VERSION_MASK};
use xen_abi::{DomId, Errno, VcpuId, XenResult};

/// `XEN_X86_EMU_ALL`: every emulation flag there is.
const X86_EMU_ALL: u32 = 0x7ff;
/// `XEN_X86_EMU_PIT`: the one a PV domain may have.
const X86_EMU_PIT: u32 = 1 << 8;
/// `XEN_X86_MSR_RELAXED`.
const X86_MSR_RELAXED: u32 = 1 << 0;

/// The last id handed out (Xen's `rover` in `do_domctl`).
static ROVER: AtomicU16 = AtomicU16::new(0);

/// Xen's `is_free_domid`: no domain, and no grant table kept for others' pins.
pub fn is_free_id(id: DomId) -> bool {
    id.is_ordinary() && !super::DOMAINS.lock().contains_key(&id) && !crate::grant::id_in_use(id)
}

/// The id for a new domain: `requested` if it is an ordinary id other than 0 (`-EEXIST` when
/// taken), otherwise the next free one after the last handed out (`-ENOMEM` when none is).
pub fn pick_id(requested: DomId) -> XenResult<DomId> {
    if requested.0 > 0 && requested.is_ordinary() {
        return if is_free_id(requested) {
            Ok(requested)
        } else {
            Err(Errno::EEXIST)
        };
    }
    let rover = ROVER.load(Ordering::Relaxed);
    let mut id = rover;
    loop {
        id = id.wrapping_add(1);
        if id >= DomId::FIRST_RESERVED.0 {
            id = 1;
        }
        if id == rover {
            return Err(Errno::ENOMEM);
        }
        if is_free_id(DomId(id)) {
            ROVER.store(id, Ordering::Relaxed);
            return Ok(DomId(id));
        }
        if rover == 0 && id == DomId::FIRST_RESERVED.0 - 1 {
            return Err(Errno::ENOMEM);
        }
    }
}

/// `sanitise_domain_config` + `arch_sanitise_domain_config` + the checks of
/// `arch_domain_create`, `grant_table_init` for a PV domain, in Xen's order. Ferrite has no
/// HVM, IOMMU, vmtrace, vPMU or nested virtualisation: asking for one is `-EINVAL`, as Xen
/// answers when the host lacks it. Returns the config as Xen writes it back (`oos_off` set:
/// it is only meaningful clear for HVM).
pub fn sanitise(cfg: &XenDomctlCreatedomain) -> XenResult<XenDomctlCreatedomain> {
    let flags = DomctlCdf::from_bits(cfg.flags).ok_or(Errno::EINVAL)?;
    if cfg.grant_opts & !XEN_DOMCTL_GRANT_VERSION_MASK != 0 || cfg.max_vcpus < 1 {
        return Err(Errno::EINVAL);
    }
    if flags.contains(DomctlCdf::HAP) && !flags.contains(DomctlCdf::HVM) {
        return Err(Errno::EINVAL);
    }
    // No IOMMU: asking for one, or giving options without asking, is -EINVAL.
    if flags.contains(DomctlCdf::IOMMU) || cfg.iommu_opts != 0 {
        return Err(Errno::EINVAL);
    }
    if cfg.vmtrace_size != 0 || flags.contains(DomctlCdf::VPMU) {
        return Err(Errno::EINVAL);
    }
    // `arch_sanitise_domain_config`: HVM not available here; vCPUs up to what `shared_info`
    // holds (Xen: 8192 for PV, the ones past 32 needing `VCPUOP_register_vcpu_info`); no
    // TBOOT; nested virtualisation needs HAP.
    if flags.contains(DomctlCdf::HVM)
        || cfg.max_vcpus as usize > xen_abi::xen::XEN_LEGACY_MAX_VCPUS
        || flags.contains(DomctlCdf::S3_INTEGRITY)
        || flags.contains(DomctlCdf::NESTED_VIRT)
    {
        return Err(Errno::EINVAL);
    }
    // `arch_domain_create`.
    let emu = cfg.arch.emulation_flags;
    if emu & !X86_EMU_ALL != 0 || cfg.arch.misc_flags & !X86_MSR_RELAXED != 0 {
        return Err(Errno::EINVAL);
    }
    if emu != 0 && emu != X86_EMU_PIT {
        return Err(Errno::EOPNOTSUPP);
    }
    // `grant_table_init`: a version of 1 or 2; -1 means the default size.
    let version = cfg.grant_opts & XEN_DOMCTL_GRANT_VERSION_MASK;
    if version == 0 || version > grant_tables::MAX_VERSION {
        return Err(Errno::EINVAL);
    }
    let frames = grant_frames(cfg);
    if frames.0 < grant_tables::INITIAL_NR_GRANT_FRAMES
        || frames.0 > grant_tables::DEFAULT_MAX_GRANT_FRAMES
        || frames.1 > grant_tables::DEFAULT_MAX_MAPTRACK_FRAMES
    {
        return Err(Errno::EINVAL);
    }
    let mut out = *cfg;
    out.flags |= DomctlCdf::OOS_OFF.bits();
    Ok(out)
}

/// `(max_grant_frames, max_maptrack_frames)`, a negative one meaning the default.
fn grant_frames(cfg: &XenDomctlCreatedomain) -> (u32, u32) {
    let or = |v: i32, d: u32| u32::try_from(v).unwrap_or(d);
    (
        or(cfg.max_grant_frames, grant_tables::DEFAULT_MAX_GRANT_FRAMES),
        or(
            cfg.max_maptrack_frames,
            grant_tables::DEFAULT_MAX_MAPTRACK_FRAMES,
        ),
    )
}

/// Makes domain `id` from a sanitised `cfg` and lists it; `-ENOMEM` if a frame or the event
/// or grant state cannot be had (nothing is left behind).
pub fn create(id: DomId, cfg: &XenDomctlCreatedomain) -> XenResult<Arc<Domain>> {
    let ft = crate::mm::frame_table();
    let shared_info = crate::mm::guest::alloc_zeroed().ok_or(Errno::ENOMEM)?;
    ft.assign(shared_info, id);
    let asker = Asker {
        id,
        io: false,
        iomem: false,
    };
    let undo_frame = || {
        ft.put_page_type(shared_info);
        ft.release(shared_info);
    };
    if let Err(e) = ft.get_page_type(shared_info, PageType::Writable, asker) {
        ft.release(shared_info);
        return Err(e);
    }
    // Every vCPU starts with events masked.
    for v in 0..cfg.max_vcpus as usize {
        let _ = crate::mm::guest::frame_write(shared_info, v * 64 + 1, &[1]);
    }
    let ev = event_channels::hub::DomainConfig {
        max_vcpus: cfg.max_vcpus,
        max_evtchn_port: cfg.max_evtchn_port.min(i32::MAX as u32),
        ..Default::default()
    };
    if let Err(e) = crate::event::create_ports(id, ev, shared_info) {
        undo_frame();
        log::warn!("d{}: createdomain: event channels: {e:?}", id.0);
        return Err(Errno::ENOMEM);
    }
    let (max_grant_frames, max_maptrack_frames) = grant_frames(cfg);
    let gt = grant_tables::DomainConfig {
        privileged: false,
        max_grant_frames,
        max_maptrack_frames,
        max_version: cfg.grant_opts & XEN_DOMCTL_GRANT_VERSION_MASK,
    };
    if let Err(e) = crate::grant::domain_create_with(id, gt) {
        crate::event::domain_kill(id);
        undo_frame();
        log::warn!("d{}: createdomain: grant table: {e:?}", id.0);
        return Err(Errno::ENOMEM);
    }
    let cpus = (0..crate::layout::MAX_CPUS)
        .filter(|&c| {
            crate::arch::x86_64::percpu::of(c).is_some_and(|p| p.online.load(Ordering::Acquire))
        })
        .count()
        .max(1);
    let regs = TrapFrame {
        cs: u64::from(selectors::FLAT_RING3_CS64),
        ss: u64::from(selectors::FLAT_RING3_DS),
        rflags: 0x200,
        ..TrapFrame::default()
    };
    let d = Arc::new_cyclic(|dom| Domain {
        id,
        name: heapless::String::new(),
        privileged: false,
        state: spin::Mutex::new(DomainState::Running),
        p2m: Vec::new(),
        shared_info,
        vcpus: (0..cfg.max_vcpus)
            .map(|v| {
                Arc::new(Vcpu {
                    domid: id,
                    dom: dom.clone(),
                    id: VcpuId(v),
                    cpu: core::sync::atomic::AtomicUsize::new(v as usize % cpus),
                    migrate_to: core::sync::atomic::AtomicUsize::new(super::NO_MIGRATION),
                    state: spin::Mutex::new(super::build::vcpu_state(false, regs, None, 0)),
                    vcpu_info: AtomicU64::new((shared_info.maddr() + u64::from(v) * 64).0),
                    nmi_pending: AtomicBool::new(false),
                    affinity: spin::Mutex::new(super::Affinity::default()),
                })
            })
            .collect(),
        console: spin::Mutex::new(super::ConsoleLine::default()),
        vm_assist: AtomicU64::new(0),
        frames: alloc::vec![shared_info],
        mmu: spin::Mutex::new(()),
        tot_pages: AtomicU64::new(0),
        max_pages: AtomicU64::new(0),
        console_ring: None,
        unsupported_logged: AtomicU64::new(0),
        ioports: super::ioports::IoPorts::none(),
        controller_pause: AtomicU32::new(1),
        vcpus_ready: AtomicBool::new(false),
        handle: spin::Mutex::new(cfg.handle),
        by_toolstack: true,
        tsc: spin::Mutex::new((0, 1)),
        outstanding: core::sync::atomic::AtomicU64::new(0),
        node_affinity: core::sync::atomic::AtomicU64::new(!0),
        e820: spin::Mutex::new(Vec::new()),
        cpu_policy: spin::Mutex::new(None),
        time_offset: core::sync::atomic::AtomicI64::new(0),
        creation_finished: AtomicBool::new(false),
        frame_span: super::FrameSpan::of([shared_info]),
        log_dirty_progress: spin::Mutex::new(None),
        watchdogs: spin::Mutex::new(Default::default()),
        teardown: spin::Mutex::new(Default::default()),
    });
    // No wallclock yet: vCPU 0's context publishes it (`hypercall::vcpu::set_context`).
    for v in &d.vcpus {
        crate::time::update_vcpu_time(v.vcpu_info_at());
        crate::sched::add(v.clone());
    }
    super::DOMAINS.lock().insert(id, d.clone());
    log::info!(
        "d{}: created by the toolstack ({} vCPU(s), paused)",
        id.0,
        cfg.max_vcpus
    );
    Ok(d)
}
