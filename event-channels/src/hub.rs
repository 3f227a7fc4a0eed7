//! [`EvtchnHub`]: every domain's port table and the `EVTCHNOP_*` operations of Xen 4.17's
//! `xen/common/event_channel.c`, with the same checks in the same order and the same errors.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use xen_abi::event_channel::{
    EvtchnInitControl, EvtchnStatus, EvtchnStatusU, BIND_PIRQ_WILL_SHARE, EVTCHNSTAT_CLOSED,
    EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_IPI, EVTCHNSTAT_PIRQ, EVTCHNSTAT_UNBOUND, EVTCHNSTAT_VIRQ,
    EVTCHN_2L_NR_CHANNELS, EVTCHN_FIFO_LINK_BITS, EVTCHN_FIFO_NR_CHANNELS, NR_VIRQS, VIRQ_DEBUG,
    VIRQ_TIMER, VIRQ_XENOPROF, VIRQ_XENPMU,
};
use xen_abi::{DomId, Errno, Port, VcpuId, XenResult};

use crate::fifo::{FifoDelivery, FifoState};
use crate::port_ops::{Delivery, EvtchnPortOps, TwoLevel};
use crate::words::EventWords;

/// Ports per allocation bucket (`EVTCHNS_PER_BUCKET` = `PAGE_SIZE / 64` for a 64-byte
/// `struct evtchn`). Xen grows a domain's table one bucket at a time and never shrinks it; the
/// grown range is what `port_is_valid` accepts, which `status`, `unmask`, `close` can observe.
pub const EVTCHNS_PER_BUCKET: u32 = 64;

/// `virq_is_global` (event_channel.c): `VIRQ_TIMER`, `VIRQ_DEBUG`, `VIRQ_XENOPROF`, `VIRQ_XENPMU`
/// are per vCPU; everything else below `NR_VIRQS` is global (x86's `arch_virq_is_global` says
/// every `VIRQ_ARCH_*` is global), including numbers the header leaves undefined.
pub fn virq_is_global(virq: u32) -> bool {
    !matches!(virq, VIRQ_TIMER | VIRQ_DEBUG | VIRQ_XENOPROF | VIRQ_XENPMU)
}

/// Identifies the in-hypervisor consumer of a Xen-attached port (`chn->xen_consumer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct XenConsumer(pub u8);

/// A port's binding (`ECS_*` and `chn->u`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortState {
    /// `ECS_FREE`: not in use.
    Free,
    /// `ECS_RESERVED`: port 0, never usable.
    Reserved,
    /// `ECS_UNBOUND`: waits for `remote` to bind to it.
    Unbound {
        /// The domain allowed to bind (`u.unbound.remote_domid`).
        remote: DomId,
    },
    /// `ECS_INTERDOMAIN`: connected to `<remote, remote_port>`.
    Interdomain {
        /// The peer domain.
        remote: DomId,
        /// The peer's port.
        remote_port: Port,
    },
    /// `ECS_PIRQ`: bound to a physical IRQ.
    Pirq {
        /// The PIRQ.
        pirq: u32,
    },
    /// `ECS_VIRQ`: bound to a virtual IRQ.
    Virq {
        /// The VIRQ.
        virq: u32,
    },
    /// `ECS_IPI`: an inter-vCPU channel.
    Ipi,
}

/// One port of a domain (`struct evtchn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    /// The binding.
    pub state: PortState,
    /// The vCPU notified when the port becomes pending (`notify_vcpu_id`).
    pub notify_vcpu: VcpuId,
    /// Set for a Xen-attached port (`xen_consumer`).
    pub xen_consumer: Option<XenConsumer>,
}

impl Channel {
    const FREE: Channel = Channel {
        state: PortState::Free,
        notify_vcpu: VcpuId(0),
        xen_consumer: None,
    };
}

/// How a domain is created, as far as event channels care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainConfig {
    /// Number of vCPUs (`max_vcpus`); all exist.
    pub max_vcpus: u32,
    /// A control domain (`is_control_domain`): passes every `XSM_TARGET`/`XSM_PRIV` check.
    pub privileged: bool,
    /// May bind PIRQs (`pirq_access_permitted` for every PIRQ below `nr_pirqs`).
    pub pirq_access: bool,
    /// PIRQs are below this (`d->nr_pirqs`).
    pub nr_pirqs: u32,
    /// The highest port the toolstack allows (`max_evtchn_port`).
    pub max_evtchn_port: u32,
}

impl Default for DomainConfig {
    fn default() -> Self {
        Self {
            max_vcpus: 1,
            privileged: false,
            pirq_access: false,
            nr_pirqs: 0,
            max_evtchn_port: EVTCHN_2L_NR_CHANNELS - 1,
        }
    }
}

/// Something the hypervisor must do after an operation; the state machine never acts itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `port` of `dom` became pending: wake its pollers (`evtchn_check_pollers`), and kick
    /// `kick` if set (its `evtchn_upcall_pending` went 0 → 1: `vcpu_kick`).
    Raised {
        /// The domain owning the port.
        dom: DomId,
        /// The port.
        port: Port,
        /// The vCPU to kick.
        kick: Option<VcpuId>,
    },
    /// Kick `vcpu` of `dom`: an unmask made a pending event deliverable.
    Kick {
        /// The domain.
        dom: DomId,
        /// The vCPU.
        vcpu: VcpuId,
    },
    /// A send reached a Xen-attached port: call the consumer's notification function.
    XenNotify {
        /// The domain owning the Xen-attached port.
        dom: DomId,
        /// The Xen-attached port.
        port: Port,
        /// Its notify vCPU.
        vcpu: VcpuId,
        /// The consumer.
        consumer: XenConsumer,
    },
    /// A PIRQ port was closed: `pirq_guest_unbind`.
    PirqUnbind {
        /// The domain.
        dom: DomId,
        /// The PIRQ.
        pirq: u32,
    },
    /// A PIRQ port moved to another vCPU: `pirq_set_affinity` to that vCPU's pCPU.
    PirqAffinity {
        /// The domain.
        dom: DomId,
        /// The PIRQ.
        pirq: u32,
        /// The new notify vCPU.
        vcpu: VcpuId,
    },
}

