//! Shared by the socket tests: start a daemon on a private socket, and a small blocking client.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use xen_abi::io::xs_wire::{XENSTORE_REQ, XENSTORE_RSP};
use xenstored::filering::FileMem;
use xenstored::wire::Framer;
use xenstored::Message;

/// `XS_WATCH_EVENT`.
pub const WATCH_EVENT: u32 = 15;

/// A private temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::temp_dir().join(format!(
            "xenstored-{tag}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
        ));
        std::fs::create_dir_all(&base).expect("create temp dir");
        TempDir(base)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A daemon process, killed on drop.
pub struct Proc {
    pub child: Child,
    pub socket: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `socket` accepts connections (or the process died).
pub fn wait_for_socket(p: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(st)) = p.child.try_wait() {
            panic!("daemon exited before serving: {st}");
        }
        if UnixStream::connect(&p.socket).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no socket at {}", p.socket.display());
}

/// Starts Ferrite's xenstored with `args` on a socket in `dir`.
pub fn start_ours(dir: &Path, args: &[&str]) -> Proc {
    let rundir = dir.join("ours");
    let child = Command::new(env!("CARGO_BIN_EXE_xenstored"))
        .args(args)
        .env("XENSTORED_RUNDIR", &rundir)
        .env_remove("XENSTORED_PATH")
        .spawn()
        .expect("start xenstored");
    let mut p = Proc {
        child,
        socket: rundir.join("socket"),
    };
    wait_for_socket(&mut p);
    p
}

/// Resident memory of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Debian's C xenstored (package xen-utils-4.17).
pub const C_XENSTORED: &str = "/usr/lib/xen-4.17/bin/xenstored";

/// Builds `tests/fakexen/fakexen.c`, the `LD_PRELOAD` shim that lets C xenstored run without
/// Xen (see docs/xenstored.md).
pub fn build_shim(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakexen/fakexen.c");
    let out = dir.join("fakexen.so");
    let st = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-ldl")
        .status()
        .expect("run cc (package gcc) to build the fakexen shim");
    assert!(st.success(), "building {} failed", src.display());
    out
}

/// Starts C xenstored under the shim, its socket in `dir/c`, its fake rings in `dir/c-rings`.
pub fn start_c(dir: &Path, shim: &Path) -> Proc {
    let fake = dir.join("c-rings");
    let rundir = dir.join("c");
    std::fs::create_dir_all(&fake).expect("mkdir");
    std::fs::write(fake.join("xsd_port"), "1").expect("port file");
    std::fs::write(fake.join("xsd_kva"), vec![0u8; 4096]).expect("page file");
    let child = Command::new(C_XENSTORED)
        .arg("-N")
        // It reports every unknown request type on stderr.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .env("FAKEXEN_DIR", &fake)
        .env("LD_PRELOAD", shim)
        .env("XENSTORED_RUNDIR", &rundir)
        .env_remove("XENSTORED_PATH")
        .spawn()
        .expect("start C xenstored");
    let mut p = Proc {
        child,
        socket: rundir.join("socket"),
    };
    wait_for_socket(&mut p);
    p
}

/// A blocking xenstore client on a Unix socket.
pub struct Client {
    pub s: UnixStream,
    next_req: u32,
}

