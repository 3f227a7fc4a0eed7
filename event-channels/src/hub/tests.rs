//! Unit tests of every `EVTCHNOP_*` operation and error path, each citing the header clause or
//! the Xen 4.17 function (`xen/common/event_channel.c` unless named) whose behaviour it checks.

use super::*;
use crate::words::VecEventWords;
use alloc::vec;
use xen_abi::event_channel::{
    EVTCHNSTAT_INTERDOMAIN, VIRQ_ARCH_0, VIRQ_CONSOLE, VIRQ_DEBUG, VIRQ_DOM_EXC,
};

const D0: DomId = DomId(0);
const D1: DomId = DomId(1);
const D2: DomId = DomId(2);
const X: XenConsumer = XenConsumer(3);

type Hub = EvtchnHub<VecEventWords>;

fn cfg(vcpus: u32) -> DomainConfig {
    DomainConfig {
        max_vcpus: vcpus,
        ..DomainConfig::default()
    }
}

/// dom0 privileged with PIRQ access and 2 vCPUs; dom1 and dom2 unprivileged with 2 vCPUs.
fn hub() -> Hub {
    let mut h = Hub::new();
    let c0 = DomainConfig {
        max_vcpus: 2,
        privileged: true,
        pirq_access: true,
        nr_pirqs: 16,
        ..DomainConfig::default()
    };
    h.domain_create(D0, c0, VecEventWords::new(2)).unwrap();
    h.domain_create(D1, cfg(2), VecEventWords::new(2)).unwrap();
    h.domain_create(D2, cfg(2), VecEventWords::new(2)).unwrap();
    h
}

fn state(h: &Hub, d: DomId, p: u32) -> PortState {
    h.domain(d).unwrap().channel(Port(p)).unwrap().state
}

fn vcpu_of(h: &Hub, d: DomId, p: u32) -> u32 {
    h.domain(d).unwrap().channel(Port(p)).unwrap().notify_vcpu.0
}

fn words(h: &Hub, d: DomId) -> &VecEventWords {
    h.domain(d).unwrap().words()
}

fn pending(h: &Hub, d: DomId, p: u32) -> bool {
    h.domain(d).unwrap().is_pending(Port(p))
}

/// dom1 port ↔ dom2 port, connected the usual way; the bind's own notification is consumed.
fn connect(h: &mut Hub) -> (Port, Port) {
    let p1 = h.alloc_unbound(D1, DomId::SELF, D2).unwrap();
    let (p2, _) = h.bind_interdomain(D2, D1, p1).unwrap();
    h.domain_mut(D2)
        .unwrap()
        .words_mut()
        .guest_consume(VcpuId(0), &mut vec![]);
    (p1, p2)
}

fn limited(max_port: u32) -> DomainConfig {
    DomainConfig {
        max_evtchn_port: max_port,
        ..cfg(1)
    }
}

// ---- alloc_unbound ------------------------------------------------------------------------

#[test]
fn alloc_unbound_self_returns_lowest_free_port() {
    // get_free_port scans from port 0; port 0 is ECS_RESERVED by evtchn_init.
    let mut h = hub();
    assert_eq!(h.alloc_unbound(D1, DomId::SELF, D2), Ok(Port(1)));
    assert_eq!(h.alloc_unbound(D1, D1, D2), Ok(Port(2)));
    assert_eq!(state(&h, D1, 1), PortState::Unbound { remote: D2 });
}

#[test]
fn alloc_unbound_remote_self_is_caller() {
    // event_channel.h NOTES 2: <remote_dom> may be DOMID_SELF (evtchn_alloc_unbound: current).
    let mut h = hub();
    let p = h.alloc_unbound(D1, DomId::SELF, DomId::SELF).unwrap();
    assert_eq!(state(&h, D1, p.0), PortState::Unbound { remote: D1 });
}

#[test]
fn alloc_unbound_unprivileged_foreign_dom_is_eperm() {
    // event_channel.h NOTES 1: unprivileged callers must use DOMID_SELF (xsm_evtchn_unbound,
    // XSM_TARGET → -EPERM).
    let mut h = hub();
    assert_eq!(h.alloc_unbound(D1, D2, D1), Err(Errno::EPERM));
    assert_eq!(state(&h, D2, 1), PortState::Free);
}

#[test]
fn alloc_unbound_privileged_foreign_dom_allocates_there() {
    // XSM_TARGET passes for a control domain (xsm_default_action).
    let mut h = hub();
    assert_eq!(h.alloc_unbound(D0, D1, D2), Ok(Port(1)));
    assert_eq!(state(&h, D1, 1), PortState::Unbound { remote: D2 });
}

#[test]
fn alloc_unbound_privileged_remote_self_is_caller_not_target() {
    // evtchn_alloc_unbound: DOMID_SELF as remote_dom becomes current->domain, not <dom>.
    let mut h = hub();
    let p = h.alloc_unbound(D0, D1, DomId::SELF).unwrap();
    assert_eq!(state(&h, D1, p.0), PortState::Unbound { remote: D0 });
}

#[test]
fn alloc_unbound_missing_dom_is_esrch() {
    // evtchn_alloc_unbound: rcu_lock_domain_by_any_id fails → -ESRCH.
    let mut h = hub();
    assert_eq!(h.alloc_unbound(D0, DomId(9), D1), Err(Errno::ESRCH));
    assert_eq!(h.alloc_unbound(D0, DomId::INVALID, D1), Err(Errno::ESRCH));
}

#[test]
fn alloc_unbound_remote_dom_not_checked() {
    // evtchn_alloc_unbound never looks <remote_dom> up.
    let mut h = hub();
    let p = h.alloc_unbound(D1, DomId::SELF, DomId(999)).unwrap();
    assert_eq!(
        state(&h, D1, p.0),
        PortState::Unbound { remote: DomId(999) }
    );
}

#[test]
fn alloc_unbound_dying_dom_is_einval() {
    // get_free_port: `if ( d->is_dying ) return -EINVAL;`
    let mut h = hub();
    h.domain_kill(D1).unwrap();
    assert_eq!(h.alloc_unbound(D1, DomId::SELF, D2), Err(Errno::EINVAL));
}

#[test]
fn alloc_unbound_full_table_is_enospc() {
    // evtchn_allocate_port: `port > d->max_evtchn_port` → -ENOSPC.
    let mut h = Hub::new();
    h.domain_create(D1, limited(63), VecEventWords::new(1))
        .unwrap();
    for p in 1..=63 {
        assert_eq!(h.alloc_unbound(D1, DomId::SELF, D1), Ok(Port(p)));
    }
    assert_eq!(h.alloc_unbound(D1, DomId::SELF, D1), Err(Errno::ENOSPC));
    assert_eq!(h.domain(D1).unwrap().valid_evtchns(), 64);
}

#[test]
fn alloc_unbound_two_level_limit_is_enospc() {
    // evtchn_allocate_port: `port >= max_evtchns(d)` (4096 for 2-level, 64-bit) → -ENOSPC.
    let mut h = Hub::new();
    h.domain_create(D1, limited(u32::MAX), VecEventWords::new(1))
        .unwrap();
    for _ in 1..EVTCHN_2L_NR_CHANNELS {
        h.alloc_unbound(D1, DomId::SELF, D1).unwrap();
    }
    assert_eq!(h.alloc_unbound(D1, DomId::SELF, D1), Err(Errno::ENOSPC));
    assert_eq!(h.domain(D1).unwrap().valid_evtchns(), EVTCHN_2L_NR_CHANNELS);
}