/// The effects of one operation, in order. Holds one effect inline (the common case).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    first: Option<Effect>,
    rest: Vec<Effect>,
}

impl Effects {
    /// No effects.
    pub const fn new() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }

    fn one(e: Effect) -> Self {
        Self {
            first: Some(e),
            rest: Vec::new(),
        }
    }

    /// Append an effect.
    pub fn push(&mut self, e: Effect) {
        if self.first.is_none() {
            self.first = Some(e);
        } else {
            self.rest.push(e);
        }
    }

    fn extend(&mut self, other: Effects) {
        for e in other.iter() {
            self.push(*e);
        }
    }

    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The effects in order.
    pub fn iter(&self) -> impl Iterator<Item = &Effect> {
        self.first.iter().chain(self.rest.iter())
    }

    /// The `(domain, vCPU)` pairs to kick, in order.
    pub fn kicks(&self) -> impl Iterator<Item = (DomId, VcpuId)> + '_ {
        self.iter().filter_map(|e| match *e {
            Effect::Raised {
                dom,
                kick: Some(vcpu),
                ..
            }
            | Effect::Kick { dom, vcpu } => Some((dom, vcpu)),
            _ => None,
        })
    }
}

/// What `EVTCHNOP_status` reports (`status` and `u`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKind {
    /// `EVTCHNSTAT_closed` (free or reserved).
    Closed,
    /// `EVTCHNSTAT_unbound`.
    Unbound {
        /// `u.unbound.dom`.
        dom: DomId,
    },
    /// `EVTCHNSTAT_interdomain`.
    Interdomain {
        /// `u.interdomain.dom`.
        dom: DomId,
        /// `u.interdomain.port`.
        port: Port,
    },
    /// `EVTCHNSTAT_pirq`.
    Pirq(u32),
    /// `EVTCHNSTAT_virq`.
    Virq(u32),
    /// `EVTCHNSTAT_ipi`.
    Ipi,
}

/// The result of `EVTCHNOP_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelStatus {
    /// The binding.
    pub kind: StatusKind,
    /// The notify vCPU (`vcpu`).
    pub vcpu: VcpuId,
}

impl ChannelStatus {
    /// Fill the OUT fields of the guest's `evtchn_status` (IN fields stay as the guest wrote them).
    pub fn write_to(&self, out: &mut EvtchnStatus) {
        let (status, u) = match self.kind {
            StatusKind::Closed => (EVTCHNSTAT_CLOSED, out.u),
            StatusKind::Unbound { dom } => (EVTCHNSTAT_UNBOUND, EvtchnStatusU::unbound(dom)),
            StatusKind::Interdomain { dom, port } => (
                EVTCHNSTAT_INTERDOMAIN,
                EvtchnStatusU::interdomain(dom, port),
            ),
            StatusKind::Pirq(p) => (EVTCHNSTAT_PIRQ, EvtchnStatusU::pirq(p)),
            StatusKind::Virq(v) => (EVTCHNSTAT_VIRQ, EvtchnStatusU::virq(v)),
            StatusKind::Ipi => (EVTCHNSTAT_IPI, out.u),
        };
        out.status = status;
        out.vcpu = self.vcpu.0;
        out.u = u;
    }
}

/// How a slice of [`EvtchnHub::reset_preemptible`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetEnd {
    /// Every port closed.
    Done,
    /// Stopped to make way; continue with `EVTCHNOP_reset_cont`.
    Preempted,
    /// Finished, but a port bound while the reset was preempted is open (`-EAGAIN`).
    Rebound,
}

/// One domain's event-channel state (the `evtchn` parts of `struct domain` and `struct vcpu`).
#[derive(Debug)]
pub struct Domain<W> {
    config: DomainConfig,
    dying: bool,
    controller_paused: bool,
    /// Ports `0..valid_evtchns` (whole buckets).
    chans: Vec<Channel>,
    /// `v->virq_to_evtchn[]` of each vCPU (0 = unbound).
    virq_to_evtchn: Vec<[u32; NR_VIRQS as usize]>,
    /// `pirq->evtchn` of each bound PIRQ.
    pirq_to_evtchn: BTreeMap<u32, Port>,
    ops: TwoLevel,
    /// The FIFO ABI's state once `EVTCHNOP_init_control` switched the domain to it.
    fifo: Option<FifoState>,
    /// A preempted `EVTCHNOP_reset`: the port its continuation starts at (Xen's
    /// `next_evtchn`); 0 when no reset is in progress.
    reset_next: u32,
    words: W,
}

