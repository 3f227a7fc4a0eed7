//! Ferrite's block backend (`blkback`): serves the `blkif` protocol from a raw image file or a
//! block device to any frontend. The pure parts (request validation, the XenbusState handshake)
//! are host-tested; [`device`] and [`daemon`] run them against Linux's Xen devices through
//! `dom0-sys`. See docs/blkback.md.
#![forbid(unsafe_code)]

pub mod daemon;
pub mod device;
pub mod request;
pub mod xenbus;
