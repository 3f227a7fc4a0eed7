//! Ferrite: a Xen-ABI-compatible paravirtualizing microhypervisor for x86_64.
//!
//! The crate builds for `x86_64-unknown-none` (the hypervisor image) and for the host, where the
//! pure parts — memory-map arithmetic, the frame allocator's bitmap, command-line and ACPI
//! parsing — run as ordinary unit tests.
#![cfg_attr(not(test), no_std)]
// The host build exists for the unit tests of the pure parts; code that only the bare-metal
// image calls is dead there.
#![cfg_attr(not(target_os = "none"), allow(dead_code, unused_imports))]
// `unsafe` lives in three places only: `arch` (registers, instructions, descriptor tables),
// `mm` (frames, page tables, the direct map) and `boot` (the entry and the boot CPU's
// sequence). Everything else — domains, scheduling, hypercalls, PV policy — is safe Rust.
#![deny(unsafe_code)]

extern crate alloc;

#[allow(unsafe_code)]
pub mod arch;
#[allow(unsafe_code)]
pub mod boot;
pub mod console;
#[cfg(target_os = "none")]
pub mod debug;
pub mod domain;
#[cfg(target_os = "none")]
pub mod event;
#[cfg(target_os = "none")]
pub mod grant;
#[cfg(target_os = "none")]
pub mod hypercall;
pub mod layout;
#[allow(unsafe_code)]
pub mod mm;
#[cfg(target_os = "none")]
pub mod pv;
#[cfg(target_os = "none")]
pub mod sched;
#[cfg(target_os = "none")]
pub mod selftest;
pub mod time;

/// Ferrite's version, as the banner prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