#[test]
fn alloc_unbound_full_foreign_table_is_enospc_before_eperm() {
    // evtchn_alloc_unbound: get_free_port runs before xsm_evtchn_unbound.
    let mut h = Hub::new();
    h.domain_create(D1, limited(63), VecEventWords::new(1))
        .unwrap();
    h.domain_create(D2, cfg(1), VecEventWords::new(1)).unwrap();
    for _ in 1..=63 {
        h.alloc_unbound(D1, DomId::SELF, D1).unwrap();
    }
    assert_eq!(h.alloc_unbound(D2, D1, D2), Err(Errno::ENOSPC));
}

#[test]
fn alloc_unbound_grows_table_by_bucket() {
    // evtchn_allocate_port: a new bucket of EVTCHNS_PER_BUCKET ports when the valid range is full.
    let mut h = hub();
    assert_eq!(h.domain(D1).unwrap().valid_evtchns(), 64);
    for _ in 1..64 {
        h.alloc_unbound(D1, DomId::SELF, D2).unwrap();
    }
    assert_eq!(h.alloc_unbound(D1, DomId::SELF, D2), Ok(Port(64)));
    assert_eq!(h.domain(D1).unwrap().valid_evtchns(), 128);
}

#[test]
fn alloc_unbound_eperm_still_grows_table() {
    // evtchn_alloc_unbound: the bucket allocated by get_free_port stays after -EPERM, so the
    // new range is port_is_valid (observable through EVTCHNOP_status).
    let mut h = hub();
    for _ in 1..64 {
        h.alloc_unbound(D2, DomId::SELF, D1).unwrap();
    }
    assert_eq!(h.alloc_unbound(D1, D2, D1), Err(Errno::EPERM));
    assert_eq!(h.domain(D2).unwrap().valid_evtchns(), 128);
    assert_eq!(
        h.status(D2, DomId::SELF, Port(64)).unwrap().kind,
        StatusKind::Closed
    );
}

#[test]
fn alloc_unbound_reuses_lowest_freed_port() {
    // get_free_port: the first ECS_FREE port wins.
    let mut h = hub();
    for _ in 0..3 {
        h.alloc_unbound(D1, DomId::SELF, D2).unwrap();
    }
    h.close(D1, Port(2)).unwrap();
    assert_eq!(h.alloc_unbound(D1, DomId::SELF, D2), Ok(Port(2)));
}

#[test]
fn alloc_unbound_unknown_caller_is_esrch() {
    // The calling domain always exists in Xen; an unknown caller is refused, not trusted.
    let mut h = hub();
    assert_eq!(h.alloc_unbound(DomId(7), D1, D1), Err(Errno::ESRCH));
}

// ---- bind_interdomain ----------------------------------------------------------------------

#[test]
fn bind_interdomain_connects_both_ends_and_sets_local_pending() {
    // evtchn_bind_interdomain: both ends ECS_INTERDOMAIN; header: "EVTCHNOP_bind_interdomain
    // always sets the local event channel pending".
    let mut h = hub();
    let p1 = h.alloc_unbound(D1, DomId::SELF, D2).unwrap();
    let (p2, fx) = h.bind_interdomain(D2, D1, p1).unwrap();
    assert_eq!(p2, Port(1));
    assert_eq!(
        state(&h, D1, p1.0),
        PortState::Interdomain {
            remote: D2,
            remote_port: p2
        }
    );
    assert_eq!(
        state(&h, D2, p2.0),
        PortState::Interdomain {
            remote: D1,
            remote_port: p1
        }
    );
    assert!(pending(&h, D2, p2.0));
    assert_eq!(
        fx.iter().copied().collect::<Vec<_>>(),
        vec![Effect::Raised {
            dom: D2,
            port: p2,
            kick: Some(VcpuId(0))
        }]
    );
}

#[test]
fn bind_interdomain_missing_remote_dom_is_esrch() {
    // evtchn_bind_interdomain: rcu_lock_domain_by_id fails → -ESRCH.
    let mut h = hub();
    assert_eq!(h.bind_interdomain(D1, DomId(9), Port(1)), Err(Errno::ESRCH));
    assert_eq!(
        h.bind_interdomain(D1, DomId::INVALID, Port(1)),
        Err(Errno::ESRCH)
    );
}

#[test]
fn bind_interdomain_port_unbound_for_other_dom_is_einval() {
    // evtchn_bind_interdomain: `rchn->u.unbound.remote_domid != ld->domain_id` → -EINVAL.
    let mut h = hub();
    let p = h.alloc_unbound(D1, DomId::SELF, D0).unwrap();
    assert_eq!(h.bind_interdomain(D2, D1, p), Err(Errno::EINVAL));
    assert_eq!(state(&h, D1, p.0), PortState::Unbound { remote: D0 });
}

#[test]
fn bind_interdomain_remote_port_not_unbound_is_einval() {
    // evtchn_bind_interdomain: `rchn->state != ECS_UNBOUND` → -EINVAL.
    let mut h = hub();
    let ipi = h.bind_ipi(D1, 0).unwrap();
    assert_eq!(h.bind_interdomain(D2, D1, ipi), Err(Errno::EINVAL));
    assert_eq!(h.bind_interdomain(D2, D1, Port(5)), Err(Errno::EINVAL));
}

#[test]
fn bind_interdomain_remote_port_invalid_is_einval() {
    // evtchn_bind_interdomain: `!port_is_valid(rd, rport)` → -EINVAL.
    let mut h = hub();
    assert_eq!(h.bind_interdomain(D2, D1, Port(64)), Err(Errno::EINVAL));
    assert_eq!(
        h.bind_interdomain(D2, D1, Port(u32::MAX)),
        Err(Errno::EINVAL)
    );
}

#[test]
fn bind_interdomain_already_connected_is_einval() {
    // evtchn_bind_interdomain: the remote port is ECS_INTERDOMAIN now, not ECS_UNBOUND.
    let mut h = hub();
    let (p1, _) = connect(&mut h);
    assert_eq!(h.bind_interdomain(D2, D1, p1), Err(Errno::EINVAL));
}

#[test]
fn bind_interdomain_loopback_self_allowed() {
    // event_channel.h NOTES 1: <remote_dom> may be DOMID_SELF, allowing loopback connections.
    let mut h = hub();
    let p = h.alloc_unbound(D1, DomId::SELF, DomId::SELF).unwrap();
    let (l, _) = h.bind_interdomain(D1, DomId::SELF, p).unwrap();
    assert_eq!(
        state(&h, D1, p.0),
        PortState::Interdomain {
            remote: D1,
            remote_port: l
        }
    );
    assert_eq!(
        state(&h, D1, l.0),
        PortState::Interdomain {
            remote: D1,
            remote_port: p
        }
    );
    h.send(D1, l).unwrap();
    assert!(pending(&h, D1, p.0));
}

#[test]
fn bind_interdomain_full_caller_is_enospc_before_einval() {
    // evtchn_bind_interdomain: get_free_port(ld) runs before the remote port is examined.
    let mut h = Hub::new();
    h.domain_create(D1, limited(63), VecEventWords::new(1))
        .unwrap();
    h.domain_create(D2, cfg(1), VecEventWords::new(1)).unwrap();
    for _ in 1..=63 {
        h.bind_ipi(D1, 0).unwrap();
    }
    assert_eq!(h.bind_interdomain(D1, D2, Port(1)), Err(Errno::ENOSPC));
}

#[test]
fn bind_interdomain_dying_caller_is_einval() {
    // get_free_port on a dying domain → -EINVAL.
    let mut h = hub();
    let p = h.alloc_unbound(D2, DomId::SELF, D1).unwrap();
    h.domain_kill(D1).unwrap();
    assert_eq!(h.bind_interdomain(D1, D2, p), Err(Errno::EINVAL));
}

