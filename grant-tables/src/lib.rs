//! Xen's grant-table state machine: v1 entries, active mappings, maptrack handles and copy.
#![no_std]
#![forbid(unsafe_code)]
