//! xsa: Xen security advisories for x86 PV guests, each as its attack pattern against the
//! behaviour fixed Xen shows (most after Xen's own XTF reproducers), as the initial domain on
//! Ferrite and on Xen 4.17. A case is named by its advisory; `docs/testing.md` keeps the table
//! of every advisory and where it is covered. Here: version strings zero-padded (122), `int
//! $0x80` without a handler (259), non-canonical FS/GS bases by `wrmsr` (193), RAPL and
//! MISC_ENABLE MSRs (351, 333), `mov ss; int3` with a sticky DR6.BD (265), polling every port
//! (221), allocating ports until `-ENOSPC` (317), a failed FIFO `init_control` (188), an
//! `XENMEM_exchange` whose restart point aims its lists at the hypervisor (212), reservations
//! naming every NUMA node (231), extents of every order and count up to the maximum
//! reservation (385), a flush of a
//! non-canonical address (279), PSE set on a live L2 entry (148), `MMU_MACHPHYS_UPDATE` of a
//! frame not the guest's (113); grants: host+device mapping unmapped one side at a time (224,
//! 394), `unmap_and_replace` moving a writable PTE under a read-only handle (234), a misaligned
//! `contains_pte` address (227), a grant for another domain (316), a grant of RAM asking for
//! uncached access (402, 154), read-only
//! and writable mappings of one grant (230), swapping a grant in use (134), `cache_flush` of
//! system frames (232), a 400-op copy chain run exactly once in order (318).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::domctl::{XenDomctl, XenDomctlMaxMem, XEN_DOMCTL_INTERFACE_VERSION},
    abi::grant_table::{
        GnttabCacheFlush, GnttabCopy, GnttabOp, GnttabUnmapAndReplace, GnttabUnmapGrantRef,
        GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTMAP_CONTAINS_PTE, GNTMAP_DEVICE_MAP,
        GNTMAP_HOST_MAP, GNTMAP_READONLY, GTF_PAT, GTF_PCD, GTF_PERMIT_ACCESS, GTF_PWT,
        GTF_READING, GTF_WRITING,
    },
    abi::xen::{Hypercall, SifFlags},
    abi::{DomId, GrantHandle},
    println, sys,
    sys::events,
    sys::gnttab::{self, Table},
    sys::mmu::{self, mmuext, ADDR_MASK, PTE_RO, PTE_RW},
    sys::traps,
    sys::{read_u64, write_u64},
    Test,
};

#[cfg(target_os = "none")]
const UVMF_INVLPG: u64 = 2;
#[cfg(target_os = "none")]
const PTE_PWT: u64 = 1 << 3;
#[cfg(target_os = "none")]
const PTE_PCD: u64 = 1 << 4;
/// PAT in a 4 KiB entry (bit 7, PSE's place at the upper levels).
#[cfg(target_os = "none")]
const PTE_PAT: u64 = 1 << 7;
#[cfg(target_os = "none")]
const GENERAL_ERROR: i16 = -1;
#[cfg(target_os = "none")]
const BAD_GNTREF: i16 = -3;
#[cfg(target_os = "none")]
const BAD_HANDLE: i16 = -4;
#[cfg(target_os = "none")]
const GNTST_EAGAIN: i16 = -12;

#[cfg(target_os = "none")]
fn version(cmd: u64, buf: &mut [u8]) -> i64 {
    sys::hypercall_buf(Hypercall::XenVersion as u32, cmd, buf)
}

/// Every byte after the first NUL of `field` is zero.
#[cfg(target_os = "none")]
fn zero_padded(field: &[u8]) -> bool {
    let nul = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field[nul..].iter().all(|&b| b == 0)
}

#[cfg(target_os = "none")]
fn evtchn_close(port: u32) -> i64 {
    let mut a = port.to_le_bytes();
    events::evtchn_op(3, &mut a)
}

#[cfg(target_os = "none")]
fn versions(t: &mut Test) {
    // XSA-122: the strings are copied with the rest of their buffers zeroed.
    for (cmd, len, fields, what) in [
        (
            1u64,
            16usize,
            &[16usize][..],
            "XSA-122: extraversion zero-padded",
        ),
        (
            2,
            144,
            &[64, 16, 32, 32][..],
            "XSA-122: compile_info fields zero-padded",
        ),
        (3, 1024, &[1024][..], "XSA-122: capabilities zero-padded"),
        (4, 64, &[64][..], "XSA-122: changeset zero-padded"),
    ] {
        let mut buf = [0xaau8; 1024];
        let rc = version(cmd, &mut buf[..len]);
        let mut at = 0;
        let ok = fields.iter().all(|&n| {
            let f = &buf[at..at + n];
            at += n;
            zero_padded(f)
        });
        t.check(rc == 0 && ok, format_args!("{what} (rc {rc})"));
    }
}

