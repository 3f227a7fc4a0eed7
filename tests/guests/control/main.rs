//! control: `sysctl` and `domctl` as Xen 4.17 answers them, asked by domain 0 (Ferrite and
//! Xen) and by a domU (Ferrite only, beside survivor).
//!
//! As domain 0: a wrong interface version is `-EACCES` before anything else; `physinfo` (CPUs,
//! one node, the TSC rate, PV and both grant-table versions, page counts consistent with this
//! domain's); `getdomaininfolist` and `getdomaininfo` (this domain running, not shut down —
//! Xen's `~0` shutdown code, so `0xffff0020` — with its pages, `shared_info` frame and vCPUs;
//! the next domain at or above an id; `-ESRCH` past the last, `-EINVAL` for a reserved id);
//! `readconsole` (the ring read whole, then in 100-byte pieces from the returned index giving
//! the same bytes, an incremental read at the end giving nothing, `clear` emptying it, a buffer
//! outside guest space `-EFAULT`); `getvcpuinfo`; `get_address_size` / `set_address_size`;
//! `max_mem` (the limit `XENMEM_maximum_reservation` reports and `increase_reservation`
//! honours); a domain's life without memory (refused creation configs, a PV domain created
//! paused with no vCPUs until `max_vcpus`, its handle, the toolstack pause count up to 255,
//! `destroydomain` raising `VIRQ_DOM_EXC`, the next id for the next domain); unknown sub-ops
//! `-ENOSYS`, an unknown domain `-ESRCH` before that.
//! As a domU: `-EPERM` for both, after the version and domain checks.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::domctl::{
        XenDomctl, XenDomctlAddressSize, XenDomctlCreatedomain, XenDomctlGetdomaininfo,
        XenDomctlGetvcpuinfo, XenDomctlMaxMem, XenDomctlMaxVcpus, XenDomctlSetdomainhandle,
        XenDomctlTscInfo, XenDomctlVcpucontext, XEN_DOMCTL_INTERFACE_VERSION,
    },
    abi::sysctl::{
        XenSysctl, XenSysctlCputopo, XenSysctlCputopoinfo, XenSysctlGetdomaininfolist,
        XenSysctlMeminfo, XenSysctlNumainfo, XenSysctlPhysinfo, XenSysctlReadconsole,
        XEN_SYSCTL_INTERFACE_VERSION,
    },
    abi::xen::Hypercall as H,
    abi::DomId,
    println, sys, Test,
};

#[cfg(target_os = "none")]
fn sysctl<T>(cmd: u32, arg: &T, version: u32) -> (i64, XenSysctl)
where
    T: zerocopy::IntoBytes + zerocopy::Immutable,
{
    let mut op = XenSysctl {
        cmd,
        interface_version: version,
        u: [0; 16],
    };
    op.set_arg(arg);
    let rc = sys::hypercall_with(H::Sysctl as u32, &mut op);
    (rc, op)
}

#[cfg(target_os = "none")]
fn domctl<T>(cmd: u32, domain: u16, arg: &T, version: u32) -> (i64, XenDomctl)
where
    T: zerocopy::IntoBytes + zerocopy::Immutable,
{
    let mut op = XenDomctl {
        cmd,
        interface_version: version,
        domain: DomId(domain),
        _pad: [0; 3],
        u: [0; 16],
    };
    op.set_arg(arg);
    let rc = sys::hypercall_with(H::Domctl as u32, &mut op);
    (rc, op)
}

#[cfg(target_os = "none")]
const SV: u32 = XEN_SYSCTL_INTERFACE_VERSION;
#[cfg(target_os = "none")]
const DV: u32 = XEN_DOMCTL_INTERFACE_VERSION;
#[cfg(target_os = "none")]
const READCONSOLE: u32 = 1;
#[cfg(target_os = "none")]
const PHYSINFO: u32 = 3;
#[cfg(target_os = "none")]
const GETDOMAININFOLIST: u32 = 6;
#[cfg(target_os = "none")]
const CPUTOPOINFO: u32 = 16;
#[cfg(target_os = "none")]
const NUMAINFO: u32 = 17;
#[cfg(target_os = "none")]
const GETDOMAININFO: u32 = 5;
#[cfg(target_os = "none")]
const MAX_MEM: u32 = 11;
#[cfg(target_os = "none")]
const GETVCPUINFO: u32 = 14;
#[cfg(target_os = "none")]
const SET_ADDRESS_SIZE: u32 = 35;
#[cfg(target_os = "none")]
const GET_ADDRESS_SIZE: u32 = 36;
#[cfg(target_os = "none")]
const CREATEDOMAIN: u32 = 1;
#[cfg(target_os = "none")]
const DESTROYDOMAIN: u32 = 2;
#[cfg(target_os = "none")]
const PAUSEDOMAIN: u32 = 3;
#[cfg(target_os = "none")]
const UNPAUSEDOMAIN: u32 = 4;
#[cfg(target_os = "none")]
const MAX_VCPUS: u32 = 15;
#[cfg(target_os = "none")]
const SETDOMAINHANDLE: u32 = 17;
#[cfg(target_os = "none")]
const SETVCPUCONTEXT: u32 = 12;
#[cfg(target_os = "none")]
const GETTSCINFO: u32 = 59;
#[cfg(target_os = "none")]
const GETVCPUCONTEXT: u32 = 13;
#[cfg(target_os = "none")]
const SETTSCINFO: u32 = 60;

/// A PV domain's creation config as libxl makes it: `max_vcpus` vCPUs, 1024 ports, 32 grant
/// and 1024 maptrack frames, grant tables up to v2, `oos_off` clear (Xen sets it).
#[cfg(target_os = "none")]
fn pv_config(max_vcpus: u32) -> XenDomctlCreatedomain {
    XenDomctlCreatedomain {
        handle: [0xab; 16],
        max_vcpus,
        max_evtchn_port: 1023,
        max_grant_frames: 32,
        max_maptrack_frames: 1024,
        grant_opts: 2,
        ..Default::default()
    }
}

#[cfg(target_os = "none")]
fn create(dom: u16, cfg: &XenDomctlCreatedomain) -> (i64, u16, XenDomctlCreatedomain) {
    let (rc, op) = domctl(CREATEDOMAIN, dom, cfg, DV);
    (rc, op.domain.0, op.arg().unwrap_or_default())
}

/// `XENMEM_claim_pages` of `pages` for `dom`, with `order` and `list` as given (both must be 0).
#[cfg(target_os = "none")]
fn claim(dom: u16, pages: u64, order: u32, list: u64) -> i64 {
    let mut r = [0u8; 32];
    r[..8].copy_from_slice(&list.to_le_bytes());
    r[8..16].copy_from_slice(&pages.to_le_bytes());
    r[16..20].copy_from_slice(&order.to_le_bytes());
    r[24..26].copy_from_slice(&dom.to_le_bytes());
    sys::hypercall_buf(H::MemoryOp as u32, 24, &mut r)
}

/// `physinfo`'s free and outstanding (claimed) pages.
#[cfg(target_os = "none")]
fn free_and_claimed() -> (u64, u64) {
    let (_, op) = sysctl(PHYSINFO, &[0u8; 8], SV);
    let p: XenSysctlPhysinfo = op.arg().unwrap_or_default();
    (p.free_pages, p.outstanding_pages)
}

#[cfg(target_os = "none")]
fn info(dom: u16) -> (i64, XenDomctlGetdomaininfo) {
    let none = [0u8; 8];
    let (rc, op) = domctl(GETDOMAININFO, dom, &none, DV);
    (rc, op.arg().unwrap_or_default())
}

