//! The discovery loop against a xenstore in a map and a backend that records its calls: the
//! sequences libxl and a frontend produce, failures written to `error`, a broken ring, unplug.

use super::*;
use std::sync::Mutex;
use XenbusState as S;

/// Nodes by path; a path with children reads as an empty node, as in xenstore.
#[derive(Default)]
struct FakeStore {
    nodes: Mutex<BTreeMap<String, Vec<u8>>>,
    watches: Mutex<Vec<(String, String)>>,
    unwatches: Mutex<Vec<(String, String)>>,
}

fn missing(path: &str) -> Error {
    Error::Xenstore {
        op: "read",
        path: path.into(),
        errno: xen_abi::Errno::ENOENT,
    }
}

impl FakeStore {
    fn set(&self, path: &str, value: &str) {
        self.nodes
            .lock()
            .expect("fake lock")
            .insert(path.into(), value.as_bytes().to_vec());
    }
    fn get(&self, path: &str) -> Option<String> {
        Store::read_string(self, path).ok()
    }
    fn rm(&self, path: &str) {
        let sub = format!("{path}/");
        self.nodes
            .lock()
            .expect("fake lock")
            .retain(|k, _| k != path && !k.starts_with(&sub));
    }
}

impl Store for FakeStore {
    fn read(&self, path: &str) -> Result<Vec<u8>, Error> {
        let nodes = self.nodes.lock().expect("fake lock");
        let sub = format!("{path}/");
        match nodes.get(path) {
            Some(v) => Ok(v.clone()),
            None if nodes.keys().any(|k| k.starts_with(&sub)) => Ok(Vec::new()),
            None => Err(missing(path)),
        }
    }
    fn write(&self, path: &str, value: &[u8]) -> Result<(), Error> {
        self.nodes
            .lock()
            .expect("fake lock")
            .insert(path.into(), value.to_vec());
        Ok(())
    }
    fn directory(&self, path: &str) -> Result<Vec<String>, Error> {
        let sub = format!("{path}/");
        let nodes = self.nodes.lock().expect("fake lock");
        let mut names: Vec<String> = nodes
            .keys()
            .filter_map(|k| k.strip_prefix(&sub))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        names.dedup();
        if names.is_empty() && !nodes.contains_key(path) {
            return Err(missing(path));
        }
        Ok(names)
    }
    fn watch(&self, path: &str, token: &str, _to: Sender<WatchEvent>) -> Result<(), Error> {
        self.watches
            .lock()
            .expect("fake lock")
            .push((path.into(), token.into()));
        Ok(())
    }
    fn unwatch(&self, path: &str, token: &str) -> Result<(), Error> {
        self.unwatches
            .lock()
            .expect("fake lock")
            .push((path.into(), token.into()));
        Ok(())
    }
}

/// Records each call as text; fails where told to.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    fail_advertise: bool,
    fail_connect: bool,
    broken: Option<Broken>,
    next_conn: u32,
    /// Connections handed out and not yet disconnected.
    open: usize,
    /// Devices set up and not yet removed.
    live: usize,
}

impl Backend for Recorder {
    const TYPE: &'static str = "vtest";
    type Store = FakeStore;
    type Device = u32;
    type Conn = u32;
    type Error = String;

    fn advertise(&mut self, xs: &FakeStore, dev: &DeviceInfo) -> Result<u32, String> {
        self.calls.push(format!("advertise {}", dev.devid));
        if self.fail_advertise {
            return Err("no backing".into());
        }
        xs.set(&format!("{}/feature-test", dev.backend), "1");
        self.live += 1;
        Ok(dev.devid)
    }
    fn connect(
        &mut self,
        _xs: &FakeStore,
        dev: &DeviceInfo,
        device: &u32,
        broken: Broken,
    ) -> Result<u32, String> {
        self.calls.push(format!("connect {} {device}", dev.devid));
        if self.fail_connect {
            return Err("ring-ref missing".into());
        }
        self.broken = Some(broken);
        self.next_conn += 1;
        self.open += 1;
        Ok(self.next_conn)
    }
    fn disconnect(&mut self, dev: &DeviceInfo, conn: u32) {
        self.calls.push(format!("disconnect {} {conn}", dev.devid));
        self.open -= 1;
    }
    fn remove(&mut self, dev: &DeviceInfo, device: u32) {
        self.calls.push(format!("remove {} {device}", dev.devid));
        self.live -= 1;
    }
}

const BE: &str = "/local/domain/0/backend/vtest/3/51712";
const FE: &str = "/local/domain/3/device/vtest/51712";