#[test]
fn bind_interdomain_new_port_notifies_vcpu0() {
    // event_channel.h EVTCHNOP_bind_vcpu NOTES 3: other channels notify vcpu0 by default.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    assert_eq!(vcpu_of(&h, D1, p1.0), 0);
    assert_eq!(vcpu_of(&h, D2, p2.0), 0);
}

// ---- bind_virq -----------------------------------------------------------------------------

#[test]
fn bind_virq_per_vcpu_binds_on_each_vcpu() {
    // xen.h: a 'V.' VIRQ can be bound once per vCPU; the port notifies that vCPU.
    let mut h = hub();
    let a = h.bind_virq(D1, VIRQ_TIMER, 0).unwrap();
    let b = h.bind_virq(D1, VIRQ_TIMER, 1).unwrap();
    assert_ne!(a, b);
    assert_eq!(vcpu_of(&h, D1, b.0), 1);
    assert_eq!(state(&h, D1, b.0), PortState::Virq { virq: VIRQ_TIMER });
    assert_eq!(
        h.domain(D1).unwrap().virq_port(VcpuId(1), VIRQ_TIMER),
        Some(b)
    );
}

#[test]
fn bind_virq_twice_same_vcpu_is_eexist() {
    // event_channel.h bind_virq NOTES 3 / evtchn_bind_virq: virq_to_evtchn set → -EEXIST.
    let mut h = hub();
    h.bind_virq(D1, VIRQ_DEBUG, 1).unwrap();
    assert_eq!(h.bind_virq(D1, VIRQ_DEBUG, 1), Err(Errno::EEXIST));
    h.bind_virq(D1, VIRQ_CONSOLE, 0).unwrap();
    assert_eq!(h.bind_virq(D1, VIRQ_CONSOLE, 0), Err(Errno::EEXIST));
}

#[test]
fn bind_virq_out_of_range_is_einval() {
    // evtchn_bind_virq: `virq >= ARRAY_SIZE(v->virq_to_evtchn)` (NR_VIRQS) → -EINVAL.
    let mut h = hub();
    assert_eq!(h.bind_virq(D1, NR_VIRQS, 0), Err(Errno::EINVAL));
    assert_eq!(h.bind_virq(D1, u32::MAX, 0), Err(Errno::EINVAL));
}

#[test]
fn bind_virq_global_on_nonzero_vcpu_is_einval() {
    // event_channel.h bind_virq NOTES 2: global VIRQs must be allocated on VCPU0.
    let mut h = hub();
    assert_eq!(h.bind_virq(D1, VIRQ_DOM_EXC, 1), Err(Errno::EINVAL));
}

#[test]
fn bind_virq_global_bad_vcpu_is_einval_before_enoent() {
    // evtchn_bind_virq: the global/vcpu!=0 check precedes the vCPU lookup.
    let mut h = hub();
    assert_eq!(h.bind_virq(D1, VIRQ_CONSOLE, 99), Err(Errno::EINVAL));
}

#[test]
fn bind_virq_missing_vcpu_is_enoent() {
    // evtchn_bind_virq: domain_vcpu(d, vcpu) == NULL → -ENOENT.
    let mut h = hub();
    assert_eq!(h.bind_virq(D1, VIRQ_TIMER, 2), Err(Errno::ENOENT));
    assert_eq!(h.bind_virq(D1, VIRQ_TIMER, 0x8000_0000), Err(Errno::ENOENT));
}

#[test]
fn bind_virq_undefined_number_is_global() {
    // virq_is_global: every number not listed as per-vCPU is global, even unused ones (5, 14).
    let mut h = hub();
    assert_eq!(h.bind_virq(D1, 5, 1), Err(Errno::EINVAL));
    assert!(h.bind_virq(D1, 5, 0).is_ok());
    assert!(h.bind_virq(D1, 14, 0).is_ok());
}

#[test]
fn bind_virq_xenpmu_is_per_vcpu() {
    // virq_is_global: VIRQ_XENPMU is per vCPU (xen.h 'V.').
    let mut h = hub();
    assert!(h.bind_virq(D1, VIRQ_XENPMU, 1).is_ok());
    assert!(h.bind_virq(D1, VIRQ_XENOPROF, 1).is_ok());
}

#[test]
fn bind_virq_arch_virq_is_global() {
    // x86 arch_virq_is_global: VIRQ_ARCH_* (VIRQ_MCA) are global.
    let mut h = hub();
    assert_eq!(h.bind_virq(D1, VIRQ_ARCH_0, 1), Err(Errno::EINVAL));
    assert!(h.bind_virq(D1, VIRQ_ARCH_0, 0).is_ok());
}

#[test]
fn bind_virq_global_rebound_still_eexist() {
    // virq_to_evtchn of vcpu0 keeps a global VIRQ after bind_vcpu moves its notifications.
    let mut h = hub();
    let p = h.bind_virq(D1, VIRQ_CONSOLE, 0).unwrap();
    h.bind_vcpu(D1, p, 1).unwrap();
    assert_eq!(h.bind_virq(D1, VIRQ_CONSOLE, 0), Err(Errno::EEXIST));
}

// ---- bind_ipi ------------------------------------------------------------------------------

#[test]
fn bind_ipi_notifies_given_vcpu() {
    // event_channel.h bind_ipi NOTES 1: the channel is bound to the specified vcpu.
    let mut h = hub();
    let p = h.bind_ipi(D1, 1).unwrap();
    assert_eq!(state(&h, D1, p.0), PortState::Ipi);
    assert_eq!(vcpu_of(&h, D1, p.0), 1);
}

#[test]
fn bind_ipi_missing_vcpu_is_enoent() {
    // evtchn_bind_ipi: domain_vcpu(d, vcpu) == NULL → -ENOENT.
    let mut h = hub();
    assert_eq!(h.bind_ipi(D1, 2), Err(Errno::ENOENT));
}

#[test]
fn bind_ipi_dying_is_einval() {
    // get_free_port on a dying domain → -EINVAL.
    let mut h = hub();
    h.domain_kill(D1).unwrap();
    assert_eq!(h.bind_ipi(D1, 0), Err(Errno::EINVAL));
}

// ---- bind_pirq -----------------------------------------------------------------------------

