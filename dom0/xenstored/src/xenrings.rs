//! Rings of real domains, as C xenstored reaches them when it runs in dom0 on Xen:
//! - dom0's own ring is the page Linux allocated at boot, mapped from `/proc/xen/xsd_kva`, its
//!   event channel the port in `/proc/xen/xsd_port` (C's `xenbus_map`/`xenbus_evtchn`);
//! - an introduced domain's ring is the page behind its grant entry
//!   `GNTTAB_RESERVED_XENSTORE`, which the toolstack's domain builder filled, mapped through
//!   `/dev/xen/gntdev` (C's `map_interface`; the frame number in `INTRODUCE` is ignored, as
//!   in C);
//! - each ring's event channel is bound interdomain through one `/dev/xen/evtchn` handle, whose
//!   descriptor the daemon polls; `VIRQ_DOM_EXC` is bound on the same handle, and when it
//!   fires every introduced domain is looked up with `XEN_SYSCTL_getdomaininfolist`
//!   ([`Xenstored::check_domains`]).

use std::collections::BTreeMap;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use dom0_sys::evtchn::Evtchn;
use dom0_sys::gntdev::{Gntdev, GrantMapping};
use dom0_sys::privcmd::Privcmd;
use dom0_sys::xsd::XsdPage;
use xen_abi::domctl::DomInfFlags;
use xen_abi::grant_table::GNTTAB_RESERVED_XENSTORE;
use xen_abi::io::ring::RingMemory;
use xen_abi::types::{DomId, Port};
use xen_abi::xen::VIRQ_DOM_EXC;
use xen_abi::Errno;

use crate::core::{DomainConnector, DomainState, Xenstored};
use crate::ring::RingConn;
use crate::rings::Rings;

enum Page {
    /// dom0's, from xenfs.
    Master(XsdPage),
    /// Another domain's, through its reserved grant entry.
    Granted(GrantMapping),
}

impl Page {
    fn mem(&mut self) -> &mut dyn RingMemory {
        match self {
            Page::Master(p) => &mut **p,
            Page::Granted(g) => &mut **g,
        }
    }
}

struct XenRing {
    page: Page,
    conn: RingConn,
    /// The local end of the domain's event channel (`None` if a rebind failed, as C's 0).
    port: Option<Port>,
}

/// The [`DomainConnector`] for a daemon running in dom0 on Xen (or Ferrite).
pub struct XenRings {
    evtchn: Evtchn,
    gntdev: Arc<Gntdev>,
    privcmd: Privcmd,
    virq: Port,
    rings: BTreeMap<u32, XenRing>,
    /// A ring still holds input after the last turn.
    more: bool,
}

fn errno(e: &io::Error) -> Errno {
    e.raw_os_error()
        .and_then(Errno::from_code)
        .unwrap_or(Errno::EINVAL)
}

impl XenRings {
    /// Opens `/dev/xen/evtchn`, `/dev/xen/gntdev` and `/dev/xen/privcmd`, and binds
    /// `VIRQ_DOM_EXC`.
    pub fn open() -> io::Result<XenRings> {
        let evtchn = Evtchn::open()?;
        let virq = evtchn.bind_virq(VIRQ_DOM_EXC)?;
        Ok(XenRings {
            evtchn,
            gntdev: Gntdev::open()?,
            privcmd: Privcmd::open()?,
            virq,
            rings: BTreeMap::new(),
            more: false,
        })
    }

    /// dom0's ring event channel, `/proc/xen/xsd_port`.
    pub fn master_port() -> io::Result<u32> {
        dom0_sys::xsd::xsd_port().map(|p| p.0)
    }

    /// Sends an event to `domid` (C's `dom0_init` does it once dom0's ring is connected, which
    /// wakes the kernel's xenbus probe).
    pub fn notify(&self, domid: u32) {
        if let Some(p) = self.rings.get(&domid).and_then(|r| r.port) {
            if let Err(e) = self.evtchn.notify(p) {
                log::warn!("domain {domid}: notify: {e}");
            }
        }
    }

    fn bind(&self, domid: u32, port: u32) -> io::Result<Port> {
        self.evtchn
            .bind_interdomain(DomId(domid as u16), Port(port))
    }

