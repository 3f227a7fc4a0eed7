//! Ferrite's block backend (`blkback`): serves the `blkif` protocol from a raw image file or a
//! block device to any frontend. Request validation ([`request`]) is pure and host-tested; the
//! handshake, device discovery and the ring queues are `xenbus-backend`'s, shared with the other
//! backends; [`device`] and [`daemon`] run them against Linux's Xen devices through `dom0-sys`.
//! See docs/blkback.md.
#![forbid(unsafe_code)]

pub mod daemon;
pub mod device;
pub mod request;
