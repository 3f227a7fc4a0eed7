//! Device discovery and the handshake loop, for any device type: one event loop follows
//! xenstore (the `backend/<type>` directory, each frontend's `state`, `@releaseDomain`), finds
//! the devices the toolstack created, drives each through [`crate::xenbus::step`] and carries
//! out the actions with the device type's [`Backend`] — the role of Linux's
//! `xenbus_probe_backend.c` for a `struct xenbus_driver`.

use crate::xenbus::{self, Action, Observed, Phase};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::mpsc::{self, Receiver, Sender};
use xen_abi::io::xenbus::XenbusState;
use xen_abi::types::DomId;
use xenstore::{Error, WatchEvent, Xenstore, NO_TX};

/// The xenstore operations the loop needs (outside transactions): [`Xenstore`] in the daemon,
/// a map in tests.
pub trait Store {
    /// `XS_READ`.
    fn read(&self, path: &str) -> Result<Vec<u8>, Error>;
    /// `XS_WRITE`.
    fn write(&self, path: &str, value: &[u8]) -> Result<(), Error>;
    /// `XS_DIRECTORY`: the children's names.
    fn directory(&self, path: &str) -> Result<Vec<String>, Error>;
    /// `XS_WATCH`, events delivered into `to` (the loop's one stream).
    fn watch(&self, path: &str, token: &str, to: Sender<WatchEvent>) -> Result<(), Error>;
    /// `XS_UNWATCH`.
    fn unwatch(&self, path: &str, token: &str) -> Result<(), Error>;

    /// `XS_READ` as UTF-8 text (lossy).
    fn read_string(&self, path: &str) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(&self.read(path)?).into_owned())
    }

    /// Reads `path` and parses it; `None` if the node is missing or does not parse.
    fn read_parse<T: std::str::FromStr>(&self, path: &str) -> Option<T> {
        self.read_string(path).ok()?.trim().parse().ok()
    }
}

impl Store for Xenstore {
    fn read(&self, path: &str) -> Result<Vec<u8>, Error> {
        Xenstore::read(self, NO_TX, path)
    }
    fn write(&self, path: &str, value: &[u8]) -> Result<(), Error> {
        Xenstore::write(self, NO_TX, path, value)
    }
    fn directory(&self, path: &str) -> Result<Vec<String>, Error> {
        Xenstore::directory(self, NO_TX, path)
    }
    fn watch(&self, path: &str, token: &str, to: Sender<WatchEvent>) -> Result<(), Error> {
        self.watch_with(path, token, to)
    }
    fn unwatch(&self, path: &str, token: &str) -> Result<(), Error> {
        Xenstore::unwatch(self, path, token)
    }
}

/// Where a device lives in xenstore (Linux's `xenbus_device`: `nodename`, `otherend`,
/// `otherend_id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The backend directory, `/local/domain/<own>/backend/<type>/<domid>/<devid>`.
    pub backend: String,
    /// The frontend directory, as the backend's `frontend` node names it.
    pub frontend: String,
    /// The frontend's domain.
    pub domid: DomId,
    /// The device number (the last component of [`DeviceInfo::backend`]).
    pub devid: u32,
}

/// Handed to [`Backend::connect`]: the connection's threads call [`Broken::signal`] when the
/// frontend breaks the ring protocol (e.g. its producer index jumps), and the loop then
/// disconnects the device and sets it `Closing`; other devices are untouched.
#[derive(Clone, Debug)]
pub struct Broken {
    tx: Sender<WatchEvent>,
    token: String,
}

impl Broken {
    /// Tells the loop that this device's frontend broke the ring.
    pub fn signal(&self) {
        let _ = self.tx.send(WatchEvent {
            path: String::new(),
            token: self.token.clone(),
        });
    }
}

/// One device type's backend, as Linux's `struct xenbus_driver`: the loop calls
/// [`Backend::advertise`] for a new device (`probe`), [`Backend::connect`] when the frontend is
/// `Initialised` or `Connected` and [`Backend::disconnect`] when it closes, vanishes or breaks
/// the ring (`otherend_changed`), and [`Backend::remove`] when the device goes (`remove`). The
/// loop writes the backend's `state` itself, and on a failure the `error` node and `Closing`.
pub trait Backend {
    /// The device type: the directory under `backend/` (`"vbd"`, `"vif"`).
    const TYPE: &'static str;
    /// The xenstore client.
    type Store: Store;
    /// What [`Backend::advertise`] sets up and the device keeps until it goes (blkback: the
    /// open backing and its limits).
    type Device;
    /// A connected device: its queues and threads.
    type Conn;
    /// Why an operation failed (written to the backend's `error` node with `{:#}`).
    type Error: fmt::Display;

    /// Sets a new device up and writes its feature nodes; the loop then sets `InitWait`.
    fn advertise(
        &mut self,
        xs: &Self::Store,
        dev: &DeviceInfo,
    ) -> Result<Self::Device, Self::Error>;

