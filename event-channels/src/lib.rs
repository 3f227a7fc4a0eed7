//! Xen's event-channel state machine: a per-domain port table and the 2-level and FIFO delivery
//! ABIs.
//!
//! [`EvtchnHub`] owns every domain's ports and implements each `EVTCHNOP_*` sub-op as a method
//! of the same name, with Xen 4.17's checks, order and error codes (`xen/common/event_channel.c`).
//! Guest-visible words are reached only through [`EventWords`], which the hypervisor implements
//! over the real `shared_info`/`vcpu_info` pages; delivery follows `event_2l.c` behind the
//! [`EvtchnPortOps`] seam; the FIFO ABI (`fifo`, `event_fifo.c`) takes over a domain at its
//! first `EVTCHNOP_init_control`. Operations never act: they return
//! [`Effects`] (vCPUs to kick, pollers to check, PIRQ actions) for the hypervisor to carry out.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod dispatch;
pub mod fifo;
pub mod hub;
pub mod port_ops;
pub mod words;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

pub use dispatch::{arg_size, writes_back};
pub use hub::{
    virq_is_global, Channel, ChannelStatus, Domain, DomainConfig, Effect, Effects, EvtchnHub,
    PortState, ResetEnd, StatusKind, XenConsumer, EVTCHNS_PER_BUCKET,
};
pub use port_ops::{Delivery, EvtchnPortOps, TwoLevel};
pub use words::{EventWords, FifoPage, VecEventWords, BITS_PER_EVTCHN_WORD, EVTCHN_WORDS};
