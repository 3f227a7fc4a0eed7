//! `domctl` (hypercall 36, Xen's `common/domctl.c` and `arch/x86/domctl.c`): the toolstack's
//! control of a domain. So far: the interface checks; a domain's life without memory —
//! `createdomain`, `max_vcpus`, `setvcpucontext`/`getvcpucontext`, `setdomainhandle`,
//! `pausedomain`/`unpausedomain`,
//! `destroydomain`; and the sub-ops that read a domain's state or set its limits:
//! `getdomaininfo`, `getvcpuinfo`, `max_mem`, `set_address_size`/`get_address_size`. The
//! others (vCPU contexts, affinity, permissions…) answer `-ENOSYS` (logged once per sub-op)
//! until they exist.

use super::Outcome;
use crate::domain::{self, runstate, Domain, DomainState};
use core::sync::atomic::{AtomicU64, Ordering};
use xen_abi::arch_x86::{VcpuGuestContext, VgcfFlags};
use xen_abi::bitmap;
use xen_abi::cpu_policy::{self, CpuPolicy, PolicyError};
use xen_abi::domctl::{
    DomInfFlags, Domctl, XenDomctl, XenDomctlAddressSize, XenDomctlCpuPolicy,
    XenDomctlGetdomaininfo, XenDomctlGetpageframeinfo3, XenDomctlGetvcpuinfo,
    XenDomctlIomemPermission, XenDomctlIoportPermission, XenDomctlIrqPermission, XenDomctlMaxMem,
    XenDomctlMaxVcpus, XenDomctlNodeaffinity, XenDomctlSchedCredit2, XenDomctlSchedulerOp,
    XenDomctlSetVirqHandler, XenDomctlSetdomainhandle, XenDomctlSettimeoffset, XenDomctlTscInfo,
    XenDomctlVcpuMsrs, XenDomctlVcpuaffinity, XenDomctlVcpucontext, TSC_MODE_ALWAYS_EMULATE,
    TSC_MODE_DEFAULT, TSC_MODE_NEVER_EMULATE, XEN_DOMCTL_INTERFACE_VERSION,
    XEN_DOMCTL_SCHEDOP_GETINFO, XEN_DOMCTL_SCHEDOP_PUTINFO, XEN_SCHEDULER_CREDIT2,
    XEN_VCPUAFFINITY_HARD, XEN_VCPUAFFINITY_SOFT,
};
use xen_abi::xen::XenctlBitmap;
use xen_abi::{DomId, Errno, Gfn, Mfn, XenResult};

/// `XEN_INVALID_MAX_VCPU_ID`: no vCPU.
const INVALID_MAX_VCPU_ID: u32 = !0;
/// `SHUTDOWN_CODE_INVALID` (`~0u`): a domain that has not shut down.
const SHUTDOWN_CODE_INVALID: u32 = !0;
/// `SHUTDOWN_crash`: what a crashed domain's shutdown code is.
const SHUTDOWN_CRASH: u32 = 3;

/// The `domctl(u_domctl)` hypercall: the 144-byte `xen_domctl` is read whole (`-EFAULT`), its
/// `interface_version` must be 4.17's (`-EACCES`, before anything else), the domain must exist
/// (`-ESRCH`; `getdomaininfo` may name none and then takes the next one), and only the
/// control domain may go on (`-EPERM`, Xen's dummy XSM). The struct is written back only by
/// the sub-ops that return something in it, and only when they succeed.
pub fn domctl(caller: &Domain, arg: u64) -> Outcome {
    match domctl_op(caller, arg) {
        Ok(o) => o,
        Err(e) => Outcome::Done(Err(e)),
    }
}