/// `XENMEM_set_memory_map` (of this domain, as the toolstack does for a new one) and
/// `XENMEM_memory_map` reading it back.
#[cfg(target_os = "none")]
fn memory_map(t: &mut Test) {
    let mut buf = [0u8; 4 * 20];
    let read = |buf: &mut [u8; 80], nr: u32| {
        let mut m = [0u8; 16];
        m[..4].copy_from_slice(&nr.to_le_bytes());
        m[8..16].copy_from_slice(&(buf.as_mut_ptr() as u64).to_le_bytes());
        let rc = sys::hypercall_buf(H::MemoryOp as u32, 9, &mut m);
        (rc, u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
    };
    t.eq(
        read(&mut buf, 4).0,
        -38,
        "memory_map of dom0 before one is set: -ENOSYS",
    );
    // Two entries: 16 MiB of RAM at 0, 1 MiB reserved at 4 GiB.
    let mut e820 = [0u8; 40];
    let entry = |e: &mut [u8], addr: u64, size: u64, ty: u32| {
        e[..8].copy_from_slice(&addr.to_le_bytes());
        e[8..16].copy_from_slice(&size.to_le_bytes());
        e[16..20].copy_from_slice(&ty.to_le_bytes());
    };
    entry(&mut e820[..20], 0, 16 << 20, 1);
    entry(&mut e820[20..], 4 << 30, 1 << 20, 2);
    let set = |dom: u16, nr: u32, buf: u64| {
        let mut f = [0u8; 24];
        f[..2].copy_from_slice(&dom.to_le_bytes());
        f[8..12].copy_from_slice(&nr.to_le_bytes());
        f[16..24].copy_from_slice(&buf.to_le_bytes());
        sys::hypercall_buf(H::MemoryOp as u32, 13, &mut f)
    };
    let at = e820.as_ptr() as u64;
    t.eq(
        set(0x7ff0, 1025, at),
        -22,
        "set_memory_map of 1025 entries (E820MAX 1024) is -EINVAL",
    );
    t.eq(
        set(0x7777, 2, at),
        -3,
        "set_memory_map of a missing domain is -ESRCH",
    );
    t.eq(
        set(0x7ff0, 2, at),
        0,
        "set_memory_map of this domain, two entries",
    );
    t.eq(read(&mut buf, 4), (0, 2), "memory_map: the two entries");
    t.eq(&buf[..40], &e820[..], "memory_map gives back what was set");
    buf = [0; 80];
    t.eq(
        read(&mut buf, 1),
        (0, 1),
        "memory_map into room for one: the first",
    );
    t.check(
        buf[..20] == e820[..20] && buf[20..].iter().all(|&b| b == 0),
        format_args!("memory_map wrote only the first entry"),
    );
}

/// A domain's life without memory, as the toolstack drives it: refused configurations, a
/// PV domain created paused with no vCPUs yet, `max_vcpus`, a handle, pause counts, and
/// destruction with `VIRQ_DOM_EXC`.
#[cfg(target_os = "none")]
fn lifecycle(t: &mut Test) {
    let none = [0u8; 8];
    type Spoil = fn(&mut XenDomctlCreatedomain);
    let bad: [(&str, Spoil); 9] = [
        ("an unknown flag", |c| c.flags = 1 << 20),
        ("no vCPUs", |c| c.max_vcpus = 0),
        ("HAP without HVM", |c| c.flags = 1 << 1),
        ("an IOMMU option without an IOMMU", |c| c.iommu_opts = 1),
        ("grant version 0", |c| c.grant_opts = 0),
        ("grant version 3", |c| c.grant_opts = 3),
        ("no grant frames", |c| c.max_grant_frames = 0),
        ("65 grant frames", |c| c.max_grant_frames = 65),
        ("1025 maptrack frames", |c| c.max_maptrack_frames = 1025),
    ];
    for (what, f) in bad {
        let mut c = pv_config(1);
        f(&mut c);
        let (rc, _, _) = create(0, &c);
        t.check(
            rc == -22,
            format_args!("createdomain with {what}: got {rc}, want -22"),
        );
    }
    let mut c = pv_config(1);
    c.arch.emulation_flags = 1 << 0; // XEN_X86_EMU_LAPIC
    t.eq(
        create(0, &c).0,
        -95,
        "createdomain of a PV domain with an emulated LAPIC is -EOPNOTSUPP",
    );
    let mut c = pv_config(1);
    c.arch.emulation_flags = 1 << 11;
    t.eq(
        create(0, &c).0,
        -22,
        "createdomain with an unknown emulation flag is -EINVAL",
    );

    let before = info(1).0;
    t.eq(before, -3, "no domain 1 yet");
    let (rc, id, out) = create(0, &pv_config(2));
    t.eq(rc, 0, "createdomain of a PV domain with 2 vCPUs");
    t.check(
        (1..0x7ff0).contains(&id),
        format_args!("createdomain picked domain {id}"),
    );
    t.eq(
        out.flags & (1 << 3),
        1 << 3,
        "createdomain writes oos_off back for PV",
    );
    let (rc, i) = info(id);
    t.eq(
        (
            rc,
            i.domain.0,
            i.flags,
            i.tot_pages,
            i.nr_online_vcpus,
            i.max_vcpu_id,
            i.handle,
        ),
        (0, id, 0xffff_0008, 0, 0, !0, [0xab; 16]),
        "the new domain: paused, no pages, no vCPUs yet, its handle",
    );
    t.eq(
        create(id, &pv_config(1)).0,
        -17,
        "createdomain of a taken id is -EEXIST",
    );
    t.eq(info(0).0, 0, "getdomaininfo(0) still answers d0");
    t.eq(
        domctl(MAX_VCPUS, id, &XenDomctlMaxVcpus { max: 3 }, DV).0,
        -22,
        "max_vcpus other than createdomain's is -EINVAL",
    );
    t.eq(
        domctl(MAX_VCPUS, 0, &XenDomctlMaxVcpus { max: 1 }, DV).0,
        -22,
        "max_vcpus of itself is -EINVAL",
    );
    let a = XenDomctlGetvcpuinfo {
        vcpu: 0,
        ..Default::default()
    };
    t.eq(
        domctl(GETVCPUINFO, id, &a, DV).0,
        -3,
        "getvcpuinfo before max_vcpus is -ESRCH",
    );
    t.eq(
        domctl(MAX_VCPUS, id, &XenDomctlMaxVcpus { max: 2 }, DV).0,
        0,
        "max_vcpus 2",
    );
    let (rc, i) = info(id);
    t.eq(
        (rc, i.flags, i.nr_online_vcpus, i.max_vcpu_id),
        (0, 0xffff_0008, 0, 1),
        "after max_vcpus: two vCPUs, none online, still paused",
    );
    // getvcpucontext: not before the vCPU has a context; not past the last vCPU.
    let mut ctx_out = [0u8; 5168];
    let gvc = |d: u16, vcpu: u32, buf: u64| {
        let a = XenDomctlVcpucontext {
            vcpu,
            _pad0: 0,
            ctxt: buf,
        };
        domctl(GETVCPUCONTEXT, d, &a, DV).0
    };
    t.eq(
        gvc(id, 0, ctx_out.as_mut_ptr() as u64),
        -61,
        "getvcpucontext of a vCPU with no context is -ENODATA",
    );
    t.eq(
        gvc(id, 2, ctx_out.as_mut_ptr() as u64),
        -22,
        "getvcpucontext past the last vCPU is -EINVAL",
    );
    t.eq(
        gvc(0, 0, ctx_out.as_mut_ptr() as u64),
        -22,
        "getvcpucontext of the calling vCPU is -EINVAL",
    );
    let (rc, op) = domctl(GETVCPUINFO, id, &a, DV);
    let vi: XenDomctlGetvcpuinfo = op.arg().unwrap_or_default();
    t.eq(
        (rc, vi.online, vi.blocked, vi.running),
        (0, 0, 0, 0),
        "getvcpuinfo of the new domain's vCPU 0: down",
    );
    // TSC modes: creation is the first setting (incarnation 1); the toolstack's mode and
    // incarnation + 1 stick; TSC_MODE_NEVER_EMULATE reports no rate or elapsed time.
    let (_, pi) = sysctl(PHYSINFO, &none, SV);
    let khz = pi.arg::<XenSysctlPhysinfo>().unwrap_or_default().cpu_khz;
    let get_tsc = |d: u16| {
        let (rc, op) = domctl(GETTSCINFO, d, &none, DV);
        let a: XenDomctlTscInfo = op.arg().unwrap_or_default();
        (
            rc,
            a.tsc_mode,
            a.incarnation,
            a.gtsc_khz,
            a.elapsed_nsec > 0,
        )
    };
    let set_tsc = |d: u16, mode: u32, incarnation: u32| {
        let a = XenDomctlTscInfo {
            tsc_mode: mode,
            incarnation,
            ..Default::default()
        };
        domctl(SETTSCINFO, d, &a, DV).0
    };
    t.eq(
        get_tsc(id),
        (0, 0, 1, khz, true),
        "gettscinfo of a new domain: default mode, incarnation 1, the host's rate",
    );
    t.eq(
        set_tsc(id, 2, 5),
        0,
        "settscinfo TSC_MODE_NEVER_EMULATE, incarnation 5",
    );
    t.eq(
        get_tsc(id),
        (0, 2, 6, 0, false),
        "gettscinfo: never-emulate, incarnation 6, no rate or time",
    );
    t.eq(set_tsc(id, 0, 0), 0, "settscinfo back to the default mode");
    t.eq(
        get_tsc(id),
        (0, 0, 1, khz, true),
        "gettscinfo: default mode, incarnation 1",
    );
    t.eq(
        set_tsc(id, 7, 0),
        -22,
        "settscinfo of an unknown mode is -EINVAL",
    );
    t.eq(set_tsc(0, 0, 0), -22, "settscinfo of itself is -EINVAL");
    t.eq(get_tsc(0).0, -22, "gettscinfo of itself is -EINVAL");

    let h = XenDomctlSetdomainhandle { handle: [0x5a; 16] };
    t.eq(domctl(SETDOMAINHANDLE, id, &h, DV).0, 0, "setdomainhandle");
    t.eq(
        info(id).1.handle,
        [0x5a; 16],
        "getdomaininfo shows the new handle",
    );

    // Claims: checks, then one staked and cancelled.
    let (free, claimed) = free_and_claimed();
    t.eq(claimed, 0, "no claims outstanding");
    let max_kb = |d: u16, pages: u64| {
        domctl(
            MAX_MEM,
            d,
            &XenDomctlMaxMem {
                max_memkb: pages * 4,
            },
            DV,
        )
        .0
    };
    t.eq(max_kb(id, free + 1000), 0, "max_mem above the free memory");
    t.eq(
        claim(id, free + 1000, 0, 0),
        -12,
        "a claim above the free memory is -ENOMEM",
    );
    t.eq(
        claim(id, free + 2000, 0, 0),
        -22,
        "a claim above max_pages is -EINVAL",
    );
    t.eq(claim(id, 10, 1, 0), -22, "a claim of order 1 is -EINVAL");
    t.eq(
        claim(id, 10, 0, 0x1000),
        -22,
        "a claim with an extent list is -EINVAL",
    );
    t.eq(
        claim(0x7ff0, 10, 0, 0),
        -22,
        "a claim for DOMID_SELF is -EINVAL",
    );
    let mut e = [0u8; 20];
    e[8..16].copy_from_slice(&(32u64 << 20).to_le_bytes());
    e[16] = 1;
    let mut f = [0u8; 24];
    f[..2].copy_from_slice(&id.to_le_bytes());
    f[8] = 1;
    f[16..24].copy_from_slice(&(e.as_ptr() as u64).to_le_bytes());
    t.eq(
        sys::hypercall_buf(H::MemoryOp as u32, 13, &mut f),
        0,
        "set_memory_map of the new domain (one RAM entry, as libxl)",
    );
    t.eq(claim(id, 10, 0, 0), 0, "a claim of 10 pages");
    t.eq(claim(id, 20, 0, 0), -22, "a second claim is -EINVAL");
    t.eq(free_and_claimed().1, 10, "physinfo: 10 pages claimed");
    t.eq(
        info(id).1.outstanding_pages,
        10,
        "getdomaininfo: 10 pages outstanding",
    );
    t.eq(claim(id, 0, 0, 0), 0, "claim 0 cancels");
    t.eq(free_and_claimed().1, 0, "physinfo: nothing claimed");
    t.eq(max_kb(id, 0), 0, "max_mem back to 0");

    // Pause counts: one from createdomain.
    let pause = |d: u16| domctl(PAUSEDOMAIN, d, &none, DV).0;
    let unpause = |d: u16| domctl(UNPAUSEDOMAIN, d, &none, DV).0;
    t.eq(pause(0), -22, "pausedomain of itself is -EINVAL");
    t.eq(pause(id), 0, "pausedomain (count 2)");
    t.eq(unpause(id), 0, "unpausedomain (count 1)");
    t.eq(info(id).1.flags, 0xffff_0008, "still paused");
    t.eq(unpause(id), 0, "unpausedomain (count 0)");
    t.eq(
        info(id).1.flags,
        0xffff_0000,
        "not paused; no vCPU online, so neither blocked nor running",
    );
    t.eq(unpause(id), -22, "unpausedomain below 0 is -EINVAL");
    let mut n = 0;
    while n < 300 && pause(id) == 0 {
        n += 1;
    }
    t.eq(n, 255, "the toolstack pause count stops at 255");
    t.eq(pause(id), -75, "the 256th pause is -EOVERFLOW");
    let mut m = 0;
    while m < 300 && unpause(id) == 0 {
        m += 1;
    }
    t.eq(m, 255, "and unpauses back down to 0");

    // Destruction.
    let virq = sys::events::bind_virq(3); // VIRQ_DOM_EXC
    t.check(virq.is_ok(), format_args!("bind VIRQ_DOM_EXC: {virq:?}"));
    let port = virq.unwrap_or(0);
    DOM_EXC_PORT.store(port, core::sync::atomic::Ordering::Relaxed);
    t.eq(
        domctl(DESTROYDOMAIN, 0, &none, DV).0,
        -22,
        "destroydomain of itself is -EINVAL",
    );
    t.eq(domctl(DESTROYDOMAIN, id, &none, DV).0, 0, "destroydomain");
    t.check(
        sys::events::port_pending(port),
        format_args!("VIRQ_DOM_EXC is pending after destroydomain"),
    );
    t.eq(info(id).0, -3, "the destroyed domain is gone");
    t.eq(
        domctl(DESTROYDOMAIN, id, &none, DV).0,
        -3,
        "destroydomain again is -ESRCH",
    );
    let (rc, id2, _) = create(0, &pv_config(1));
    t.eq(
        (rc, id2),
        (0, id + 1),
        "the next createdomain takes the next id",
    );
    t.eq(
        domctl(DESTROYDOMAIN, id2, &none, DV).0,
        0,
        "destroydomain of it",
    );
    sys::events::clear_port(port);
}

#[cfg(target_os = "none")]
static mut CONS: [u8; 32768] = [0; 32768];

/// The port VIRQ_DOM_EXC is bound to.
#[cfg(target_os = "none")]
static DOM_EXC_PORT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// A page of this domain's whose mapping is lent to the frames of a domain being built.
#[cfg(target_os = "none")]
#[repr(C, align(4096))]
struct Page([u8; 4096]);
#[cfg(target_os = "none")]
static mut SCRATCH: Page = Page([0; 4096]);

/// What the kernel of a built domain does.
#[cfg(target_os = "none")]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// Sends an event and shuts down for reboot.
    Reboot,
    /// Crashes at once (`ud2` with no trap table).
    Crash,
    /// Sets CR4.OSXSAVE and XCR0 to x87|SSE|AVX, then as `Reboot`; a refused `xsetbv` (#GP with
    /// no trap table) crashes it. `avx`: whether the toolstack left AVX in its CPU policy.
    Xsetbv { avx: bool },
}

