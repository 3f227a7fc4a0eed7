//! A vif's event channels as its two ring queues see them: with split event channels each
//! ring has its own port; without, one port serves both rings, so the TX thread reads the
//! channel and relays each event to the RX thread (which otherwise could miss it, since an event
//! is read once). Every event wakes both.

use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use xen_abi::types::Port;
use xenbus_backend::queue::EventChannel;

/// Events handed from the reading thread to the other (a flag: any events since it last looked).
#[derive(Debug, Default)]
pub struct Relay {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Relay {
    fn post(&self) {
        if let Ok(mut p) = self.pending.lock() {
            *p = true;
            self.cv.notify_all();
        }
    }

    fn wait(&self, timeout_ms: i32) -> bool {
        let Ok(mut p) = self.pending.lock() else {
            return false;
        };
        if !*p {
            let t = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
            match self.cv.wait_timeout(p, t) {
                Ok((g, _)) => p = g,
                Err(_) => return false,
            }
        }
        std::mem::replace(&mut *p, false)
    }
}

/// How a queue uses its event channel.
#[derive(Debug, Clone)]
enum Role {
    /// Its own port (split event channels).
    Own,
    /// The shared port's reader (TX): relays every event.
    Reader(Arc<Relay>),
    /// The shared port's other user (RX): waits for relayed events.
    Follower(Arc<Relay>),
}

/// One queue's view of its (possibly shared) event channel.
#[derive(Debug)]
pub struct VifChannel<E> {
    evtchn: Arc<E>,
    port: Port,
    role: Role,
}

impl<E> VifChannel<E> {
    /// A channel of the queue's own.
    pub fn own(evtchn: E, port: Port) -> VifChannel<E> {
        VifChannel {
            evtchn: Arc::new(evtchn),
            port,
            role: Role::Own,
        }
    }

    /// One channel for both queues: (the TX queue's, which reads it; the RX queue's).
    pub fn shared(evtchn: E, port: Port) -> (VifChannel<E>, VifChannel<E>) {
        let evtchn = Arc::new(evtchn);
        let relay = Arc::new(Relay::default());
        (
            VifChannel {
                evtchn: Arc::clone(&evtchn),
                port,
                role: Role::Reader(Arc::clone(&relay)),
            },
            VifChannel {
                evtchn,
                port,
                role: Role::Follower(relay),
            },
        )
    }

    /// The local port.
    pub fn port(&self) -> Port {
        self.port
    }
}

impl<E: EventChannel> EventChannel for VifChannel<E> {
    fn notify(&self, port: Port) -> io::Result<()> {
        self.evtchn.notify(port)
    }

    fn pending(&self, timeout_ms: i32) -> io::Result<Option<Port>> {
        match &self.role {
            Role::Own => self.evtchn.pending(timeout_ms),
            Role::Reader(relay) => {
                let p = self.evtchn.pending(timeout_ms)?;
                if p.is_some() {
                    relay.post();
                }
                Ok(p)
            }
            Role::Follower(relay) => Ok(relay.wait(timeout_ms).then_some(self.port)),
        }
    }

    fn unmask(&self, port: Port) -> io::Result<()> {
        match self.role {
            Role::Follower(_) => Ok(()),
            _ => self.evtchn.unmask(port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

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
    fn shared_event_read_by_tx_wakes_rx_once() {
        let f = Fake::default();
        f.queued.lock().unwrap().push(Port(5));
        let (tx, rx) = VifChannel::shared(f, Port(5));
        assert_eq!(tx.pending(0).unwrap(), Some(Port(5)));
        tx.unmask(Port(5)).unwrap();
        assert_eq!(rx.pending(0).unwrap(), Some(Port(5)));
        rx.unmask(Port(5)).unwrap();
        // Read once: nothing more for either.
        assert_eq!(rx.pending(0).unwrap(), None);
        assert_eq!(tx.pending(0).unwrap(), None);
        assert_eq!(tx.evtchn.unmasked.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn shared_rx_waits_for_a_relayed_event_from_another_thread() {
        let f = Fake::default();
        let (tx, rx) = VifChannel::shared(f, Port(9));
        let h = std::thread::spawn(move || rx.pending(5000).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        tx.evtchn.queued.lock().unwrap().push(Port(9));
        assert_eq!(tx.pending(0).unwrap(), Some(Port(9)));
        assert_eq!(h.join().unwrap(), Some(Port(9)));
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