    /// `VIRQ_DOM_EXC`: look up every introduced domain.
    fn check(engine: &mut Xenstored<XenRings>) {
        let all = match engine.connector.privcmd.domains() {
            Ok(v) => v,
            Err(e) => {
                // Releasing on a failed lookup would drop live domains: keep them.
                log::warn!("VIRQ_DOM_EXC: XEN_SYSCTL_getdomaininfolist: {e}");
                return;
            }
        };
        let states: BTreeMap<u32, DomainState> = all
            .iter()
            .map(|i| {
                let f = DomInfFlags::from_bits_retain(i.flags);
                let st = DomainState {
                    shutdown: f.contains(DomInfFlags::SHUTDOWN),
                    dying: f.contains(DomInfFlags::DYING),
                };
                (u32::from(i.domain.0), st)
            })
            .collect();
        engine.check_domains(|d| states.get(&d).copied());
    }
}

impl DomainConnector for XenRings {
    fn connect(&mut self, domid: u32, port: u32) -> Result<(), Errno> {
        if domid >= u32::from(DomId::FIRST_RESERVED.0) {
            return Err(Errno::EINVAL);
        }
        let page = if domid == 0 {
            Page::Master(XsdPage::map().map_err(|e| {
                log::warn!("dom0's ring: {}: {e}", dom0_sys::xsd::XSD_KVA);
                errno(&e)
            })?)
        } else {
            let refs = [GNTTAB_RESERVED_XENSTORE];
            Page::Granted(
                self.gntdev
                    .map_grant_refs(DomId(domid as u16), &refs, true)
                    .map_err(|e| {
                        log::warn!("domain {domid}: mapping its xenstore grant: {e}");
                        errno(&e)
                    })?,
            )
        };
        let local = self.bind(domid, port).map_err(|e| {
            log::warn!("domain {domid}: binding its port {port}: {e}");
            errno(&e)
        })?;
        log::info!(
            "domain {domid}: ring connected, port {port} (local {})",
            local.0
        );
        self.rings.insert(
            domid,
            XenRing {
                page,
                conn: RingConn::new(),
                port: Some(local),
            },
        );
        Ok(())
    }

    fn reset(&mut self, domid: u32, port: u32) {
        let old = self.rings.get(&domid).and_then(|r| r.port);
        if let Some(p) = old {
            let _ = self.evtchn.unbind(p);
        }
        let new = self.bind(domid, port).ok();
        if let Some(r) = self.rings.get_mut(&domid) {
            r.port = new;
            r.conn.reset(r.page.mem());
        }
        // The guest may be waiting in XENSTORE_RECONNECT, or for its zeroed indices.
        self.notify(domid);
    }

    fn disconnect(&mut self, domid: u32) {
        if let Some(r) = self.rings.remove(&domid) {
            if let Some(p) = r.port {
                let _ = self.evtchn.unbind(p);
            }
            log::info!("domain {domid}: ring disconnected");
        }
    }

    fn service(engine: &mut Xenstored<Self>) {
        let mut virq = false;
        loop {
            match engine.connector.evtchn.pending(0) {
                Ok(Some(p)) => {
                    virq |= p == engine.connector.virq;
                    if let Err(e) = engine.connector.evtchn.unmask(p) {
                        log::warn!("unmasking port {}: {e}", p.0);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    log::warn!("reading /dev/xen/evtchn: {e}");
                    break;
                }
            }
        }
        if virq {
            XenRings::check(engine);
        }
        engine.connector.more = crate::rings::serve(engine, true);
    }

    fn flush(engine: &mut Xenstored<Self>) {
        engine.connector.more |= crate::rings::serve(engine, false);
    }

    fn poll_timeout_ms(&self) -> i32 {
        if self.more {
            0
        } else {
            -1
        }
    }

    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.evtchn.as_raw_fd())
    }
}

impl Rings for XenRings {
    fn domids(&self) -> Vec<u32> {
        self.rings.keys().copied().collect()
    }

    fn ring(&mut self, domid: u32) -> Option<(&mut dyn RingMemory, &mut RingConn)> {
        let r = self.rings.get_mut(&domid)?;
        Some((r.page.mem(), &mut r.conn))
    }

    fn kick(&mut self, domid: u32) {
        self.notify(domid);
    }
}