    /// Reads the frontend's rings and starts serving them; the loop then sets `Connected`.
    fn connect(
        &mut self,
        xs: &Self::Store,
        dev: &DeviceInfo,
        device: &Self::Device,
        broken: Broken,
    ) -> Result<Self::Conn, Self::Error>;

    /// Stops serving (in-flight work finishes, the rings are unmapped, the event channels
    /// unbound).
    fn disconnect(&mut self, dev: &DeviceInfo, conn: Self::Conn);

    /// The device is forgotten (its backend directory went, or the toolstack unplugged it).
    fn remove(&mut self, dev: &DeviceInfo, device: Self::Device) {
        let _ = (dev, device);
    }
}

struct Device<B: Backend> {
    info: DeviceInfo,
    phase: Phase,
    device: Option<B::Device>,
    conn: Option<B::Conn>,
    /// The token of the watch on the frontend's `state`: `fe/<domid>/<devid>`.
    token: String,
    /// Advertising failed: the device waits for its directory to go.
    failed: bool,
}

const BROKEN: &str = "broken/";
const FRONTEND: &str = "fe/";

/// The discovery and handshake loop of one device type.
pub struct Driver<B: Backend> {
    xs: B::Store,
    base: String,
    backend: B,
    tx: Sender<WatchEvent>,
    rx: Receiver<WatchEvent>,
    devices: BTreeMap<(u16, u32), Device<B>>,
}

impl<B: Backend> Driver<B> {
    /// Serves `backend/<TYPE>` of domain `own`: watches that directory and `@releaseDomain`.
    pub fn new(xs: B::Store, own: DomId, backend: B) -> Result<Self, Error> {
        let base = format!("/local/domain/{}/backend/{}", own.0, B::TYPE);
        let (tx, rx) = mpsc::channel();
        xs.watch(&base, B::TYPE, tx.clone())?;
        xs.watch("@releaseDomain", "release", tx.clone())?;
        Ok(Driver {
            xs,
            base,
            backend,
            tx,
            rx,
            devices: BTreeMap::new(),
        })
    }

    /// The directory served, `/local/domain/<own>/backend/<TYPE>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The device type's backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The xenstore client.
    pub fn store(&self) -> &B::Store {
        &self.xs
    }

    /// Where device `devid` of domain `domid` is in its handshake, if it is known.
    pub fn phase(&self, domid: DomId, devid: u32) -> Option<Phase> {
        self.devices.get(&(domid.0, devid)).map(|d| d.phase)
    }

    /// Runs until the watch stream ends (xenstore went away).
    pub fn run(&mut self) {
        while let Ok(ev) = self.rx.recv() {
            self.handle(Some(ev));
        }
    }

    /// Handles whatever events are waiting (without blocking) and rescans.
    pub fn poll(&mut self) {
        self.handle(None);
    }

    fn handle(&mut self, first: Option<WatchEvent>) {
        let mut broken = Vec::new();
        for ev in first.into_iter().chain(self.rx.try_iter()) {
            if let Some(k) = ev.token.strip_prefix(BROKEN) {
                broken.push(format!("{FRONTEND}{k}"));
            }
        }
        for token in broken {
            let Some(d) = self.devices.values_mut().find(|d| d.token == token) else {
                continue;
            };
            log::warn!("{}: frontend broke the ring; closing", d.info.backend);
            if let Some(c) = d.conn.take() {
                self.backend.disconnect(&d.info, c);
            }
            d.phase = Phase::Closing;
            let _ = self.xs.write(&format!("{}/state", d.info.backend), b"5");
        }
        self.rescan();
    }

    fn list(&self, path: &str) -> Vec<String> {
        self.xs.directory(path).unwrap_or_default()
    }

    /// Adopts new devices, then steps every device's handshake.
    fn rescan(&mut self) {
        for d in self.list(&self.base) {
            let Ok(domid) = d.parse::<u16>() else {
                continue;
            };
            for v in self.list(&format!("{}/{d}", self.base)) {
                let Ok(devid) = v.parse::<u32>() else {
                    continue;
                };
                if !self.devices.contains_key(&(domid, devid)) {
                    self.adopt(domid, devid);
                }
            }
        }
        let mut gone = Vec::new();
        for (key, dev) in self.devices.iter_mut() {
            if dev.failed {
                // Keep watching only for the directory going away.
                if self
                    .xs
                    .read(&format!("{}/frontend", dev.info.backend))
                    .is_err()
                {
                    gone.push(*key);
                }
                continue;
            }
            let o = observe(&self.xs, &dev.info);
            let (next, actions) = xenbus::step(dev.phase, &o);
            if !actions.is_empty() {
                log::info!(
                    "{}: {:?} -> {next:?} ({o:?}): {actions:?}",
                    dev.info.backend,
                    dev.phase
                );
            }
            dev.phase = next;
            for a in actions {
                if let Err(e) = act(&self.xs, &mut self.backend, &self.tx, dev, a) {
                    let be = &dev.info.backend;
                    log::warn!("{be}: {a:?} failed: {e}");
                    let _ = self.xs.write(&format!("{be}/error"), e.as_bytes());
                    let _ = self.xs.write(&format!("{be}/state"), b"5");
                    if a == Action::Advertise {
                        dev.failed = true;
                    }
                    dev.phase = Phase::Closing;
                    break;
                }
                if a == Action::Forget {
                    gone.push(*key);
                }
            }
        }
        for key in gone {
            if let Some(mut d) = self.devices.remove(&key) {
                if let Some(c) = d.conn.take() {
                    self.backend.disconnect(&d.info, c);
                }
                if let Some(state) = d.device.take() {
                    self.backend.remove(&d.info, state);
                }
                let _ = self
                    .xs
                    .unwatch(&format!("{}/state", d.info.frontend), &d.token);
                log::info!("{}: released", d.info.backend);
            }
        }
    }

