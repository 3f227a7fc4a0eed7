//! Ferrite's network backend (`netback`): serves the `netif` protocol to any frontend (Linux's
//! netfront, Ferrite's own) from a TAP device. The pure parts: the transmit requests' decoder
//! and validator ([`tx`]: packets from slot copies, with Linux netback's limits and verdicts),
//! the receive side's request reading and response layout ([`rx`]), and the `virtio_net_hdr`
//! mapping of checksum and GSO flags ([`vnet`]). The daemon ([`daemon`], [`vif`]) runs them on
//! `xenbus-backend`'s handshake, device discovery and ring queues. See docs/netback.md.
#![forbid(unsafe_code)]

pub mod chan;
pub mod credit;
pub mod daemon;
pub mod mcast;
pub mod rx;
pub mod tx;
pub mod vif;
pub mod vnet;