#[test]
fn bind_pirq_binds_and_calls_guest_bind() {
    // evtchn_bind_pirq: pirq_guest_bind(v, info, !!(flags & BIND_PIRQ__WILL_SHARE)); vcpu0.
    let mut h = hub();
    let mut seen = None;
    let p = h
        .bind_pirq(D0, 3, BIND_PIRQ_WILL_SHARE, |pirq, share| {
            seen = Some((pirq, share));
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, Some((3, true)));
    assert_eq!(state(&h, D0, p.0), PortState::Pirq { pirq: 3 });
    assert_eq!(vcpu_of(&h, D0, p.0), 0);
    assert_eq!(h.domain(D0).unwrap().pirq_port(3), Some(p));
}

#[test]
fn bind_pirq_out_of_range_is_einval() {
    // evtchn_bind_pirq: `pirq >= d->nr_pirqs` → -EINVAL.
    let mut h = hub();
    assert_eq!(h.bind_pirq(D0, 16, 0, |_, _| Ok(())), Err(Errno::EINVAL));
}

#[test]
fn bind_pirq_without_access_is_eperm() {
    // event_channel.h bind_pirq NOTES 2 / evtchn_bind_pirq: !pirq_access_permitted → -EPERM.
    let mut h = Hub::new();
    let c = DomainConfig {
        nr_pirqs: 8,
        ..cfg(1)
    };
    h.domain_create(D1, c, VecEventWords::new(1)).unwrap();
    assert_eq!(h.bind_pirq(D1, 1, 0, |_, _| Ok(())), Err(Errno::EPERM));
}

#[test]
fn bind_pirq_range_is_einval_before_eperm() {
    // evtchn_bind_pirq: the nr_pirqs check precedes the access check.
    let mut h = hub();
    assert_eq!(h.bind_pirq(D1, 0, 0, |_, _| Ok(())), Err(Errno::EINVAL));
}

#[test]
fn bind_pirq_twice_is_eexist() {
    // event_channel.h bind_pirq NOTES 1: at most one event channel per PIRQ per domain.
    let mut h = hub();
    h.bind_pirq(D0, 2, 0, |_, _| Ok(())).unwrap();
    assert_eq!(h.bind_pirq(D0, 2, 0, |_, _| Ok(())), Err(Errno::EEXIST));
}

#[test]
fn bind_pirq_guest_bind_failure_leaves_port_free() {
    // evtchn_bind_pirq: pirq_guest_bind's error is returned; the port is never set up.
    let mut h = hub();
    assert_eq!(
        h.bind_pirq(D0, 2, 0, |_, _| Err(Errno::EBUSY)),
        Err(Errno::EBUSY)
    );
    assert_eq!(state(&h, D0, 1), PortState::Free);
    assert_eq!(h.domain(D0).unwrap().pirq_port(2), None);
}

// ---- close ---------------------------------------------------------------------------------

#[test]
fn close_unbound_frees_port() {
    // evtchn_close: ECS_UNBOUND → evtchn_free.
    let mut h = hub();
    let p = h.alloc_unbound(D1, DomId::SELF, D2).unwrap();
    assert_eq!(h.close(D1, p), Ok(Effects::new()));
    assert_eq!(state(&h, D1, p.0), PortState::Free);
}

#[test]
fn close_interdomain_peer_falls_back_to_unbound_for_closer() {
    // event_channel.h EVTCHNOP_close: "the remote end is placed in the unbound state";
    // evtchn_close: chn2->u.unbound.remote_domid = d1->domain_id.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    h.close(D2, p2).unwrap();
    assert_eq!(state(&h, D2, p2.0), PortState::Free);
    assert_eq!(state(&h, D1, p1.0), PortState::Unbound { remote: D2 });
    // ... and D2 may bind to it again.
    let (again, _) = h.bind_interdomain(D2, D1, p1).unwrap();
    assert_eq!(again, p2);
}

#[test]
fn close_interdomain_peer_keeps_notify_vcpu() {
    // evtchn_close only changes the peer's state and remote_domid.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    h.bind_vcpu(D1, p1, 1).unwrap();
    h.close(D2, p2).unwrap();
    assert_eq!(vcpu_of(&h, D1, p1.0), 1);
}

#[test]
fn close_loopback_leaves_other_end_unbound_for_self() {
    // evtchn_close with d1 == d2: the peer is unbound for the same domain.
    let mut h = hub();
    let p = h.alloc_unbound(D1, DomId::SELF, DomId::SELF).unwrap();
    let (l, _) = h.bind_interdomain(D1, D1, p).unwrap();
    h.close(D1, l).unwrap();
    assert_eq!(state(&h, D1, p.0), PortState::Unbound { remote: D1 });
}

#[test]
fn close_reserved_port_zero_is_einval() {
    // evtchn_close: ECS_RESERVED → -EINVAL.
    let mut h = hub();
    assert_eq!(h.close(D1, Port(0)), Err(Errno::EINVAL));
    assert_eq!(state(&h, D1, 0), PortState::Reserved);
}

#[test]
fn close_free_port_is_einval() {
    // evtchn_close: ECS_FREE → -EINVAL.
    let mut h = hub();
    assert_eq!(h.close(D1, Port(5)), Err(Errno::EINVAL));
}

#[test]
fn close_invalid_port_is_einval() {
    // evtchn_close: !port_is_valid → -EINVAL.
    let mut h = hub();
    assert_eq!(h.close(D1, Port(64)), Err(Errno::EINVAL));
    assert_eq!(h.close(D1, Port(u32::MAX)), Err(Errno::EINVAL));
}

#[test]
fn close_clears_pending_keeps_mask() {
    // evtchn_free: evtchn_port_clear_pending; the mask bit is the guest's and stays.
    let mut h = hub();
    let p = h.bind_ipi(D1, 0).unwrap();
    h.domain_mut(D1).unwrap().words_mut().guest_mask(p);
    h.send(D1, p).unwrap();
    assert!(pending(&h, D1, p.0));
    h.close(D1, p).unwrap();
    assert!(!pending(&h, D1, p.0));
    assert!(h.domain(D1).unwrap().is_masked(p));
}

#[test]
fn close_resets_notify_vcpu_to_zero() {
    // event_channel.h EVTCHNOP_bind_vcpu NOTES 3: a freed and reused port is reset to vcpu0.
    let mut h = hub();
    let p = h.bind_ipi(D1, 1).unwrap();
    h.close(D1, p).unwrap();
    assert_eq!(vcpu_of(&h, D1, p.0), 0);
    assert_eq!(h.alloc_unbound(D1, DomId::SELF, D2), Ok(p));
    assert_eq!(vcpu_of(&h, D1, p.0), 0);
}

#[test]
fn close_virq_allows_rebinding() {
    // evtchn_close: ECS_VIRQ clears v->virq_to_evtchn[virq].
    let mut h = hub();
    let p = h.bind_virq(D1, VIRQ_TIMER, 1).unwrap();
    h.close(D1, p).unwrap();
    assert_eq!(h.domain(D1).unwrap().virq_port(VcpuId(1), VIRQ_TIMER), None);
    assert!(h.bind_virq(D1, VIRQ_TIMER, 1).is_ok());
}

#[test]
fn close_pirq_reports_unbind() {
    // evtchn_close: ECS_PIRQ → pirq_guest_unbind, pirq->evtchn = 0.
    let mut h = hub();
    let p = h.bind_pirq(D0, 4, 0, |_, _| Ok(())).unwrap();
    let fx = h.close(D0, p).unwrap();
    assert_eq!(
        fx.iter().copied().collect::<Vec<_>>(),
        vec![Effect::PirqUnbind { dom: D0, pirq: 4 }]
    );
    assert_eq!(h.domain(D0).unwrap().pirq_port(4), None);
    assert!(h.bind_pirq(D0, 4, 0, |_, _| Ok(())).is_ok());
}

#[test]
fn close_xen_attached_port_is_einval() {
    // evtchn_close: "Guest cannot close a Xen-attached event channel" → -EINVAL.
    let mut h = hub();
    let p = h.alloc_unbound_xen_event_channel(D1, 0, D0, X).unwrap();
    assert_eq!(h.close(D1, p), Err(Errno::EINVAL));
    assert_eq!(h.free_xen_event_channel(D1, p), Ok(Effects::new()));
    assert_eq!(state(&h, D1, p.0), PortState::Free);
}

// ---- send ----------------------------------------------------------------------------------

#[test]
fn send_interdomain_sets_remote_pending_and_kicks() {
    // evtchn_send: ECS_INTERDOMAIN → evtchn_port_set_pending(rd, rchn->notify_vcpu_id, rchn);
    // event_2l.c: pending, selector bit port/64, upcall → kick.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    let fx = h.send(D1, p1).unwrap();
    assert_eq!(
        fx.kicks().collect::<Vec<_>>(),
        vec![(D2, VcpuId(0))],
        "{fx:?}"
    );
    assert!(pending(&h, D2, p2.0));
    assert_eq!(words(&h, D2).pending_sel[0], 1 << (p2.0 / 64));
    assert!(words(&h, D2).upcall_pending[0]);
    assert!(!pending(&h, D1, p1.0));
}

#[test]
fn send_interdomain_already_pending_is_silent() {
    // evtchn_2l_set_pending: an already-pending port → return (no poller check, no kick).
    let mut h = hub();
    let (p1, _) = connect(&mut h);
    h.send(D1, p1).unwrap();
    assert_eq!(h.send(D1, p1), Ok(Effects::new()));
}

#[test]
fn send_interdomain_upcall_already_pending_does_not_kick() {
    // vcpu_mark_events_pending: kick only when evtchn_upcall_pending goes 0 → 1.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    let q1 = h.alloc_unbound(D1, DomId::SELF, D2).unwrap();
    let (q2, _) = h.bind_interdomain(D2, D1, q1).unwrap();
    h.domain_mut(D2).unwrap().words_mut().pending_clear(q2);
    let fx = h.send(D1, p1).unwrap();
    assert_eq!(
        fx.iter().copied().collect::<Vec<_>>(),
        vec![Effect::Raised {
            dom: D2,
            port: p2,
            kick: None
        }]
    );
}

#[test]
fn send_interdomain_follows_remote_notify_vcpu() {
    // evtchn_send uses the remote port's notify_vcpu_id (set by EVTCHNOP_bind_vcpu).
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    h.bind_vcpu(D2, p2, 1).unwrap();
    let fx = h.send(D1, p1).unwrap();
    assert_eq!(fx.kicks().collect::<Vec<_>>(), vec![(D2, VcpuId(1))]);
    assert_eq!(words(&h, D2).pending_sel[1], 1);
}

#[test]
fn send_masked_remote_sets_pending_without_kick() {
    // evtchn_2l_set_pending: a masked port gets its pending bit only; pollers are still checked.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    h.domain_mut(D2).unwrap().words_mut().guest_mask(p2);
    let fx = h.send(D1, p1).unwrap();
    assert_eq!(
        fx.iter().copied().collect::<Vec<_>>(),
        vec![Effect::Raised {
            dom: D2,
            port: p2,
            kick: None
        }]
    );
    assert!(pending(&h, D2, p2.0));
    assert_eq!(words(&h, D2).pending_sel[0], 0);
}

#[test]
fn send_ipi_sets_local_pending_on_bound_vcpu() {
    // evtchn_send: ECS_IPI → evtchn_port_set_pending(ld, lchn->notify_vcpu_id, lchn).
    let mut h = hub();
    let p = h.bind_ipi(D1, 1).unwrap();
    let fx = h.send(D1, p).unwrap();
    assert_eq!(fx.kicks().collect::<Vec<_>>(), vec![(D1, VcpuId(1))]);
    assert!(pending(&h, D1, p.0));
}

#[test]
fn send_unbound_is_silently_dropped() {
    // evtchn_send: ECS_UNBOUND → "silently drop the notification", return 0.
    let mut h = hub();
    let p = h.alloc_unbound(D1, DomId::SELF, D2).unwrap();
    assert_eq!(h.send(D1, p), Ok(Effects::new()));
    assert!(!pending(&h, D1, p.0));
}

#[test]
fn send_virq_port_is_einval() {
    // evtchn_send: default case → -EINVAL.
    let mut h = hub();
    let p = h.bind_virq(D1, VIRQ_TIMER, 0).unwrap();
    assert_eq!(h.send(D1, p), Err(Errno::EINVAL));
}

#[test]
fn send_pirq_port_is_einval() {
    // evtchn_send: default case → -EINVAL.
    let mut h = hub();
    let p = h.bind_pirq(D0, 1, 0, |_, _| Ok(())).unwrap();
    assert_eq!(h.send(D0, p), Err(Errno::EINVAL));
}

#[test]
fn send_free_and_reserved_ports_are_einval() {
    // evtchn_send: ECS_FREE / ECS_RESERVED fall in the default case → -EINVAL.
    let mut h = hub();
    assert_eq!(h.send(D1, Port(3)), Err(Errno::EINVAL));
    assert_eq!(h.send(D1, Port(0)), Err(Errno::EINVAL));
}

#[test]
fn send_invalid_port_is_einval() {
    // evtchn_send: !port_is_valid → -EINVAL.
    let mut h = hub();
    assert_eq!(h.send(D1, Port(4096)), Err(Errno::EINVAL));
}

#[test]
fn send_on_xen_attached_port_is_einval() {
    // evtchn_send: "Guest cannot send via a Xen-attached event channel" → -EINVAL.
    let mut h = hub();
    let p = h.alloc_unbound_xen_event_channel(D1, 0, D2, X).unwrap();
    assert_eq!(h.send(D1, p), Err(Errno::EINVAL));
}

#[test]
fn send_to_xen_attached_peer_notifies_consumer() {
    // evtchn_send: consumer_is_xen(rchn) → xen_notification_fn, no pending bit.
    let mut h = hub();
    let x = h.alloc_unbound_xen_event_channel(D1, 1, D2, X).unwrap();
    let (p2, _) = h.bind_interdomain(D2, D1, x).unwrap();
    let fx = h.send(D2, p2).unwrap();
    assert_eq!(
        fx.iter().copied().collect::<Vec<_>>(),
        vec![Effect::XenNotify {
            dom: D1,
            port: x,
            vcpu: VcpuId(1),
            consumer: X
        }]
    );
    assert!(!pending(&h, D1, x.0));
}

// ---- status --------------------------------------------------------------------------------

#[test]
fn status_reports_each_state() {
    // evtchn_status: one EVTCHNSTAT_* per ECS_* state, vcpu = notify_vcpu_id.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    let u = h.alloc_unbound(D1, DomId::SELF, D0).unwrap();
    let v = h.bind_virq(D1, VIRQ_TIMER, 1).unwrap();
    let i = h.bind_ipi(D1, 1).unwrap();
    let q = h.bind_pirq(D0, 7, 0, |_, _| Ok(())).unwrap();
    let st = |h: &Hub, d, p| h.status(d, DomId::SELF, p).unwrap();
    assert_eq!(st(&h, D1, Port(0)).kind, StatusKind::Closed);
    assert_eq!(st(&h, D1, Port(40)).kind, StatusKind::Closed);
    assert_eq!(st(&h, D1, u).kind, StatusKind::Unbound { dom: D0 });
    assert_eq!(
        st(&h, D1, p1).kind,
        StatusKind::Interdomain { dom: D2, port: p2 }
    );
    assert_eq!(
        st(&h, D1, v),
        ChannelStatus {
            kind: StatusKind::Virq(VIRQ_TIMER),
            vcpu: VcpuId(1)
        }
    );
    assert_eq!(
        st(&h, D1, i),
        ChannelStatus {
            kind: StatusKind::Ipi,
            vcpu: VcpuId(1)
        }
    );
    assert_eq!(st(&h, D0, q).kind, StatusKind::Pirq(7));
}

#[test]
fn status_unprivileged_foreign_is_eperm() {
    // event_channel.h status NOTES 2 / xsm_evtchn_status (XSM_TARGET) → -EPERM.
    let mut h = hub();
    let (p1, _) = connect(&mut h);
    assert_eq!(h.status(D2, D1, p1), Err(Errno::EPERM));
}

#[test]
fn status_privileged_foreign_is_allowed() {
    // XSM_TARGET passes for a control domain.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    assert_eq!(
        h.status(D0, D1, p1).unwrap().kind,
        StatusKind::Interdomain { dom: D2, port: p2 }
    );
}

