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
use crate::rings::Rings;

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
        crate::rings::serve(engine, true);
    }

    fn flush(engine: &mut Xenstored<Self>) {
        crate::rings::serve(engine, false);
    }

    fn poll_timeout_ms(&self) -> i32 {
        if self.rings.is_empty() {
            -1
        } else {
            2
        }
    }
}

impl Rings for FileRings {
    fn domids(&self) -> Vec<u32> {
        self.rings.keys().copied().collect()
    }

    fn ring(&mut self, domid: u32) -> Option<(&mut dyn RingMemory, &mut RingConn)> {
        let r = self.rings.get_mut(&domid)?;
        Some((&mut r.mem, &mut r.conn))
    }

    /// No event channel: the daemon looks at every file ring each turn.
    fn kick(&mut self, _domid: u32) {}
}
