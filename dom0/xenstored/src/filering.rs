//! Domain rings kept in ordinary files, `DIR/ring-<domid>` (one 4 KiB xenstore page each): the
//! test rig for ring connections until the daemon maps real ones through `/dev/xen/gntdev`.
//! With `--ring-dir DIR`, dom0's ring is `DIR/ring-0` from the start (as `/proc/xen/xsd_kva`
//! would be), `INTRODUCE` of a domain opens (or creates) its file, and the daemon serves each
//! through the same [`RingConn`] a mapped page will use. There is no event channel:
//! the daemon looks at every ring each turn (`poll` wakes at least every few milliseconds).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use xen_abi::io::ring::RingMemory;
use xen_abi::Errno;

use crate::core::{DomainConnector, Xenstored};
use crate::ring::RingConn;

/// Bytes of a xenstore page.
const PAGE: usize = 4096;

/// A ring page in a file, read and written with `pread`/`pwrite` (coherent with another
/// process's shared mapping of the same file).
#[derive(Debug)]
pub struct FileMem(pub File);

impl RingMemory for FileMem {
    fn size(&self) -> usize {
        PAGE
    }
    fn read_index(&self, offset: usize) -> u32 {
        let mut b = [0u8; 4];
        // A short or failed read looks like index 0: never out of the page.
        let _ = self.0.read_exact_at(&mut b, offset as u64);
        u32::from_le_bytes(b)
    }
    fn write_index(&mut self, offset: usize, value: u32) {
        let _ = self.0.write_all_at(&value.to_le_bytes(), offset as u64);
    }
    fn full_fence(&self) {}
    fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        let _ = self.0.read_exact_at(dst, offset as u64);
    }
    fn write_bytes(&mut self, offset: usize, src: &[u8]) {
        let _ = self.0.write_all_at(src, offset as u64);
    }
}

/// One domain's file ring.
#[derive(Debug)]
pub struct FileRing {
    /// The page.
    pub mem: FileMem,
    /// Protocol state.
    pub conn: RingConn,
}

/// The [`DomainConnector`] for `--ring-dir`.
#[derive(Debug)]
pub struct FileRings {
    dir: PathBuf,
    /// Rings of introduced domains.
    pub rings: BTreeMap<u32, FileRing>,
}

impl FileRings {
    /// Rings in `dir`.
    pub fn new(dir: PathBuf) -> FileRings {
        FileRings {
            dir,
            rings: BTreeMap::new(),
        }
    }
}

impl DomainConnector for FileRings {
    fn connect(&mut self, domid: u32, _port: u32) -> Result<(), Errno> {
        let path = self.dir.join(format!("ring-{domid}"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|_| Errno::EINVAL)?;
        if file.metadata().map(|m| m.len()).unwrap_or(0) < PAGE as u64 {
            file.set_len(PAGE as u64).map_err(|_| Errno::EINVAL)?;
        }
        self.rings.insert(
            domid,
            FileRing {
                mem: FileMem(file),
                conn: RingConn::new(),
            },
        );
        Ok(())
    }

    fn reset(&mut self, domid: u32, _port: u32) {
        if let Some(r) = self.rings.get_mut(&domid) {
            r.conn.reset(&mut r.mem);
        }
    }

    fn disconnect(&mut self, domid: u32) {
        self.rings.remove(&domid);
    }

    fn service(engine: &mut Xenstored<Self>) {
        let domids: Vec<u32> = engine.connector.rings.keys().copied().collect();
        for domid in domids {
            let Some(id) = engine.domain_conn(domid) else {
                continue;
            };
            flush(engine, domid, id);
            let faulted = engine
                .connector
                .rings
                .get(&domid)
                .is_none_or(|r| r.conn.fault().is_some());
            if !faulted && engine.can_accept(id) {
                let got = match engine.connector.rings.get_mut(&domid) {
                    Some(r) => r.conn.read_request(&mut r.mem),
                    None => continue,
                };
                match got {
                    Ok(Some(msg)) => engine.handle(id, &msg),
                    Ok(None) => {}
                    Err(f) => log::warn!("domain {domid}: ring {f:?}, ignoring it"),
                }
            }
        }
        // Events may be queued for any domain.
        let domids: Vec<u32> = engine.connector.rings.keys().copied().collect();
        for domid in domids {
            if let Some(id) = engine.domain_conn(domid) {
                flush(engine, domid, id);
            }
        }
    }

    fn poll_timeout_ms(&self) -> i32 {
        if self.rings.is_empty() {
            -1
        } else {
            2
        }
    }
}

fn flush(engine: &mut Xenstored<FileRings>, domid: u32, id: crate::core::ConnId) {
    while let Some(out) = engine.output(id).map(<[u8]>::to_vec) {
        let n = match engine.connector.rings.get_mut(&domid) {
            Some(r) => r.conn.write_response(&mut r.mem, &out).unwrap_or(0),
            None => 0,
        };
        if n == 0 {
            return;
        }
        engine.consume_output(id, n);
    }
}