#[test]
fn status_invalid_port_is_einval_before_eperm() {
    // evtchn_status: port_is_valid is checked before xsm_evtchn_status.
    let h = hub();
    assert_eq!(h.status(D2, D1, Port(64)), Err(Errno::EINVAL));
    assert_eq!(h.status(D2, D1, Port(63)), Err(Errno::EPERM));
}

#[test]
fn status_missing_dom_is_esrch() {
    // evtchn_status: rcu_lock_domain_by_any_id fails → -ESRCH.
    let h = hub();
    assert_eq!(h.status(D1, DomId(9), Port(1)), Err(Errno::ESRCH));
}

#[test]
fn status_write_to_fills_abi_struct() {
    // event_channel.h struct evtchn_status: status, vcpu, u.interdomain.{dom,port}.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    let mut out = EvtchnStatus {
        dom: DomId::SELF,
        port: p1,
        ..EvtchnStatus::default()
    };
    h.status(D1, out.dom, out.port).unwrap().write_to(&mut out);
    assert_eq!(out.status, EVTCHNSTAT_INTERDOMAIN);
    assert_eq!(out.u.dom(), D2);
    assert_eq!(out.u.port(), p2);
    assert_eq!(out.dom, DomId::SELF);
}

// ---- bind_vcpu -----------------------------------------------------------------------------

