//! What every Ferrite dom0 backend (blkback, netback) shares, as Linux's xenbus backend core
//! (`drivers/xen/xenbus/xenbus_probe_backend.c`) is shared by its backend drivers:
//!
//! * [`xenbus`]: the backend half of the XenbusState handshake, a pure function ([`xenbus::step`]);
//! * [`driver`]: device discovery under `backend/<type>/` and the loop that drives each device's
//!   handshake, calling a device type's [`driver::Backend`] (Linux's `struct xenbus_driver`:
//!   probe, otherend_changed, remove) — over a [`driver::Store`], so it runs against a fake
//!   xenstore in tests;
//! * [`queue`]: a backend's end of one shared ring and its event channel (map the ring pages
//!   through gntdev, bind the channel, take requests with the producer index checked, post
//!   responses and notify, wait for an event).
//!
//! See docs/xenbus-backend.md.
#![forbid(unsafe_code)]

pub mod driver;
pub mod logger;
pub mod queue;
pub mod xenbus;