/// The kernel of a built domain, at 0x400000 (see [`Kernel`]): `EVTCHNOP_send` on `port`,
/// then `sched_op(SCHEDOP_shutdown, &reason)` with SHUTDOWN_reboot, then a loop, with the
/// `xsetbv` steps first or only a `ud2`.
#[cfg(target_os = "none")]
fn tiny_kernel(kind: Kernel, port: u32) -> [u8; 96] {
    const PORT_AT: usize = 88;
    const REASON_AT: usize = 92;
    let mut k = [0u8; 96];
    if kind == Kernel::Crash {
        k[..2].copy_from_slice(&[0x0f, 0x0b]);
        return k;
    }
    let xsetbv: &[u8] = &[
        0x0f, 0x20, 0xe0, // mov rax, cr4
        0x48, 0x0f, 0xba, 0xe8, 0x12, // bts rax, 18 (OSXSAVE)
        0x0f, 0x22, 0xe0, // mov cr4, rax
        0x31, 0xc9, // xor ecx, ecx
        0xb8, 0x07, 0, 0, 0, // mov eax, 7 (x87, SSE, AVX)
        0x31, 0xd2, // xor edx, edx
        0x0f, 0x01, 0xd1, // xsetbv
    ];
    let pre = if matches!(kind, Kernel::Xsetbv { .. }) {
        xsetbv.len()
    } else {
        0
    };
    k[..pre].copy_from_slice(&xsetbv[..pre]);
    // rip-relative displacements from the end of each `lea` (body offsets 17 and 36).
    let d1 = (PORT_AT - (pre + 17)) as u8;
    let d2 = (REASON_AT - (pre + 36)) as u8;
    let code = [
        0xb8, 0x20, 0, 0, 0, // mov eax, __HYPERVISOR_event_channel_op
        0xbf, 0x04, 0, 0, 0, // mov edi, EVTCHNOP_send
        0x48, 0x8d, 0x35, d1, 0, 0, 0, // lea rsi, [rip + d1] (the port)
        0x0f, 0x05, // syscall
        0xb8, 0x1d, 0, 0, 0, // mov eax, __HYPERVISOR_sched_op
        0xbf, 0x02, 0, 0, 0, // mov edi, SCHEDOP_shutdown
        0x48, 0x8d, 0x35, d2, 0, 0, 0, // lea rsi, [rip + d2] (the reason)
        0x0f, 0x05, // syscall
        0xeb, 0xfe, // jmp .
    ];
    k[pre..pre + code.len()].copy_from_slice(&code);
    k[PORT_AT..PORT_AT + 4].copy_from_slice(&port.to_le_bytes());
    k[REASON_AT] = 1; // SHUTDOWN_reboot
    k
}

/// Writes `words` (index, value) and `bytes` into frame `mfn` of domain `dom` through this
/// domain's scratch page (`update_va_mapping_otherdomain`), then gives the mapping back.
#[cfg(target_os = "none")]
fn poke(dom: u16, mfn: u64, words: &[(usize, u64)], bytes: &[u8]) -> bool {
    let va = core::ptr::addr_of!(SCRATCH) as u64;
    let own = sys::mmu::va_to_mfn(va);
    let map = sys::hypercall_ints(
        H::UpdateVaMappingOtherdomain as u32,
        [va, (mfn << 12) | sys::mmu::PTE_RW, 2, u64::from(dom), 0],
    );
    if map != 0 {
        return false;
    }
    for &(i, v) in words {
        sys::write_u64(va + 8 * i as u64, v);
    }
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: the scratch page is mapped writable (to the foreign frame) at `va`.
        unsafe { ((va + i as u64) as *mut u8).write_volatile(b) };
    }
    sys::mmu::update_va_mapping(va, (own << 12) | sys::mmu::PTE_RW, 2) == 0
}

/// Reads word `i` of domain `dom`'s frame `mfn` through a read-only foreign mapping of the
/// scratch page, then gives the mapping back.
#[cfg(target_os = "none")]
fn peek(dom: u16, mfn: u64, i: usize) -> Option<u64> {
    let va = core::ptr::addr_of!(SCRATCH) as u64;
    let own = sys::mmu::va_to_mfn(va);
    let map = sys::hypercall_ints(
        H::UpdateVaMappingOtherdomain as u32,
        [va, (mfn << 12) | sys::mmu::PTE_RO, 2, u64::from(dom), 0],
    );
    if map != 0 {
        return None;
    }
    let v = sys::read_u64(va + 8 * i as u64);
    (sys::mmu::update_va_mapping(va, (own << 12) | sys::mmu::PTE_RW, 2) == 0).then_some(v)
}

/// `settimeoffset`: a new domain's `shared_info` wallclock is unset (vCPU 0's context sets
/// it); the offset publishes it, moved by the offset (`wc_sec` and `wc_sec_hi`).
#[cfg(target_os = "none")]
fn time_offset(t: &mut Test) {
    use domu_frontends::abi::domctl::XenDomctlSettimeoffset;
    use domu_frontends::abi::xen::SharedInfo;
    const SETTIMEOFFSET: u32 = 24;
    let (rc, id, _) = create(0, &pv_config(1));
    t.eq(rc, 0, "createdomain for the time offset checks");
    let si = info(id).1.shared_info_frame.0;
    let at = core::mem::offset_of!(SharedInfo, wc_sec);
    // wc_version, wc_sec, wc_nsec, wc_sec_hi: wc_sec and wc_nsec in one word, wc_sec_hi after.
    let secs = || {
        let w = peek(id, si, at / 8)?;
        let hi = peek(id, si, (at + 8) / 8)?;
        let (lo, hi) = if at % 8 == 0 {
            (w & 0xffff_ffff, hi & 0xffff_ffff)
        } else {
            (w >> 32, hi >> 32)
        };
        Some(((hi << 32) | lo) as i64)
    };
    let before = secs();
    let set = |s: i64| {
        let a = XenDomctlSettimeoffset {
            time_offset_seconds: s,
        };
        domctl(SETTIMEOFFSET, id, &a, DV).0
    };
    t.eq(set(3600), 0, "settimeoffset +3600");
    let later = secs();
    t.eq(set(-7200), 0, "settimeoffset -7200");
    let earlier = secs();
    t.eq(
        before,
        Some(0),
        "a new domain has no wallclock until its first vCPU's context",
    );
    t.check(
        later.zip(earlier).map(|(a, b)| a - b) == Some(10800) && later > Some(1_600_003_600),
        format_args!(
            "the domain's wallclock seconds with +3600: {later:?}, then with -7200: {earlier:?}"
        ),
    );
    t.eq(
        domctl(DESTROYDOMAIN, id, &[0u8; 8], DV).0,
        0,
        "destroy the time offset domain",
    );
}

/// `set_virq_handler`: only global VIRQs (`-EINVAL` for `VIRQ_TIMER` and past the last); with
/// `VIRQ_DOM_EXC` handed to another domain, a destruction no longer raises it here, and once
/// that domain is gone it comes back to this one.
#[cfg(target_os = "none")]
fn virq_handler(t: &mut Test) {
    use domu_frontends::abi::domctl::XenDomctlSetVirqHandler;
    const SET_VIRQ_HANDLER: u32 = 66;
    let none = [0u8; 8];
    let port = DOM_EXC_PORT.load(core::sync::atomic::Ordering::Relaxed);
    let (_, x, _) = create(0, &pv_config(1));
    let (_, y, _) = create(0, &pv_config(1));
    let set = |virq: u32| domctl(SET_VIRQ_HANDLER, x, &XenDomctlSetVirqHandler { virq }, DV).0;
    t.eq(
        set(0),
        -22,
        "set_virq_handler of VIRQ_TIMER (per vCPU) is -EINVAL",
    );
    t.eq(
        set(24),
        -22,
        "set_virq_handler of VIRQ 24 (past the last) is -EINVAL",
    );
    t.eq(
        set(3),
        0,
        "set_virq_handler of VIRQ_DOM_EXC to a new domain",
    );
    sys::events::clear_port(port);
    t.eq(
        domctl(DESTROYDOMAIN, y, &none, DV).0,
        0,
        "destroy another domain",
    );
    t.check(
        !sys::events::port_pending(port),
        format_args!("VIRQ_DOM_EXC went to its handler, not here"),
    );
    t.eq(
        domctl(DESTROYDOMAIN, x, &none, DV).0,
        0,
        "destroy the handler",
    );
    // Xen forgets a dead handler when the domain's last reference goes (an RCU callback):
    // a few domains may come and go before that.
    let mut back = false;
    for _ in 0..50 {
        sys::events::clear_port(port);
        let (_, z, _) = create(0, &pv_config(1));
        domctl(DESTROYDOMAIN, z, &none, DV);
        if sys::events::port_pending(port) {
            back = true;
            break;
        }
    }
    t.check(
        back,
        format_args!("with the handler gone, VIRQ_DOM_EXC comes here again"),
    );
}