#[cfg(target_os = "none")]
fn traps_and_msrs(t: &mut Test) {
    // XSA-259: `int $0x80` with no trap-table entry is the guest's #GP((0x80 << 3) | 2).
    t.eq(
        traps::software_interrupt_0x80().map(|x| (x.vector, x.error_code)),
        Some((13, 0x402)),
        "XSA-259: int $0x80 without a handler is #GP(0x402)",
    );
    // XSA-193: a non-canonical FS/GS/shadow GS base by wrmsr is the guest's #GP(0).
    for msr in [0xc000_0100u32, 0xc000_0101, 0xc000_0102] {
        let before = traps::rdmsr_safe(msr).map_err(|x| x.vector);
        t.eq(
            traps::wrmsr_safe(msr, 1 << 63).map(|x| (x.vector, x.error_code)),
            Some((13, 0)),
            "XSA-193: wrmsr of a non-canonical segment base is #GP(0)",
        );
        t.eq(
            traps::rdmsr_safe(msr).map_err(|x| x.vector),
            before,
            "XSA-193: the base is unchanged",
        );
    }
    // XSA-351: the RAPL energy counters are not readable.
    for msr in [0x606u32, 0x611, 0x619, 0x639, 0x641, 0x64d] {
        t.eq(
            traps::rdmsr_safe(msr).map_err(|x| (x.vector, x.error_code)),
            Err((13, 0)),
            "XSA-351: rdmsr of a RAPL MSR is #GP(0)",
        );
    }
    // XSA-333: MISC_ENABLE reads as a value or #GP(0), and the hypervisor lives.
    let r = traps::rdmsr_safe(0x1a0).map_err(|x| (x.vector, x.error_code));
    t.check(
        r.is_ok() || r == Err((13, 0)),
        format_args!("XSA-333: rdmsr MISC_ENABLE: {r:x?}"),
    );
}

/// The guest's SS selector, where a breakpoint watches `mov %ss` read it.
#[cfg(target_os = "none")]
#[repr(C, align(8))]
struct SsSel([u16; 4]);
#[cfg(target_os = "none")]
static mut SS_SEL: SsSel = SsSel([0; 4]);

#[cfg(target_os = "none")]
fn sticky_dr6(t: &mut Test) {
    // XSA-265: DR6.BD set by the guest, then `mov ss` onto a watched word and `int3`.
    let set = |r: u64, v: u64| sys::hypercall_ints(Hypercall::SetDebugreg as u32, [r, v, 0, 0, 0]);
    let ss_var = core::ptr::addr_of!(SS_SEL) as u64;
    // SAFETY: reading SS has no side effect.
    unsafe { core::arch::asm!("mov {0:x}, ss", out(reg) SS_SEL.0[0]) };
    t.eq(
        set(6, 0xffff_0ff0 | (1 << 13)),
        0,
        "XSA-265: DR6 with BD set",
    );
    t.eq(set(0, ss_var), 0, "XSA-265: DR0 on the SS selector");
    t.eq(
        set(7, 1 | (0b11 << 16) | (0b01 << 18)),
        0,
        "XSA-265: DR7 arms it",
    );
    let seen = traps::mov_ss_int3(ss_var).map(|x| x.vector);
    t.check(
        matches!(seen, Some(1 | 3)),
        format_args!("XSA-265: mov ss; int3 gives the guest #DB or #BP ({seen:?})"),
    );
    t.eq(set(7, 0), 0, "XSA-265: disarmed");
    t.eq(set(6, 0), 0, "XSA-265: DR6 cleared");
}

#[cfg(target_os = "none")]
fn ports(t: &mut Test) {
    // XSA-221: polling ports that were never allocated (whose buckets may not exist) is
    // -EINVAL, as a port past the 2-level ABI's 4096; an allocated one not pending, with a
    // timeout in the past, returns 0.
    let bad = (0..4096u32)
        .step_by(7)
        .chain([4095, 4096, 1 << 20])
        .map(|p| (p, events::poll(&[p], 1)))
        .find(|&(_, rc)| rc != -22);
    t.eq(
        bad,
        None,
        "XSA-221: polling never-allocated ports is -EINVAL",
    );
    let port = events::alloc_unbound(DomId::SELF.0);
    t.check(
        port.is_ok(),
        format_args!("XSA-221: a port to poll ({port:?})"),
    );
    if let Ok(p) = port {
        t.eq(
            events::poll(&[p], 1),
            0,
            "XSA-221: polling an allocated port returns 0",
        );
        t.eq(evtchn_close(p), 0, "XSA-221: closed");
        t.eq(
            events::poll(&[p], 1),
            -22,
            "XSA-221: and once closed is -EINVAL",
        );
    }

    // XSA-188: a failed FIFO init_control leaves the domain 2-level.
    let mut init = [0u8; 24];
    init[..8].copy_from_slice(&(u64::MAX - 1).to_le_bytes());
    t.eq(
        events::evtchn_op(11, &mut init),
        -22,
        "XSA-188: init_control of a bad frame",
    );
    let mut expand = [0u8; 8];
    expand.copy_from_slice(&mmu::va_to_mfn(core::ptr::addr_of!(SS_SEL) as u64).to_le_bytes());
    t.eq(
        events::evtchn_op(12, &mut expand),
        -95,
        "XSA-188: expand_array afterwards is -EOPNOTSUPP (still 2-level)",
    );

    // XSA-317: allocating until the 2-level limit ends in -ENOSPC, not past port 4095.
    let mut got = [0u32; 4096];
    let mut n = 0;
    let last = loop {
        match events::alloc_unbound(DomId::SELF.0) {
            Ok(p) if n < got.len() => {
                got[n] = p;
                n += 1;
            }
            Ok(p) => break Ok(p),
            Err(e) => break Err(e),
        }
    };
    t.eq(last, Err(-28), "XSA-317: ports run out with -ENOSPC");
    t.check(
        got[..n].iter().all(|&p| p < 4096),
        format_args!("XSA-317: every port below 4096 ({n} allocated)"),
    );
    let closed = got[..n].iter().all(|&p| evtchn_close(p) == 0);
    t.check(closed, format_args!("XSA-317: every port closes"));
    let again = events::alloc_unbound(DomId::SELF.0);
    t.check(
        again.is_ok(),
        format_args!("XSA-317: a port again after closing ({again:?})"),
    );
    if let Ok(p) = again {
        evtchn_close(p);
    }

    // XSA-338: after EVTCHNOP_reset, ports that were in use stay valid (closed), never
    // invalid under a reader's feet; a port past the ABI's range stays invalid.
    let mut dom = 0x7ff0u16.to_le_bytes();
    t.eq(
        events::evtchn_op(10, &mut dom),
        0,
        "XSA-338: EVTCHNOP_reset",
    );
    let status = |port: u32| {
        let mut a = [0u8; 24];
        a[..2].copy_from_slice(&0x7ff0u16.to_le_bytes());
        a[4..8].copy_from_slice(&port.to_le_bytes());
        let rc = events::evtchn_op(5, &mut a);
        (rc, u32::from_le_bytes([a[8], a[9], a[10], a[11]]))
    };
    let high = got[..n].iter().copied().max().unwrap_or(1);
    t.eq(
        status(high),
        (0, 0),
        "XSA-338: a port used before the reset is valid and closed",
    );
    t.eq(status(4096).0, -22, "XSA-338: port 4096 is invalid");
}