    /// Starts following a device found in the backend directory.
    fn adopt(&mut self, domid: u16, devid: u32) {
        let be = format!("{}/{domid}/{devid}", self.base);
        // A device the toolstack is unplugging (online=0) is not adopted again after it was
        // released: its directory lingers until libxl removes it.
        if self.xs.read_parse::<u32>(&format!("{be}/online")) == Some(0) {
            return;
        }
        let Ok(fe) = self.xs.read_string(&format!("{be}/frontend")) else {
            return;
        };
        let token = format!("{FRONTEND}{domid}/{devid}");
        if let Err(e) = self
            .xs
            .watch(&format!("{fe}/state"), &token, self.tx.clone())
        {
            log::warn!("{be}: watching {fe}/state: {e}");
            return;
        }
        log::info!("{be}: new device, frontend {fe}");
        self.devices.insert(
            (domid, devid),
            Device {
                info: DeviceInfo {
                    backend: be,
                    frontend: fe,
                    domid: DomId(domid),
                    devid,
                },
                phase: Phase::New,
                device: None,
                conn: None,
                token,
                failed: false,
            },
        );
    }
}

/// Opens xenstore, reads this domain's id, and serves `backend/<TYPE>` until xenstore goes away.
pub fn run<B: Backend<Store = Xenstore> + fmt::Debug>(backend: B) -> Result<(), Error> {
    let xs = Xenstore::open()?;
    let own: u16 = Store::read_parse(&xs, "domid").unwrap_or(0);
    let mut driver = Driver::new(xs, DomId(own), backend)?;
    let base = driver.base();
    let b = driver.backend();
    match dom0_sys::privcmd::Privcmd::open().and_then(|p| p.xen_version()) {
        Ok((major, minor)) => log::info!("on Xen {major}.{minor}, serving {base} ({b:?})"),
        Err(e) => log::info!("serving {base} ({b:?}); xen_version: {e}"),
    }
    driver.run();
    Ok(())
}

fn state_of<S: Store>(xs: &S, path: &str) -> XenbusState {
    xs.read_parse::<u32>(path)
        .and_then(|v| XenbusState::try_from(v).ok())
        .unwrap_or(XenbusState::Unknown)
}

/// What xenstore says about a device now.
fn observe<S: Store>(xs: &S, dev: &DeviceInfo) -> Observed {
    Observed {
        backend_present: xs.read(&format!("{}/frontend", dev.backend)).is_ok(),
        frontend: state_of(xs, &format!("{}/state", dev.frontend)),
        backend_node: state_of(xs, &format!("{}/state", dev.backend)),
        online: xs
            .read_parse::<u32>(&format!("{}/online", dev.backend))
            .is_none_or(|v| v != 0),
    }
}

/// Carries out one action; a failure comes back as the text for the `error` node.
fn act<B: Backend>(
    xs: &B::Store,
    backend: &mut B,
    tx: &Sender<WatchEvent>,
    dev: &mut Device<B>,
    a: Action,
) -> Result<(), String> {
    match a {
        Action::Advertise => {
            let state = backend
                .advertise(xs, &dev.info)
                .map_err(|e| format!("{e:#}"))?;
            dev.device = Some(state);
        }
        Action::Connect => {
            let state = dev.device.as_ref().ok_or("connect before advertise")?;
            let broken = Broken {
                tx: tx.clone(),
                token: format!("{BROKEN}{}", dev.token.trim_start_matches(FRONTEND)),
            };
            let conn = backend
                .connect(xs, &dev.info, state, broken)
                .map_err(|e| format!("{e:#}"))?;
            dev.conn = Some(conn);
        }
        Action::Disconnect => {
            if let Some(c) = dev.conn.take() {
                backend.disconnect(&dev.info, c);
            }
        }
        Action::SetState(s) => {
            xs.write(
                &format!("{}/state", dev.info.backend),
                (s as u32).to_string().as_bytes(),
            )
            .map_err(|e| e.to_string())?;
        }
        Action::Forget => {
            if let Some(c) = dev.conn.take() {
                backend.disconnect(&dev.info, c);
            }
            if let Some(state) = dev.device.take() {
                backend.remove(&dev.info, state);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "driver/tests.rs"]
mod tests;
