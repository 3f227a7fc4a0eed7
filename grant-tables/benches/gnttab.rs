//! Criterion benchmarks of the state machine over `SimMemory`: map+unmap of one grant, and a
//! 4 KiB `GNTTABOP_copy` from a grant into a local frame. Short runs (1 s per bench).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use grant_tables::fuzzing::SimMemory;
use grant_tables::{DomainConfig, GrantSystem};
use xen_abi::grant_table::{
    GnttabCopy, GnttabCopyPtr, GnttabMapGrantRef, GnttabUnmapGrantRef, GNTCOPY_SOURCE_GREF,
    GNTMAP_HOST_MAP,
};
use xen_abi::{DomId, GrantRef, Mfn};

const BACK: DomId = DomId(0);
const FRONT: DomId = DomId(1);
const VA: u64 = 0x7000_0000;

fn setup() -> (GrantSystem, SimMemory) {
    let mut sys = GrantSystem::new();
    let mut mem = SimMemory::new();
    for (d, base) in [(BACK, 0x100u64), (FRONT, 0x200)] {
        sys.create_domain(
            d,
            DomainConfig {
                privileged: d == BACK,
                ..DomainConfig::default()
            },
        )
        .expect("fresh domain");
        mem.add_domain(d, (0..8).map(|i| Mfn(base + i)));
    }
    mem.grant(FRONT, GrantRef(8), BACK, Mfn(0x201), false);
    (sys, mem)
}

fn map_unmap(c: &mut Criterion) {
    let (mut sys, mut mem) = setup();
    let map = GnttabMapGrantRef {
        host_addr: VA,
        flags: GNTMAP_HOST_MAP,
        r#ref: GrantRef(8),
        dom: FRONT,
        ..Default::default()
    };
    c.bench_function("map_grant_ref+unmap_grant_ref", |b| {
        b.iter(|| {
            let m = sys
                .map_grant_ref(&mut mem, BACK, black_box(&map))
                .expect("map");
            let u = GnttabUnmapGrantRef {
                host_addr: VA,
                handle: m.handle,
                ..Default::default()
            };
            black_box(sys.unmap_grant_ref(&mut mem, BACK, &u).expect("unmap"));
        })
    });
}

fn copy_4k(c: &mut Criterion) {
    let (mut sys, mut mem) = setup();
    let mut source = GnttabCopyPtr {
        domid: FRONT,
        ..Default::default()
    };
    source.set_gref(GrantRef(8));
    let dest = GnttabCopyPtr {
        u: 0x102,
        domid: DomId::SELF,
        ..Default::default()
    };
    let op = GnttabCopy {
        source,
        dest,
        len: 4096,
        flags: GNTCOPY_SOURCE_GREF,
        ..Default::default()
    };
    c.bench_function("copy_4k_gref_to_frame", |b| {
        b.iter(|| sys.copy(&mut mem, BACK, black_box(&op)).expect("copy"))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(300))
        .sample_size(20);
    targets = map_unmap, copy_4k
}
criterion_main!(benches);