#[cfg(target_os = "none")]
fn memory(t: &mut Test, spare: u64) {
    // XSA-212: XENMEM_exchange with a restart point that aims both lists at the hypervisor's
    // range: -EFAULT, nothing exchanged.
    let f = mmu::va_to_mfn(spare);
    let list = [f];
    let h = 0xffff_8300_0000_0000u64;
    let k = h / 8;
    let mut x = [0u8; 72];
    let put = |x: &mut [u8; 72], at: usize, v: u64| x[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(&mut x, 0, (list.as_ptr() as u64).wrapping_sub(h));
    put(&mut x, 8, k + 1);
    put(&mut x, 24, u64::from(DomId::SELF.0));
    put(&mut x, 32, 0);
    put(&mut x, 40, k + 1);
    put(&mut x, 56, u64::from(DomId::SELF.0));
    put(&mut x, 64, k);
    t.eq(
        sys::hypercall_buf(Hypercall::MemoryOp as u32, 11, &mut x),
        -14,
        "XSA-212: exchange with lists into the hypervisor's range is -EFAULT",
    );
    t.eq(
        mmu::va_to_mfn(spare),
        f,
        "XSA-212: the frame is still the guest's",
    );
    t.eq(read_u64(spare), 0x5151, "XSA-212: and still holds its data");

    // XSA-231: a reservation naming any NUMA node (exact or not) allocates or does not, and
    // whatever it gave is given back.
    let reserve = |cmd: u64, list: &mut [u64; 1], flags: u32| {
        let mut r = [0u8; 32];
        r[..8].copy_from_slice(&(list.as_mut_ptr() as u64).to_le_bytes());
        r[8..16].copy_from_slice(&1u64.to_le_bytes());
        r[20..24].copy_from_slice(&flags.to_le_bytes());
        r[24..26].copy_from_slice(&DomId::SELF.0.to_le_bytes());
        sys::hypercall_buf(Hypercall::MemoryOp as u32, cmd, &mut r)
    };
    let mut odd = None;
    for node in 0..256u32 {
        let exact = if node % 2 == 1 { 1 << 17 } else { 0 };
        let mut got = [0u64; 1];
        match reserve(0, &mut got, ((node + 1) << 8) | exact) {
            0 => {}
            1 => {
                if reserve(1, &mut got, 0) != 1 {
                    odd = Some((node, 1));
                    break;
                }
            }
            rc => {
                odd = Some((node, rc));
                break;
            }
        }
    }
    t.eq(
        odd,
        None,
        "XSA-231: reservations on nodes 0-255 allocate 0 or 1, given back",
    );

    // XSA-279: a flush of a non-canonical address fails or does nothing, and Xen lives.
    let r = mmu::update_va_mapping(1 << 63, 0, UVMF_INVLPG | 4);
    t.check(
        r < 0,
        format_args!("XSA-279: update_va_mapping(1 << 63) is refused ({r})"),
    );
    for cmd in [7u32, 11] {
        let r = mmuext(cmd, 1 << 63, 0);
        t.check(
            r == 0 || r == -22,
            format_args!("XSA-279: MMUEXT {cmd} of a non-canonical address ({r})"),
        );
    }

    // mmuext_op's count is 32 bits wide (`unsigned int`): 2^32 + 1 is one op.
    let mut ops = [0u64; 6];
    ops[0] = 6; // MMUEXT_TLB_FLUSH_LOCAL
    let mut done = 0u32;
    // SAFETY: a live list of two ops and a live done counter; the hypervisor runs one op.
    let rc = unsafe {
        sys::hypercall(
            Hypercall::MmuextOp as u32,
            ops.as_mut_ptr() as u64,
            (1 << 32) | 1,
            core::ptr::addr_of_mut!(done) as u64,
            u64::from(DomId::SELF.0),
            0,
        )
    };
    t.eq(
        (rc, done),
        (0, 1),
        "mmuext_op with a count of 2^32 + 1 runs one op",
    );

    // XSA-148: PSE on a live L2 entry is refused before any fast path.
    let (_, (l2, i2)) = mmu::pte_address(spare);
    let e2 = mmu::read_table(l2, i2);
    t.eq(
        mmu::mmu_update((l2 << 12) | (i2 as u64 * 8), e2 | 0x80),
        -22,
        "XSA-148: PSE on an L2 entry is -EINVAL",
    );
    t.eq(
        mmu::read_table(l2, i2),
        e2,
        "XSA-148: the entry is unchanged",
    );

    // XSA-113: MMU_MACHPHYS_UPDATE of a frame not the guest's is refused; of its own, any
    // number of times, fine.
    let l4 = sys::read_cr3() >> 12;
    let hv = (mmu::read_table(l4, 256) & ADDR_MASK) >> 12;
    t.check(
        hv != 0,
        format_args!("XSA-113: L4 slot 256 holds a hypervisor table"),
    );
    t.eq(
        mmu::mmu_update((hv << 12) | 1, 0),
        -22,
        "XSA-113: MACHPHYS_UPDATE of a hypervisor frame is -EINVAL",
    );
    let pfn = mmu::mfn_to_pfn(f);
    let ok = (0..1000).all(|_| mmu::mmu_update((f << 12) | 1, pfn) == 0);
    t.check(
        ok,
        format_args!("XSA-113: MACHPHYS_UPDATE of its own frame 1000 times"),
    );
    t.eq(
        mmu::mfn_to_pfn(f),
        pfn,
        "XSA-113: the M2P entry is as it was",
    );
}

/// XSA-286: in one multicall, `update_va_mapping` of an address, an `mmu_update` that swaps
/// the L2 above it for another, and `update_va_mapping` of the address again: the second edit
/// lands in the new L1, whatever the first left in the TLB.
#[cfg(target_os = "none")]
fn multicall_walks(t: &mut Test, pages: [u64; 4], d: u64) {
    use domu_frontends::abi::xen::MulticallEntry;
    let mfns = pages.map(mmu::va_to_mfn);
    let [l1t1, l1t2, l2t1, l2t2] = mfns;
    let ok = pages.iter().zip(mfns).all(|(&va, m)| {
        (0..512).for_each(|i| write_u64(va + i * 8, 0));
        mmu::update_va_mapping(va, (m << 12) | PTE_RO, UVMF_INVLPG) == 0
    });
    t.check(
        ok,
        format_args!("XSA-286: four zeroed frames, mapped read-only"),
    );
    t.eq(
        mmu::mmu_update(l2t1 << 12, (l1t1 << 12) | PTE_RW),
        0,
        "XSA-286: L2 one's first entry: L1 one",
    );
    t.eq(
        mmu::mmu_update(l2t2 << 12, (l1t2 << 12) | PTE_RW),
        0,
        "XSA-286: L2 two's first entry: L1 two",
    );
    t.eq(mmuext(1, l2t1, 0), 0, "XSA-286: pin L2 one");
    t.eq(mmuext(1, l2t2, 0), 0, "XSA-286: pin L2 two");
    let l4 = sys::read_cr3() >> 12;
    let l3 = (mmu::read_table(l4, 0) & ADDR_MASK) >> 12;
    t.eq(mmu::read_table(l3, 1), 0, "XSA-286: 1-2 GiB is unused");
    let d_mfn = mmu::va_to_mfn(d);
    let va = 1u64 << 30;
    let mut stale = 0;
    for _ in 0..15 {
        let mut swap = [(l3 << 12) | 8, (l2t2 << 12) | PTE_RW];
        let setup = mmu::mmu_update((l3 << 12) | 8, (l2t1 << 12) | PTE_RW) == 0
            && mmu::mmu_update(l1t1 << 12, 0) == 0
            && mmu::mmu_update(l1t2 << 12, 0) == 0;
        let e = |op: Hypercall, args: [u64; 6]| MulticallEntry {
            op: op as u64,
            result: 0xdead,
            args,
        };
        let mut batch = [
            e(Hypercall::UpdateVaMapping, [va, 0, UVMF_INVLPG, 0, 0, 0]),
            e(
                Hypercall::MmuUpdate,
                [swap.as_mut_ptr() as u64, 1, 0, 0x7ff0, 0, 0],
            ),
            e(
                Hypercall::UpdateVaMapping,
                [va, (d_mfn << 12) | PTE_RW | 0x60, UVMF_INVLPG, 0, 0, 0],
            ),
        ];
        let rc = sys::multicall(&mut batch);
        let all_ok = setup && rc == 0 && batch.iter().all(|b| b.result == 0);
        // SAFETY: the four pages are this guest's, mapped read-only.
        let (one, two) = (read_u64(pages[0]), read_u64(pages[1]));
        if !all_ok || one != 0 || (two & ADDR_MASK) >> 12 != d_mfn {
            stale += 1;
        }
    }
    t.eq(
        stale,
        0,
        "XSA-286: every time, the new L1 took the mapping and the old stayed empty",
    );
    t.eq(
        mmu::mmu_update((l3 << 12) | 8, 0),
        0,
        "XSA-286: 1-2 GiB unused again",
    );
    t.eq(mmuext(4, l2t1, 0), 0, "XSA-286: unpin L2 one");
    t.eq(mmuext(4, l2t2, 0), 0, "XSA-286: unpin L2 two");
    let ok = pages
        .iter()
        .zip(mfns)
        .all(|(&va, m)| mmu::update_va_mapping(va, (m << 12) | PTE_RW, UVMF_INVLPG) == 0);
    t.check(ok, format_args!("XSA-286: the four frames writable again"));
}

/// `XENMEM_increase_reservation` (0) or `XENMEM_populate_physmap` (6) of `nr` extents of
/// `2^order` frames for this domain, listed at `list` (only as many slots as are done are
/// written; the rest need only lie in guest space).
#[cfg(target_os = "none")]
fn reserve_raw(cmd: u64, list: u64, nr: u64, order: u32) -> i64 {
    let mut r = [0u8; 32];
    r[..8].copy_from_slice(&list.to_le_bytes());
    r[8..16].copy_from_slice(&nr.to_le_bytes());
    r[16..20].copy_from_slice(&order.to_le_bytes());
    r[24..26].copy_from_slice(&sys::memory::SELF.to_le_bytes());
    sys::hypercall_buf(Hypercall::MemoryOp as u32, cmd, &mut r)
}

/// `XEN_DOMCTL_max_mem` of domain `dom`.
#[cfg(target_os = "none")]
fn max_mem(dom: u16, pages: u64) -> i64 {
    let mut op = XenDomctl {
        cmd: 11,
        interface_version: XEN_DOMCTL_INTERFACE_VERSION,
        domain: DomId(dom),
        _pad: [0; 3],
        u: [0; 16],
    };
    op.set_arg(&XenDomctlMaxMem {
        max_memkb: pages * 4,
    });
    sys::hypercall_with(Hypercall::Domctl as u32, &mut op)
}

/// XSA-385: with its maximum reservation 8 frames above what it holds, the domain asks for 1,
/// 7, 9 and `2^26 - 1` (the most a call may encode) extents of every order 0-63, by
/// `increase_reservation` and by `populate_physmap`: counts and orders whose frames wrap 32-bit
/// arithmetic. It gets exactly the extents that fit under the maximum and never holds more
/// than it; what it got is given back after each call.
#[cfg(target_os = "none")]
fn memory_limit(t: &mut Test) {
    let cur = sys::memory::current();
    let max0 = sys::memory::of_domain(4, sys::memory::SELF);
    println!("XSA-385: current reservation {cur}, maximum {max0}");
    let (Ok(cur_p), Ok(max_p)) = (u64::try_from(cur), u64::try_from(max0)) else {
        t.check(false, format_args!("XSA-385: reservations {cur} / {max0}"));
        return;
    };
    t.eq(max_mem(0, cur_p + 8), 0, "XSA-385: max_mem 8 frames above");
    t.eq(
        sys::memory::of_domain(4, sys::memory::SELF),
        cur + 8,
        "XSA-385: the maximum reservation follows",
    );
    let mut list = [0u64; 16];
    let mut odd = None;
    let mut over = None;
    'all: for cmd in [0u64, 6] {
        for order in 0..64u32 {
            for nr in [1u64, 7, 9, (1 << 26) - 1] {
                let pfn0 = 0x4000_0000u64;
                for (i, e) in list.iter_mut().enumerate() {
                    *e = pfn0 + ((i as u64) << order.min(20));
                }
                let rc = reserve_raw(cmd, list.as_mut_ptr() as u64, nr, order);
                // Whole extents, never more frames than the 8 the maximum leaves.
                let fit = if order <= 3 { nr.min(8 >> order) } else { 0 };
                let now = sys::memory::current();
                if now > cur + 8 {
                    over = Some((cmd, order, nr, now));
                }
                let back = match usize::try_from(rc) {
                    Ok(n) if n <= 8 => {
                        sys::memory::reservation(1, sys::memory::SELF, order, &mut list[..n])
                    }
                    _ => -1,
                };
                if rc != fit as i64 || back != rc || sys::memory::current() != cur {
                    odd = Some((cmd, order, nr, rc, back));
                    break 'all;
                }
            }
        }
    }
    t.eq(
        odd,
        None,
        "XSA-385: each call gets the extents that fit under the maximum, given back",
    );
    t.eq(
        over,
        None,
        "XSA-385: never more than the maximum reservation",
    );
    t.eq(max_mem(0, max_p), 0, "XSA-385: max_mem as it was");
    t.eq(
        sys::memory::of_domain(4, sys::memory::SELF),
        max0,
        "XSA-385: the maximum reservation as it was",
    );
}

