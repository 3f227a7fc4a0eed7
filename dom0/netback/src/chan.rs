//! A vif's event channels as its two ring queues see them: with split event channels each
//! ring has its own port; without, one port (one bound descriptor) serves both rings. The
//! vif's one thread waits on the descriptors itself ([`crate::vif`]), so an event read once
//! serves both rings.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use xen_abi::types::Port;
use xenbus_backend::queue::EventChannel;

/// One queue's view of its (possibly shared) event channel.
#[derive(Debug)]
pub struct VifChannel<E> {
    evtchn: Arc<E>,
    port: Port,
}

impl<E> VifChannel<E> {
    /// A channel of the queue's own.
    pub fn own(evtchn: E, port: Port) -> VifChannel<E> {
        VifChannel {
            evtchn: Arc::new(evtchn),
            port,
        }
    }

    /// One channel for both queues: (the TX queue's, the RX queue's), the same port.
    pub fn shared(evtchn: E, port: Port) -> (VifChannel<E>, VifChannel<E>) {
        let evtchn = Arc::new(evtchn);
        (
            VifChannel {
                evtchn: Arc::clone(&evtchn),
                port,
            },
            VifChannel { evtchn, port },
        )
    }

    /// The local port.
    pub fn port(&self) -> Port {
        self.port
    }
}

impl<E: AsRawFd> VifChannel<E> {
    /// The descriptor to wait on (the same for both queues of a shared channel).
    pub fn fd(&self) -> RawFd {
        self.evtchn.as_raw_fd()
    }
}

impl<E: EventChannel> EventChannel for VifChannel<E> {
    fn notify(&self, port: Port) -> io::Result<()> {
        self.evtchn.notify(port)
    }

    fn pending(&self, timeout_ms: i32) -> io::Result<Option<Port>> {
        self.evtchn.pending(timeout_ms)
    }

    fn unmask(&self, port: Port) -> io::Result<()> {
        self.evtchn.unmask(port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Fake {
        queued: Mutex<Vec<Port>>,
        unmasked: AtomicU32,
        notified: AtomicU32,
    }

    impl EventChannel for Fake {
        fn notify(&self, _port: Port) -> io::Result<()> {
            self.notified.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn pending(&self, _timeout_ms: i32) -> io::Result<Option<Port>> {
            Ok(self.queued.lock().expect("fake lock").pop())
        }
        fn unmask(&self, _port: Port) -> io::Result<()> {
            self.unmasked.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn shared_event_read_once_by_either_side() {
        let f = Fake::default();
        f.queued.lock().unwrap().push(Port(5));
        let (tx, rx) = VifChannel::shared(f, Port(5));
        assert_eq!(rx.pending(0).unwrap(), Some(Port(5)));
        rx.unmask(Port(5)).unwrap();
        assert_eq!(tx.pending(0).unwrap(), None);
        assert_eq!(tx.evtchn.unmasked.load(Ordering::SeqCst), 1);
        assert!(Arc::ptr_eq(&tx.evtchn, &rx.evtchn));
    }

    #[test]
    fn shared_notify_goes_to_the_one_port_from_either_side() {
        let (tx, rx) = VifChannel::shared(Fake::default(), Port(3));
        tx.notify(Port(3)).unwrap();
        rx.notify(Port(3)).unwrap();
        assert_eq!(tx.evtchn.notified.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn own_channel_passes_through() {
        let f = Fake::default();
        f.queued.lock().unwrap().push(Port(1));
        let c = VifChannel::own(f, Port(1));
        assert_eq!(c.pending(0).unwrap(), Some(Port(1)));
        c.unmask(Port(1)).unwrap();
        assert_eq!(c.evtchn.unmasked.load(Ordering::SeqCst), 1);
    }
}
