//! Xen's event-channel state machine: a per-domain port table and the 2-level delivery ABI.
#![no_std]
#![forbid(unsafe_code)]