fn domctl_op(caller: &Domain, arg: u64) -> XenResult<Outcome> {
    let mut op: XenDomctl = crate::pv::read_guest_struct(arg)?;
    if op.interface_version != XEN_DOMCTL_INTERFACE_VERSION {
        return Err(Errno::EACCES);
    }
    let cmd = Domctl::try_from(op.cmd).ok();
    let d = match cmd {
        Some(Domctl::Createdomain) => None,
        _ => domain::get(op.domain),
    };
    if d.is_none() && !matches!(cmd, Some(Domctl::Getdomaininfo | Domctl::Createdomain)) {
        return Err(Errno::ESRCH);
    }
    if !caller.privileged {
        return Err(Errno::EPERM);
    }
    let is_self = d.as_ref().is_some_and(|d| d.id == caller.id);
    let copyback = match (cmd, d) {
        (Some(Domctl::Createdomain), _) => {
            let id = domain::create::pick_id(op.domain)?;
            let cfg = domain::create::sanitise(&op.arg().ok_or(Errno::EINVAL)?)?;
            domain::create::create(id, &cfg)?;
            op.domain = id;
            op.set_arg(&cfg);
            true
        }
        (Some(Domctl::MaxVcpus), Some(d)) => {
            let a: XenDomctlMaxVcpus = op.arg().ok_or(Errno::EINVAL)?;
            if is_self || a.max as usize != d.vcpus.len() {
                return Err(Errno::EINVAL);
            }
            d.vcpus_ready.store(true, Ordering::Release);
            false
        }
        (Some(Domctl::Setvcpucontext), Some(d)) => {
            let a: XenDomctlVcpucontext = op.arg().ok_or(Errno::EINVAL)?;
            let v = d
                .vcpus
                .get(a.vcpu as usize)
                .filter(|_| !is_self && d.vcpus_ready.load(Ordering::Acquire))
                .ok_or(Errno::EINVAL)?;
            // A null context is `vcpu_reset` in Xen: not here yet.
            if a.ctxt == 0 {
                return Err(Errno::EINVAL);
            }
            let c: VcpuGuestContext = crate::pv::read_guest_struct(a.ctxt)?;
            super::vcpu::set_context(&d, v, &c)?;
            // `VGCF_online`: the vCPU is up (runs once the domain is unpaused).
            if VgcfFlags::from_bits_truncate(c.flags).contains(VgcfFlags::ONLINE) {
                let mut st = v.state.lock();
                if !st.up {
                    st.up = true;
                    st.runstate.change(runstate::RUNNABLE, crate::time::now());
                }
            }
            false
        }
        (Some(Domctl::Getvcpucontext), Some(d)) => {
            let a: XenDomctlVcpucontext = op.arg().ok_or(Errno::EINVAL)?;
            let current = crate::sched::current();
            let v = d
                .vcpus
                .get(a.vcpu as usize)
                .filter(|_| d.vcpus_ready.load(Ordering::Acquire))
                .filter(|v| {
                    !current
                        .as_ref()
                        .is_some_and(|c| alloc::sync::Arc::ptr_eq(c, v))
                })
                .ok_or(Errno::EINVAL)?;
            if !v.state.lock().initialised {
                return Err(Errno::ENODATA);
            }
            let c = with_vcpu_paused(&d, v, || super::vcpu::get_context(v));
            crate::pv::write_guest_struct(a.ctxt, &c)?;
            true
        }
        (Some(Domctl::Setdomainhandle), Some(d)) => {
            let a: XenDomctlSetdomainhandle = op.arg().ok_or(Errno::EINVAL)?;
            *d.handle.lock() = a.handle;
            false
        }
        (Some(Domctl::Pausedomain), Some(d)) => {
            if is_self {
                return Err(Errno::EINVAL);
            }
            pause(&d)?;
            false
        }
        (Some(Domctl::Unpausedomain), Some(d)) => {
            let was = d
                .controller_pause
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .map_err(|_| Errno::EINVAL)?;
            // Creation is finished when the toolstack's count first reaches 0.
            if was == 1 {
                d.creation_finished.store(true, Ordering::Release);
            }
            for v in &d.vcpus {
                crate::sched::kick(v.pcpu());
            }
            false
        }
        (Some(Domctl::Destroydomain), Some(d)) => {
            if is_self {
                return Err(Errno::EINVAL);
            }
            if !destroy(&d) {
                return Ok(Outcome::resume(&[arg]));
            }
            false
        }
        (Some(Domctl::Getdomaininfo), d) => {
            let d = match d {
                Some(d) => d,
                None => {
                    if op.domain.0 >= DomId::FIRST_RESERVED.0 {
                        return Err(Errno::EINVAL);
                    }
                    first_from(op.domain).ok_or(Errno::ESRCH)?
                }
            };
            let info = domain_info(&d);
            op.domain = d.id;
            op.set_arg(&info);
            true
        }
        (Some(Domctl::Getvcpuinfo), Some(d)) => {
            let mut a: XenDomctlGetvcpuinfo = op.arg().ok_or(Errno::EINVAL)?;
            let v = d.vcpus.get(a.vcpu as usize).ok_or(Errno::EINVAL)?;
            if !d.vcpus_ready.load(Ordering::Acquire) {
                return Err(Errno::ESRCH);
            }
            let now = crate::time::now();
            let st = v.state.lock();
            let rs = st.runstate.at(now);
            a.online = u8::from(st.up);
            a.blocked = u8::from(st.blocked);
            a.running = u8::from(rs.state == runstate::RUNNING);
            a.cpu_time = rs.time[runstate::RUNNING as usize];
            a.cpu = v.pcpu() as u32;
            drop(st);
            op.set_arg(&a);
            true
        }
        (Some(Domctl::MaxMem), Some(d)) => {
            let a: XenDomctlMaxMem = op.arg().ok_or(Errno::EINVAL)?;
            // KiB to pages; Xen's `max_pages` is an `unsigned int`. No check against what the
            // domain holds: it may "ratchet down" to the new limit.
            let pages = (a.max_memkb >> 2).min(u64::from(u32::MAX));
            d.max_pages.store(pages, Ordering::Release);
            false
        }
        (Some(Domctl::Settscinfo), Some(d)) => {
            let a: XenDomctlTscInfo = op.arg().ok_or(Errno::EINVAL)?;
            if is_self {
                return Err(Errno::EINVAL);
            }
            match a.tsc_mode {
                // Ferrite always gives guests the native TSC (its hosts' TSCs are invariant):
                // the default mode is never emulated, as on Xen with a safe TSC at the host's
                // rate.
                TSC_MODE_DEFAULT | TSC_MODE_NEVER_EMULATE => {}
                // No TSC emulation here.
                TSC_MODE_ALWAYS_EMULATE => return Err(Errno::EOPNOTSUPP),
                _ => return Err(Errno::EINVAL),
            }
            *d.tsc.lock() = (a.tsc_mode, a.incarnation.wrapping_add(1));
            false
        }
        (Some(Domctl::Gettscinfo), Some(d)) => {
            if is_self {
                return Err(Errno::EINVAL);
            }
            let (mode, incarnation) = *d.tsc.lock();
            let hz = crate::arch::x86_64::tsc::hz().max(1);
            let (elapsed_nsec, gtsc_khz) = if mode == TSC_MODE_NEVER_EMULATE {
                (0, 0)
            } else {
                let tsc = u128::from(crate::arch::x86_64::cpu::rdtsc());
                (
                    (tsc * 1_000_000_000 / u128::from(hz)) as u64,
                    (hz / 1000) as u32,
                )
            };
            op.set_arg(&XenDomctlTscInfo {
                tsc_mode: mode,
                gtsc_khz,
                incarnation,
                pad: 0,
                elapsed_nsec,
            });
            true
        }
        (Some(cmd @ (Domctl::Setvcpuaffinity | Domctl::Getvcpuaffinity)), Some(d)) => {
            let a: XenDomctlVcpuaffinity = op.arg().ok_or(Errno::EINVAL)?;
            vcpu_affinity(&d, &a, cmd == Domctl::Setvcpuaffinity)?;
            false
        }
        (Some(cmd @ (Domctl::Setnodeaffinity | Domctl::Getnodeaffinity)), Some(d)) => {
            let a: XenDomctlNodeaffinity = op.arg().ok_or(Errno::EINVAL)?;
            let map = a.nodemap;
            if cmd == Domctl::Setnodeaffinity {
                let nodes = read_bitmap(&map, MAX_NUMNODES)?;
                // One node, 0: a map without it has no online node (Xen's `-EINVAL`).
                if nodes & 1 == 0 {
                    return Err(Errno::EINVAL);
                }
                d.node_affinity.store(nodes, Ordering::Release);
            } else {
                let nodes = d.node_affinity.load(Ordering::Acquire) & 1;
                write_bitmap(nodes, &map, MAX_NUMNODES)?;
            }
            false
        }
        (Some(Domctl::SchedulerOp), Some(_)) => {
            let mut a: XenDomctlSchedulerOp = op.arg().ok_or(Errno::EINVAL)?;
            if a.sched_id != XEN_SCHEDULER_CREDIT2 {
                return Err(Errno::EINVAL);
            }
            match a.cmd {
                XEN_DOMCTL_SCHEDOP_GETINFO => {
                    let c = XenDomctlSchedCredit2 {
                        weight: CREDIT2_WEIGHT,
                        cap: 0,
                    };
                    a.u = [0; 2];
                    a.u[0] = u64::from(c.weight) | (u64::from(c.cap) << 16);
                    op.set_arg(&a);
                    true
                }
                XEN_DOMCTL_SCHEDOP_PUTINFO => {
                    let weight = a.u[0] as u16;
                    let cap = (a.u[0] >> 16) as u16;
                    // Every domain has credit2's default weight and no cap: Ferrite's
                    // round-robin run queues share a CPU equally. Keeping them is accepted
                    // (weight 0 means "unchanged", as in Xen); changing them is not offered.
                    if (weight == 0 || weight == CREDIT2_WEIGHT) && cap == 0 {
                        false
                    } else {
                        log::warn!(
                            "scheduler_op: weight {weight} cap {cap}: Ferrite's scheduler has \
                             no weights or caps: -EOPNOTSUPP"
                        );
                        return Err(Errno::EOPNOTSUPP);
                    }
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        (Some(Domctl::GetCpuPolicy), Some(d)) => {
            let mut a: XenDomctlCpuPolicy = op.arg().ok_or(Errno::EINVAL)?;
            let default = &crate::pv::cpu_policy::system().pv_max;
            let current = d.cpu_policy.lock().clone();
            let p = current.as_deref().unwrap_or(default);
            (a.nr_leaves, a.nr_msrs) =
                policy_to_guest(p, a.nr_leaves, a.leaves, a.nr_msrs, a.msrs, |_| Ok(()))?;
            op.set_arg(&a);
            true
        }
        (Some(Domctl::SetCpuPolicy), Some(d)) => {
            if is_self {
                return Err(Errno::EINVAL);
            }
            let mut a: XenDomctlCpuPolicy = op.arg().ok_or(Errno::EINVAL)?;
            // Xen pauses the domain around this; a domain not yet finished has never been
            // unpaused, so none of its vCPUs can be running.
            if d.creation_finished.load(Ordering::Acquire) {
                return Err(Errno::EEXIST);
            }
            match set_cpu_policy(&d, &a) {
                Ok(()) => false,
                Err(e) => {
                    // The audit's verdict goes back with the error (Xen copies the struct).
                    (a.err_leaf, a.err_subleaf, a.err_msr) = (e.leaf, e.subleaf, e.msr);
                    op.set_arg(&a);
                    crate::pv::write_guest_struct(arg, &op)?;
                    return Err(e.errno);
                }
            }
        }
        (Some(Domctl::IoportPermission), Some(d)) => {
            let a: XenDomctlIoportPermission = op.arg().ok_or(Errno::EINVAL)?;
            domain::ioports::grant_permission(
                &caller.ioports,
                &d.ioports,
                a.first_port,
                a.nr_ports,
                a.allow_access != 0,
            )?;
            false
        }
        (Some(Domctl::IomemPermission), Some(_)) => {
            let a: XenDomctlIomemPermission = op.arg().ok_or(Errno::EINVAL)?;
            if a.first_mfn
                .0
                .checked_add(a.nr_mfns.wrapping_sub(1))
                .is_none()
            {
                return Err(Errno::EINVAL);
            }
            // Ferrite maps I/O memory for the hardware domain only and has no passthrough:
            // granting is refused, denying what was never granted is done.
            if a.allow_access != 0 {
                log::warn!("iomem_permission: no device passthrough in Ferrite: -EOPNOTSUPP");
                return Err(Errno::EOPNOTSUPP);
            }
            false
        }
        (Some(Domctl::IrqPermission), Some(_)) => {
            let a: XenDomctlIrqPermission = op.arg().ok_or(Errno::EINVAL)?;
            if a.allow_access != 0 {
                log::warn!(
                    "irq_permission of pirq {}: no device passthrough in Ferrite: -EOPNOTSUPP",
                    a.pirq
                );
                return Err(Errno::EOPNOTSUPP);
            }
            false
        }
        (Some(Domctl::SetVirqHandler), Some(d)) => {
            let a: XenDomctlSetVirqHandler = op.arg().ok_or(Errno::EINVAL)?;
            crate::event::set_global_virq_handler(d.id, a.virq)?;
            false
        }
        (Some(Domctl::Settimeoffset), Some(d)) => {
            let a: XenDomctlSettimeoffset = op.arg().ok_or(Errno::EINVAL)?;
            d.time_offset
                .store(a.time_offset_seconds, Ordering::Release);
            crate::time::update_wallclock(&d);
            false
        }
        (Some(Domctl::Getpageframeinfo3), Some(d)) => {
            let a: XenDomctlGetpageframeinfo3 = op.arg().ok_or(Errno::EINVAL)?;
            page_frame_info(&d, &a)?;
            false
        }
        (Some(Domctl::GetAddressSize), Some(_)) => {
            op.set_arg(&XenDomctlAddressSize { size: 64 });
            true
        }
        (Some(Domctl::SetAddressSize), Some(_)) => {
            let a: XenDomctlAddressSize = op.arg().ok_or(Errno::EINVAL)?;
            match a.size {
                64 => false,
                // Ferrite has no 32-bit PV: Xen's `switch_compat` with `pv32` off.
                32 => return Err(Errno::EOPNOTSUPP),
                _ => return Err(Errno::EINVAL),
            }
        }
        (Some(Domctl::ShadowOp), Some(d)) => {
            use super::paging::{shadow_op, Step};
            let mut sc: xen_abi::domctl::XenDomctlShadowOp = op.arg().ok_or(Errno::EINVAL)?;
            let preempt = super::Preempt::new();
            match shadow_op(caller, &d, &mut sc, &mut || preempt.now()) {
                Step::Again => return Ok(Outcome::resume(&[arg])),
                // Written back whatever the result, as Xen's.
                Step::Done(r) => {
                    op.set_arg(&sc);
                    crate::pv::write_guest_struct(arg, &op)?;
                    r?;
                    false
                }
            }
        }
        (Some(cmd @ (Domctl::GetVcpuMsrs | Domctl::SetVcpuMsrs)), Some(d)) => {
            let mut a: XenDomctlVcpuMsrs = op.arg().ok_or(Errno::EINVAL)?;
            let r = vcpu_msrs(&d, cmd == Domctl::GetVcpuMsrs, &mut a);
            // `msr_count` goes back on success of a get and on every failure past the
            // checks (Xen's `copyback`).
            if r.copyback {
                op.set_arg(&a);
                crate::pv::write_guest_struct(arg, &op)?;
            }
            r.result?;
            false
        }
        _ => {
            log_unsupported_once(op.cmd);
            return Err(Errno::ENOSYS);
        }
    };
    if copyback {
        crate::pv::write_guest_struct(arg, &op)?;
    }
    Ok(Outcome::Done(Ok(0)))
}

/// `XEN_DOMCTL_getpageframeinfo3` (`arch/x86/domctl.c`): at most 1024 frames (`-E2BIG`), each
/// of the caller's `xen_pfn_t`s replaced in place by its type — the page-table level, with
/// `LPINTAB` when pinned, `NOTAB` for other frames of the domain, `XTAB` for frames that are
/// not its memory (another domain's, free, its `shared_info` or grant-table frames); a PV
/// domain's frame numbers are machine frames. A slot that cannot be read or written ends the
/// call with `-EFAULT`, the slots before it done.
fn page_frame_info(d: &Domain, a: &XenDomctlGetpageframeinfo3) -> XenResult<()> {
    use crate::mm::typing::PageType;
    use xen_abi::domctl::{
        XEN_DOMCTL_PFINFO_L1TAB, XEN_DOMCTL_PFINFO_L2TAB, XEN_DOMCTL_PFINFO_L3TAB,
        XEN_DOMCTL_PFINFO_L4TAB, XEN_DOMCTL_PFINFO_LPINTAB, XEN_DOMCTL_PFINFO_NOTAB,
        XEN_DOMCTL_PFINFO_XTAB,
    };
    if a.num > 1024 {
        return Err(Errno::E2BIG);
    }
    let ft = crate::mm::frame_table();
    for i in 0..a.num {
        let slot = a.array.wrapping_add(i * 8);
        let mfn = Mfn(crate::pv::read_guest_struct::<u64>(slot)?);
        // `get_page_from_gfn`: a reference on a frame the domain owns, held while it is read.
        let owned = mfn != d.shared_info
            && !crate::grant::is_table_frame(d.id, mfn)
            && ft.get_page(mfn, d.id).is_ok();
        let ty = if owned {
            let st = ft.type_state(mfn);
            ft.put_page(mfn);
            let level = match st.ty {
                PageType::L1 => XEN_DOMCTL_PFINFO_L1TAB,
                PageType::L2 => XEN_DOMCTL_PFINFO_L2TAB,
                PageType::L3 => XEN_DOMCTL_PFINFO_L3TAB,
                PageType::L4 => XEN_DOMCTL_PFINFO_L4TAB,
                _ => XEN_DOMCTL_PFINFO_NOTAB,
            };
            level
                | if st.pinned {
                    XEN_DOMCTL_PFINFO_LPINTAB
                } else {
                    0
                }
        } else {
            XEN_DOMCTL_PFINFO_XTAB
        };
        crate::pv::write_guest_struct(slot, &u64::from(ty))?;
    }
    Ok(())
}

/// `XEN_DOMCTL_set_cpu_policy` once the checks passed: the domain's policy (or the PV
/// default) merged with the toolstack's leaves and MSRs, audited against PV max and trimmed to
/// it (`CpuPolicy::update`), on a copy read outside the lock, then kept.
fn set_cpu_policy(d: &Domain, a: &XenDomctlCpuPolicy) -> Result<(), PolicyError> {
    let max = &crate::pv::cpu_policy::system().pv_max;
    let mut new = d
        .cpu_policy
        .lock()
        .clone()
        .unwrap_or_else(|| alloc::boxed::Box::new(max.clone()));
    let (leaves, msrs) = (a.leaves, a.msrs);
    new.update(
        max,
        a.nr_leaves,
        |i| crate::pv::read_guest_struct(leaves.wrapping_add(u64::from(i) * 24)),
        a.nr_msrs,
        |i| crate::pv::read_guest_struct(msrs.wrapping_add(u64::from(i) * 16)),
    )?;
    *d.cpu_policy.lock() = Some(new);
    Ok(())
}

/// Serialises `p` into a caller's leaf and MSR arrays (`x86_cpuid_copy_to_buffer`,
/// `x86_msr_copy_to_buffer`) as `XEN_SYSCTL_get_cpu_policy` and `XEN_DOMCTL_get_cpu_policy`
/// do: a null array asks its maximum count; one too short is `-ENOBUFS`. `leaves_done` sees
/// the leaf count before the MSRs are written (the sysctl writes it back there). Returns both
/// counts.
pub(super) fn policy_to_guest(
    p: &CpuPolicy,
    nr_leaves: u32,
    leaves: u64,
    nr_msrs: u32,
    msrs: u64,
    leaves_done: impl FnOnce(u32) -> XenResult<()>,
) -> XenResult<(u32, u32)> {
    let n_leaves = if leaves == 0 {
        cpu_policy::MAX_SERIALISED_LEAVES
    } else {
        p.cpuid.to_leaves(|i, l| {
            if i >= nr_leaves {
                return Err(Errno::ENOBUFS);
            }
            crate::pv::write_guest_struct(leaves.wrapping_add(u64::from(i) * 24), &l)
        })?
    };
    leaves_done(n_leaves)?;
    let n_msrs = if msrs == 0 {
        cpu_policy::MAX_SERIALISED_MSRS
    } else {
        p.msrs_to_buffer(|i, e| {
            if i >= nr_msrs {
                return Err(Errno::ENOBUFS);
            }
            crate::pv::write_guest_struct(msrs.wrapping_add(u64::from(i) * 16), &e)
        })?
    };
    Ok((n_leaves, n_msrs))
}

/// credit2's default weight (`CSCHED2_DEFAULT_WEIGHT`), every domain's on Ferrite.
const CREDIT2_WEIGHT: u16 = 256;

/// `MAX_NUMNODES` of Xen's x86 build: the bits of a node map.
const MAX_NUMNODES: u32 = 64;

/// Writes `mask` into the guest's `xenctl_bitmap` of a host map of `nbits`.
fn write_bitmap(mask: u64, map: &XenctlBitmap, nbits: u32) -> XenResult<()> {
    let base = map.bitmap;
    bitmap::to_guest(mask, map.nr_bits, nbits, |i, b| {
        crate::pv::write_guest(base.wrapping_add(u64::from(i)), b)
    })
}

/// Reads the guest's `xenctl_bitmap` into a mask of the host's `nbits`.
fn read_bitmap(map: &XenctlBitmap, nbits: u32) -> XenResult<u64> {
    let base = map.bitmap;
    bitmap::from_guest(map.nr_bits, nbits, |i| {
        crate::pv::read_guest_struct::<u8>(base.wrapping_add(u64::from(i)))
    })
}

/// `XEN_DOMCTL_{set,get}vcpuaffinity` (Xen's `vcpu_affinity_domctl`): a hard map without any
/// online CPU is `-EINVAL`; one that leaves out the vCPU's CPU moves it to a CPU of the map
/// (`sched::migrate`: at once if it is not running, else when it next leaves its CPU). The soft
/// affinity is kept as given and guides that choice. The effective maps (∩ online CPUs) are
/// written back into the buffers named by `flags`.
fn vcpu_affinity(d: &Domain, a: &XenDomctlVcpuaffinity, set: bool) -> XenResult<()> {
    let v = d.vcpus.get(a.vcpu as usize).ok_or(Errno::EINVAL)?;
    if !d.vcpus_ready.load(Ordering::Acquire) {
        return Err(Errno::ESRCH);
    }
    let hard = a.flags & XEN_VCPUAFFINITY_HARD != 0;
    let soft = a.flags & XEN_VCPUAFFINITY_SOFT != 0;
    if !hard && !soft {
        return Err(Errno::EINVAL);
    }
    let cpus = super::sysctl::online_cpus();
    let online = if cpus >= 64 { !0 } else { (1u64 << cpus) - 1 };
    let mut aff = *v.affinity.lock();
    if set {
        if hard {
            let h = read_bitmap(&a.cpumap_hard, cpus)? & online;
            if h == 0 {
                return Err(Errno::EINVAL);
            }
            if h & (1u64 << v.pcpu()) == 0 {
                // Xen's `vcpu_set_hard_affinity` then `vcpu_migrate`: to a CPU of the new map,
                // one the soft affinity also names if there is one.
                let soft_map = if soft {
                    read_bitmap(&a.cpumap_soft, cpus)? & online
                } else {
                    aff.soft
                };
                let prefer = h & soft_map;
                let to = if prefer != 0 { prefer } else { h }.trailing_zeros() as usize;
                crate::sched::migrate(v, to);
            }
            aff.hard = h;
        }
        if soft {
            aff.soft = read_bitmap(&a.cpumap_soft, cpus)? & online;
        }
        *v.affinity.lock() = aff;
    }
    if hard {
        write_bitmap(aff.hard & online, &a.cpumap_hard, cpus)?;
    }
    if soft {
        write_bitmap(aff.soft & online, &a.cpumap_soft, cpus)?;
    }
    Ok(())
}

/// The first domain whose id is at least `from` (Xen's `for_each_domain` walk, in id order).
pub fn first_from(from: DomId) -> Option<alloc::sync::Arc<Domain>> {
    domain::DOMAINS
        .lock()
        .range(from..)
        .next()
        .map(|(_, d)| d.clone())
}

/// Xen's `getdomaininfo(d, info)`: the record `XEN_DOMCTL_getdomaininfo` and
/// `XEN_SYSCTL_getdomaininfolist` return.
pub fn domain_info(d: &Domain) -> XenDomctlGetdomaininfo {
    let now = crate::time::now();
    let mut info = XenDomctlGetdomaininfo {
        domain: d.id,
        max_vcpu_id: INVALID_MAX_VCPU_ID,
        ..Default::default()
    };
    // Blocked only if every online vCPU is; running if any is.
    let mut flags = DomInfFlags::BLOCKED;
    let vcpus = if d.vcpus_ready.load(Ordering::Acquire) {
        &d.vcpus[..]
    } else {
        &[]
    };
    for v in vcpus {
        let st = v.state.lock();
        let rs = st.runstate.at(now);
        info.cpu_time = info
            .cpu_time
            .saturating_add(rs.time[runstate::RUNNING as usize]);
        info.max_vcpu_id = v.id.0;
        if st.up {
            if !st.blocked {
                flags.remove(DomInfFlags::BLOCKED);
            }
            if rs.state == runstate::RUNNING {
                flags.insert(DomInfFlags::RUNNING);
            }
            info.nr_online_vcpus += 1;
        }
    }
    if info.nr_online_vcpus == 0 {
        flags = DomInfFlags::empty();
    }
    let paused = if d.controller_pause.load(Ordering::Acquire) > 0 {
        DomInfFlags::PAUSED
    } else {
        DomInfFlags::empty()
    };
    let (shutdown_code, more) = match *d.state.lock() {
        DomainState::Running => (SHUTDOWN_CODE_INVALID, paused),
        DomainState::Paused => (SHUTDOWN_CODE_INVALID, DomInfFlags::PAUSED),
        DomainState::Shutdown(code) => (code, DomInfFlags::SHUTDOWN),
        DomainState::Crashed => (SHUTDOWN_CRASH, DomInfFlags::SHUTDOWN),
        // Xen's `DOMDYING_dead`; the shutdown that led here is not kept.
        DomainState::Dying => (SHUTDOWN_CODE_INVALID, DomInfFlags::DYING),
    };
    info.flags =
        (flags | more).bits() | (shutdown_code << xen_abi::domctl::XEN_DOMINF_SHUTDOWNSHIFT);
    info.tot_pages = d.tot_pages.load(Ordering::Acquire);
    info.max_pages = d.max_pages.load(Ordering::Acquire);
    info.outstanding_pages = d.outstanding.load(Ordering::Acquire);
    // A PV domain's "gfn" of a frame is its machine frame.
    info.shared_info_frame = Gfn(d.shared_info.0);
    info.gpaddr_bits = crate::arch::x86_64::cpu::phys_addr_bits();
    info.handle = *d.handle.lock();
    info
}

/// `domain_pause_by_systemcontroller`: one more toolstack pause (at most 255: `-EOVERFLOW`),
/// then — as Xen's synchronous `domain_pause` — every CPU running one of the domain's vCPUs is
/// made to switch away before this returns.
fn pause(d: &Domain) -> XenResult<()> {
    d.controller_pause
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < 255).then_some(n + 1)
        })
        .map_err(|_| Errno::EOVERFLOW)?;
    let start = crate::time::now();
    while crate::sched::is_current_anywhere(d.id) {
        if crate::time::now().saturating_sub(start) > 1_000_000_000 {
            log::warn!("d{}: a vCPU did not leave its CPU for pausedomain", d.id.0);
            break;
        }
        core::hint::spin_loop();
    }
    Ok(())
}

