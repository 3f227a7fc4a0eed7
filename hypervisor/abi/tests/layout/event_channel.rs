//! Layout fragment for `event_channel.h` (and the `VIRQ_*` numbers `xen_abi::event_channel`
//! gathers from `xen.h` / `arch-x86/xen-mca.h`).

use std::mem::{align_of, offset_of, size_of};

use crate::checker::{byte_offset as at, Fragment};
use xen_abi::event_channel::*;
use xen_abi::types::{DomId, Port};

pub fn fragment() -> Fragment {
    let mut f = Fragment::new(
        "event_channel.h",
        &["xen/event_channel.h", "xen/arch-x86/xen-mca.h"],
    );
    layout!(f, EvtchnAllocUnbound => "struct evtchn_alloc_unbound" { dom, remote_dom, port });
    layout!(f, EvtchnBindInterdomain => "struct evtchn_bind_interdomain" {
        remote_dom, _pad0, remote_port, local_port
    });
    layout!(f, EvtchnBindVirq => "struct evtchn_bind_virq" { virq, vcpu, port });
    layout!(f, EvtchnBindPirq => "struct evtchn_bind_pirq" { pirq, flags, port });
    layout!(f, EvtchnBindIpi => "struct evtchn_bind_ipi" { vcpu, port });
    layout!(f, EvtchnClose => "struct evtchn_close" { port });
    layout!(f, EvtchnSend => "struct evtchn_send" { port });
    layout!(f, EvtchnStatus => "struct evtchn_status" { dom, _pad0, port, status, vcpu, u });
    layout!(f, EvtchnBindVcpu => "struct evtchn_bind_vcpu" { port, vcpu });
    layout!(f, EvtchnUnmask => "struct evtchn_unmask" { port });
    layout!(f, EvtchnReset => "struct evtchn_reset" { dom });
    layout!(f, EvtchnInitControl => "struct evtchn_init_control" {
        control_gfn, offset, vcpu, link_bits, _pad
    });
    layout!(f, EvtchnExpandArray => "struct evtchn_expand_array" { array_gfn });
    layout!(f, EvtchnSetPriority => "struct evtchn_set_priority" { port, priority });
    layout!(f, EvtchnOpCompat => "struct evtchn_op" { cmd, u });
    layout!(f, EvtchnFifoControlBlock => "struct evtchn_fifo_control_block" {
        ready, _rsvd, head
    });
    sub_ops!(f, EvtchnOp;
        EVTCHNOP_bind_interdomain = BindInterdomain,
        EVTCHNOP_bind_virq = BindVirq,
        EVTCHNOP_bind_pirq = BindPirq,
        EVTCHNOP_close = Close,
        EVTCHNOP_send = Send,
        EVTCHNOP_status = Status,
        EVTCHNOP_alloc_unbound = AllocUnbound,
        EVTCHNOP_bind_ipi = BindIpi,
        EVTCHNOP_bind_vcpu = BindVcpu,
        EVTCHNOP_unmask = Unmask,
        EVTCHNOP_reset = Reset,
        EVTCHNOP_init_control = InitControl,
        EVTCHNOP_expand_array = ExpandArray,
        EVTCHNOP_set_priority = SetPriority,
    );
    // `EVTCHNOP_reset_cont` is `#ifdef __XEN__`, so the C program cannot name it; Xen still
    // decodes it from guests. Its number is compared with the header's `14` here instead.
    let reset_cont = "variant EvtchnOp::ResetCont has no C name";
    f.problems.retain(|p| !p.contains(reset_cont));
    if EvtchnOp::ResetCont as u32 != 14 {
        f.problems.push(format!(
            "event_channel.h: EVTCHNOP_reset_cont: C 14 (`#ifdef __XEN__`), Rust {}",
            EvtchnOp::ResetCont as u32
        ));
    }

    // The two unions held as raw words: where each member sits, read from the Rust accessors.
    let status_u = offset_of!(EvtchnStatus, u);
    let unbound = EvtchnStatusU::unbound(DomId(0xa1b2));
    let interdomain = EvtchnStatusU::interdomain(DomId(0xa1b2), Port(0xc3d4_e5f6));
    let pirq = EvtchnStatusU::pirq(0xc3d4_e5f6);
    let virq = EvtchnStatusU::virq(0xc3d4_e5f6);
    consts!(f;
        "sizeof(((struct evtchn_status *)0)->u)" = size_of::<EvtchnStatusU>(),
        "__alignof__(((struct evtchn_status *)0)->u)" = align_of::<EvtchnStatusU>(),
        "offsetof(struct evtchn_status, u.unbound.dom)" = status_u + at(&unbound, &0xa1b2u16),
        "sizeof(((struct evtchn_status *)0)->u.unbound.dom)" = size_of::<DomId>(),
        "offsetof(struct evtchn_status, u.interdomain.dom)" =
            status_u + at(&interdomain, &0xa1b2u16),
        "offsetof(struct evtchn_status, u.interdomain.port)" =
            status_u + at(&interdomain, &0xc3d4_e5f6u32),
        "sizeof(((struct evtchn_status *)0)->u.interdomain.port)" = size_of::<Port>(),
        "offsetof(struct evtchn_status, u.pirq)" = status_u + at(&pirq, &0xc3d4_e5f6u32),
        "offsetof(struct evtchn_status, u.virq)" = status_u + at(&virq, &0xc3d4_e5f6u32),
        "sizeof(((struct evtchn_op *)0)->u)" = size_of::<EvtchnOpU>(),
        "__alignof__(((struct evtchn_op *)0)->u)" = align_of::<EvtchnOpU>(),
    );
    consts!(f;
        BIND_PIRQ__WILL_SHARE = BIND_PIRQ_WILL_SHARE,
        EVTCHNSTAT_closed = EVTCHNSTAT_CLOSED,
        EVTCHNSTAT_unbound = EVTCHNSTAT_UNBOUND,
        EVTCHNSTAT_interdomain = EVTCHNSTAT_INTERDOMAIN,
        EVTCHNSTAT_pirq = EVTCHNSTAT_PIRQ,
        EVTCHNSTAT_virq = EVTCHNSTAT_VIRQ,
        EVTCHNSTAT_ipi = EVTCHNSTAT_IPI,
        EVTCHN_2L_NR_CHANNELS = EVTCHN_2L_NR_CHANNELS,
        EVTCHN_FIFO_PRIORITY_MAX = EVTCHN_FIFO_PRIORITY_MAX,
        EVTCHN_FIFO_PRIORITY_DEFAULT = EVTCHN_FIFO_PRIORITY_DEFAULT,
        EVTCHN_FIFO_PRIORITY_MIN = EVTCHN_FIFO_PRIORITY_MIN,
        EVTCHN_FIFO_MAX_QUEUES = EVTCHN_FIFO_MAX_QUEUES,
        EVTCHN_FIFO_PENDING = EVTCHN_FIFO_PENDING,
        EVTCHN_FIFO_MASKED = EVTCHN_FIFO_MASKED,
        EVTCHN_FIFO_LINKED = EVTCHN_FIFO_LINKED,
        EVTCHN_FIFO_BUSY = EVTCHN_FIFO_BUSY,
        EVTCHN_FIFO_LINK_BITS = EVTCHN_FIFO_LINK_BITS,
        EVTCHN_FIFO_LINK_MASK = EVTCHN_FIFO_LINK_MASK,
        EVTCHN_FIFO_NR_CHANNELS = EVTCHN_FIFO_NR_CHANNELS,
        "sizeof(event_word_t)" = size_of::<EventWord>(),
        VIRQ_ARCH_1 = VIRQ_ARCH_1,
        VIRQ_ARCH_2 = VIRQ_ARCH_2,
        VIRQ_ARCH_3 = VIRQ_ARCH_3,
        VIRQ_ARCH_4 = VIRQ_ARCH_4,
        VIRQ_ARCH_5 = VIRQ_ARCH_5,
        VIRQ_ARCH_6 = VIRQ_ARCH_6,
        VIRQ_MCA = VIRQ_MCA,
    );
    f
}
