//! Criterion benchmarks of the event-channel hot paths: send → guest consume on an interdomain
//! channel, bind/close of an interdomain channel, and unmask. Figures are host-only; the
//! project's benchmarks compare against Xen through `cargo xtask bench`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use event_channels::{DomainConfig, EvtchnHub, VecEventWords};
use xen_abi::{DomId, Port, VcpuId};

const D1: DomId = DomId(1);
const D2: DomId = DomId(2);

fn hub() -> EvtchnHub<VecEventWords> {
    let mut h = EvtchnHub::new();
    for d in [D1, D2] {
        h.domain_create(d, DomainConfig::default(), VecEventWords::new(1))
            .expect("fresh ids");
    }
    h
}

fn connected(h: &mut EvtchnHub<VecEventWords>) -> (Port, Port) {
    let p1 = h.alloc_unbound(D1, DomId::SELF, D2).expect("free port");
    let (p2, _) = h.bind_interdomain(D2, D1, p1).expect("unbound for D2");
    (p1, p2)
}

fn consume(h: &mut EvtchnHub<VecEventWords>, d: DomId, out: &mut Vec<Port>) {
    out.clear();
    h.domain_mut(d)
        .expect("domain exists")
        .words_mut()
        .guest_consume(VcpuId(0), out);
}

fn benches(c: &mut Criterion) {
    let mut out = Vec::with_capacity(8);

    let mut h = hub();
    let (p1, _) = connected(&mut h);
    consume(&mut h, D2, &mut out);
    c.bench_function("send_consume_interdomain", |b| {
        b.iter(|| {
            let fx = h.send(D1, black_box(p1)).expect("interdomain port");
            black_box(fx);
            consume(&mut h, D2, &mut out);
        })
    });

    let mut h = hub();
    c.bench_function("bind_close_interdomain", |b| {
        b.iter(|| {
            let (p1, p2) = connected(&mut h);
            h.close(D2, black_box(p2)).expect("bound port");
            h.close(D1, black_box(p1)).expect("unbound port");
        })
    });

    let mut h = hub();
    let (p1, p2) = connected(&mut h);
    consume(&mut h, D2, &mut out);
    c.bench_function("unmask_redeliver", |b| {
        b.iter(|| {
            h.domain_mut(D2).expect("exists").words_mut().guest_mask(p2);
            h.send(D1, p1).expect("interdomain port");
            let fx = h.unmask(D2, black_box(p2)).expect("valid port");
            black_box(fx);
            consume(&mut h, D2, &mut out);
        })
    });
    c.bench_function("unmask_idle", |b| {
        b.iter(|| {
            h.domain_mut(D2).expect("exists").words_mut().guest_mask(p2);
            black_box(h.unmask(D2, black_box(p2)).expect("valid port"));
        })
    });
}

criterion_group! {
    name = evtchn;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = benches
}
criterion_main!(evtchn);