/// `domain_kill`: the domain is paused (the first time), torn down in slices that make way
/// like any long hypercall (event channels and grants, then its pinned tables and its frames
/// in walks of RAM: `destroy::destroy_step`), and once it is gone `VIRQ_DOM_EXC` tells the
/// control domain (xenstored's `@releaseDomain` rests on it). Returns whether it is gone; if
/// not, the caller continues the hypercall (Xen's `-ERESTART`).
fn destroy(d: &Domain) -> bool {
    if *d.state.lock() != DomainState::Dying {
        d.controller_pause.fetch_add(1, Ordering::AcqRel);
        let start = crate::time::now();
        while crate::sched::is_current_anywhere(d.id) {
            if crate::time::now().saturating_sub(start) > 1_000_000_000 {
                break;
            }
            core::hint::spin_loop();
        }
    }
    let preempt = super::Preempt::new();
    let gone = domain::destroy::destroy_step(d.id, &mut || preempt.now());
    if gone {
        crate::event::send_global_virq(xen_abi::xen::VIRQ_DOM_EXC);
    }
    gone
}

/// `vcpu_pause(v)` around `f`: the toolstack's pause on `d` held while `v` is taken off its
/// CPU (kicked until it is, for at most a second) and `f` reads or changes its state.
fn with_vcpu_paused<R>(d: &Domain, v: &crate::domain::Vcpu, f: impl FnOnce() -> R) -> R {
    d.controller_pause.fetch_add(1, Ordering::AcqRel);
    let start = crate::time::now();
    while crate::sched::current_try(v.pcpu()) == Some((d.id.0, v.id.0))
        && crate::time::now().saturating_sub(start) < 1_000_000_000
    {
        crate::sched::kick(v.pcpu());
        core::hint::spin_loop();
    }
    let r = f();
    d.controller_pause.fetch_sub(1, Ordering::AcqRel);
    crate::sched::kick(v.pcpu());
    r
}