#[test]
fn bind_vcpu_interdomain_and_unbound_rebind() {
    // evtchn_bind_vcpu: ECS_UNBOUND / ECS_INTERDOMAIN → notify_vcpu_id = vcpu.
    let mut h = hub();
    let (p1, _) = connect(&mut h);
    let u = h.alloc_unbound(D1, DomId::SELF, D2).unwrap();
    assert_eq!(h.bind_vcpu(D1, p1, 1), Ok(Effects::new()));
    assert_eq!(h.bind_vcpu(D1, u, 1), Ok(Effects::new()));
    assert_eq!(vcpu_of(&h, D1, p1.0), 1);
    assert_eq!(vcpu_of(&h, D1, u.0), 1);
}

#[test]
fn bind_vcpu_global_virq_rebinds() {
    // event_channel.h bind_virq NOTES 2: global VIRQs can be re-bound via EVTCHNOP_bind_vcpu.
    let mut h = hub();
    let p = h.bind_virq(D1, VIRQ_DOM_EXC, 0).unwrap();
    assert!(h.bind_vcpu(D1, p, 1).is_ok());
    assert_eq!(vcpu_of(&h, D1, p.0), 1);
}

#[test]
fn bind_vcpu_per_vcpu_virq_is_einval() {
    // event_channel.h bind_vcpu NOTES 2: per-VCPU VIRQ bindings cannot be changed.
    let mut h = hub();
    let p = h.bind_virq(D1, VIRQ_TIMER, 0).unwrap();
    assert_eq!(h.bind_vcpu(D1, p, 1), Err(Errno::EINVAL));
}

#[test]
fn bind_vcpu_ipi_is_einval() {
    // event_channel.h bind_vcpu NOTES 1: IPI bindings cannot be changed.
    let mut h = hub();
    let p = h.bind_ipi(D1, 0).unwrap();
    assert_eq!(h.bind_vcpu(D1, p, 1), Err(Errno::EINVAL));
}

#[test]
fn bind_vcpu_free_and_reserved_are_einval() {
    // evtchn_bind_vcpu: default case → -EINVAL.
    let mut h = hub();
    assert_eq!(h.bind_vcpu(D1, Port(3), 1), Err(Errno::EINVAL));
    assert_eq!(h.bind_vcpu(D1, Port(0), 1), Err(Errno::EINVAL));
}

#[test]
fn bind_vcpu_missing_vcpu_is_enoent_before_einval() {
    // evtchn_bind_vcpu: domain_vcpu() is checked before the port.
    let mut h = hub();
    assert_eq!(h.bind_vcpu(D1, Port(4096), 2), Err(Errno::ENOENT));
}

#[test]
fn bind_vcpu_invalid_port_is_einval() {
    // evtchn_bind_vcpu: !port_is_valid → -EINVAL.
    let mut h = hub();
    assert_eq!(h.bind_vcpu(D1, Port(4096), 1), Err(Errno::EINVAL));
}

#[test]
fn bind_vcpu_pirq_reports_affinity() {
    // evtchn_bind_vcpu: ECS_PIRQ moves the port and calls pirq_set_affinity; same vCPU → no-op.
    let mut h = hub();
    let p = h.bind_pirq(D0, 5, 0, |_, _| Ok(())).unwrap();
    assert_eq!(h.bind_vcpu(D0, p, 0), Ok(Effects::new()));
    let fx = h.bind_vcpu(D0, p, 1).unwrap();
    assert_eq!(
        fx.iter().copied().collect::<Vec<_>>(),
        vec![Effect::PirqAffinity {
            dom: D0,
            pirq: 5,
            vcpu: VcpuId(1)
        }]
    );
    assert_eq!(vcpu_of(&h, D0, p.0), 1);
}

#[test]
fn bind_vcpu_xen_attached_is_einval() {
    // evtchn_bind_vcpu: "Guest cannot re-bind a Xen-attached event channel" → -EINVAL.
    let mut h = hub();
    let p = h.alloc_unbound_xen_event_channel(D1, 0, D2, X).unwrap();
    assert_eq!(h.bind_vcpu(D1, p, 1), Err(Errno::EINVAL));
}

// ---- unmask --------------------------------------------------------------------------------

#[test]
fn unmask_pending_masked_port_kicks() {
    // event_channel.h EVTCHNOP_unmask: "deliver a notification ... if an event is pending";
    // event_2l.c evtchn_2l_unmask.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    h.domain_mut(D2).unwrap().words_mut().guest_mask(p2);
    h.send(D1, p1).unwrap();
    let fx = h.unmask(D2, p2).unwrap();
    assert_eq!(
        fx.iter().copied().collect::<Vec<_>>(),
        vec![Effect::Kick {
            dom: D2,
            vcpu: VcpuId(0)
        }]
    );
    assert!(!h.domain(D2).unwrap().is_masked(p2));
    assert!(words(&h, D2).upcall_pending[0]);
}

#[test]
fn unmask_not_pending_does_nothing() {
    // evtchn_2l_unmask: the pending test fails → no selector, no upcall.
    let mut h = hub();
    let (_, p2) = connect(&mut h);
    h.domain_mut(D2).unwrap().words_mut().guest_mask(p2);
    assert_eq!(h.unmask(D2, p2), Ok(Effects::new()));
    assert!(!words(&h, D2).upcall_pending[0]);
}

#[test]
fn unmask_upcall_already_pending_does_not_kick() {
    // vcpu_mark_events_pending: evtchn_upcall_pending already set → no kick.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    h.domain_mut(D2).unwrap().words_mut().guest_mask(p2);
    h.send(D1, p1).unwrap();
    h.domain_mut(D2).unwrap().words_mut().upcall_pending[0] = true;
    assert_eq!(h.unmask(D2, p2), Ok(Effects::new()));
    assert_eq!(words(&h, D2).pending_sel[0], 1);
}

#[test]
fn unmask_uses_notify_vcpu() {
    // evtchn_2l_unmask: v = d->vcpu[evtchn->notify_vcpu_id].
    let mut h = hub();
    let p = h.bind_ipi(D1, 1).unwrap();
    h.domain_mut(D1).unwrap().words_mut().guest_mask(p);
    h.send(D1, p).unwrap();
    assert_eq!(
        h.unmask(D1, p).unwrap().kicks().collect::<Vec<_>>(),
        vec![(D1, VcpuId(1))]
    );
}

#[test]
fn unmask_invalid_port_is_einval() {
    // evtchn_unmask: !port_is_valid → -EINVAL.
    let mut h = hub();
    assert_eq!(h.unmask(D1, Port(64)), Err(Errno::EINVAL));
}

