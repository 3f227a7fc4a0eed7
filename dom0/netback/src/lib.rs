//! Ferrite's network backend (`netback`): serves the `netif` protocol to any frontend (Linux's
//! netfront, Ferrite's own). So far the pure part: the transmit requests' decoder and validator
//! ([`tx`]: packets from slot copies, with Linux netback's limits and verdicts) and the receive
//! side's request reading and response layout ([`rx`]). The handshake, device discovery and ring
//! queues will be `xenbus-backend`'s. See docs/netback.md.
#![forbid(unsafe_code)]

pub mod rx;
pub mod tx;