/// A driver with one device as libxl writes it: backend `state=1`, `online=1`, frontend
/// `Initialising`.
fn setup(backend: Recorder) -> Driver<Recorder> {
    let xs = FakeStore::default();
    xs.set(&format!("{BE}/frontend"), FE);
    xs.set(&format!("{BE}/online"), "1");
    xs.set(&format!("{BE}/state"), "1");
    xs.set(&format!("{FE}/backend"), BE);
    xs.set(&format!("{FE}/state"), "1");
    Driver::new(xs, DomId(0), backend).expect("the fake store watches")
}

fn frontend(d: &mut Driver<Recorder>, s: S) {
    d.store()
        .set(&format!("{FE}/state"), &(s as u32).to_string());
    d.poll();
}

fn be_state(d: &Driver<Recorder>) -> Option<String> {
    d.store().get(&format!("{BE}/state"))
}

fn calls(d: &Driver<Recorder>) -> Vec<&str> {
    d.backend().calls.iter().map(String::as_str).collect()
}

#[test]
fn new_watches_the_backend_directory_and_release_domain() {
    let d = setup(Recorder::default());
    assert_eq!(d.base(), "/local/domain/0/backend/vtest");
    let w = d.store().watches.lock().expect("fake lock").clone();
    assert_eq!(
        w,
        vec![
            ("/local/domain/0/backend/vtest".into(), "vtest".into()),
            ("@releaseDomain".into(), "release".into())
        ]
    );
}

#[test]
fn poll_new_device_advertises_and_sets_initwait() {
    let mut d = setup(Recorder::default());
    d.poll();
    assert_eq!(calls(&d), vec!["advertise 51712"]);
    assert_eq!(be_state(&d).as_deref(), Some("2"));
    assert_eq!(
        d.store().get(&format!("{BE}/feature-test")).as_deref(),
        Some("1")
    );
    assert_eq!(d.phase(DomId(3), 51712), Some(Phase::InitWait));
    let w = d.store().watches.lock().expect("fake lock").clone();
    assert!(w.contains(&(format!("{FE}/state"), "fe/3/51712".into())));
    // Nothing changed: a second poll does nothing.
    d.poll();
    assert_eq!(calls(&d).len(), 1);
}

#[test]
fn poll_full_lifecycle_connects_closes_and_reconnects() {
    let mut d = setup(Recorder::default());
    d.poll();
    frontend(&mut d, S::Initialised);
    assert_eq!(be_state(&d).as_deref(), Some("4"));
    frontend(&mut d, S::Connected);
    frontend(&mut d, S::Closing);
    assert_eq!(be_state(&d).as_deref(), Some("5"));
    frontend(&mut d, S::Closed);
    assert_eq!(be_state(&d).as_deref(), Some("6"));
    frontend(&mut d, S::Initialising);
    assert_eq!(be_state(&d).as_deref(), Some("2"));
    frontend(&mut d, S::Initialised);
    assert_eq!(
        calls(&d),
        vec![
            "advertise 51712",
            "connect 51712 51712",
            "disconnect 51712 1",
            "connect 51712 51712"
        ]
    );
    assert_eq!(d.phase(DomId(3), 51712), Some(Phase::Connected));
}

#[test]
fn poll_connect_failure_writes_error_and_closing() {
    let mut d = setup(Recorder {
        fail_connect: true,
        ..Recorder::default()
    });
    d.poll();
    frontend(&mut d, S::Initialised);
    assert_eq!(
        d.store().get(&format!("{BE}/error")).as_deref(),
        Some("ring-ref missing")
    );
    assert_eq!(be_state(&d).as_deref(), Some("5"));
    assert_eq!(d.phase(DomId(3), 51712), Some(Phase::Closing));
}

#[test]
fn poll_advertise_failure_waits_for_directory_to_go() {
    let mut d = setup(Recorder {
        fail_advertise: true,
        ..Recorder::default()
    });
    d.poll();
    assert_eq!(
        d.store().get(&format!("{BE}/error")).as_deref(),
        Some("no backing")
    );
    assert_eq!(be_state(&d).as_deref(), Some("5"));
    // The frontend moving on changes nothing for a failed device.
    frontend(&mut d, S::Initialised);
    assert_eq!(calls(&d), vec!["advertise 51712"]);
    d.store().rm(BE);
    d.poll();
    assert_eq!(d.phase(DomId(3), 51712), None);
    assert_eq!(calls(&d), vec!["advertise 51712"]);
}