/// The MSRs `XEN_DOMCTL_get_vcpu_msrs` sends and `set_vcpu_msrs` takes, in Xen 4.17's
/// order: `SPEC_CTRL`, `MISC_FEATURES_ENABLES`, `TSC_AUX` and AMD's four DR address masks.
/// Each is sent only when the guest could read it and it is not 0.
const VCPU_MSRS: [u32; 7] = [
    0x48,
    0x140,
    crate::pv::emulate::MSR_TSC_AUX,
    0xc001_1027,
    0xc001_1019,
    0xc001_101a,
    0xc001_101b,
];

/// What [`vcpu_msrs`] answers, and whether the struct goes back (Xen's `copyback`).
struct MsrsOutcome {
    result: XenResult<()>,
    copyback: bool,
}

/// `XEN_DOMCTL_get_vcpu_msrs`/`set_vcpu_msrs` (`arch/x86/domctl.c`) on a vCPU that is not
/// the caller's own running one (`-EINVAL`) and exists (`-ESRCH`).
fn vcpu_msrs(d: &Domain, get: bool, a: &mut XenDomctlVcpuMsrs) -> MsrsOutcome {
    use crate::pv::emulate::{vcpu_rdmsr, vcpu_wrmsr};
    use xen_abi::domctl::XenDomctlVcpuMsr;
    let refuse = |e| MsrsOutcome {
        result: Err(e),
        copyback: false,
    };
    let Some(v) = d
        .vcpus
        .get(a.vcpu as usize)
        .filter(|_| d.vcpus_ready.load(Ordering::Acquire))
    else {
        return refuse(Errno::ESRCH);
    };
    if crate::sched::current().is_some_and(|c| alloc::sync::Arc::ptr_eq(&c, v)) {
        return refuse(Errno::EINVAL);
    }
    // No CPU here has AMD's DBEXT masks to offer beyond the array.
    let nr_msrs = VCPU_MSRS.len() as u32;
    if get {
        if a.msrs == 0 {
            a.msr_count = nr_msrs;
            return MsrsOutcome {
                result: Ok(()),
                copyback: true,
            };
        }
        let values = with_vcpu_paused(d, v, || VCPU_MSRS.map(|m| vcpu_rdmsr(d, v, m)));
        let mut result = Ok(());
        let mut i = 0u32;
        for (index, value) in VCPU_MSRS.iter().zip(values) {
            let Some(value) = value.filter(|&x| x != 0) else {
                continue;
            };
            if i < a.msr_count && result.is_ok() {
                let slot = a.msrs.wrapping_add(u64::from(i) * 16);
                let m = XenDomctlVcpuMsr {
                    index: *index,
                    reserved: 0,
                    value,
                };
                result = crate::pv::write_guest_struct(slot, &m);
            }
            i += 1;
        }
        if i > a.msr_count && result.is_ok() {
            result = Err(Errno::ENOBUFS);
        }
        a.msr_count = i;
        return MsrsOutcome {
            result,
            copyback: true,
        };
    }
    if a.msr_count > nr_msrs {
        return refuse(Errno::EINVAL);
    }
    let (done, result) = with_vcpu_paused(d, v, || {
        for i in 0..a.msr_count {
            let slot = a.msrs.wrapping_add(u64::from(i) * 16);
            let m: XenDomctlVcpuMsr = match crate::pv::read_guest_struct(slot) {
                Ok(m) => m,
                Err(e) => return (i, Err(e)),
            };
            if m.reserved != 0
                || !VCPU_MSRS.contains(&m.index)
                || !vcpu_wrmsr(d, v, m.index, m.value, false)
            {
                return (i, Err(Errno::EINVAL));
            }
        }
        (a.msr_count, Ok(()))
    });
    let failed = result.is_err();
    a.msr_count = done;
    MsrsOutcome {
        result,
        copyback: failed,
    }
}

/// Sub-ops already logged as unsupported (bit `cmd`, for `cmd` < 128).
static UNSUPPORTED: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

fn log_unsupported_once(cmd: u32) {
    let Some(word) = UNSUPPORTED.get(cmd as usize / 64) else {
        return;
    };
    let bit = 1u64 << (cmd % 64);
    if word.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
        log::warn!("domctl {cmd} is not supported: -ENOSYS (logged once)");
    }
}