/// The toolstack's work for a tiny PV domain, as libxc's builder does it: create, `max_vcpus`,
/// `max_mem`, `populate_physmap` for it (the MFNs come back in the list), its page tables and
/// kernel written through foreign mappings, vCPU 0's context (`setvcpucontext` with
/// `VGCF_online`, the L4 validated then), unpause — and the domain runs: it shuts down for
/// reboot (or crashes), which `getdomaininfo` shows with the reason and `VIRQ_DOM_EXC` tells.
/// Destroyed, every frame comes back.
#[cfg(target_os = "none")]
fn build_and_run(t: &mut Test, kind: Kernel) {
    let what = match kind {
        Kernel::Reboot => "rebooting",
        Kernel::Crash => "crashing",
        Kernel::Xsetbv { avx: true } => "xsetbv with AVX offered",
        Kernel::Xsetbv { avx: false } => "xsetbv with AVX taken out of its policy",
    };
    // A refused xsetbv crashes the domain as `ud2` does.
    let crash = matches!(kind, Kernel::Crash | Kernel::Xsetbv { avx: false });
    let none = [0u8; 8];
    let (_, pi) = sysctl(PHYSINFO, &none, SV);
    let free_before = pi.arg::<XenSysctlPhysinfo>().unwrap_or_default().free_pages;
    let (rc, id, _) = create(0, &pv_config(1));
    t.eq(rc, 0, "createdomain for the builder");
    t.eq(
        domctl(MAX_VCPUS, id, &XenDomctlMaxVcpus { max: 1 }, DV).0,
        0,
        "max_vcpus 1",
    );
    t.eq(
        domctl(MAX_MEM, id, &XenDomctlMaxMem { max_memkb: 517 * 4 }, DV).0,
        0,
        "max_mem of 517 pages",
    );
    // libxc claims what it is about to populate (`claim_mode`).
    t.eq(claim(id, 517, 0, 0), 0, "claim the 517 pages");
    // A 2 MiB superpage first (extent_order 9, as libxc populates), at PFN 0x200.
    let mut big = [0x200u64];
    t.eq(
        sys::memory::reservation(6, id, 9, &mut big),
        1,
        "populate_physmap of one order-9 extent for the new domain",
    );
    let m2p = |mfn: u64| sys::read_u64(sys::mmu::M2P + mfn * 8);
    t.check(
        big[0].is_multiple_of(512) && m2p(big[0]) == 0x200 && m2p(big[0] + 5) == 0x205,
        format_args!(
            "the superpage is 2 MiB-aligned ({:#x}) and its M2P entries are its PFNs",
            big[0]
        ),
    );
    t.eq(
        info(id).1.outstanding_pages,
        5,
        "the superpage consumed 512 of the claim",
    );
    t.eq(
        claim(id, 100, 0, 0),
        -22,
        "a claim at or below what the domain holds is -EINVAL",
    );
    // Then single pages: PFNs 0-5 in, MFNs out.
    let mut list = [0u64, 1, 2, 3, 4, 5];
    t.eq(
        sys::memory::reservation(6, id, 0, &mut list),
        5,
        "populate_physmap of 6 pages for the new domain gets 5 (its max_mem)",
    );
    let (l4, l3, l2, l1, code) = (list[0], list[1], list[2], list[3], list[4]);
    t.eq(
        (info(id).1.outstanding_pages, free_and_claimed().1),
        (0, 0),
        "the claim is used up",
    );
    t.eq(claim(id, 0, 0, 0), 0, "cancelling a used-up claim");
    let (rc, i) = info(id);
    t.eq(
        (rc, i.tot_pages),
        (0, 517),
        "the new domain holds 517 pages",
    );
    // Its event channel to this domain: unbound in it, bound here.
    let mut a = [0u8; 8];
    a[..2].copy_from_slice(&id.to_le_bytes());
    let rc = sys::events::evtchn_op(6, &mut a); // EVTCHNOP_alloc_unbound {dom, remote 0}
    let remote = u32::from_le_bytes([a[4], a[5], a[6], a[7]]);
    t.eq(rc, 0, "alloc_unbound in the new domain for this one");
    let local = sys::events::bind_interdomain(id, remote);
    t.check(
        local.is_ok(),
        format_args!("bind_interdomain to it: {local:?}"),
    );
    let local = local.unwrap_or(0);
    t.check(
        sys::events::port_pending(local),
        format_args!("bind_interdomain leaves the new port pending (Xen's kick)"),
    );
    sys::events::clear_port(local);
    let pt = 0x27; // present, writable, user, accessed
    let ok = poke(id, l4, &[(0, (l3 << 12) | pt)], &[])
        && poke(id, l3, &[(0, (l2 << 12) | pt)], &[])
        && poke(id, l2, &[(2, (l1 << 12) | pt)], &[])
        && poke(id, l1, &[(0, (code << 12) | 0x25)], &[])
        && poke(id, code, &[], &tiny_kernel(kind, remote));
    t.check(
        ok,
        format_args!("page tables and kernel written through foreign mappings"),
    );
    // libxc pins the L4 with foreigndom (`bootlate_pv`): the tree is validated here.
    let pin = domu_frontends::abi::xen::MmuextOp {
        cmd: 3, // MMUEXT_PIN_L4_TABLE
        _pad0: 0,
        arg1: l4,
        arg2: 0,
    };
    t.eq(
        sys::hypercall_ints(
            H::MmuextOp as u32,
            [core::ptr::addr_of!(pin) as u64, 1, 0, u64::from(id), 0],
        ),
        0,
        "mmuext_op PIN_L4_TABLE of its L4 with foreigndom",
    );
    if kind == Kernel::Reboot {
        page_frame_info(t, id, [l4, l3, l2, l1, code, big[0]]);
    }
    if kind == (Kernel::Xsetbv { avx: false }) {
        take_avx_out(t, id);
    }
    // SAFETY: all-zero bytes are a valid `vcpu_guest_context` (plain integers).
    let mut ctx: domu_frontends::abi::arch_x86::VcpuGuestContext = unsafe { core::mem::zeroed() };
    ctx.flags = (1 << 2) | (1 << 5); // VGCF_in_kernel | VGCF_online
    ctx.user_regs.rip = 0x40_0000;
    ctx.user_regs.cs = 0xe033;
    ctx.user_regs.ss = 0xe02b;
    ctx.user_regs.rflags = 0x200;
    ctx.kernel_ss = 0xe02b;
    ctx.ctrlreg[3] = l4 << 12;
    let vc = XenDomctlVcpucontext {
        vcpu: 0,
        _pad0: 0,
        ctxt: core::ptr::addr_of!(ctx) as u64,
    };
    t.eq(
        domctl(SETVCPUCONTEXT, 0, &vc, DV).0,
        -22,
        "setvcpucontext of itself is -EINVAL",
    );
    let bad = XenDomctlVcpucontext { vcpu: 1, ..vc };
    t.eq(
        domctl(SETVCPUCONTEXT, id, &bad, DV).0,
        -22,
        "setvcpucontext of a vCPU past max_vcpus is -EINVAL",
    );
    let unreadable = XenDomctlVcpucontext {
        ctxt: 0xffff_8000_0000_0000,
        ..vc
    };
    t.eq(
        domctl(SETVCPUCONTEXT, id, &unreadable, DV).0,
        -14,
        "setvcpucontext from a context outside guest space is -EFAULT",
    );
    t.eq(
        domctl(SETVCPUCONTEXT, id, &vc, DV).0,
        0,
        "setvcpucontext of vCPU 0 (its L4 validated)",
    );
    let (rc, i) = info(id);
    t.eq(
        (rc, i.flags, i.nr_online_vcpus),
        (0, 0xffff_0008, 1),
        "vCPU 0 online, the domain still paused",
    );
    // getvcpucontext gives back what was set.
    // SAFETY: all-zero bytes are a valid `vcpu_guest_context` (plain integers).
    let mut got: domu_frontends::abi::arch_x86::VcpuGuestContext = unsafe { core::mem::zeroed() };
    let gv = XenDomctlVcpucontext {
        vcpu: 0,
        _pad0: 0,
        ctxt: core::ptr::addr_of_mut!(got) as u64,
    };
    t.eq(
        domctl(GETVCPUCONTEXT, id, &gv, DV).0,
        0,
        "getvcpucontext of vCPU 0",
    );
    let u = &got.user_regs;
    t.eq(
        (
            u.rip,
            u.cs,
            u.ss,
            got.kernel_ss,
            got.ctrlreg[3],
            got.flags & 0x24,
        ),
        (0x40_0000, 0xe033, 0xe02b, 0xe02b, l4 << 12, 0x24),
        "getvcpucontext: RIP, selectors, kernel SS, the L4, in-kernel and online",
    );
    let port = DOM_EXC_PORT.load(core::sync::atomic::Ordering::Relaxed);
    sys::events::clear_port(port);
    t.eq(
        domctl(UNPAUSEDOMAIN, id, &none, DV).0,
        0,
        "unpause: the built domain runs",
    );
    let want = if crash { 0x0003_0004 } else { 0x0001_0004 };
    let deadline = sys::events::system_time() + 10_000_000_000;
    let mut flags = 0;
    while sys::events::system_time() < deadline {
        flags = info(id).1.flags;
        if flags == want {
            break;
        }
        sys::yield_cpu();
    }
    println!("control: the built domain d{id} ({what}): flags {flags:#x}");
    t.check(
        flags == want,
        format_args!("the built domain shut down {what}: flags {flags:#x}, want {want:#x}"),
    );
    t.check(
        sys::events::port_pending(port),
        format_args!("VIRQ_DOM_EXC told of the {what} domain"),
    );
    sys::events::clear_port(port);
    t.eq(
        sys::events::port_pending(local),
        !crash,
        "the built domain's event arrived (if it did not crash first)",
    );
    sys::events::clear_port(local);
    t.eq(
        domctl(DESTROYDOMAIN, id, &none, DV).0,
        0,
        "destroydomain of the built domain",
    );
    t.eq(info(id).0, -3, "and it is gone");
    let (_, pi) = sysctl(PHYSINFO, &none, SV);
    let free_after = pi.arg::<XenSysctlPhysinfo>().unwrap_or_default().free_pages;
    println!("control: free pages {free_before} before the {what} domain, {free_after} after");
}
/// The toolstack takes AVX out of domain `id`'s CPU policy: leaf 1's AVX flag and leaf 0xd's
/// AVX state component, the rest as the domain has it.
#[cfg(target_os = "none")]
fn take_avx_out(t: &mut Test, id: u16) {
    use domu_frontends::abi::arch_x86::{XenCpuidLeaf, XenMsrEntry};
    use domu_frontends::abi::domctl::XenDomctlCpuPolicy;
    const DOMCTL_GET_CPU_POLICY: u32 = 82;
    const DOMCTL_SET_CPU_POLICY: u32 = 83;
    let mut leaves = [XenCpuidLeaf::default(); 120];
    let mut msrs = [XenMsrEntry::default(); 2];
    let get = XenDomctlCpuPolicy {
        nr_leaves: 120,
        nr_msrs: 2,
        leaves: leaves.as_mut_ptr() as u64,
        msrs: msrs.as_mut_ptr() as u64,
        ..Default::default()
    };
    let (rc, op) = domctl(DOMCTL_GET_CPU_POLICY, id, &get, DV);
    let n = op.arg::<XenDomctlCpuPolicy>().unwrap_or_default().nr_leaves as usize;
    t.eq(rc, 0, "get_cpu_policy of the domain to build");
    let mut two = [XenCpuidLeaf::default(); 2];
    for l in &leaves[..n.min(120)] {
        match (l.leaf, l.subleaf) {
            (1, _) => {
                two[0] = XenCpuidLeaf {
                    c: l.c & !(1 << 28),
                    ..*l
                }
            }
            (0xd, 0) => two[1] = XenCpuidLeaf { a: l.a & !4, ..*l },
            _ => {}
        }
    }
    let set = XenDomctlCpuPolicy {
        nr_leaves: 2,
        nr_msrs: 0,
        leaves: two.as_mut_ptr() as u64,
        msrs: 0,
        ..Default::default()
    };
    t.eq(
        domctl(DOMCTL_SET_CPU_POLICY, id, &set, DV).0,
        0,
        "set_cpu_policy without AVX (leaf 1 and leaf 0xd:0)",
    );
}

#[cfg(target_os = "none")]
static mut PIECES: [u8; 32768] = [0; 32768];

#[cfg(target_os = "none")]
fn readconsole(
    clear: bool,
    incremental: bool,
    index: u32,
    buf: u64,
    count: u32,
) -> (i64, u32, u32) {
    let a = XenSysctlReadconsole {
        clear: u8::from(clear),
        incremental: u8::from(incremental),
        index,
        buffer: buf,
        count,
        ..Default::default()
    };
    let (rc, op) = sysctl(READCONSOLE, &a, SV);
    let r: XenSysctlReadconsole = op.arg().unwrap_or_default();
    (rc, r.count, r.index)
}