impl Client {
    pub fn connect(path: &Path) -> Client {
        let s = UnixStream::connect(path).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Client { s, next_req: 100 }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes)
    }

    pub fn send(&mut self, kind: u32, tx: u32, payload: &[u8]) -> u32 {
        self.next_req += 1;
        let m = Message {
            kind,
            req_id: self.next_req,
            tx_id: tx,
            payload: payload.to_vec(),
        };
        self.s.write_all(&m.encode()).expect("send");
        self.next_req
    }

    /// The next message, or None if the connection was closed.
    pub fn recv(&mut self) -> Option<Message> {
        let mut h = [0u8; 16];
        self.s.read_exact(&mut h).ok()?;
        let len = u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as usize;
        let mut payload = vec![0u8; len];
        self.s.read_exact(&mut payload).ok()?;
        Some(Message {
            kind: u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
            req_id: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
            tx_id: u32::from_le_bytes([h[8], h[9], h[10], h[11]]),
            payload,
        })
    }

    /// Sends a request; returns its reply and the watch events that came before it.
    pub fn req(&mut self, kind: u32, tx: u32, payload: &[u8]) -> (Message, Vec<Message>) {
        self.send(kind, tx, payload);
        let mut events = Vec::new();
        loop {
            let m = self.recv().expect("reply before the connection closed");
            if m.kind == WATCH_EVENT {
                events.push(m);
            } else {
                return (m, events);
            }
        }
    }

    /// The reply payload of a request that must succeed (panics on `XS_ERROR`).
    pub fn ok(&mut self, kind: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
        let (m, _) = self.req(kind, tx, payload);
        assert_ne!(
            m.kind,
            16,
            "request {kind} failed: {}",
            String::from_utf8_lossy(&m.payload)
        );
        m.payload
    }
}

/// A payload of NUL-terminated strings.
pub fn z(parts: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(p.as_bytes());
        v.push(0);
    }
    v
}

/// A domain's end of a ring kept in a file, as the guest's xenbus driver would drive it.
pub struct RingGuest {
    pub mem: FileMem,
    framer: Framer,
    /// The fake event channel of C xenstored (ours looks at its rings every few ms).
    kick: Option<File>,
    next_req: u32,
}

impl RingGuest {
    pub fn open(path: &Path, kick: Option<&Path>) -> RingGuest {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("ring file {}: {e}", path.display()));
        RingGuest {
            mem: FileMem(file),
            framer: Framer::new(),
            kick: kick.map(|k| OpenOptions::new().write(true).open(k).expect("evtchn fifo")),
            next_req: 500,
        }
    }

    pub fn kick(&mut self) {
        if let Some(k) = self.kick.as_mut() {
            let _ = k.write_all(&[0; 4]);
        }
    }

    pub fn req(&mut self, kind: u32, tx: u32, payload: &[u8]) -> (Message, Vec<Message>) {
        self.next_req += 1;
        let bytes = Message {
            kind,
            req_id: self.next_req,
            tx_id: tx,
            payload: payload.to_vec(),
        }
        .encode();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut sent = 0;
        let mut events = Vec::new();
        loop {
            if Instant::now() >= deadline {
                let idx: Vec<u32> = [2048, 2052, 2056, 2060, 2068, 2072]
                    .iter()
                    .map(|o| xen_abi::io::ring::RingMemory::read_index(&self.mem, *o))
                    .collect();
                panic!(
                    "no reply on the ring to type {kind} ({}C xenstored); req_cons, req_prod, \
                     rsp_cons, rsp_prod, connection, error = {idx:?}",
                    if self.kick.is_some() { "" } else { "not " }
                );
            }
            if sent < bytes.len() {
                sent += XENSTORE_REQ
                    .write(&mut self.mem, &bytes[sent..])
                    .expect("req ring");
                self.kick();
            }
            let mut buf = [0u8; 1024];
            let want = self.framer.want().min(buf.len());
            let n = XENSTORE_RSP
                .read(&mut self.mem, &mut buf[..want])
                .expect("rsp ring");
            if n == 0 {
                std::thread::sleep(Duration::from_micros(300));
                continue;
            }
            self.kick();
            if let (_, Some(m)) = self.framer.put(&buf[..n]).expect("reply framing") {
                if m.kind == WATCH_EVENT {
                    events.push(m);
                } else if sent == bytes.len() {
                    return (m, events);
                }
            }
        }
    }
}

impl RingGuest {
    /// Queues raw bytes in the request ring; returns how many fit.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> usize {
        let n = XENSTORE_REQ.write(&mut self.mem, bytes).expect("req ring");
        self.kick();
        n
    }
}
