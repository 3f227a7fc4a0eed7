//! The daemon's I/O: a Unix socket listener and its clients, served by one thread around
//! `poll(2)`, one request per ready connection per turn (round robin) so that a client that
//! floods cannot starve another.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::core::{ConnId, ConnKind, DomainConnector, Xenstored};
use crate::wire::Framer;

/// Most socket clients served at once; more wait in the listen backlog.
pub const MAX_SOCKET_CONNECTIONS: usize = 1024;

/// The socket path as C xenstored and libxenstore find it: `$XENSTORED_PATH`, else
/// `$XENSTORED_RUNDIR/socket`, else `/run/xenstored/socket`.
pub fn socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os("XENSTORED_PATH") {
        return PathBuf::from(p);
    }
    let rundir = std::env::var_os("XENSTORED_RUNDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/xenstored"));
    rundir.join("socket")
}

struct SocketConn {
    stream: UnixStream,
    framer: Framer,
}

/// The listener, the socket clients and the engine.
pub struct Daemon<C: DomainConnector> {
    /// The request engine.
    pub engine: Xenstored<C>,
    listener: UnixListener,
    sockets: BTreeMap<ConnId, SocketConn>,
    turn: usize,
}

impl<C: DomainConnector> Daemon<C> {
    /// Binds `path` (replacing a stale socket, mode 0600 as C does) and serves `engine`.
    pub fn bind(path: &Path, engine: Xenstored<C>) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(Daemon {
            engine,
            listener,
            sockets: BTreeMap::new(),
            turn: 0,
        })
    }

    /// Serves forever.
    pub fn run(&mut self) -> io::Result<()> {
        loop {
            self.poll_once(-1)?;
        }
    }

    /// Connected socket clients.
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// One turn: wait up to `timeout_ms` for something to do, then accept new clients, take at
    /// most one request from each ready client (starting one further along each turn), and
    /// write what is queued.
    pub fn poll_once(&mut self, timeout_ms: i32) -> io::Result<()> {
        let ids: Vec<ConnId> = self.sockets.keys().copied().collect();
        let mut fds = Vec::with_capacity(ids.len() + 1);
        // At the connection limit the listener is left out (it would stay readable).
        let listening = self.sockets.len() < MAX_SOCKET_CONNECTIONS;
        fds.push(libc::pollfd {
            fd: if listening {
                self.listener.as_raw_fd()
            } else {
                -1
            },
            events: libc::POLLIN,
            revents: 0,
        });
        for id in &ids {
            let mut events = 0;
            if self.engine.can_accept(*id) {
                events |= libc::POLLIN;
            }
            if self.engine.output(*id).is_some() {
                events |= libc::POLLOUT;
            }
            let fd = self.sockets.get(id).map_or(-1, |s| s.stream.as_raw_fd());
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
        }
        let ring_fd = self.engine.connector.poll_fd();
        if let Some(fd) = ring_fd {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let ring_timeout = self.engine.connector.poll_timeout_ms();
        let timeout_ms = match (timeout_ms, ring_timeout) {
            (-1, t) => t,
            (t, -1) => t,
            (a, b) => a.min(b),
        };
        dom0_sys::poll(&mut fds, timeout_ms)?;
        C::service(&mut self.engine);
        if fds[0].revents & libc::POLLIN != 0 {
            self.accept_all();
        }
        let n = ids.len();
        if n > 0 {
            self.turn = (self.turn + 1) % n;
        }
        for k in 0..n {
            let i = (self.turn + k) % n;
            let id = ids[i];
            let revents = fds[i + 1].revents;
            if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                self.serve_one(id);
            }
        }
        // Replies and events may be queued for any client: write what the sockets take.
        let all: Vec<ConnId> = self.sockets.keys().copied().collect();
        for id in all {
            self.flush(id);
        }
        C::flush(&mut self.engine);
        Ok(())
    }

    fn accept_all(&mut self) {
        loop {
            if self.sockets.len() >= MAX_SOCKET_CONNECTIONS {
                return;
            }
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let id = self.engine.new_connection(ConnKind::Socket);
                    self.sockets.insert(
                        id,
                        SocketConn {
                            stream,
                            framer: Framer::new(),
                        },
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("accept: {e}");
                    return;
                }
            }
        }
    }

    fn close(&mut self, id: ConnId) {
        self.sockets.remove(&id);
        self.engine.close_connection(id);
    }

    /// Reads until one request is complete (then handles it) or the socket has no more.
    fn serve_one(&mut self, id: ConnId) {
        if !self.engine.can_accept(id) {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            let Some(s) = self.sockets.get_mut(&id) else {
                return;
            };
            let want = s.framer.want().clamp(1, buf.len());
            match s.stream.read(&mut buf[..want]) {
                Ok(0) => return self.close(id),
                Ok(n) => match s.framer.put(&buf[..n]) {
                    Ok((_, Some(msg))) => {
                        self.engine.handle(id, &msg);
                        return;
                    }
                    Ok((_, None)) => {}
                    Err(e) => {
                        log::warn!("socket client sent a {}-byte message: closing it", e.0);
                        return self.close(id);
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(id),
            }
        }
    }

    fn flush(&mut self, id: ConnId) {
        loop {
            let Some(s) = self.sockets.get_mut(&id) else {
                return;
            };
            let Some(out) = self.engine.output(id) else {
                return;
            };
            match s.stream.write(out) {
                Ok(0) => return,
                Ok(n) => self.engine.consume_output(id, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(id),
            }
        }
    }
}