#[cfg(target_os = "none")]
fn console(t: &mut Test) {
    let cons = core::ptr::addr_of_mut!(CONS) as u64;
    let pieces = core::ptr::addr_of_mut!(PIECES) as u64;
    let (rc, n, end) = readconsole(false, false, 0, cons, 32768);
    t.eq(rc, 0, "readconsole of the whole ring");
    t.check(
        n > 0,
        format_args!("the ring holds the hypervisor's messages ({n} bytes)"),
    );
    // SAFETY: CONS is this guest's own buffer, written by the hypercall that returned.
    let text = unsafe { &(&*core::ptr::addr_of!(CONS))[..n as usize] };
    t.check(
        text.windows(4).any(|w| w == b"4.17"),
        format_args!("the ring's messages name the 4.17 interface"),
    );
    t.eq(
        readconsole(false, true, end, cons, 32768),
        (0, 0, end),
        "an incremental read from the returned index: nothing new",
    );
    // The same bytes in 100-byte pieces: the first from the start, then on from each index.
    let (mut got, mut index, mut first) = (0u32, 0u32, true);
    loop {
        let (rc, k, next) = readconsole(
            false,
            !first,
            index,
            pieces + u64::from(got),
            100.min(32768 - got),
        );
        first = false;
        if rc != 0 || k == 0 {
            break;
        }
        got += k;
        index = next;
        if got >= 32768 {
            break;
        }
    }
    // SAFETY: as above, PIECES filled by the reads.
    let same = unsafe { (&*core::ptr::addr_of!(PIECES))[..got as usize] == *text };
    t.check(
        got == n && index == end && same,
        format_args!(
            "read in 100-byte pieces, the ring gives the same {got} bytes up to the same index"
        ),
    );
    t.eq(
        readconsole(false, false, 0, 0xffff_8000_0000_0000, 16).0,
        -14,
        "readconsole into a buffer outside guest space is -EFAULT",
    );
    let (rc, _, _) = readconsole(true, false, 0, cons, 32768);
    t.eq(rc, 0, "readconsole with clear");
    t.eq(
        readconsole(false, false, 0, cons, 32768).1,
        0,
        "after clear the ring reads empty",
    );
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(sys::events::map_shared_info(), 0, "map shared_info");
    sys::events::set_upcall_mask(true);
    // SIF_PRIVILEGED
    if sys::start_info().flags & 1 == 0 {
        as_domu(&mut t);
        t.finish()
    }
    let none = [0u8; 8];
    t.eq(
        sysctl(PHYSINFO, &none, 0x14).0,
        -13,
        "sysctl with interface version 0x14 is -EACCES",
    );
    t.eq(
        domctl(GETDOMAININFO, 0, &none, 0x16).0,
        -13,
        "domctl with interface version 0x16 is -EACCES",
    );
    t.eq(
        domctl(GETDOMAININFO, 9, &none, 0x14).0,
        -13,
        "the version is checked before the domain",
    );

    console(&mut t);

    let (rc, op) = sysctl(PHYSINFO, &none, SV);
    let pi: XenSysctlPhysinfo = op.arg().unwrap_or_default();
    let tot = sys::memory::of_domain(3, sys::memory::SELF) as u64;
    println!(
        "control: physinfo: {} CPUs, {} kHz, caps {:#x}, {} pages ({} free), max_mfn {:#x}",
        pi.nr_cpus, pi.cpu_khz, pi.capabilities, pi.total_pages, pi.free_pages, pi.max_mfn
    );
    t.eq(rc, 0, "physinfo");
    t.check(
        pi.nr_cpus >= 1
            && pi.max_cpu_id + 1 >= pi.nr_cpus
            && pi.threads_per_core >= 1
            && pi.cores_per_socket >= 1
            && pi
                .nr_cpus
                .is_multiple_of(pi.threads_per_core * pi.cores_per_socket),
        format_args!("physinfo: CPU counts consistent"),
    );
    t.eq(
        (pi.nr_nodes, pi.max_node_id),
        (1, 63),
        "physinfo: one node, MAX_NUMNODES - 1",
    );
    t.check(
        pi.cpu_khz > 100_000,
        format_args!("physinfo: a CPU rate ({} kHz)", pi.cpu_khz),
    );
    t.eq(
        pi.capabilities & 0x302,
        0x302,
        "physinfo: PV, grant tables v1 and v2",
    );
    let own = sys::mmu::va_to_mfn(core::ptr::addr_of!(CONS) as u64);
    t.check(
        pi.total_pages > tot
            && pi.total_pages >= pi.free_pages
            && pi.free_pages > 0
            && pi.max_mfn >= own,
        format_args!(
            "physinfo: more pages than this domain's, some free, max_mfn above its frames"
        ),
    );

    // cputopoinfo and numainfo: a NULL buffer asks the count.
    let topo = |num: u32, buf: u64| {
        let a = XenSysctlCputopoinfo {
            num_cpus: num,
            _pad0: 0,
            cputopo: buf,
        };
        let (rc, op) = sysctl(CPUTOPOINFO, &a, SV);
        (
            rc,
            op.arg::<XenSysctlCputopoinfo>()
                .unwrap_or_default()
                .num_cpus,
        )
    };
    t.eq(
        topo(0, 0),
        (0, pi.nr_cpus),
        "cputopoinfo with no buffer: the CPU count",
    );
    let mut cpus = [XenSysctlCputopo::default(); 8];
    t.eq(
        topo(8, cpus.as_mut_ptr() as u64),
        (0, pi.nr_cpus),
        "cputopoinfo into 8 entries: the CPU count",
    );
    let n = pi.nr_cpus.min(8) as usize;
    let distinct = (0..n).all(|i| (0..i).all(|j| cpus[i].core != cpus[j].core));
    t.check(
        cpus[..n]
            .iter()
            .all(|c| c.node == 0 && c.socket == cpus[0].socket)
            && distinct,
        format_args!(
            "cputopoinfo: node 0, one socket, a core each ({:?})",
            &cpus[..n]
        ),
    );
    let numa = |num: u32, mem: u64, dist: u64| {
        let a = XenSysctlNumainfo {
            num_nodes: num,
            _pad0: 0,
            meminfo: mem,
            distance: dist,
        };
        let (rc, op) = sysctl(NUMAINFO, &a, SV);
        (
            rc,
            op.arg::<XenSysctlNumainfo>().unwrap_or_default().num_nodes,
        )
    };
    t.eq(numa(0, 0, 0), (0, 1), "numainfo with no buffers: one node");
    let mut mem = [XenSysctlMeminfo::default(); 4];
    let mut dist = [0u32; 16];
    t.eq(
        numa(4, mem.as_mut_ptr() as u64, dist.as_mut_ptr() as u64),
        (0, 1),
        "numainfo into 4 nodes' room: one node",
    );
    t.check(
        mem[0].memsize >= pi.total_pages << 12
            && mem[0].memfree <= mem[0].memsize
            && mem[0].memfree > 0
            && dist[0] == 10,
        format_args!(
            "numainfo: node 0 spans the memory, some free, distance 10 ({:?}, {})",
            mem[0], dist[0]
        ),
    );

    // getdomaininfolist and getdomaininfo.
    let mut recs = [XenDomctlGetdomaininfo::default(); 4];
    let list = |first: u16, max: u32, buf: u64| {
        let a = XenSysctlGetdomaininfolist {
            first_domain: DomId(first),
            max_domains: max,
            buffer: buf,
            ..Default::default()
        };
        let (rc, op) = sysctl(GETDOMAININFOLIST, &a, SV);
        (
            rc,
            op.arg::<XenSysctlGetdomaininfolist>()
                .unwrap_or_default()
                .num_domains,
        )
    };
    let buf = recs.as_mut_ptr() as u64;
    t.eq(
        list(0, 4, buf),
        (0, 1),
        "getdomaininfolist from 0: this domain alone",
    );
    let si = sys::start_info();
    let r = recs[0];
    println!(
        "control: d0: flags {:#x}, {} pages of {}, {} vCPUs online, max id {}, {} ns",
        r.flags, r.tot_pages, r.max_pages, r.nr_online_vcpus, r.max_vcpu_id, r.cpu_time
    );
    t.eq(
        (
            r.domain,
            r.flags,
            r.tot_pages,
            r.shared_info_frame.0,
            r.nr_online_vcpus,
        ),
        (DomId(0), 0xffff_0020, tot, si.shared_info >> 12, 1),
        "d0's record: running, shutdown code ~0, its pages, shared_info frame, one vCPU online",
    );
    t.check(
        r.max_vcpu_id != !0 && r.cpu_time > 0,
        format_args!("d0's record: a vCPU id and some CPU time"),
    );
    t.eq(list(1, 4, buf), (0, 0), "getdomaininfolist from 1: none");
    t.eq(
        list(0, 0, buf),
        (0, 0),
        "getdomaininfolist of at most 0: none",
    );
    t.eq(
        list(0, 4, 0xffff_8000_0000_0000).0,
        -14,
        "getdomaininfolist into a buffer outside guest space is -EFAULT",
    );

    let (rc, op) = domctl(GETDOMAININFO, 0, &none, DV);
    let info: XenDomctlGetdomaininfo = op.arg().unwrap_or_default();
    t.eq(
        (rc, op.domain, info.domain, info.flags, info.tot_pages),
        (0, DomId(0), DomId(0), 0xffff_0020, tot),
        "getdomaininfo(0)",
    );
    t.eq(
        domctl(GETDOMAININFO, 1, &none, DV).0,
        -3,
        "getdomaininfo past the last domain is -ESRCH",
    );
    t.eq(
        domctl(GETDOMAININFO, 0x7ff0, &none, DV).0,
        -22,
        "getdomaininfo of DOMID_SELF is -EINVAL",
    );

    // getvcpuinfo
    let a = XenDomctlGetvcpuinfo {
        vcpu: 0,
        ..Default::default()
    };
    let (rc, op) = domctl(GETVCPUINFO, 0, &a, DV);
    let vi: XenDomctlGetvcpuinfo = op.arg().unwrap_or_default();
    t.eq(
        (rc, vi.online, vi.blocked, vi.running),
        (0, 1, 0, 1),
        "getvcpuinfo(0): online, running, not blocked",
    );
    t.check(
        vi.cpu_time > 0,
        format_args!("getvcpuinfo(0): some CPU time"),
    );
    let a = XenDomctlGetvcpuinfo {
        vcpu: 4096,
        ..Default::default()
    };
    t.eq(
        domctl(GETVCPUINFO, 0, &a, DV).0,
        -22,
        "getvcpuinfo past the last vCPU is -EINVAL",
    );

    // address size
    let (rc, op) = domctl(GET_ADDRESS_SIZE, 0, &none, DV);
    t.eq(
        (
            rc,
            op.arg::<XenDomctlAddressSize>().unwrap_or_default().size,
        ),
        (0, 64),
        "get_address_size: 64",
    );
    let size = |s: u32| domctl(SET_ADDRESS_SIZE, 0, &XenDomctlAddressSize { size: s }, DV).0;
    t.eq(size(64), 0, "set_address_size 64 of a 64-bit domain");
    // Xen 4.17 as Debian builds it has 32-bit PV off on this CPU (`pv32`); Ferrite has none.
    t.eq(
        size(32),
        -95,
        "set_address_size 32 is -EOPNOTSUPP (no 32-bit PV)",
    );
    t.eq(size(48), -22, "set_address_size 48 is -EINVAL");

    // max_mem
    let max_before = sys::memory::of_domain(4, sys::memory::SELF);
    let set_max = |kb: u64| domctl(MAX_MEM, 0, &XenDomctlMaxMem { max_memkb: kb }, DV).0;
    t.eq(set_max(tot * 4), 0, "max_mem to what the domain holds");
    t.eq(
        sys::memory::of_domain(4, sys::memory::SELF),
        tot as i64,
        "maximum_reservation follows max_mem",
    );
    let mut extent = [0u64; 1];
    t.eq(
        sys::memory::reservation(0, sys::memory::SELF, 0, &mut extent),
        0,
        "increase_reservation at the limit gets no extent",
    );
    t.eq(set_max((max_before as u64) << 2), 0, "max_mem back");
    t.eq(
        sys::memory::of_domain(4, sys::memory::SELF),
        max_before,
        "maximum_reservation back",
    );

    memory_map(&mut t);
    // Guest-chosen extents that cannot be: the last MFN there is as an order-1 extent to give
    // back (its second frame would wrap), and an order above the control domain's 18.
    let before = sys::memory::current();
    let mut last = [u64::MAX];
    t.eq(
        sys::memory::reservation(1, sys::memory::SELF, 1, &mut last),
        0,
        "decrease_reservation of an order-1 extent at MFN 2^64-1 gives back nothing",
    );
    let mut one = [0u64];
    t.eq(
        sys::memory::reservation(6, sys::memory::SELF, 19, &mut one),
        0,
        "populate_physmap of order 19 (above the control domain's 18) does nothing",
    );
    t.eq(
        sys::memory::current(),
        before,
        "and the reservation is unchanged",
    );

    lifecycle(&mut t);
    build_and_run(&mut t, Kernel::Reboot);
    build_and_run(&mut t, Kernel::Crash);
    // XCR0 is checked against the domain's policy (Xen's `xcr0_max`), not only against what
    // the hypervisor switches: where the CPU has AVX, a policy without it refuses it.
    let cpuid = sys::traps::fep_cpuid;
    let avx = cpuid(1, 0)[2] & (1 << 28) != 0 && cpuid(0xd, 0)[0] & 4 != 0;
    if avx {
        build_and_run(&mut t, Kernel::Xsetbv { avx: true });
        build_and_run(&mut t, Kernel::Xsetbv { avx: false });
    } else {
        println!("control: no AVX on this CPU: the xsetbv cases are skipped");
    }
    scheduling(&mut t, pi.nr_cpus);
    migration(&mut t, pi.nr_cpus);
    cpu_policy(&mut t);
    ioport_permission(&mut t);
    time_offset(&mut t);
    virq_handler(&mut t);
    shadow_op(&mut t);
    vcpu_msrs(&mut t);

    // unknown sub-ops and domains
    t.eq(
        domctl(0x77, 0, &none, DV).0,
        -38,
        "an unknown domctl is -ENOSYS",
    );
    t.eq(
        domctl(0x77, 9, &none, DV).0,
        -3,
        "an unknown domctl of an unknown domain is -ESRCH first",
    );
    t.eq(
        sysctl(0x77, &none, SV).0,
        -38,
        "an unknown sysctl is -ENOSYS",
    );
    t.finish()
}

