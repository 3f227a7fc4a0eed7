//! dom0's own xenstore ring, as the daemon finds it when it runs in dom0: Linux allocates the
//! page and an unbound event channel at boot (`xenstored_local_init`) and shows them in xenfs as
//! `/proc/xen/xsd_kva` (mmap the page) and `/proc/xen/xsd_port` (the port, in decimal). C
//! xenstored's `xenbus_map`/`xenbus_evtchn` read the same two files.

use crate::SharedPages;
use std::fs::OpenOptions;
use std::io;
use xen_abi::types::{Port, PAGE_SIZE};

/// The xenfs file holding dom0's ring page.
pub const XSD_KVA: &str = "/proc/xen/xsd_kva";
/// The xenfs file holding dom0's ring event channel.
pub const XSD_PORT: &str = "/proc/xen/xsd_port";

/// The port in `/proc/xen/xsd_port`.
pub fn xsd_port() -> io::Result<Port> {
    let s = std::fs::read_to_string(XSD_PORT)?;
    s.trim()
        .parse::<u32>()
        .map(Port)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{XSD_PORT}: {s:?}")))
}

/// dom0's ring page, mapped from `/proc/xen/xsd_kva`; unmapped on drop.
#[derive(Debug)]
pub struct XsdPage {
    pages: SharedPages,
}

crate::shared_pages_owner!(XsdPage);

impl XsdPage {
    /// Maps the page read-write.
    pub fn map() -> io::Result<XsdPage> {
        let f = OpenOptions::new().read(true).write(true).open(XSD_KVA)?;
        // The mapping keeps the page after the file is closed.
        let pages = crate::mmap_shared(&f, PAGE_SIZE, true, 0)?;
        Ok(XsdPage { pages })
    }
}

impl Drop for XsdPage {
    fn drop(&mut self) {
        self.pages.munmap();
    }
}