#[cfg(target_os = "none")]
fn unmap_op(handle: GrantHandle, host_addr: u64, dev_bus_addr: u64) -> i16 {
    let mut u = [GnttabUnmapGrantRef {
        host_addr,
        dev_bus_addr,
        handle,
        status: 0,
        _pad: [0; 2],
    }];
    let rc = gnttab::op(GnttabOp::UnmapGrantRef, &mut u);
    if rc != 0 {
        return rc as i16;
    }
    u[0].status
}

/// The L1 entry that maps `va`.
#[cfg(target_os = "none")]
fn pte_of(va: u64) -> u64 {
    let (pte, _) = mmu::pte_address(va);
    mmu::read_table(pte >> 12, ((pte & 0xfff) / 8) as usize)
}

/// `GNTTABOP_unmap_and_replace`: `(rc, status)`.
#[cfg(target_os = "none")]
fn unmap_and_replace(handle: GrantHandle, host_addr: u64, new_addr: u64) -> (i64, i16) {
    let mut u = [GnttabUnmapAndReplace {
        host_addr,
        new_addr,
        handle,
        status: 0,
        _pad: [0; 2],
    }];
    let rc = gnttab::op(GnttabOp::UnmapAndReplace, &mut u);
    (rc, u[0].status)
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table (no vector 0x80)");
    let si = sys::start_info();
    t.check(
        SifFlags::from_bits_truncate(si.flags).contains(SifFlags::INITDOMAIN),
        format_args!("runs as the initial domain"),
    );
    let me = DomId(0);
    let buf = sys::static_buffer();
    let base = (buf.as_ptr() as u64 + 4095) & !4095;
    let page = |i: u64| base + i * 4096;
    let (gt_va, f, a, x1, x2, x3, spare, ops) = (
        page(0),
        page(1),
        page(2),
        page(3),
        page(4),
        page(5),
        page(6),
        page(7),
    );
    write_u64(spare, 0x5151);

    versions(&mut t);
    traps_and_msrs(&mut t);
    sticky_dr6(&mut t);
    ports(&mut t);
    memory(&mut t, spare);
    memory_limit(&mut t);
    // Pages 11-14: the last whole pages of the 64 KiB buffer (page 15 may run past its end).
    multicall_walks(&mut t, [page(11), page(12), page(13), page(14)], spare);

    // Grants: the guest's own table, granting to itself.
    let mut frames = [0u64; 1];
    t.eq(
        gnttab::setup_table(DomId::SELF, 1, &mut frames),
        (0, 0),
        "setup_table",
    );
    t.eq(
        mmu::update_va_mapping(gt_va, (frames[0] << 12) | PTE_RW, UVMF_INVLPG),
        0,
        "map the grant table",
    );
    let gt = Table { va: gt_va };
    let (f_mfn, a_mfn) = (mmu::va_to_mfn(f), mmu::va_to_mfn(a));

    // XSA-224 / 394: a host+device mapping unmapped one side at a time drops each side's
    // references once: the frame then takes an L1 type (nothing writable left over).
    gt.grant(20, me, f_mfn, GTF_PERMIT_ACCESS);
    let (rc, st, h) = gnttab::map(me, 20, x1, GNTMAP_HOST_MAP | GNTMAP_DEVICE_MAP);
    t.eq((rc, st), (0, 0), "XSA-224: map host+device writable");
    t.eq(unmap_op(h, x1, 0), 0, "XSA-224: unmap the host side");
    t.eq(
        unmap_op(h, 0, f_mfn << 12),
        0,
        "XSA-224: unmap the device side",
    );
    t.eq(
        unmap_op(h, x1, 0),
        BAD_HANDLE,
        "XSA-394: the handle is gone",
    );
    t.eq(
        gt.flags(20),
        GTF_PERMIT_ACCESS,
        "XSA-224: the busy bits clear",
    );
    for i in 0..512 {
        write_u64(f + i * 8, 0);
    }
    t.eq(
        mmu::update_va_mapping(f, (f_mfn << 12) | PTE_RO, UVMF_INVLPG),
        0,
        "XSA-224: the kernel's own mapping of the frame made read-only",
    );
    t.eq(
        mmuext(0, f_mfn, 0),
        0,
        "XSA-224: the frame pins as an L1 (no reference left over)",
    );
    t.eq(mmuext(4, f_mfn, 0), 0, "XSA-224: unpinned");
    t.eq(
        mmu::update_va_mapping(f, (f_mfn << 12) | PTE_RW, UVMF_INVLPG),
        0,
        "XSA-224: writable again",
    );
    t.check(gt.end_access(20), format_args!("XSA-224: revoked"));

    // XSA-234: `unmap_and_replace` of a read-only mapping moves the PTE of a writable one
    // (frame f) into its place; the emptied address is re-pointed at f read-only. An unmap of
    // the writable handle there finds the frame but not its permissions: GNTST_general_error,
    // and f keeps its writable reference (it cannot be pinned as an L1).
    for i in 0..512 {
        write_u64(f + i * 8, 0);
    }
    t.eq(
        mmu::update_va_mapping(f, (f_mfn << 12) | PTE_RO, UVMF_INVLPG),
        0,
        "XSA-234: the kernel's own mapping of f read-only",
    );
    gt.grant(22, me, f_mfn, GTF_PERMIT_ACCESS);
    gt.grant(23, me, a_mfn, GTF_PERMIT_ACCESS);
    gt.grant(25, me, f_mfn, GTF_PERMIT_ACCESS);
    let (_, st1, hw) = gnttab::map(me, 22, x1, GNTMAP_HOST_MAP);
    let (_, st2, hr) = gnttab::map(me, 23, x2, GNTMAP_HOST_MAP | GNTMAP_READONLY);
    t.eq(
        (st1, st2),
        (0, 0),
        "XSA-234: f mapped writable at x1, a read-only at x2",
    );
    t.eq(
        unmap_and_replace(hr, x2, x1),
        (0, 0),
        "XSA-234: unmap_and_replace of x2's read-only grant with x1's PTE",
    );
    t.eq(pte_of(x1), 0, "XSA-234: x1's PTE is zapped");
    t.eq(
        pte_of(x2) & (ADDR_MASK | 3),
        (f_mfn << 12) | 3,
        "XSA-234: x2 maps f writable now",
    );
    write_u64(x2 + 8, 0x234);
    t.eq(
        read_u64(f + 8),
        0x234,
        "XSA-234: a write through x2 lands in f",
    );
    write_u64(x2 + 8, 0);
    t.eq(
        gt.flags(23),
        GTF_PERMIT_ACCESS,
        "XSA-234: a's grant is free",
    );
    t.eq(
        mmu::update_va_mapping(x1, (f_mfn << 12) | PTE_RO, UVMF_INVLPG),
        0,
        "XSA-234: x1 re-pointed at f read-only",
    );
    t.eq(
        gnttab::unmap(hw, x1),
        (0, GENERAL_ERROR),
        "XSA-234: unmap of the writable grant at a read-only PTE is GNTST_general_error",
    );
    t.eq(
        mmuext(0, f_mfn, 0),
        -22,
        "XSA-234: f still has its writable reference: no L1 pin",
    );
    // Put the writable grant PTE back where its handle was mapped (through a second writable
    // mapping of f at x1, replaced by x2's entry) and unmap it there: every reference goes.
    t.eq(
        mmu::update_va_mapping(x1, 0, UVMF_INVLPG),
        0,
        "XSA-234: x1 emptied",
    );
    let (_, st3, h3) = gnttab::map(me, 25, x1, GNTMAP_HOST_MAP);
    t.eq(st3, 0, "XSA-234: f mapped writable at x1 again");
    t.eq(
        unmap_and_replace(h3, x1, x2),
        (0, 0),
        "XSA-234: that mapping replaced by x2's entry",
    );
    t.eq(pte_of(x2), 0, "XSA-234: x2's PTE is zapped");
    t.eq(
        gnttab::unmap(hw, x1),
        (0, 0),
        "XSA-234: the first writable grant unmaps at x1",
    );
    t.eq(
        [22, 23, 25].map(|r| gt.flags(r)),
        [GTF_PERMIT_ACCESS; 3],
        "XSA-234: the busy bits clear",
    );
    t.eq(mmuext(0, f_mfn, 0), 0, "XSA-234: f now pins as an L1");
    t.eq(mmuext(4, f_mfn, 0), 0, "XSA-234: unpinned");
    t.eq(
        mmu::update_va_mapping(f, (f_mfn << 12) | PTE_RW, UVMF_INVLPG),
        0,
        "XSA-234: f writable again",
    );
    // And, as Xen's `replace_grant_pv_mapping`, `unmap_and_replace` takes `new_addr`'s entry
    // before it checks `host_addr`: when the check fails, that entry is gone all the same.
    let (_, st4, h4) = gnttab::map(me, 23, x1, GNTMAP_HOST_MAP | GNTMAP_READONLY);
    t.eq(st4, 0, "XSA-234: a mapped read-only at x1");
    t.eq(
        mmu::update_va_mapping(x3, (f_mfn << 12) | PTE_RO, UVMF_INVLPG),
        0,
        "XSA-234: x3 maps f read-only",
    );
    t.eq(
        unmap_and_replace(h4, x2, x3),
        (0, GENERAL_ERROR),
        "XSA-234: unmap_and_replace naming x2, where nothing is mapped",
    );
    t.eq(pte_of(x3), 0, "XSA-234: x3's entry was taken all the same");
    t.eq(
        gnttab::unmap(h4, x1),
        (0, 0),
        "XSA-234: the handle still unmaps at x1",
    );
    let revoked = [22, 23, 25].iter().all(|&r| gt.end_access(r));
    t.check(revoked, format_args!("XSA-234: revoked"));

    // XSA-227: GNTMAP_contains_pte with a misaligned PTE address.
    for i in 0..512 {
        write_u64(a + i * 8, 0xa000_0000 + i);
    }
    gt.grant(21, me, a_mfn, GTF_PERMIT_ACCESS);
    t.eq(
        mmu::update_va_mapping(x3, (f_mfn << 12) | PTE_RO, UVMF_INVLPG),
        0,
        "XSA-227: a page mapped read-only to aim at",
    );
    let (pte, _) = mmu::pte_address(x3);
    let before = (
        mmu::read_table(pte >> 12, ((pte & 0xfff) / 8) as usize),
        read_u64(x3),
    );
    for off in [-2i64, 4] {
        let (rc, st, _) = gnttab::map(
            me,
            21,
            pte.wrapping_add(off as u64),
            GNTMAP_HOST_MAP | GNTMAP_CONTAINS_PTE,
        );
        t.eq(
            (rc, st),
            (0, GENERAL_ERROR),
            "XSA-227: a misaligned PTE address",
        );
    }
    t.eq(
        (
            mmu::read_table(pte >> 12, ((pte & 0xfff) / 8) as usize),
            read_u64(x3),
        ),
        before,
        "XSA-227: the PTE and what it maps unchanged",
    );

    // XSA-316: a grant for another domain fails with a GNTST_ code, never a positive status.
    gt.grant(24, DomId(me.0 + 1), a_mfn, GTF_PERMIT_ACCESS);
    t.eq(
        gnttab::map(me, 24, x1, GNTMAP_HOST_MAP).1,
        GENERAL_ERROR,
        "XSA-316: a grant for another domain is GNTST_general_error",
    );

    // XSA-230: a writable and a read-only mapping of one grant: GTF_writing goes with the
    // writable one, GTF_reading with the last.
    let (_, st1, hw) = gnttab::map(me, 21, x1, GNTMAP_HOST_MAP);
    let (_, st2, hr) = gnttab::map(me, 21, x2, GNTMAP_HOST_MAP | GNTMAP_READONLY);
    t.eq((st1, st2), (0, 0), "XSA-230: mapped writable and read-only");
    t.eq(
        gt.flags(21),
        GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING,
        "XSA-230: both bits",
    );
    t.eq(
        gnttab::unmap(hw, x1),
        (0, 0),
        "XSA-230: unmap the writable one",
    );
    t.eq(
        gt.flags(21),
        GTF_PERMIT_ACCESS | GTF_READING,
        "XSA-230: GTF_reading stays",
    );
    t.eq(
        read_u64(x2 + 8),
        0xa000_0001,
        "XSA-230: the read-only mapping still works",
    );
    t.eq(
        gnttab::unmap(hr, x2),
        (0, 0),
        "XSA-230: unmap the read-only one",
    );
    t.eq(gt.flags(21), GTF_PERMIT_ACCESS, "XSA-230: both bits clear");

    // XSA-402 / 154: a grant of RAM whose entry asks for PWT, PCD and PAT is mapped write-back
    // all the same (Xen gives a grant's cache attributes only to I/O frames): no domain gets a
    // non-coherent mapping of RAM through a grant.
    gt.grant(
        28,
        me,
        a_mfn,
        GTF_PERMIT_ACCESS | GTF_PWT | GTF_PCD | GTF_PAT,
    );
    let (_, st, hc) = gnttab::map(me, 28, x1, GNTMAP_HOST_MAP | GNTMAP_READONLY);
    t.eq(st, 0, "XSA-402: a grant asking for UC mapped");
    let e = pte_of(x1);
    t.eq(
        (e & (ADDR_MASK | 1), e & (PTE_PWT | PTE_PCD | PTE_PAT)),
        ((a_mfn << 12) | 1, 0),
        "XSA-402: the grant mapping of RAM is write-back (no PWT, PCD, PAT)",
    );
    t.eq(
        read_u64(x1 + 8),
        0xa000_0001,
        "XSA-402: and reads the frame",
    );
    t.eq(gnttab::unmap(hc, x1), (0, 0), "XSA-402: unmapped");
    t.check(gt.end_access(28), format_args!("XSA-402: revoked"));

    // XSA-134: swapping a grant in use is GNTST_eagain; unused, the entries swap.
    gt.grant(26, me, a_mfn, GTF_PERMIT_ACCESS);
    gt.grant(27, me, f_mfn, GTF_PERMIT_ACCESS | 4);
    let (_, _, h26) = gnttab::map(me, 26, x1, GNTMAP_HOST_MAP | GNTMAP_READONLY);
    t.eq(
        gnttab::swap(26, 27),
        (0, GNTST_EAGAIN),
        "XSA-134: swap of a mapped grant",
    );
    t.eq(gnttab::unmap(h26, x1), (0, 0), "XSA-134: unmapped");
    let (e26, e27) = (read_u64(gt_va + 26 * 8), read_u64(gt_va + 27 * 8));
    t.eq(
        gnttab::swap(26, 27),
        (0, 0),
        "XSA-134: swap of unused grants",
    );
    t.eq(
        (read_u64(gt_va + 26 * 8), read_u64(gt_va + 27 * 8)),
        (e27, e26),
        "XSA-134: swapped",
    );
    t.eq(
        gnttab::swap(26, 1 << 20),
        (0, BAD_GNTREF),
        "XSA-134: a reference past the table",
    );

    // XSA-232: cache_flush of frames the system owns (the first MiB) is refused; of its own
    // frame a clean succeeds.
    let flush = |frame: u64, op: u32| {
        let mut c = [GnttabCacheFlush {
            a: frame << 12,
            offset: 0,
            length: 4096,
            op,
        }];
        gnttab::op(GnttabOp::CacheFlush, &mut c)
    };
    let refused = (0..256u64).all(|k| flush(k, 1) < 0);
    t.check(
        refused,
        format_args!("XSA-232: cache_flush of system frames is refused"),
    );
    t.eq(
        flush(a_mfn, 1),
        0,
        "XSA-232: cache_flush (clean) of its own frame",
    );

    // XSA-318: one call of 400 copies, each moving 8 bytes one slot on: every op runs once, in
    // order; the entries past `count` are not touched.
    write_u64(a, 0x3180_3180);
    for i in 1..512 {
        write_u64(a + i * 8, 0);
    }
    let list = ops as *mut GnttabCopy;
    for i in 0..408usize {
        let op = GnttabCopy {
            source: gnttab::copy_ptr(21, me, (8 * i) as u16),
            dest: gnttab::copy_ptr(21, me, (8 * (i + 1)) as u16),
            len: 8,
            flags: GNTCOPY_SOURCE_GREF | GNTCOPY_DEST_GREF,
            status: 0x777,
            _pad: [0; 2],
        };
        // SAFETY: pages 7..11 of the static buffer hold 408 ops of 40 bytes.
        unsafe { list.add(i).write(op) };
    }
    // SAFETY: the 400 ops written above, exclusively borrowed for the call.
    let batch = unsafe { core::slice::from_raw_parts_mut(list, 400) };
    t.eq(
        gnttab::op(GnttabOp::Copy, batch),
        0,
        "XSA-318: 400 copies in one call",
    );
    let statuses_ok = batch.iter().all(|o| o.status == 0);
    t.check(statuses_ok, format_args!("XSA-318: every status 0"));
    let chain = (0..=400).all(|i| read_u64(a + i * 8) == 0x3180_3180);
    t.check(chain, format_args!("XSA-318: each copy ran once, in order"));
    t.eq(
        read_u64(a + 401 * 8),
        0,
        "XSA-318: nothing past the last op",
    );
    // SAFETY: the 8 ops past `count`, never handed to the hypervisor.
    let tail = unsafe { core::slice::from_raw_parts(list.add(400), 8) };
    t.check(
        tail.iter().all(|o| o.status == 0x777),
        format_args!("XSA-318: the ops past count untouched"),
    );
    t.check(gt.end_access(21), format_args!("revoke the copy grant"));
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