/// The scheduler and CPU placement as libxl's `xl create` meets them: `sched_id` (credit2, Xen
/// 4.17's default), `cpupool_op` (`Pool-0` with every CPU; nothing above it; no free CPU),
/// credit2's weight and cap of a domain, dom0's vCPU affinities (all CPUs until set; a soft
/// affinity set and read back; a hard map with no online CPU refused), and a node affinity
/// without node 0 refused.
#[cfg(target_os = "none")]
fn scheduling(t: &mut Test, nr_cpus: u32) {
    use domu_frontends::abi::domctl::{
        XenDomctlNodeaffinity, XenDomctlSchedulerOp, XenDomctlVcpuaffinity, XEN_VCPUAFFINITY_HARD,
        XEN_VCPUAFFINITY_SOFT,
    };
    use domu_frontends::abi::sysctl::{
        XenSysctlCpupoolOp, XenSysctlSchedId, XEN_SYSCTL_CPUPOOL_OP_FREEINFO,
        XEN_SYSCTL_CPUPOOL_OP_INFO, XEN_SYSCTL_CPUPOOL_PAR_ANY,
    };
    use domu_frontends::abi::xen::XenctlBitmap;
    const SCHED_ID: u32 = 4;
    const CPUPOOL_OP: u32 = 18;
    const SETVCPUAFFINITY: u32 = 9;
    const SCHEDULER_OP: u32 = 16;
    const GETVCPUAFFINITY: u32 = 25;
    const SETNODEAFFINITY: u32 = 68;
    let all = if nr_cpus >= 8 {
        0xff
    } else {
        (1u8 << nr_cpus) - 1
    };

    let (rc, op) = sysctl(SCHED_ID, &XenSysctlSchedId::default(), SV);
    t.eq(
        (
            rc,
            op.arg::<XenSysctlSchedId>().unwrap_or_default().sched_id,
        ),
        (0, 6),
        "sched_id: credit2",
    );
    let mut map = [0xaau8; 4];
    let pool = |op: u32, id: u32, map: &mut [u8; 4]| {
        let a = XenSysctlCpupoolOp {
            op,
            cpupool_id: id,
            sched_id: 0,
            domid: 0,
            cpu: 0,
            n_dom: 0,
            cpumap: XenctlBitmap {
                bitmap: map.as_mut_ptr() as u64,
                nr_bits: 32,
                _pad0: 0,
            },
        };
        let (rc, op) = sysctl(CPUPOOL_OP, &a, SV);
        (rc, op.arg::<XenSysctlCpupoolOp>())
    };
    let (rc, info) = pool(XEN_SYSCTL_CPUPOOL_OP_INFO, 0, &mut map);
    let info = info.map(|i| (i.cpupool_id, i.sched_id, i.n_dom >= 1));
    t.eq(
        (rc, info, map),
        (0, Some((0, 6, true)), [all, 0, 0, 0]),
        "cpupool INFO from 0: Pool-0, credit2, its domains, every CPU (rest of the map zeroed)",
    );
    t.eq(
        pool(
            XEN_SYSCTL_CPUPOOL_OP_INFO,
            XEN_SYSCTL_CPUPOOL_PAR_ANY,
            &mut map,
        )
        .0,
        -2,
        "cpupool INFO from PAR_ANY is -ENOENT (no wildcard: past every pool)",
    );
    t.eq(
        pool(XEN_SYSCTL_CPUPOOL_OP_INFO, 1, &mut map).0,
        -2,
        "cpupool INFO above the last pool is -ENOENT",
    );
    map = [0xaa; 4];
    t.eq(
        (pool(XEN_SYSCTL_CPUPOOL_OP_FREEINFO, 0, &mut map).0, map),
        (0, [0; 4]),
        "cpupool FREEINFO: no free CPU",
    );

    let sched = |cmd: u32, weight: u16, cap: u16| {
        let a = XenDomctlSchedulerOp {
            sched_id: 6,
            cmd,
            u: [u64::from(weight) | (u64::from(cap) << 16), 0],
        };
        let (rc, op) = domctl(SCHEDULER_OP, 0, &a, DV);
        let u = op.arg::<XenDomctlSchedulerOp>().map_or(0, |a| a.u[0]);
        (rc, (u as u16, (u >> 16) as u16))
    };
    t.eq(
        sched(1, 0, 0),
        (0, (256, 0)),
        "scheduler_op credit2 getinfo of dom0: weight 256, no cap",
    );
    t.eq(
        sched(0, 256, 0).0,
        0,
        "scheduler_op credit2 putinfo of the same weight and cap",
    );
    let wrong = XenDomctlSchedulerOp {
        sched_id: 5,
        cmd: 1,
        u: [0; 2],
    };
    t.eq(
        domctl(SCHEDULER_OP, 0, &wrong, DV).0,
        -22,
        "scheduler_op naming another scheduler is -EINVAL",
    );

    let mut hard = [0xaau8; 4];
    let mut soft = [0xaau8; 4];
    let aff = |cmd: u32, flags: u32, hard: &mut [u8; 4], soft: &mut [u8; 4]| {
        let bm = |b: &mut [u8; 4]| XenctlBitmap {
            bitmap: b.as_mut_ptr() as u64,
            nr_bits: 32,
            _pad0: 0,
        };
        let a = XenDomctlVcpuaffinity {
            vcpu: 0,
            flags,
            cpumap_hard: bm(hard),
            cpumap_soft: bm(soft),
        };
        domctl(cmd, 0, &a, DV).0
    };
    let both = XEN_VCPUAFFINITY_HARD | XEN_VCPUAFFINITY_SOFT;
    t.eq(
        (aff(GETVCPUAFFINITY, both, &mut hard, &mut soft), hard, soft),
        (0, [all, 0, 0, 0], [all, 0, 0, 0]),
        "getvcpuaffinity of dom0 v0: every CPU, hard and soft",
    );
    soft = [1, 0, 0, 0];
    t.eq(
        (
            aff(SETVCPUAFFINITY, XEN_VCPUAFFINITY_SOFT, &mut hard, &mut soft),
            soft,
        ),
        (0, [1, 0, 0, 0]),
        "setvcpuaffinity soft to CPU 0: written back",
    );
    soft = [0xaa; 4];
    t.eq(
        (
            aff(GETVCPUAFFINITY, XEN_VCPUAFFINITY_SOFT, &mut hard, &mut soft),
            soft,
        ),
        (0, [1, 0, 0, 0]),
        "getvcpuaffinity soft: CPU 0",
    );
    soft = [0xff, 0, 0, 0];
    aff(SETVCPUAFFINITY, XEN_VCPUAFFINITY_SOFT, &mut hard, &mut soft);
    hard = [0, 0, 0, 0x80];
    t.eq(
        aff(SETVCPUAFFINITY, XEN_VCPUAFFINITY_HARD, &mut hard, &mut soft),
        -22,
        "setvcpuaffinity hard to CPU 31 only (not online) is -EINVAL",
    );
    t.eq(
        aff(GETVCPUAFFINITY, 0, &mut hard, &mut soft),
        -22,
        "getvcpuaffinity with neither hard nor soft is -EINVAL",
    );
    // Maps at an address no one maps: 2^32 - 8 bits fault at the first write (-EFAULT); 2^32 - 1
    // bits wrap, in Xen's `unsigned int` arithmetic, to an empty map that is never touched.
    let unmapped = |nr_bits: u32| {
        let a = XenDomctlVcpuaffinity {
            vcpu: 0,
            flags: XEN_VCPUAFFINITY_HARD,
            cpumap_hard: XenctlBitmap {
                bitmap: 0x7000_0000_0000,
                nr_bits,
                _pad0: 0,
            },
            cpumap_soft: XenctlBitmap {
                bitmap: 0,
                nr_bits: 0,
                _pad0: 0,
            },
        };
        domctl(GETVCPUAFFINITY, 0, &a, DV).0
    };
    t.eq(
        unmapped(u32::MAX - 7),
        -14,
        "getvcpuaffinity into a 2^32 - 8 bit map at an unmapped address is -EFAULT",
    );
    t.eq(
        unmapped(u32::MAX),
        0,
        "getvcpuaffinity into a 2^32 - 1 bit map: (nr_bits + 7) / 8 wraps to nothing, as Xen",
    );

    let setnode = |first: u8| {
        let mut nodes = [first, 0, 0, 0, 0, 0, 0, 0];
        let node = XenDomctlNodeaffinity {
            nodemap: XenctlBitmap {
                bitmap: nodes.as_mut_ptr() as u64,
                nr_bits: 64,
                _pad0: 0,
            },
        };
        domctl(SETNODEAFFINITY, 0, &node, DV).0
    };
    t.eq(
        setnode(2),
        -22,
        "setnodeaffinity without node 0 (the only node) is -EINVAL",
    );
    t.eq(setnode(1), 0, "setnodeaffinity to node 0");
}

/// CPU policies: the system's through `get_cpu_policy` and `get_cpu_featureset`, a new
/// domain's through `get_cpu_policy`/`set_cpu_policy` with the audit's errors, and no change
/// once the domain has been unpaused.
#[cfg(target_os = "none")]
fn cpu_policy(t: &mut Test) {
    use domu_frontends::abi::arch_x86::{XenCpuidLeaf, XenMsrEntry};
    use domu_frontends::abi::domctl::XenDomctlCpuPolicy;
    use domu_frontends::abi::sysctl::{XenSysctlCpuFeatureset, XenSysctlCpuPolicy};
    const GET_CPU_FEATURESET: u32 = 26;
    const GET_CPU_POLICY: u32 = 29;
    const DOMCTL_GET_CPU_POLICY: u32 = 82;
    const DOMCTL_SET_CPU_POLICY: u32 = 83;
    const NONE: u32 = !0;
    let zero = XenCpuidLeaf::default();

    let sys_policy = |index: u32,
                      rsvd: u32,
                      leaves: &mut [XenCpuidLeaf],
                      msrs: &mut [XenMsrEntry],
                      null: bool| {
        let a = XenSysctlCpuPolicy {
            index,
            nr_leaves: leaves.len() as u32,
            nr_msrs: msrs.len() as u32,
            _rsvd: rsvd,
            leaves: if null { 0 } else { leaves.as_mut_ptr() as u64 },
            msrs: if null { 0 } else { msrs.as_mut_ptr() as u64 },
        };
        let (rc, op) = sysctl(GET_CPU_POLICY, &a, SV);
        let out: XenSysctlCpuPolicy = op.arg().unwrap_or_default();
        (rc, out.nr_leaves, out.nr_msrs)
    };
    t.eq(
        sys_policy(4, 0, &mut [], &mut [], true),
        (0, 120, 2),
        "get_cpu_policy with null buffers: CPUID_MAX_SERIALISED_LEAVES and 2 MSRs",
    );
    t.eq(
        sys_policy(4, 1, &mut [], &mut [], true).0,
        -22,
        "get_cpu_policy with _rsvd set is -EINVAL",
    );
    t.eq(
        sys_policy(6, 0, &mut [], &mut [], true).0,
        -22,
        "get_cpu_policy of index 6 is -EINVAL",
    );
    let mut leaves = [zero; 120];
    let mut msrs = [XenMsrEntry::default(); 2];
    let (rc, n, m) = sys_policy(4, 0, &mut leaves, &mut msrs, false);
    t.eq((rc, m), (0, 2), "get_cpu_policy of PV default");
    let n = n as usize;
    let pv_copy = leaves;
    let pv = &pv_copy[..n.min(120)];
    t.check(
        n >= 20 && pv[0].leaf == 0 && pv[0].subleaf == NONE && pv[0].a <= 0xd && pv[0].a >= 1,
        format_args!(
            "PV default: {n} leaves, leaf 0 first with max_leaf {:#x} (at most 0xd)",
            pv[0].a
        ),
    );
    t.check(
        pv.windows(2).all(|w| {
            (w[0].leaf, w[0].subleaf.wrapping_add(1)) < (w[1].leaf, w[1].subleaf.wrapping_add(1))
        }),
        format_args!("PV default's leaves ascend"),
    );
    t.check(
        pv.iter()
            .any(|l| (l.leaf, l.subleaf) == (0x4000_0000, NONE))
            && pv
                .iter()
                .any(|l| (l.leaf, l.subleaf) == (0x4000_0100, NONE)),
        format_args!("PV default carries the two hypervisor-limit leaves"),
    );
    t.eq(
        (msrs[0].idx, msrs[1].idx),
        (0xce, 0x10a),
        "the MSRs: PLATFORM_INFO, ARCH_CAPABILITIES",
    );
    for (leaf, subleaf) in [(5, NONE), (6, NONE), (0xb, 0)] {
        let l = pv
            .iter()
            .find(|l| (l.leaf, l.subleaf) == (leaf, subleaf))
            .copied();
        t.eq(
            l.map(|l| [l.a, l.b, l.c, l.d]),
            Some([0; 4]),
            "PV default: leaves 5 (MONITOR), 6 (power) and 0xb (topology) are empty",
        );
    }
    let l7 = pv
        .iter()
        .find(|l| (l.leaf, l.subleaf) == (7, 0))
        .map_or(!0, |l| l.c);
    t.eq(l7 & (1 << 16), 0, "PV default: no 5-level paging");
    t.eq(
        sys_policy(4, 0, &mut leaves[..n - 1], &mut msrs, false).0,
        -105,
        "get_cpu_policy into one leaf too few is -ENOBUFS",
    );
    let leaf1 = pv.iter().find(|l| l.leaf == 1).copied().unwrap_or_default();

    let featureset = |index: u32, words: &mut [u32], null: bool| {
        let a = XenSysctlCpuFeatureset {
            index,
            nr_features: words.len() as u32,
            features: if null { 0 } else { words.as_mut_ptr() as u64 },
        };
        let (rc, op) = sysctl(GET_CPU_FEATURESET, &a, SV);
        (
            rc,
            op.arg::<XenSysctlCpuFeatureset>()
                .unwrap_or_default()
                .nr_features,
        )
    };
    let mut words = [0u32; 19];
    t.eq(
        featureset(2, &mut [], true),
        (0, 19),
        "get_cpu_featureset with no buffer: 19 words",
    );
    t.eq(
        featureset(2, &mut words, false),
        (0, 19),
        "get_cpu_featureset of PV",
    );
    t.eq(
        (words[0], words[1]),
        (leaf1.d, leaf1.c),
        "its words 0 and 1 are PV default's leaf 1 edx and ecx",
    );
    t.eq(
        featureset(2, &mut words[..1], false),
        (-105, 1),
        "one word of 19 is -ENOBUFS, one written",
    );
    t.eq(
        featureset(9, &mut words, false).0,
        -22,
        "get_cpu_featureset of index 9 is -EINVAL",
    );
    let a = XenSysctlCpuFeatureset {
        index: 2,
        nr_features: 19,
        features: UNMAPPED,
    };
    t.eq(
        sysctl(GET_CPU_FEATURESET, &a, SV).0,
        -14,
        "get_cpu_featureset into an unmapped buffer is -EFAULT",
    );
    let a = XenSysctlCpuPolicy {
        index: 4,
        nr_leaves: 120,
        nr_msrs: 2,
        _rsvd: 0,
        leaves: UNMAPPED,
        msrs: UNMAPPED,
    };
    t.eq(
        sysctl(GET_CPU_POLICY, &a, SV).0,
        -14,
        "get_cpu_policy into unmapped buffers is -EFAULT",
    );

    // A domain's policy.
    let (rc, id, _) = create(0, &pv_config(1));
    t.eq(rc, 0, "createdomain for the CPU policy checks");
    let dom_policy = |leaves: &mut [XenCpuidLeaf]| {
        let a = XenDomctlCpuPolicy {
            nr_leaves: leaves.len() as u32,
            leaves: leaves.as_mut_ptr() as u64,
            ..Default::default()
        };
        let (rc, op) = domctl(DOMCTL_GET_CPU_POLICY, id, &a, DV);
        (
            rc,
            op.arg::<XenDomctlCpuPolicy>().unwrap_or_default().nr_leaves as usize,
        )
    };
    let mut mine = [zero; 120];
    let (rc, n) = dom_policy(&mut mine);
    t.eq(
        (rc, mine[0].a),
        (0, pv[0].a),
        "a new domain's policy has PV default's max_leaf",
    );
    let set = |target: u16, leaves: &[XenCpuidLeaf], msrs: &[XenMsrEntry]| {
        let a = XenDomctlCpuPolicy {
            nr_leaves: leaves.len() as u32,
            nr_msrs: msrs.len() as u32,
            leaves: leaves.as_ptr() as u64,
            msrs: msrs.as_ptr() as u64,
            err_leaf: 0x1234,
            err_subleaf: 0x1234,
            err_msr: 0x1234,
            _pad: 0,
        };
        let (rc, op) = domctl(DOMCTL_SET_CPU_POLICY, target, &a, DV);
        let out: XenDomctlCpuPolicy = op.arg().unwrap_or_default();
        (rc, out.err_leaf, out.err_subleaf, out.err_msr)
    };
    t.eq(
        set(0, &mine[..n], &[]).0,
        -22,
        "set_cpu_policy of the caller itself is -EINVAL",
    );
    let mut big = mine;
    big[0].a = 0xff;
    t.eq(
        set(id, &big[..n], &[]),
        (-22, 0, NONE, NONE),
        "a max_leaf above PV max's is -EINVAL, naming leaf 0",
    );
    let far = [XenCpuidLeaf {
        leaf: 4,
        subleaf: 6,
        ..zero
    }];
    t.eq(
        set(id, &far, &[]),
        (-34, 4, 6, NONE),
        "leaf 4 subleaf 6 is -ERANGE, named",
    );
    t.eq(set(id, &[zero; 121], &[]).0, -7, "121 leaves is -E2BIG");
    let a = XenDomctlCpuPolicy {
        nr_leaves: 4,
        leaves: UNMAPPED,
        ..Default::default()
    };
    t.eq(
        domctl(DOMCTL_SET_CPU_POLICY, id, &a, DV).0,
        -14,
        "set_cpu_policy from leaves at an unmapped address is -EFAULT",
    );
    let bad_msr = [XenMsrEntry {
        idx: 0xce,
        flags: 1,
        val: 0,
    }];
    t.eq(
        set(id, &[], &bad_msr),
        (-22, NONE, NONE, 0xce),
        "an MSR with flags set is -EINVAL, named",
    );
    let faulting = [XenMsrEntry {
        idx: 0xce,
        flags: 0,
        val: 1 << 31,
    }];
    t.eq(
        set(id, &[], &faulting).0,
        -22,
        "CPUID faulting where PV max has none is -EINVAL",
    );
    // Drop SSE3 and ask for VMX: the first stays dropped, the second never appears.
    let mut fewer = mine;
    if let Some(l) = fewer[..n].iter_mut().find(|l| l.leaf == 1) {
        l.c = (l.c & !1) | (1 << 5);
    }
    t.eq(
        set(id, &fewer[..n], &[]).0,
        0,
        "set_cpu_policy without SSE3, with VMX",
    );
    let mut after = [zero; 120];
    let (rc, n2) = dom_policy(&mut after);
    let c = after[..n2].iter().find(|l| l.leaf == 1).map_or(!0, |l| l.c);
    t.eq(
        (rc, c & 1, c & (1 << 5)),
        (0, 0, 0),
        "the domain's leaf 1 ecx: no SSE3, no VMX",
    );
    t.eq(
        domctl(UNPAUSEDOMAIN, id, &[0u8; 8], DV).0,
        0,
        "unpause the domain",
    );
    t.eq(
        set(id, &mine[..n], &[]).0,
        -17,
        "set_cpu_policy once the domain has been unpaused is -EEXIST",
    );
    t.eq(
        domctl(DESTROYDOMAIN, id, &[0u8; 8], DV).0,
        0,
        "destroy the CPU policy domain",
    );
}

