//! Unit-test fixtures shared by the modules' tests: three domains over `SimMemory` (a
//! privileged backend, a granting frontend, a third domain) and builders for the ops.

use xen_abi::grant_table::{
    GnttabCopyPtr, GnttabMapGrantRef, GnttabUnmapGrantRef, GNTMAP_HOST_MAP, GNTMAP_READONLY,
};
use xen_abi::{DomId, GrantHandle, GrantRef, Mfn};

use crate::fuzzing::SimMemory;
use crate::system::GrantSystem;
use crate::table::DomainConfig;

pub(crate) const BACK: DomId = DomId(0); // privileged backend (dom0)
pub(crate) const FRONT: DomId = DomId(1); // granting frontend
pub(crate) const OTHER: DomId = DomId(2); // an unprivileged third domain
pub(crate) const R: GrantRef = GrantRef(8);
pub(crate) const VA: u64 = 0x7000_0000;

pub(crate) fn frame(d: DomId, i: u64) -> Mfn {
    Mfn(0x100 * (u64::from(d.0) + 1) + i)
}
/// Frame 7 of every domain is a page table (no writable type).
pub(crate) fn pt(d: DomId) -> Mfn {
    frame(d, 7)
}

pub(crate) fn world() -> (GrantSystem, SimMemory) {
    let mut sys = GrantSystem::new();
    let mut mem = SimMemory::new();
    for d in [BACK, FRONT, OTHER] {
        let cfg = DomainConfig {
            privileged: d == BACK,
            ..DomainConfig::default()
        };
        sys.create_domain(d, cfg).expect("fresh ids");
        mem.add_domain(d, (0..8).map(|i| frame(d, i)));
        mem.page_tables.insert(pt(d));
    }
    (sys, mem)
}

pub(crate) fn granted(ro: bool) -> (GrantSystem, SimMemory) {
    let (sys, mut mem) = world();
    mem.grant(FRONT, R, BACK, frame(FRONT, 1), ro);
    (sys, mem)
}

pub(crate) fn mop(dom: DomId, gref: GrantRef, flags: u32) -> GnttabMapGrantRef {
    GnttabMapGrantRef {
        host_addr: VA,
        flags,
        r#ref: gref,
        dom,
        ..Default::default()
    }
}

pub(crate) fn uop(h: GrantHandle) -> GnttabUnmapGrantRef {
    GnttabUnmapGrantRef {
        host_addr: VA,
        dev_bus_addr: 0,
        handle: h,
        ..Default::default()
    }
}

pub(crate) fn flags(mem: &SimMemory, d: DomId, r: GrantRef) -> u16 {
    mem.entry(d, r).flags
}

pub(crate) fn gref_ptr(d: DomId, r: GrantRef, off: u16) -> GnttabCopyPtr {
    let mut p = GnttabCopyPtr {
        domid: d,
        offset: off,
        ..Default::default()
    };
    p.set_gref(r);
    p
}

pub(crate) fn frame_ptr(m: Mfn, off: u16) -> GnttabCopyPtr {
    GnttabCopyPtr {
        u: m.0,
        domid: DomId::SELF,
        offset: off,
        ..Default::default()
    }
}

pub(crate) const RW: u32 = GNTMAP_HOST_MAP;
pub(crate) const RO: u32 = GNTMAP_HOST_MAP | GNTMAP_READONLY;