impl<W: EventWords> Domain<W> {
    fn new(config: DomainConfig, words: W) -> Self {
        let mut chans = Vec::new();
        chans.resize(EVTCHNS_PER_BUCKET as usize, Channel::FREE);
        if let Some(c) = chans.first_mut() {
            c.state = PortState::Reserved;
        }
        let mut virq_to_evtchn = Vec::new();
        virq_to_evtchn.resize(config.max_vcpus as usize, [0; NR_VIRQS as usize]);
        Self {
            config,
            dying: false,
            controller_paused: false,
            chans,
            virq_to_evtchn,
            pirq_to_evtchn: BTreeMap::new(),
            ops: TwoLevel,
            fifo: None,
            reset_next: 0,
            words,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DomainConfig {
        &self.config
    }

    /// True once `domain_kill` ran.
    pub fn is_dying(&self) -> bool {
        self.dying
    }

    /// `valid_evtchns`: ports below this are `port_is_valid`.
    pub fn valid_evtchns(&self) -> u32 {
        self.chans.len() as u32
    }

    /// The port, if `port_is_valid`.
    pub fn channel(&self, port: Port) -> Option<&Channel> {
        self.chans.get(port.0 as usize)
    }

    /// All valid ports with their channels.
    pub fn channels(&self) -> impl Iterator<Item = (Port, &Channel)> {
        self.chans
            .iter()
            .enumerate()
            .map(|(i, c)| (Port(i as u32), c))
    }

    /// The port bound to `virq` on `vcpu` (`virq_to_evtchn`), if any.
    pub fn virq_port(&self, vcpu: VcpuId, virq: u32) -> Option<Port> {
        let p = *self
            .virq_to_evtchn
            .get(vcpu.0 as usize)?
            .get(virq as usize)?;
        (p != 0).then_some(Port(p))
    }

    /// The port bound to `pirq`, if any.
    pub fn pirq_port(&self, pirq: u32) -> Option<Port> {
        self.pirq_to_evtchn.get(&pirq).copied()
    }

    /// The guest-visible words.
    pub fn words(&self) -> &W {
        &self.words
    }

    /// The guest-visible words, mutably (for the guest's side in tests).
    pub fn words_mut(&mut self) -> &mut W {
        &mut self.words
    }

    /// True if `port` is pending (through the ABI's `is_pending`).
    pub fn is_pending(&self, port: Port) -> bool {
        match &self.fifo {
            Some(f) => f.is_pending(&self.words, port),
            None => self.ops.is_pending(&self.words, port),
        }
    }

    /// `evtchn_port_poll`, for `SCHEDOP_poll`: whether `port` is pending; `EINVAL` for a port
    /// that is not in use (never allocated, free or reserved), as Xen's `evtchn_usable`.
    pub fn poll_port(&self, port: Port) -> XenResult<bool> {
        match self.channel(port).map(|c| c.state) {
            None | Some(PortState::Free | PortState::Reserved) => Err(Errno::EINVAL),
            Some(_) => Ok(self.is_pending(port)),
        }
    }

    /// True if `port` is masked (through the ABI's `is_masked`).
    pub fn is_masked(&self, port: Port) -> bool {
        match &self.fifo {
            Some(f) => f.is_masked(&self.words, port),
            None => self.ops.is_masked(&self.words, port),
        }
    }

    /// The FIFO state, if the domain uses that ABI.
    pub fn fifo(&self) -> Option<&FifoState> {
        self.fifo.as_ref()
    }

    /// `max_evtchns`: ports the ABI in use can address.
    fn max_channels(&self) -> u32 {
        if self.fifo.is_some() {
            EVTCHN_FIFO_NR_CHANNELS
        } else {
            EvtchnPortOps::<W>::max_channels(&self.ops)
        }
    }

    /// `evtchn_port_set_pending` for `vcpu`, as the effects it has.
    fn raise(&mut self, dom: DomId, vcpu: VcpuId, port: Port) -> Effects {
        match &mut self.fifo {
            Some(f) => match f.set_pending(&mut self.words, vcpu, port) {
                FifoDelivery {
                    was_pending: false,
                    kick,
                } => Effects::one(Effect::Raised { dom, port, kick }),
                FifoDelivery {
                    was_pending: true,
                    kick: Some(vcpu),
                } => Effects::one(Effect::Kick { dom, vcpu }),
                FifoDelivery {
                    was_pending: true,
                    kick: None,
                } => Effects::new(),
            },
            None => match self.ops.set_pending(&mut self.words, vcpu, port) {
                Delivery::AlreadyPending => Effects::new(),
                Delivery::Pending { kick } => Effects::one(Effect::Raised { dom, port, kick }),
            },
        }
    }

    fn vcpu_exists(&self, vcpu: u32) -> bool {
        vcpu < self.config.max_vcpus
    }

    fn chan_mut(&mut self, port: Port) -> Option<&mut Channel> {
        self.chans.get_mut(port.0 as usize)
    }

    /// `get_free_port`: the lowest free port, growing the table by a bucket if needed.
    fn get_free_port(&mut self) -> XenResult<Port> {
        if self.dying {
            return Err(Errno::EINVAL);
        }
        // A free port still linked on a FIFO queue is busy (`evtchn_is_busy`).
        let busy = |i: usize| {
            self.fifo
                .as_ref()
                .is_some_and(|f| f.is_busy(&self.words, Port(i as u32)))
        };
        if let Some(i) =
            (0..self.chans.len()).find(|&i| self.chans[i].state == PortState::Free && !busy(i))
        {
            let port = i as u32;
            return if port > self.config.max_evtchn_port {
                Err(Errno::ENOSPC)
            } else {
                self.port_init(Port(port));
                Ok(Port(port))
            };
        }
        // `evtchn_allocate_port` on the first port past the valid range.
        let port = self.valid_evtchns();
        if port > self.config.max_evtchn_port || port >= self.max_channels() {
            return Err(Errno::ENOSPC);
        }
        let len = self.chans.len() + EVTCHNS_PER_BUCKET as usize;
        self.chans.resize(len, Channel::FREE);
        self.port_init(Port(port));
        Ok(Port(port))
    }

    /// `evtchn_port_init`: a port being allocated starts at the default FIFO priority.
    fn port_init(&mut self, port: Port) {
        if let Some(f) = &mut self.fifo {
            f.port_mut(port).priority = crate::fifo::DEFAULT_PRIORITY;
        }
    }

    /// `evtchn_port_set_pending` on `port` for its notify vCPU.
    fn set_pending(&mut self, dom: DomId, port: Port) -> Effects {
        let Some(vcpu) = self.channel(port).map(|c| c.notify_vcpu) else {
            return Effects::new();
        };
        self.raise(dom, vcpu, port)
    }

    /// `evtchn_free`: clear pending, back to free on vCPU 0.
    fn free(&mut self, port: Port) {
        match &self.fifo {
            Some(f) => f.clear_pending(&mut self.words, port),
            None => self.ops.clear_pending(&mut self.words, port),
        }
        if let Some(c) = self.chan_mut(port) {
            *c = Channel::FREE;
        }
    }
}

/// Every domain's event channels: the unit that `EVTCHNOP_*` operations act on.
///
/// Xen locks one or two domains' `event_lock`s per operation; here the caller holds the hub
/// exclusively for the duration of one call, so each operation is atomic and the results are
/// those of Xen's serialised executions.
#[derive(Debug)]
pub struct EvtchnHub<W> {
    domains: BTreeMap<DomId, Domain<W>>,
    global_virq_handlers: [Option<DomId>; NR_VIRQS as usize],
    hardware_domain: DomId,
}

impl<W: EventWords> Default for EvtchnHub<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: EventWords> EvtchnHub<W> {
    /// An empty hub; the hardware domain (default handler of global VIRQs) is domain 0.
    pub const fn new() -> Self {
        Self {
            domains: BTreeMap::new(),
            global_virq_handlers: [None; NR_VIRQS as usize],
            hardware_domain: DomId(0),
        }
    }

    // ---- domains ---------------------------------------------------------------------------

    /// `evtchn_init`: give a new domain its table (port 0 reserved) and its guest words.
    ///
    /// `EEXIST` if `id` exists, `EINVAL` for a reserved id or no vCPUs.
    pub fn domain_create(&mut self, id: DomId, config: DomainConfig, words: W) -> XenResult<()> {
        if !id.is_ordinary() || config.max_vcpus == 0 {
            return Err(Errno::EINVAL);
        }
        if self.domains.contains_key(&id) {
            return Err(Errno::EEXIST);
        }
        self.domains.insert(id, Domain::new(config, words));
        Ok(())
    }

    /// `evtchn_destroy` (from `domain_kill`): mark the domain dying (no new ports) and close
    /// every port, highest first, Xen-attached ones included; interdomain peers become unbound
    /// for this domain. Drops the domain's global VIRQ handler registrations.
    pub fn domain_kill(&mut self, id: DomId) -> XenResult<Effects> {
        let d = self.domains.get_mut(&id).ok_or(Errno::ESRCH)?;
        d.dying = true;
        let mut fx = Effects::new();
        for p in (1..d.valid_evtchns()).rev() {
            // A free port gives EINVAL: nothing to do.
            if let Ok(e) = self.close_port(id, Port(p), false) {
                fx.extend(e);
            }
        }
        for h in self.global_virq_handlers.iter_mut() {
            if *h == Some(id) {
                *h = None;
            }
        }
        // `evtchn_fifo_destroy`: the pages it kept are given back.
        if let Some(d) = self.domains.get_mut(&id) {
            if let Some(mut f) = d.fifo.take() {
                f.destroy(&mut d.words);
            }
        }
        Ok(fx)
    }

    /// `evtchn_destroy_final`: forget the domain (killing it first if needed).
    pub fn domain_destroy(&mut self, id: DomId) -> XenResult<Effects> {
        let fx = self.domain_kill(id)?;
        self.domains.remove(&id);
        Ok(fx)
    }

    /// Record whether the toolstack holds `id` paused (`controller_pause_count != 0`), which
    /// `EVTCHNOP_reset` of a foreign domain requires.
    pub fn set_controller_paused(&mut self, id: DomId, paused: bool) -> XenResult<()> {
        let d = self.domains.get_mut(&id).ok_or(Errno::ESRCH)?;
        d.controller_paused = paused;
        Ok(())
    }

    /// The domain's event-channel state.
    pub fn domain(&self, id: DomId) -> Option<&Domain<W>> {
        self.domains.get(&id)
    }

    /// The domain's event-channel state, mutably (to reach its guest words).
    pub fn domain_mut(&mut self, id: DomId) -> Option<&mut Domain<W>> {
        self.domains.get_mut(&id)
    }

    /// Ids of all domains.
    pub fn domain_ids(&self) -> impl Iterator<Item = DomId> + '_ {
        self.domains.keys().copied()
    }

    fn dom(&self, id: DomId) -> XenResult<&Domain<W>> {
        self.domains.get(&id).ok_or(Errno::ESRCH)
    }

    fn dom_mut(&mut self, id: DomId) -> XenResult<&mut Domain<W>> {
        self.domains.get_mut(&id).ok_or(Errno::ESRCH)
    }

    /// `rcu_lock_domain_by_any_id`: `DOMID_SELF` is the caller.
    fn any_id(&self, caller: DomId, dom: DomId) -> XenResult<DomId> {
        let id = if dom == DomId::SELF { caller } else { dom };
        self.dom(id)?;
        Ok(id)
    }

    /// `xsm_default_action(XSM_TARGET, caller, target)`: self or a control domain.
    fn xsm_target(&self, caller: DomId, target: DomId) -> XenResult<()> {
        if caller == target || self.dom(caller)?.config.privileged {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    // ---- EVTCHNOP_* ------------------------------------------------------------------------

    /// `EVTCHNOP_alloc_unbound`: a fresh port in `dom` accepting a binding from `remote_dom`.
    ///
    /// Order as `evtchn_alloc_unbound`: `ESRCH` (no such `dom`), then the port allocation
    /// (`EINVAL` dying, `ENOSPC`), then `EPERM` (foreign `dom`, caller not privileged).
    /// `remote_dom` is not checked; `DOMID_SELF` means the caller.
    pub fn alloc_unbound(
        &mut self,
        caller: DomId,
        dom: DomId,
        remote_dom: DomId,
    ) -> XenResult<Port> {
        self.dom(caller)?;
        let id = self.any_id(caller, dom)?;
        let port = self.dom_mut(id)?.get_free_port()?;
        self.xsm_target(caller, id)?;
        let remote = if remote_dom == DomId::SELF {
            caller
        } else {
            remote_dom
        };
        let chan = self.dom_mut(id)?.chan_mut(port).ok_or(Errno::EINVAL)?;
        chan.state = PortState::Unbound { remote };
        Ok(port)
    }

    /// `EVTCHNOP_bind_interdomain`: connect a fresh caller port to `<remote_dom, remote_port>`,
    /// which must be unbound for the caller. The new local port is set pending (a notification
    /// may have been lost while the remote port was unbound).
    ///
    /// Order: `ESRCH` (no remote domain), local allocation errors, `EINVAL` (remote port invalid,
    /// not unbound, or unbound for another domain).
    pub fn bind_interdomain(
        &mut self,
        caller: DomId,
        remote_dom: DomId,
        remote_port: Port,
    ) -> XenResult<(Port, Effects)> {
        let rd = if remote_dom == DomId::SELF {
            caller
        } else {
            remote_dom
        };
        self.dom(rd)?;
        let lport = self.dom_mut(caller)?.get_free_port()?;
        let rchan = self.dom(rd)?.channel(remote_port).ok_or(Errno::EINVAL)?;
        if rchan.state != (PortState::Unbound { remote: caller }) {
            return Err(Errno::EINVAL);
        }
        if let Some(r) = self.dom_mut(rd)?.chan_mut(remote_port) {
            r.state = PortState::Interdomain {
                remote: caller,
                remote_port: lport,
            };
        }
        let ld = self.dom_mut(caller)?;
        if let Some(l) = ld.chan_mut(lport) {
            l.state = PortState::Interdomain {
                remote: rd,
                remote_port,
            };
        }
        let fx = ld.set_pending(caller, lport);
        Ok((lport, fx))
    }

    /// `EVTCHNOP_bind_virq`: a fresh port for `virq` on `vcpu`.
    ///
    /// Order: `EINVAL` (`virq >= NR_VIRQS`; a global VIRQ on a vCPU other than 0), `ENOENT`
    /// (no such vCPU), `EEXIST` (already bound on that vCPU), allocation errors.
    pub fn bind_virq(&mut self, caller: DomId, virq: u32, vcpu: u32) -> XenResult<Port> {
        let d = self.dom_mut(caller)?;
        if virq >= NR_VIRQS {
            return Err(Errno::EINVAL);
        }
        if virq_is_global(virq) && vcpu != 0 {
            return Err(Errno::EINVAL);
        }
        if !d.vcpu_exists(vcpu) {
            return Err(Errno::ENOENT);
        }
        if d.virq_port(VcpuId(vcpu), virq).is_some() {
            return Err(Errno::EEXIST);
        }
        let port = d.get_free_port()?;
        if let Some(c) = d.chan_mut(port) {
            c.state = PortState::Virq { virq };
            c.notify_vcpu = VcpuId(vcpu);
        }
        if let Some(slot) = d
            .virq_to_evtchn
            .get_mut(vcpu as usize)
            .and_then(|t| t.get_mut(virq as usize))
        {
            *slot = port.0;
        }
        Ok(port)
    }

    /// `EVTCHNOP_bind_ipi`: a fresh IPI port notifying `vcpu`. `ENOENT` for no such vCPU.
    pub fn bind_ipi(&mut self, caller: DomId, vcpu: u32) -> XenResult<Port> {
        let d = self.dom_mut(caller)?;
        if !d.vcpu_exists(vcpu) {
            return Err(Errno::ENOENT);
        }
        let port = d.get_free_port()?;
        if let Some(c) = d.chan_mut(port) {
            c.state = PortState::Ipi;
            c.notify_vcpu = VcpuId(vcpu);
        }
        Ok(port)
    }

    /// `EVTCHNOP_bind_pirq`: a fresh port for physical IRQ `pirq`, notifying vCPU 0.
    ///
    /// `guest_bind(pirq, will_share)` is the hypervisor's `pirq_guest_bind`, called where Xen
    /// calls it; its error is returned and the port stays free.
    /// Order: `EINVAL` (`pirq >= nr_pirqs`), `EPERM` (no access), `EEXIST` (already bound),
    /// allocation errors, `guest_bind`'s error.
    pub fn bind_pirq(
        &mut self,
        caller: DomId,
        pirq: u32,
        flags: u32,
        guest_bind: impl FnOnce(u32, bool) -> XenResult<()>,
    ) -> XenResult<Port> {
        let d = self.dom_mut(caller)?;
        if pirq >= d.config.nr_pirqs {
            return Err(Errno::EINVAL);
        }
        if !d.config.pirq_access {
            return Err(Errno::EPERM);
        }
        if d.pirq_to_evtchn.contains_key(&pirq) {
            return Err(Errno::EEXIST);
        }
        let port = d.get_free_port()?;
        guest_bind(pirq, flags & BIND_PIRQ_WILL_SHARE != 0)?;
        d.pirq_to_evtchn.insert(pirq, port);
        if let Some(c) = d.chan_mut(port) {
            c.state = PortState::Pirq { pirq };
        }
        Ok(port)
    }

    /// `EVTCHNOP_close`: free a caller port. An interdomain peer becomes unbound for the
    /// caller. `EINVAL` for an invalid, free or reserved port, or a Xen-attached one.
    pub fn close(&mut self, caller: DomId, port: Port) -> XenResult<Effects> {
        self.close_port(caller, port, true)
    }

    /// `evtchn_close(d1, port1, guest)`.
    fn close_port(&mut self, d1: DomId, port: Port, guest: bool) -> XenResult<Effects> {
        let d = self.dom_mut(d1)?;
        let chan = *d.channel(port).ok_or(Errno::EINVAL)?;
        if chan.xen_consumer.is_some() && guest {
            return Err(Errno::EINVAL);
        }
        let mut fx = Effects::new();
        match chan.state {
            PortState::Free | PortState::Reserved => return Err(Errno::EINVAL),
            PortState::Unbound { .. } | PortState::Ipi => {}
            PortState::Pirq { pirq } => {
                if d.pirq_to_evtchn.remove(&pirq).is_some() {
                    fx.push(Effect::PirqUnbind { dom: d1, pirq });
                }
            }
            PortState::Virq { virq } => {
                for table in d.virq_to_evtchn.iter_mut() {
                    if let Some(slot) = table.get_mut(virq as usize) {
                        if *slot == port.0 {
                            *slot = 0;
                        }
                    }
                }
            }
            PortState::Interdomain {
                remote,
                remote_port,
            } => {
                // Invariant: a peer exists and is valid until its own ports are closed.
                let peer = self
                    .domains
                    .get_mut(&remote)
                    .and_then(|rd| rd.chan_mut(remote_port));
                debug_assert!(peer.is_some(), "interdomain peer of {d1}:{port} missing");
                if let Some(peer) = peer {
                    peer.state = PortState::Unbound { remote: d1 };
                }
            }
        }
        self.dom_mut(d1)?.free(port);
        Ok(fx)
    }

    /// `EVTCHNOP_send`: interdomain → the peer port becomes pending (or its Xen consumer is
    /// notified); IPI → the port itself; unbound → dropped silently. `EINVAL` for an invalid
    /// port, a Xen-attached one, and free, reserved, VIRQ and PIRQ ports.
    pub fn send(&mut self, caller: DomId, port: Port) -> XenResult<Effects> {
        let chan = *self.dom(caller)?.channel(port).ok_or(Errno::EINVAL)?;
        if chan.xen_consumer.is_some() {
            return Err(Errno::EINVAL);
        }
        match chan.state {
            PortState::Interdomain {
                remote,
                remote_port,
            } => {
                let rd = self.dom_mut(remote)?;
                let rchan = *rd.channel(remote_port).ok_or(Errno::EINVAL)?;
                Ok(match rchan.xen_consumer {
                    Some(consumer) => Effects::one(Effect::XenNotify {
                        dom: remote,
                        port: remote_port,
                        vcpu: rchan.notify_vcpu,
                        consumer,
                    }),
                    None => rd.set_pending(remote, remote_port),
                })
            }
            PortState::Ipi => Ok(self.dom_mut(caller)?.set_pending(caller, port)),
            PortState::Unbound { .. } => Ok(Effects::new()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `EVTCHNOP_status`: the binding of `<dom, port>`.
    ///
    /// Order: `ESRCH` (no such domain), `EINVAL` (port not valid), `EPERM` (foreign domain,
    /// caller not privileged). Free and reserved ports are `Closed`.
    pub fn status(&self, caller: DomId, dom: DomId, port: Port) -> XenResult<ChannelStatus> {
        self.dom(caller)?;
        let id = self.any_id(caller, dom)?;
        let chan = *self.dom(id)?.channel(port).ok_or(Errno::EINVAL)?;
        self.xsm_target(caller, id)?;
        let kind = match chan.state {
            PortState::Free | PortState::Reserved => StatusKind::Closed,
            PortState::Unbound { remote } => StatusKind::Unbound { dom: remote },
            PortState::Interdomain {
                remote,
                remote_port,
            } => StatusKind::Interdomain {
                dom: remote,
                port: remote_port,
            },
            PortState::Pirq { pirq } => StatusKind::Pirq(pirq),
            PortState::Virq { virq } => StatusKind::Virq(virq),
            PortState::Ipi => StatusKind::Ipi,
        };
        Ok(ChannelStatus {
            kind,
            vcpu: chan.notify_vcpu,
        })
    }

    /// `EVTCHNOP_bind_vcpu`: make `port` notify `vcpu`. Allowed for unbound, interdomain,
    /// PIRQ and global-VIRQ ports.
    ///
    /// Order: `ENOENT` (no such vCPU), `EINVAL` (invalid port, Xen-attached port, per-vCPU
    /// VIRQ, IPI, free, reserved). A PIRQ port that moves yields [`Effect::PirqAffinity`].
    pub fn bind_vcpu(&mut self, caller: DomId, port: Port, vcpu: u32) -> XenResult<Effects> {
        let d = self.dom_mut(caller)?;
        if !d.vcpu_exists(vcpu) {
            return Err(Errno::ENOENT);
        }
        let chan = d.chan_mut(port).ok_or(Errno::EINVAL)?;
        if chan.xen_consumer.is_some() {
            return Err(Errno::EINVAL);
        }
        let vcpu = VcpuId(vcpu);
        match chan.state {
            PortState::Virq { virq } if virq_is_global(virq) => chan.notify_vcpu = vcpu,
            PortState::Unbound { .. } | PortState::Interdomain { .. } => chan.notify_vcpu = vcpu,
            PortState::Pirq { pirq } => {
                if chan.notify_vcpu != vcpu {
                    chan.notify_vcpu = vcpu;
                    return Ok(Effects::one(Effect::PirqAffinity {
                        dom: caller,
                        pirq,
                        vcpu,
                    }));
                }
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(Effects::new())
    }

    /// `EVTCHNOP_unmask`: unmask `port` and redeliver it if pending. `EINVAL` only for a port
    /// that is not valid (a free port in a valid bucket is unmasked like any other).
    pub fn unmask(&mut self, caller: DomId, port: Port) -> XenResult<Effects> {
        let d = self.dom_mut(caller)?;
        let vcpu = d.channel(port).ok_or(Errno::EINVAL)?.notify_vcpu;
        let kick = match &mut d.fifo {
            Some(f) => f.unmask(&mut d.words, vcpu, port),
            None => d.ops.unmask(&mut d.words, vcpu, port),
        };
        Ok(match kick {
            Some(v) => Effects::one(Effect::Kick {
                dom: caller,
                vcpu: v,
            }),
            None => Effects::new(),
        })
    }

    /// `EVTCHNOP_reset`: close every port of `dom` (Xen-attached ports excepted), to the end.
    ///
    /// Order: `ESRCH` (no such domain), `EPERM` (foreign, caller not privileged), `EINVAL`
    /// (foreign domain not paused by the controller), `EBUSY` (a preempted reset of it is in
    /// progress).
    pub fn reset(&mut self, caller: DomId, dom: DomId) -> XenResult<Effects> {
        Self::whole(self.reset_preemptible(caller, dom, false, &mut || false))
    }

    /// `EVTCHNOP_reset_cont`: continue a preempted reset to the end; `EBUSY` after `reset`'s
    /// own checks when none is in progress, `EAGAIN` (effects dropped: use
    /// [`Self::reset_preemptible`] where ports may have been bound meanwhile) as there.
    pub fn reset_cont(&mut self, caller: DomId, dom: DomId) -> XenResult<Effects> {
        Self::whole(self.reset_preemptible(caller, dom, true, &mut || false))
    }

    fn whole(r: XenResult<(Effects, ResetEnd)>) -> XenResult<Effects> {
        match r? {
            (fx, ResetEnd::Done | ResetEnd::Preempted) => Ok(fx),
            (_, ResetEnd::Rebound) => Err(Errno::EAGAIN),
        }
    }

    /// `evtchn_reset(d, resuming)` (XSA-344: preemptible): closes ports from 1 up, or — when
    /// `resuming` a preempted reset (`EVTCHNOP_reset_cont`) — from where it stopped. After every
    /// 64th port it asks `preempt`; if that says so, it records where to go on and ends
    /// [`ResetEnd::Preempted`]: the caller makes the call again as `EVTCHNOP_reset_cont`. A
    /// fresh reset while one is in progress, or a continuation with none, is `EBUSY`. At the end,
    /// a port the domain bound meanwhile (below where a continuation started) is still open:
    /// [`ResetEnd::Rebound`], Xen's `-EAGAIN`, the domain staying on its ABI; otherwise a FIFO
    /// domain goes back to the 2-level ABI. The effects of every close are returned in all
    /// three cases.
    pub fn reset_preemptible(
        &mut self,
        caller: DomId,
        dom: DomId,
        resuming: bool,
        preempt: &mut dyn FnMut() -> bool,
    ) -> XenResult<(Effects, ResetEnd)> {
        let id = self.reset_checks(caller, dom)?;
        let d = self.dom_mut(id)?;
        let start = if resuming {
            d.reset_next
        } else if d.reset_next == 0 {
            1
        } else {
            0
        };
        if start == 0 {
            return Err(Errno::EBUSY);
        }
        d.reset_next = start;
        let mut fx = Effects::new();
        let mut p = start;
        while p < self.dom(id)?.valid_evtchns() {
            if let Ok(e) = self.close_port(id, Port(p), true) {
                fx.extend(e);
            }
            if p & 0x3f == 0 && preempt() {
                self.dom_mut(id)?.reset_next = p;
                return Ok((fx, ResetEnd::Preempted));
            }
            p += 1;
        }
        let d = self.dom_mut(id)?;
        d.reset_next = 0;
        // `active_evtchns > xen_evtchns`: a guest port still open.
        let open = d.channels().skip(1).any(|(_, c)| {
            c.xen_consumer.is_none() && !matches!(c.state, PortState::Free | PortState::Reserved)
        });
        if open {
            return Ok((fx, ResetEnd::Rebound));
        }
        if let Some(mut f) = d.fifo.take() {
            f.destroy(&mut d.words);
        }
        Ok((fx, ResetEnd::Done))
    }

    fn reset_checks(&self, caller: DomId, dom: DomId) -> XenResult<DomId> {
        self.dom(caller)?;
        let id = self.any_id(caller, dom)?;
        self.xsm_target(caller, id)?;
        if id != caller && !self.dom(id)?.controller_paused {
            return Err(Errno::EINVAL);
        }
        Ok(id)
    }

    /// `EVTCHNOP_init_control` (`evtchn_fifo_init_control`): map `vcpu`'s control block at
    /// `offset` of frame `control_gfn`; the first one switches the domain to the FIFO ABI (the
    /// 2-level pending bits are kept for when their event-array pages arrive). Returns the
    /// `link_bits` to write back. Order: `ENOENT` (no such vCPU), `EINVAL` (the block would cross
    /// the page, or is not 8-aligned; a second block for the vCPU; a frame that cannot be
    /// mapped).
    pub fn init_control(&mut self, caller: DomId, arg: &EvtchnInitControl) -> XenResult<u8> {
        let d = self.dom_mut(caller)?;
        if !d.vcpu_exists(arg.vcpu) {
            return Err(Errno::ENOENT);
        }
        if arg.offset > 4096 - crate::fifo::CONTROL_BLOCK_SIZE || arg.offset & 7 != 0 {
            return Err(Errno::EINVAL);
        }
        let vcpu = VcpuId(arg.vcpu);
        match &mut d.fifo {
            Some(f) => f.map_control_block(&mut d.words, vcpu, arg.control_gfn, arg.offset)?,
            None => {
                let prev = d.valid_evtchns().min(EVTCHN_2L_NR_CHANNELS);
                let mut f = FifoState::new(d.config.max_vcpus);
                f.map_control_block(&mut d.words, vcpu, arg.control_gfn, arg.offset)?;
                // `setup_ports`: keep each bound port's 2-level pending state, default priority.
                for p in 1..prev {
                    let fp = f.port_mut(Port(p));
                    fp.priority = crate::fifo::DEFAULT_PRIORITY;
                    if d.words.pending_test(Port(p)) {
                        fp.pending = true;
                    }
                }
                d.fifo = Some(f);
            }
        }
        Ok(EVTCHN_FIFO_LINK_BITS as u8)
    }

    /// `EVTCHNOP_expand_array`: `EOPNOTSUPP` under the 2-level ABI; `ENOSPC` past 128 pages;
    /// `EINVAL` for a frame that cannot be mapped. Events raised while their page was missing
    /// are raised now.
    pub fn expand_array(&mut self, caller: DomId, array_gfn: u64) -> XenResult<Effects> {
        let d = self.dom_mut(caller)?;
        let Some(f) = &mut d.fifo else {
            return Err(Errno::EOPNOTSUPP);
        };
        let range = f.add_page(&mut d.words, array_gfn)?;
        let mut fx = Effects::new();
        for p in range {
            let Some(vcpu) = d.channel(Port(p)).map(|c| c.notify_vcpu) else {
                break;
            };
            if d.fifo.as_ref().is_some_and(|f| f.port(Port(p)).pending) {
                fx.extend(d.raise(caller, vcpu, Port(p)));
            }
        }
        Ok(fx)
    }

    /// `EVTCHNOP_set_priority`: `EINVAL` for an invalid port, then the ABI's answer (`ENOSYS`
    /// for 2-level; for FIFO `EACCES` for a port not in use, then `EINVAL` above priority 15).
    pub fn set_priority(&mut self, caller: DomId, port: Port, priority: u32) -> XenResult<()> {
        let d = self.dom_mut(caller)?;
        let state = d.channel(port).ok_or(Errno::EINVAL)?.state;
        match &mut d.fifo {
            // `evtchn_port_set_priority`: a port not in use (free or reserved) is -EACCES.
            Some(_) if matches!(state, PortState::Free | PortState::Reserved) => Err(Errno::EACCES),
            Some(f) => f.set_priority(port, priority),
            None => d.ops.set_priority(&mut d.words, port, priority),
        }
    }

    // ---- hypervisor-side notifications -------------------------------------------------------

    /// `send_guest_vcpu_virq`: raise per-vCPU `virq` on `vcpu` of `dom` if bound.
    pub fn send_guest_vcpu_virq(&mut self, dom: DomId, vcpu: VcpuId, virq: u32) -> Effects {
        let Some(d) = self.domains.get_mut(&dom) else {
            return Effects::new();
        };
        match d.virq_port(vcpu, virq) {
            Some(port) if !virq_is_global(virq) => {
                // Xen delivers to `v` itself, which is the port's notify vCPU (never rebound).
                d.raise(dom, vcpu, port)
            }
            _ => Effects::new(),
        }
    }

    /// `send_guest_global_virq`: raise global `virq` of `dom` (bound on vCPU 0) on the port's
    /// notify vCPU.
    pub fn send_guest_global_virq(&mut self, dom: DomId, virq: u32) -> Effects {
        let Some(d) = self.domains.get_mut(&dom) else {
            return Effects::new();
        };
        match d.virq_port(VcpuId(0), virq) {
            Some(port) if virq_is_global(virq) => d.set_pending(dom, port),
            _ => Effects::new(),
        }
    }

    /// `send_global_virq`: raise global `virq` in its handler domain (default: the hardware
    /// domain).
    pub fn send_global_virq(&mut self, virq: u32) -> Effects {
        let dom = self
            .global_virq_handlers
            .get(virq as usize)
            .copied()
            .flatten()
            .unwrap_or(self.hardware_domain);
        self.send_guest_global_virq(dom, virq)
    }

    /// `set_global_virq_handler`: `EINVAL` for a non-global or out-of-range VIRQ.
    pub fn set_global_virq_handler(&mut self, dom: DomId, virq: u32) -> XenResult<()> {
        if virq >= NR_VIRQS || !virq_is_global(virq) {
            return Err(Errno::EINVAL);
        }
        self.dom(dom).map_err(|_| Errno::EINVAL)?;
        if let Some(h) = self.global_virq_handlers.get_mut(virq as usize) {
            *h = Some(dom);
        }
        Ok(())
    }

    /// `send_guest_pirq`: raise the port bound to `pirq` in `dom`, if any.
    pub fn send_guest_pirq(&mut self, dom: DomId, pirq: u32) -> Effects {
        let Some(d) = self.domains.get_mut(&dom) else {
            return Effects::new();
        };
        match d.pirq_port(pirq) {
            Some(port) => d.set_pending(dom, port),
            None => Effects::new(),
        }
    }

    /// `alloc_unbound_xen_event_channel`: a Xen-attached unbound port in `dom` for
    /// `remote_dom`, notifying `vcpu`. Guests cannot close, send on or rebind it; a send from
    /// the bound peer yields [`Effect::XenNotify`]. `ENOENT` for no such vCPU.
    pub fn alloc_unbound_xen_event_channel(
        &mut self,
        dom: DomId,
        vcpu: u32,
        remote_dom: DomId,
        consumer: XenConsumer,
    ) -> XenResult<Port> {
        let d = self.dom_mut(dom)?;
        if !d.vcpu_exists(vcpu) {
            return Err(Errno::ENOENT);
        }
        let port = d.get_free_port()?;
        if let Some(c) = d.chan_mut(port) {
            *c = Channel {
                state: PortState::Unbound { remote: remote_dom },
                notify_vcpu: VcpuId(vcpu),
                xen_consumer: Some(consumer),
            };
        }
        Ok(port)
    }

    /// `free_xen_event_channel`: close a Xen-attached port.
    pub fn free_xen_event_channel(&mut self, dom: DomId, port: Port) -> XenResult<Effects> {
        self.close_port(dom, port, false)
    }

    /// `notify_via_xen_event_channel`: from Xen-attached `port` of `dom`, raise its peer.
    /// Does nothing unless the port is interdomain.
    pub fn notify_via_xen_event_channel(&mut self, dom: DomId, port: Port) -> Effects {
        let Some(chan) = self.domains.get(&dom).and_then(|d| d.channel(port)) else {
            return Effects::new();
        };
        match chan.state {
            PortState::Interdomain {
                remote,
                remote_port,
            } => match self.domains.get_mut(&remote) {
                Some(rd) => rd.set_pending(remote, remote_port),
                None => Effects::new(),
            },
            _ => Effects::new(),
        }
    }
}

#[cfg(test)]
mod fifo_tests;
#[cfg(test)]
mod tests;