#[test]
fn unmask_free_port_in_valid_bucket_is_ok() {
    // evtchn_unmask checks only port_is_valid: a free port is unmasked and 0 returned.
    let mut h = hub();
    h.domain_mut(D1).unwrap().words_mut().guest_mask(Port(9));
    assert_eq!(h.unmask(D1, Port(9)), Ok(Effects::new()));
    assert!(!h.domain(D1).unwrap().is_masked(Port(9)));
}

// ---- reset ---------------------------------------------------------------------------------

#[test]
fn reset_self_closes_all_ports() {
    // event_channel.h EVTCHNOP_reset: "Close all event channels associated with specified
    // domain"; evtchn_reset closes ports 1.. with evtchn_close(d, i, 1).
    let mut h = hub();
    let (p1, _) = connect(&mut h);
    h.bind_ipi(D1, 0).unwrap();
    h.bind_virq(D1, VIRQ_TIMER, 0).unwrap();
    h.reset(D1, DomId::SELF).unwrap();
    for (p, c) in h.domain(D1).unwrap().channels().skip(1) {
        assert_eq!(c.state, PortState::Free, "port {p}");
    }
    assert_eq!(state(&h, D1, 0), PortState::Reserved);
    assert_eq!(state(&h, D2, 1), PortState::Unbound { remote: D1 });
    assert_eq!(h.alloc_unbound(D1, DomId::SELF, D2), Ok(p1));
}

#[test]
fn reset_keeps_xen_attached_ports() {
    // evtchn_reset calls evtchn_close(d, i, guest=1): Xen-attached ports refuse (-EINVAL).
    let mut h = hub();
    let x = h.alloc_unbound_xen_event_channel(D1, 0, D0, X).unwrap();
    h.reset(D1, DomId::SELF).unwrap();
    assert_eq!(state(&h, D1, x.0), PortState::Unbound { remote: D0 });
}

#[test]
fn reset_reports_pirq_unbinds() {
    // evtchn_close on ECS_PIRQ during a reset → pirq_guest_unbind.
    let mut h = hub();
    h.bind_pirq(D0, 1, 0, |_, _| Ok(())).unwrap();
    let fx = h.reset(D0, DomId::SELF).unwrap();
    assert_eq!(
        fx.iter().copied().collect::<Vec<_>>(),
        vec![Effect::PirqUnbind { dom: D0, pirq: 1 }]
    );
}

#[test]
fn reset_foreign_unprivileged_is_eperm() {
    // event_channel.h reset NOTES 2 / xsm_evtchn_reset (XSM_TARGET) → -EPERM.
    let mut h = hub();
    h.set_controller_paused(D2, true).unwrap();
    assert_eq!(h.reset(D1, D2), Err(Errno::EPERM));
}

#[test]
fn reset_foreign_not_paused_is_einval() {
    // evtchn_reset: `d != current->domain && !d->controller_pause_count` → -EINVAL.
    let mut h = hub();
    assert_eq!(h.reset(D0, D1), Err(Errno::EINVAL));
}

#[test]
fn reset_foreign_paused_by_privileged_is_ok() {
    // evtchn_reset on a controller-paused domain from the control domain.
    let mut h = hub();
    let (_, p2) = connect(&mut h);
    h.set_controller_paused(D2, true).unwrap();
    assert_eq!(h.reset(D0, D2), Ok(Effects::new()));
    assert_eq!(state(&h, D2, p2.0), PortState::Free);
}

#[test]
fn reset_missing_dom_is_esrch() {
    // do_event_channel_op EVTCHNOP_reset: rcu_lock_domain_by_any_id fails → -ESRCH.
    let mut h = hub();
    assert_eq!(h.reset(D0, DomId(9)), Err(Errno::ESRCH));
}

#[test]
fn reset_cont_without_reset_in_progress_is_ebusy() {
    // evtchn_reset(d, resuming=true) with d->next_evtchn == 0 → -EBUSY.
    let mut h = hub();
    assert_eq!(h.reset_cont(D1, DomId::SELF), Err(Errno::EBUSY));
    assert_eq!(h.reset_cont(D1, D2), Err(Errno::EPERM));
}

#[test]
fn reset_preempted_stops_at_a_64th_port_and_continues_there() {
    // XSA-344: evtchn_reset asks hypercall_preempt_check after every 64th port and records
    // next_evtchn; reset_cont goes on from there; a fresh reset meanwhile is -EBUSY.
    let mut h = hub();
    let ports: Vec<u32> = (0..200).map(|_| h.bind_ipi(D1, 0).unwrap().0).collect();
    let mut asked = 0;
    let (_, end) = h
        .reset_preemptible(D1, DomId::SELF, false, &mut || {
            asked += 1;
            asked == 2
        })
        .unwrap();
    assert_eq!(end, ResetEnd::Preempted);
    assert_eq!(asked, 2, "asked at ports 64 and 128");
    for &p in &ports {
        let want_free = p <= 128;
        assert_eq!(
            state(&h, D1, p) == PortState::Free,
            want_free,
            "port {p} after a reset preempted at 128"
        );
    }
    assert_eq!(h.reset(D1, DomId::SELF), Err(Errno::EBUSY));
    // A port bound meanwhile, below where the continuation starts, stays open: -EAGAIN.
    assert_eq!(
        h.bind_ipi(D1, 0).map(|p| p.0),
        Ok(1),
        "the closed ports are free"
    );
    let (_, end) = h
        .reset_preemptible(D1, DomId::SELF, true, &mut || false)
        .unwrap();
    assert_eq!(end, ResetEnd::Rebound);
    assert_eq!(state(&h, D1, 1), PortState::Ipi);
    for &p in ports.iter().filter(|&&p| p > 1) {
        assert_eq!(state(&h, D1, p), PortState::Free, "port {p}");
    }
    assert_eq!(h.reset_cont(D1, DomId::SELF), Err(Errno::EBUSY));
    assert_eq!(h.reset(D1, DomId::SELF), Ok(Effects::new()));
    assert_eq!(state(&h, D1, 1), PortState::Free);
}

#[test]
fn reset_cont_finishes_a_preempted_reset() {
    // EVTCHNOP_reset_cont closes the ports a preempted reset left open.
    let mut h = hub();
    for _ in 0..100 {
        h.bind_ipi(D1, 0).unwrap();
    }
    let mut once = true;
    let (_, end) = h
        .reset_preemptible(D1, DomId::SELF, false, &mut || core::mem::take(&mut once))
        .unwrap();
    assert_eq!(end, ResetEnd::Preempted);
    assert_eq!(h.reset_cont(D1, DomId::SELF), Ok(Effects::new()));
    for (p, c) in h.domain(D1).unwrap().channels().skip(1) {
        assert_eq!(c.state, PortState::Free, "port {p}");
    }
}

// ---- FIFO sub-ops in 2-level mode ------------------------------------------------------------

#[test]
fn expand_array_two_level_is_eopnotsupp() {
    // event_fifo.c evtchn_fifo_expand_array: `if ( !d->evtchn_fifo ) return -EOPNOTSUPP;`
    let mut h = hub();
    assert_eq!(h.expand_array(D1, 0x1000), Err(Errno::EOPNOTSUPP));
}

#[test]
fn set_priority_two_level_is_enosys() {
    // event.h evtchn_port_set_priority: no ->set_priority in the 2-level ops → -ENOSYS.
    let mut h = hub();
    let p = h.bind_ipi(D1, 0).unwrap();
    assert_eq!(h.set_priority(D1, p, 3), Err(Errno::ENOSYS));
}

#[test]
fn set_priority_invalid_port_is_einval() {
    // evtchn_set_priority: !port_is_valid → -EINVAL before the ABI is asked.
    let mut h = hub();
    assert_eq!(h.set_priority(D1, Port(64), 3), Err(Errno::EINVAL));
}

