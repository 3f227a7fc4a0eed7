//! `/dev/xen/evtchn`: bind interdomain event channels and virtual interrupts, notify, unbind, and read pending ports.

use crate::{ioc_none, ioctl};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use xen_abi::types::{DomId, Port};

#[repr(C)]
struct BindInterdomain {
    remote_domain: u32,
    remote_port: u32,
}

#[repr(C)]
struct PortArg {
    port: u32,
}

#[repr(C)]
struct BindVirq {
    virq: u32,
}

#[repr(C)]
struct BindUnboundPort {
    remote_domain: u32,
}

const IOCTL_EVTCHN_BIND_VIRQ: libc::c_ulong = ioc_none(b'E', 0, size_of::<BindVirq>());
const IOCTL_EVTCHN_BIND_INTERDOMAIN: libc::c_ulong =
    ioc_none(b'E', 1, size_of::<BindInterdomain>());
const IOCTL_EVTCHN_BIND_UNBOUND_PORT: libc::c_ulong =
    ioc_none(b'E', 2, size_of::<BindUnboundPort>());
const IOCTL_EVTCHN_UNBIND: libc::c_ulong = ioc_none(b'E', 3, size_of::<PortArg>());
const IOCTL_EVTCHN_NOTIFY: libc::c_ulong = ioc_none(b'E', 4, size_of::<PortArg>());

/// One open `/dev/xen/evtchn`: the ports bound through it deliver their events to it.
#[derive(Debug)]
pub struct Evtchn {
    file: File,
}

impl Evtchn {
    /// Opens `/dev/xen/evtchn`.
    pub fn open() -> io::Result<Evtchn> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/xen/evtchn")?;
        Ok(Evtchn { file })
    }

    /// `IOCTL_EVTCHN_BIND_INTERDOMAIN`: binds a local port to `remote_port` of `domid`.
    pub fn bind_interdomain(&self, domid: DomId, remote_port: Port) -> io::Result<Port> {
        let mut arg = BindInterdomain {
            remote_domain: domid.0.into(),
            remote_port: remote_port.0,
        };
        // SAFETY: `arg` is the struct IOCTL_EVTCHN_BIND_INTERDOMAIN takes, live for the call.
        let port = unsafe { ioctl(&self.file, IOCTL_EVTCHN_BIND_INTERDOMAIN, &mut arg)? };
        Ok(Port(port as u32))
    }

    /// `IOCTL_EVTCHN_BIND_VIRQ`: binds a local port to a global virtual interrupt (e.g.
    /// `VIRQ_DOM_EXC`, which the kernel lets only one handle bind).
    pub fn bind_virq(&self, virq: u32) -> io::Result<Port> {
        let mut arg = BindVirq { virq };
        // SAFETY: `arg` is the struct IOCTL_EVTCHN_BIND_VIRQ takes, live for the call.
        let port = unsafe { ioctl(&self.file, IOCTL_EVTCHN_BIND_VIRQ, &mut arg)? };
        Ok(Port(port as u32))
    }

    /// `IOCTL_EVTCHN_BIND_UNBOUND_PORT`: allocates a port `domid` may bind to.
    pub fn bind_unbound_port(&self, domid: DomId) -> io::Result<Port> {
        let mut arg = BindUnboundPort {
            remote_domain: domid.0.into(),
        };
        // SAFETY: `arg` is the struct IOCTL_EVTCHN_BIND_UNBOUND_PORT takes, live for the call.
        let port = unsafe { ioctl(&self.file, IOCTL_EVTCHN_BIND_UNBOUND_PORT, &mut arg)? };
        Ok(Port(port as u32))
    }

    /// `IOCTL_EVTCHN_NOTIFY`: sends an event on a local port bound through this handle.
    pub fn notify(&self, port: Port) -> io::Result<()> {
        let mut arg = PortArg { port: port.0 };
        // SAFETY: `arg` is the struct IOCTL_EVTCHN_NOTIFY takes, live for the call.
        unsafe { ioctl(&self.file, IOCTL_EVTCHN_NOTIFY, &mut arg)? };
        Ok(())
    }

    /// `IOCTL_EVTCHN_UNBIND`: closes a local port bound through this handle.
    pub fn unbind(&self, port: Port) -> io::Result<()> {
        let mut arg = PortArg { port: port.0 };
        // SAFETY: `arg` is the struct IOCTL_EVTCHN_UNBIND takes, live for the call.
        unsafe { ioctl(&self.file, IOCTL_EVTCHN_UNBIND, &mut arg)? };
        Ok(())
    }

    /// Waits up to `timeout_ms` for a pending port; returns it (masked until [`Evtchn::unmask`]).
    pub fn pending(&self, timeout_ms: i32) -> io::Result<Option<Port>> {
        if !crate::poll_readable(&self.file, timeout_ms)? {
            return Ok(None);
        }
        let mut b = [0u8; 4];
        match (&self.file).read(&mut b) {
            Ok(4) => Ok(Some(Port(u32::from_ne_bytes(b)))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Unmasks `port` after its event was handled (a write of the port number).
    pub fn unmask(&self, port: Port) -> io::Result<()> {
        (&self.file).write_all(&port.0.to_ne_bytes())
    }
}

impl AsRawFd for Evtchn {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}