#[test]
fn broken_signal_disconnects_and_sets_closing() {
    let mut d = setup(Recorder::default());
    d.poll();
    frontend(&mut d, S::Connected);
    let broken = d.backend().broken.clone().expect("connected");
    broken.signal();
    d.poll();
    assert_eq!(calls(&d).last(), Some(&"disconnect 51712 1"));
    assert_eq!(be_state(&d).as_deref(), Some("5"));
    assert_eq!(d.phase(DomId(3), 51712), Some(Phase::Closing));
    // The frontend then closes and restarts: reconnection through InitWait.
    frontend(&mut d, S::Closed);
    frontend(&mut d, S::Initialising);
    assert_eq!(be_state(&d).as_deref(), Some("2"));
}

#[test]
fn backend_directory_removed_while_connected_disconnects_removes_and_unwatches() {
    let mut d = setup(Recorder::default());
    d.poll();
    frontend(&mut d, S::Connected);
    d.store().rm(BE);
    d.poll();
    assert_eq!(calls(&d)[2..], ["disconnect 51712 1", "remove 51712 51712"]);
    assert_eq!(d.phase(DomId(3), 51712), None);
    let u = d.store().unwatches.lock().expect("fake lock").clone();
    assert_eq!(u, vec![(format!("{FE}/state"), "fe/3/51712".into())]);
}

#[test]
fn unplug_offline_closed_frontend_is_released_and_not_adopted_again() {
    let mut d = setup(Recorder::default());
    d.poll();
    frontend(&mut d, S::Connected);
    d.store().set(&format!("{BE}/online"), "0");
    frontend(&mut d, S::Closing);
    frontend(&mut d, S::Closed);
    assert_eq!(d.phase(DomId(3), 51712), None);
    assert_eq!(calls(&d).last(), Some(&"remove 51712 51712"));
    // The directory lingers with online=0: not adopted again.
    d.poll();
    assert_eq!(d.phase(DomId(3), 51712), None);
}

#[test]
fn poll_ignores_non_numeric_entries_and_devices_without_frontend() {
    let mut d = setup(Recorder::default());
    d.store()
        .set("/local/domain/0/backend/vtest/x/1/frontend", FE);
    d.store()
        .set("/local/domain/0/backend/vtest/4/y/frontend", FE);
    d.store()
        .set("/local/domain/0/backend/vtest/5/1/online", "1");
    d.poll();
    assert_eq!(calls(&d), vec!["advertise 51712"]);
    assert_eq!(d.phase(DomId(5), 1), None);
}

/// What a toolstack, a frontend and the backend's own threads may do between two polls.
#[derive(Clone, Debug)]
enum Op {
    Frontend(u32),
    FrontendGone,
    Online(bool),
    BackendState(u32),
    RemoveBackend,
    Broken,
    FailConnect(bool),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0u32..9).prop_map(Op::Frontend),
        1 => Just(Op::FrontendGone),
        1 => any::<bool>().prop_map(Op::Online),
        1 => (0u32..9).prop_map(Op::BackendState),
        1 => Just(Op::RemoveBackend),
        1 => Just(Op::Broken),
        1 => any::<bool>().prop_map(Op::FailConnect),
    ]
}

proptest::proptest! {
    /// Whatever happens in whatever order: the device is connected exactly while its phase is
    /// `Connected`, at most one connection is open, and a released device holds no connection
    /// and was removed if it was set up.
    #[test]
    fn poll_any_sequence_keeps_connections_balanced(
        ops in proptest::collection::vec(op(), 1..40)
    ) {
        let mut d = setup(Recorder::default());
        d.poll();
        for op in ops {
            match op {
                Op::Frontend(s) => d.store().set(&format!("{FE}/state"), &s.to_string()),
                Op::FrontendGone => d.store().rm(FE),
                Op::Online(on) => d.store().set(&format!("{BE}/online"), if on { "1" } else { "0" }),
                Op::BackendState(s) => d.store().set(&format!("{BE}/state"), &s.to_string()),
                Op::RemoveBackend => d.store().rm(BE),
                Op::Broken => {
                    if let Some(b) = &d.backend().broken {
                        b.signal();
                    }
                }
                Op::FailConnect(f) => d.backend.fail_connect = f,
            }
            d.poll();
            let b = d.backend();
            let phase = d.phase(DomId(3), 51712);
            proptest::prop_assert!(b.open <= 1);
            proptest::prop_assert_eq!(b.open == 1, phase == Some(Phase::Connected));
            if phase.is_none() {
                proptest::prop_assert_eq!(b.live, 0);
            }
        }
    }
}