/// A hard affinity that leaves out a vCPU's CPU moves it (with two CPUs or more): a new
/// domain's vCPU 0, pinned to the other CPU, is found there by `getvcpuinfo`, and back again.
#[cfg(target_os = "none")]
fn migration(t: &mut Test, nr_cpus: u32) {
    use domu_frontends::abi::domctl::{XenDomctlVcpuaffinity, XEN_VCPUAFFINITY_HARD};
    use domu_frontends::abi::xen::XenctlBitmap;
    const SETVCPUAFFINITY: u32 = 9;
    if nr_cpus < 2 {
        return;
    }
    let none = [0u8; 8];
    let (_, id, _) = create(0, &pv_config(1));
    t.eq(
        domctl(MAX_VCPUS, id, &XenDomctlMaxVcpus { max: 1 }, DV).0,
        0,
        "max_vcpus 1 for the migration checks",
    );
    let cpu_of = || {
        let (_, op) = domctl(GETVCPUINFO, id, &XenDomctlGetvcpuinfo::default(), DV);
        op.arg::<XenDomctlGetvcpuinfo>().unwrap_or_default().cpu
    };
    let pin = |cpu: u32| {
        let mut map = [0u8; 4];
        map[cpu as usize / 8] = 1 << (cpu % 8);
        let a = XenDomctlVcpuaffinity {
            vcpu: 0,
            flags: XEN_VCPUAFFINITY_HARD,
            cpumap_hard: XenctlBitmap {
                bitmap: map.as_mut_ptr() as u64,
                nr_bits: 32,
                _pad0: 0,
            },
            cpumap_soft: XenctlBitmap {
                bitmap: 0,
                nr_bits: 0,
                _pad0: 0,
            },
        };
        domctl(SETVCPUAFFINITY, id, &a, DV).0
    };
    let wait_on = |cpu: u32| (0..100_000).any(|_| cpu_of() == cpu);
    let first = cpu_of();
    let other = if first == 0 { 1 } else { 0 };
    t.eq(pin(other), 0, "setvcpuaffinity hard to the other CPU only");
    t.check(
        wait_on(other),
        format_args!(
            "vCPU 0 moved from CPU {first} to CPU {other}: now on {}",
            cpu_of()
        ),
    );
    t.eq(pin(first), 0, "and back");
    t.check(
        wait_on(first),
        format_args!("vCPU 0 is back on CPU {first}: now on {}", cpu_of()),
    );
    t.eq(
        domctl(DESTROYDOMAIN, id, &none, DV).0,
        0,
        "destroy the migration domain",
    );
}

/// `getpageframeinfo3` of a domain just built: its tables by level (the pinned L4 with
/// `LPINTAB`), its code and superpage frames plain, this domain's frames and frame 0 invalid
/// (`XTAB`), more than 1024 `-E2BIG`.
#[cfg(target_os = "none")]
fn page_frame_info(t: &mut Test, id: u16, frames: [u64; 6]) {
    use domu_frontends::abi::domctl::XenDomctlGetpageframeinfo3;
    const GETPAGEFRAMEINFO3: u32 = 61;
    let [l4, l3, l2, l1, code, big] = frames;
    let own = sys::mmu::pfn_to_mfn(0);
    let mut a = [l4, l3, l2, l1, code, big, own, 0];
    let q = XenDomctlGetpageframeinfo3 {
        num: a.len() as u64,
        array: a.as_mut_ptr() as u64,
    };
    t.eq(
        domctl(GETPAGEFRAMEINFO3, id, &q, DV).0,
        0,
        "getpageframeinfo3 of the new domain",
    );
    let (l, pin, x) = (1u64 << 28, 1u64 << 31, 0xfu64 << 28);
    t.eq(
        a,
        [(4 * l) | pin, 3 * l, 2 * l, l, 0, 0, x, x],
        "its L4 (pinned), L3, L2, L1, code and superpage; this domain's frame and frame 0 invalid",
    );
    let q = XenDomctlGetpageframeinfo3 {
        num: 1025,
        array: a.as_mut_ptr() as u64,
    };
    t.eq(
        domctl(GETPAGEFRAMEINFO3, id, &q, DV).0,
        -7,
        "getpageframeinfo3 of 1025 frames is -E2BIG",
    );
    let mut far = [u64::MAX >> 12, 1 << 40];
    let q = XenDomctlGetpageframeinfo3 {
        num: 2,
        array: far.as_mut_ptr() as u64,
    };
    t.eq(
        (domctl(GETPAGEFRAMEINFO3, id, &q, DV).0, far),
        (0, [0xf << 28; 2]),
        "getpageframeinfo3 of frames far past RAM: invalid (XTAB)",
    );
    let q = XenDomctlGetpageframeinfo3 {
        num: 1,
        array: UNMAPPED,
    };
    t.eq(
        domctl(GETPAGEFRAMEINFO3, id, &q, DV).0,
        -14,
        "getpageframeinfo3 of an array at an unmapped address is -EFAULT",
    );
}

/// An address in guest space that nothing maps.
#[cfg(target_os = "none")]
const UNMAPPED: u64 = 0x7000_0000_0000;

/// `ioport_permission`: empty or wrapping ranges `-EINVAL`, ports the caller lacks (the
/// hypervisor's serial port) `-EPERM`, others granted and taken back.
#[cfg(target_os = "none")]
fn ioport_permission(t: &mut Test) {
    use domu_frontends::abi::domctl::XenDomctlIoportPermission;
    const IOPORT_PERMISSION: u32 = 21;
    let (rc, id, _) = create(0, &pv_config(1));
    t.eq(rc, 0, "createdomain for the ioport checks");
    let perm = |first_port: u32, nr_ports: u32, allow: u8| {
        let a = XenDomctlIoportPermission {
            first_port,
            nr_ports,
            allow_access: allow,
            _pad0: [0; 3],
        };
        domctl(IOPORT_PERMISSION, id, &a, DV).0
    };
    t.eq(
        perm(0x300, 0, 1),
        -22,
        "ioport_permission of no ports is -EINVAL",
    );
    t.eq(
        perm(0xffff, 2, 1),
        -22,
        "ioport_permission past port 0xffff is -EINVAL",
    );
    t.eq(
        perm(u32::MAX, 2, 1),
        -22,
        "ioport_permission wrapping is -EINVAL",
    );
    t.eq(
        perm(0x3f8, 8, 1),
        -1,
        "ioport_permission of the hypervisor's COM1 is -EPERM",
    );
    t.eq(
        perm(0x300, 0x20, 1),
        0,
        "ioport_permission grants 0x300-0x31f",
    );
    t.eq(perm(0x310, 0x10, 0), 0, "and takes 0x310-0x31f back");
    t.eq(
        domctl(DESTROYDOMAIN, id, &[0u8; 8], DV).0,
        0,
        "destroy the ioport domain",
    );
}