// ---- hypervisor-side notifications and domain lifecycle ------------------------------------

#[test]
fn send_guest_vcpu_virq_raises_on_that_vcpu() {
    // send_guest_vcpu_virq: virq_to_evtchn[virq] of v, set pending on v.
    let mut h = hub();
    let p = h.bind_virq(D1, VIRQ_TIMER, 1).unwrap();
    let fx = h.send_guest_vcpu_virq(D1, VcpuId(1), VIRQ_TIMER);
    assert_eq!(fx.kicks().collect::<Vec<_>>(), vec![(D1, VcpuId(1))]);
    assert!(pending(&h, D1, p.0));
    assert!(h.send_guest_vcpu_virq(D1, VcpuId(0), VIRQ_TIMER).is_empty());
}

#[test]
fn send_global_virq_goes_to_handler_or_hardware_domain() {
    // send_global_virq: global_virq_handlers[virq] ?: hardware_domain; delivered to the port's
    // notify vCPU (send_guest_global_virq).
    let mut h = hub();
    let p0 = h.bind_virq(D0, VIRQ_DOM_EXC, 0).unwrap();
    let p1 = h.bind_virq(D1, VIRQ_DOM_EXC, 0).unwrap();
    h.bind_vcpu(D1, p1, 1).unwrap();
    h.send_global_virq(VIRQ_DOM_EXC);
    assert!(pending(&h, D0, p0.0));
    h.set_global_virq_handler(D1, VIRQ_DOM_EXC).unwrap();
    let fx = h.send_global_virq(VIRQ_DOM_EXC);
    assert_eq!(fx.kicks().collect::<Vec<_>>(), vec![(D1, VcpuId(1))]);
}

#[test]
fn set_global_virq_handler_per_vcpu_virq_is_einval() {
    // set_global_virq_handler: `!virq_is_global(virq)` or `virq >= NR_VIRQS` → -EINVAL.
    let mut h = hub();
    assert_eq!(
        h.set_global_virq_handler(D1, VIRQ_TIMER),
        Err(Errno::EINVAL)
    );
    assert_eq!(h.set_global_virq_handler(D1, NR_VIRQS), Err(Errno::EINVAL));
}

#[test]
fn send_guest_pirq_raises_bound_port() {
    // send_guest_pirq: pirq->evtchn set pending on its notify vCPU.
    let mut h = hub();
    let p = h.bind_pirq(D0, 6, 0, |_, _| Ok(())).unwrap();
    assert!(!h.send_guest_pirq(D0, 6).is_empty());
    assert!(pending(&h, D0, p.0));
    assert!(h.send_guest_pirq(D0, 7).is_empty());
}

#[test]
fn notify_via_xen_event_channel_raises_peer() {
    // notify_via_xen_event_channel: set the remote port pending.
    let mut h = hub();
    let x = h.alloc_unbound_xen_event_channel(D1, 0, D2, X).unwrap();
    let (p2, _) = h.bind_interdomain(D2, D1, x).unwrap();
    h.domain_mut(D2).unwrap().words_mut().pending_clear(p2);
    h.notify_via_xen_event_channel(D1, x);
    assert!(pending(&h, D2, p2.0));
}

#[test]
fn alloc_unbound_xen_event_channel_missing_vcpu_is_enoent() {
    // Ferrite checks the vCPU Xen trusts its callers with.
    let mut h = hub();
    assert_eq!(
        h.alloc_unbound_xen_event_channel(D1, 2, D2, X),
        Err(Errno::ENOENT)
    );
}

#[test]
fn domain_kill_unbinds_peers_and_blocks_allocation() {
    // evtchn_destroy: closes every port (peers → unbound for the dying domain); get_free_port
    // refuses a dying domain.
    let mut h = hub();
    let (p1, _) = connect(&mut h);
    let x = h.alloc_unbound_xen_event_channel(D2, 0, D0, X).unwrap();
    h.domain_kill(D2).unwrap();
    assert_eq!(state(&h, D1, p1.0), PortState::Unbound { remote: D2 });
    assert_eq!(state(&h, D2, x.0), PortState::Free);
    assert!(h.domain(D2).unwrap().is_dying());
    assert_eq!(h.bind_ipi(D2, 0), Err(Errno::EINVAL));
}

#[test]
fn domain_kill_drops_global_virq_handler() {
    // evtchn_destroy → clear_global_virq_handlers.
    let mut h = hub();
    h.set_global_virq_handler(D1, VIRQ_DOM_EXC).unwrap();
    let p0 = h.bind_virq(D0, VIRQ_DOM_EXC, 0).unwrap();
    h.domain_kill(D1).unwrap();
    h.send_global_virq(VIRQ_DOM_EXC);
    assert!(pending(&h, D0, p0.0));
}

#[test]
fn domain_destroy_removes_domain() {
    // evtchn_destroy_final: the table is gone; later lookups are -ESRCH.
    let mut h = hub();
    let (p1, _) = connect(&mut h);
    h.domain_destroy(D2).unwrap();
    assert!(h.domain(D2).is_none());
    assert_eq!(h.bind_interdomain(D1, D2, Port(1)), Err(Errno::ESRCH));
    assert_eq!(state(&h, D1, p1.0), PortState::Unbound { remote: D2 });
    assert_eq!(h.domain_destroy(D2), Err(Errno::ESRCH));
}

#[test]
fn domain_create_duplicate_is_eexist() {
    let mut h = hub();
    assert_eq!(
        h.domain_create(D1, cfg(1), VecEventWords::new(1)),
        Err(Errno::EEXIST)
    );
}

#[test]
fn domain_create_reserved_id_or_no_vcpus_is_einval() {
    let mut h = hub();
    assert_eq!(
        h.domain_create(DomId::SELF, cfg(1), VecEventWords::new(1)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        h.domain_create(DomId(5), cfg(0), VecEventWords::new(0)),
        Err(Errno::EINVAL)
    );
}

#[test]
fn guest_consume_after_send_clears_bits() {
    // xen.h vcpu_info comment / B.10: the guest clears upcall_pending, takes the selector and
    // clears the pending bits it handles; Xen then raises again on the next send.
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    h.send(D1, p1).unwrap();
    let mut got = vec![];
    h.domain_mut(D2)
        .unwrap()
        .words_mut()
        .guest_consume(VcpuId(0), &mut got);
    assert_eq!(got, vec![p2]);
    assert!(!pending(&h, D2, p2.0));
    assert_eq!(
        h.send(D1, p1).unwrap().kicks().collect::<Vec<_>>(),
        vec![(D2, VcpuId(0))]
    );
}

#[test]
fn poll_port_of_a_port_not_in_use_is_einval() {
    // evtchn_port_poll: a port past the table, the reserved port 0, a free port (never
    // allocated or closed) -> -EINVAL (evtchn_usable); an unbound or connected one -> pending?
    let mut h = hub();
    let (p1, p2) = connect(&mut h);
    let d1 = |h: &Hub, p: u32| h.domain(D1).unwrap().poll_port(Port(p));
    assert_eq!(d1(&h, 0), Err(Errno::EINVAL));
    assert_eq!(d1(&h, 4095), Err(Errno::EINVAL));
    assert_eq!(d1(&h, 1 << 20), Err(Errno::EINVAL));
    assert_eq!(d1(&h, p1.0), Ok(false));
    h.send(D2, p2).unwrap();
    assert_eq!(d1(&h, p1.0), Ok(true));
    let free = h.alloc_unbound(D1, DomId::SELF, D2).unwrap();
    assert_eq!(d1(&h, free.0), Ok(false));
    h.close(D1, free).unwrap();
    assert_eq!(d1(&h, free.0), Err(Errno::EINVAL));
}