/// A domU: the version, then the domain, then the privilege.
#[cfg(target_os = "none")]
fn as_domu(t: &mut Test) {
    let none = [0u8; 8];
    t.eq(
        sysctl(PHYSINFO, &none, 0x14).0,
        -13,
        "domU: a wrong sysctl version is -EACCES first",
    );
    t.eq(
        sysctl(PHYSINFO, &none, SV).0,
        -1,
        "domU: sysctl physinfo is -EPERM",
    );
    t.eq(
        sysctl(READCONSOLE, &none, SV).0,
        -1,
        "domU: sysctl readconsole is -EPERM",
    );
    t.eq(
        domctl(GETDOMAININFO, 0, &none, 0x14).0,
        -13,
        "domU: a wrong domctl version is -EACCES first",
    );
    t.eq(
        domctl(GETVCPUINFO, 9, &none, DV).0,
        -3,
        "domU: a domctl of an unknown domain is -ESRCH first",
    );
    t.eq(
        domctl(GETDOMAININFO, 0, &none, DV).0,
        -1,
        "domU: domctl getdomaininfo is -EPERM",
    );
    t.eq(
        domctl(MAX_MEM, 1, &none, DV).0,
        -1,
        "domU: domctl max_mem of itself is -EPERM",
    );
}

/// `shadow_op` as Debian's Xen 4.17 answers a PV domain (built without shadow paging: no
/// log-dirty mode): refused without vCPUs and for the caller itself; enabling log-dirty
/// `-EOPNOTSUPP`, the shadow sub-ops `-EINVAL`; the dirty bitmap read as all clear (bytes
/// up to `pages` bits written, nothing past them), a bad buffer `-EFAULT`, a null one just
/// the statistics (zero).
#[cfg(target_os = "none")]
fn shadow_op(t: &mut Test) {
    use domu_frontends::abi::domctl::{XenDomctlShadowOp, XenDomctlShadowOpStats};
    const SHADOW_OP: u32 = 10;
    let (rc, id, _) = create(0, &pv_config(1));
    t.eq(rc, 0, "createdomain for shadow_op");
    let sh = |dom: u16, op: u32, mode: u32, dirty_bitmap: u64, pages: u64| {
        let a = XenDomctlShadowOp {
            op,
            mode,
            dirty_bitmap,
            pages,
            stats: XenDomctlShadowOpStats {
                fault_count: 7,
                dirty_count: 9,
            },
            ..Default::default()
        };
        let (rc, o) = domctl(SHADOW_OP, dom, &a, DV);
        let o = o.arg::<XenDomctlShadowOp>().unwrap_or_default();
        (rc, o.pages, o.stats.fault_count, o.stats.dirty_count)
    };
    t.eq(
        sh(id, 12, 0, 0, 8).0,
        -22,
        "shadow_op PEEK of a domain without vCPUs is -EINVAL",
    );
    t.eq(
        domctl(MAX_VCPUS, id, &XenDomctlMaxVcpus { max: 1 }, DV).0,
        0,
        "max_vcpus 1",
    );
    t.eq(
        sh(0, 12, 0, 0, 8).0,
        -22,
        "shadow_op of the caller itself is -EINVAL",
    );
    t.eq(
        sh(id, 2, 0, 0, 0).0,
        -95,
        "ENABLE_LOGDIRTY of a PV domain is -EOPNOTSUPP",
    );
    t.eq(
        sh(id, 32, 4, 0, 0).0,
        -95,
        "ENABLE with LOG_DIRTY is -EOPNOTSUPP",
    );
    for (op, mode, what) in [
        (32, 0, "shadow_op ENABLE without LOG_DIRTY is -EINVAL"),
        (1, 0, "shadow_op ENABLE_TEST is -EINVAL"),
        (0, 0, "shadow_op OFF is -EINVAL"),
        (30, 0, "shadow_op GET_ALLOCATION is -EINVAL"),
        (31, 0, "shadow_op SET_ALLOCATION is -EINVAL"),
        (99, 0, "shadow_op of an unknown op is -EINVAL"),
    ] {
        t.eq(sh(id, op, mode, 0, 0).0, -22, what);
    }
    let mut bitmap = [0xa5u8; 64];
    let r = sh(id, 12, 0, bitmap.as_mut_ptr() as u64, 100);
    t.eq(
        r,
        (0, 100, 0, 0),
        "PEEK of 100 pages: done, pages kept, statistics zero",
    );
    t.check(
        bitmap[..13].iter().all(|&b| b == 0) && bitmap[13..].iter().all(|&b| b == 0xa5),
        format_args!("PEEK cleared the 13 bytes of 100 bits and nothing after: {bitmap:02x?}"),
    );
    let mut bitmap = [0xa5u8; 64];
    t.eq(
        sh(id, 11, 1, bitmap.as_mut_ptr() as u64, 64 * 8),
        (0, 512, 0, 0),
        "CLEAN (final round) of 512 pages",
    );
    t.check(
        bitmap.iter().all(|&b| b == 0),
        format_args!("CLEAN cleared all 64 bytes"),
    );
    t.eq(
        sh(id, 12, 2, bitmap.as_mut_ptr() as u64, 8).0,
        -22,
        "PEEK with an unknown mode flag is -EINVAL",
    );
    t.eq(
        sh(id, 12, 0, UNMAPPED, 8).0,
        -14,
        "PEEK into an unmapped buffer is -EFAULT",
    );
    // (Past 2^40 Xen's answer depends on where the walk was preempted: it keeps its progress
    // in a 40-bit field.)
    t.eq(
        sh(id, 11, 0, 0, (1 << 39) + 3).1,
        (1 << 39) + 3,
        "CLEAN with a null bitmap of 2^39+3 pages: pages kept",
    );
    t.eq(
        sh(id, 11, 0, 0, u64::MAX).1,
        0,
        "CLEAN of 2^64-1 pages: 0 pages (Xen's leaf size wraps to 0 bytes)",
    );
    t.eq(
        domctl(DESTROYDOMAIN, id, &[0u8; 8], DV).0,
        0,
        "destroydomain after the shadow_op checks",
    );
}

/// `get_vcpu_msrs`/`set_vcpu_msrs` as libxc's save and restore use them, and `MSR_TSC_AUX`,
/// the one of them a PV guest has here (RDTSCP): the most a get sends (7), nothing for a new
/// vCPU (every MSR 0), TSC_AUX set and read back, a too-small array `-ENOBUFS` with the count
/// needed, refusals (`-EINVAL`: a reserved field, an MSR not on the list, a value TSC_AUX
/// cannot hold — the count set before it written back; more than 7; this vCPU itself) and a
/// missing vCPU `-ESRCH`. Then this domain's own TSC_AUX: `wrmsr`, `rdmsr` and `rdtscp` see it,
/// a 33-bit value is #GP(0).
#[cfg(target_os = "none")]
fn vcpu_msrs(t: &mut Test) {
    use domu_frontends::abi::domctl::{XenDomctlVcpuMsr, XenDomctlVcpuMsrs};
    use domu_frontends::sys::traps;
    const GET: u32 = 72;
    const SET: u32 = 73;
    const TSC_AUX: u32 = 0xc000_0103;
    let (rc, id, _) = create(0, &pv_config(1));
    t.eq(rc, 0, "createdomain for the vCPU MSRs");
    t.eq(
        domctl(MAX_VCPUS, id, &XenDomctlMaxVcpus { max: 1 }, DV).0,
        0,
        "max_vcpus 1",
    );
    let call = |dom: u16, cmd: u32, vcpu: u32, msr_count: u32, msrs: &mut [XenDomctlVcpuMsr]| {
        let a = XenDomctlVcpuMsrs {
            vcpu,
            msr_count,
            msrs: if msrs.is_empty() {
                0
            } else {
                msrs.as_mut_ptr() as u64
            },
        };
        let (rc, o) = domctl(cmd, dom, &a, DV);
        (
            rc,
            o.arg::<XenDomctlVcpuMsrs>().unwrap_or_default().msr_count,
        )
    };
    let msr = |index: u32, value: u64| XenDomctlVcpuMsr {
        index,
        reserved: 0,
        value,
    };
    let mut buf = [XenDomctlVcpuMsr::default(); 8];
    t.eq(
        call(id, GET, 0, 0, &mut []),
        (0, 7),
        "get_vcpu_msrs with a null array: at most 7",
    );
    t.eq(
        call(id, GET, 0, 8, &mut buf),
        (0, 0),
        "a new vCPU's MSRs are all 0: none sent",
    );
    t.eq(
        call(id, GET, 1, 8, &mut buf).0,
        -3,
        "vCPU 1 of a 1-vCPU domain is -ESRCH",
    );
    buf[0] = msr(TSC_AUX, 0x1234_5678);
    t.eq(call(id, SET, 0, 1, &mut buf), (0, 1), "set TSC_AUX");
    t.eq(
        call(id, GET, 0, 0, &mut buf),
        (-105, 1),
        "get into an array of 0 is -ENOBUFS, needing 1",
    );
    buf = [XenDomctlVcpuMsr::default(); 8];
    t.eq(call(id, GET, 0, 8, &mut buf), (0, 1), "get sends one MSR");
    t.eq(buf[0], msr(TSC_AUX, 0x1234_5678), "TSC_AUX as set");
    buf[0] = msr(TSC_AUX, 5);
    buf[1] = msr(TSC_AUX, 1 << 32);
    t.eq(
        call(id, SET, 0, 2, &mut buf),
        (-22, 1),
        "a 33-bit TSC_AUX is -EINVAL after the first entry (count 1 back)",
    );
    t.eq(call(id, GET, 0, 8, &mut buf), (0, 1), "get after it");
    t.eq(
        buf[0],
        msr(TSC_AUX, 5),
        "the entry before the bad one took effect",
    );
    buf[0] = XenDomctlVcpuMsr {
        reserved: 1,
        ..msr(TSC_AUX, 6)
    };
    t.eq(
        call(id, SET, 0, 1, &mut buf),
        (-22, 0),
        "a reserved field set is -EINVAL",
    );
    buf[0] = msr(0xc000_0100, 0x1000);
    t.eq(
        call(id, SET, 0, 1, &mut buf),
        (-22, 0),
        "FS_BASE is not a vCPU MSR the toolstack sets: -EINVAL",
    );
    t.eq(
        call(id, SET, 0, 8, &mut buf),
        (-22, 8),
        "setting 8 MSRs (more than 7) is -EINVAL",
    );
    t.eq(
        call(id, SET, 0, 0, &mut buf),
        (0, 0),
        "setting none is done",
    );
    let at = |cmd: u32, msr_count: u32| {
        let a = XenDomctlVcpuMsrs {
            vcpu: 0,
            msr_count,
            msrs: UNMAPPED,
        };
        let (rc, o) = domctl(cmd, id, &a, DV);
        (
            rc,
            o.arg::<XenDomctlVcpuMsrs>().unwrap_or_default().msr_count,
        )
    };
    t.eq(
        at(SET, 1),
        (-14, 0),
        "setting from an unmapped array is -EFAULT, none set",
    );
    t.eq(
        at(GET, 8),
        (-14, 1),
        "getting into an unmapped array is -EFAULT, the count still given",
    );
    // The test runs on vCPU 0 (the boot vCPU).
    t.eq(
        call(0, GET, 0, 8, &mut buf).0,
        -22,
        "get_vcpu_msrs of the calling vCPU itself is -EINVAL",
    );
    t.eq(
        domctl(DESTROYDOMAIN, id, &[0u8; 8], DV).0,
        0,
        "destroydomain after the vCPU MSR checks",
    );

    // This domain's own TSC_AUX.
    t.eq(traps::install(&[]), 0, "set_trap_table for the MSR checks");
    t.eq(
        traps::wrmsr_safe(TSC_AUX, 0x5a).map(|x| x.vector),
        None,
        "wrmsr TSC_AUX",
    );
    t.eq(
        traps::rdmsr_safe(TSC_AUX).ok(),
        Some(0x5a),
        "rdmsr TSC_AUX reads it back",
    );
    let mut aux = 0u32;
    // SAFETY: RDTSCP is offered (this domain's TSC_AUX was just written); no memory is touched.
    unsafe { core::arch::x86_64::__rdtscp(&mut aux) };
    t.eq(aux, 0x5a, "rdtscp returns TSC_AUX");
    t.eq(
        traps::wrmsr_safe(TSC_AUX, 1 << 32).map(|x| (x.vector, x.error_code)),
        Some((13, 0)),
        "a 33-bit TSC_AUX is #GP(0)",
    );
    t.eq(
        traps::rdmsr_safe(TSC_AUX).ok(),
        Some(0x5a),
        "and TSC_AUX is unchanged",
    );
}

#[cfg(not(target_os = "none"))]
fn main() {}
