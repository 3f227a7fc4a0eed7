//! Xen's grant-table state machine: v1 and v2 entries (status frames, sub-page and transitive
//! grants), active mappings, maptrack handles and copy.
//!
//! [`GrantSystem`] holds every domain's grant table and answers the `GNTTABOP_*` sub-ops with
//! Xen 4.17's checks and `GNTST_*`/errno results (`xen/common/grant_table.c`). Guest memory is
//! a parameter ([`GrantMemory`]); operations return what the hypervisor must install or tear
//! down ([`Mapping`], [`Unmapping`], [`DestroyedDomain`]) and never act on hardware. See
//! `docs/abi/grant_table.md` for the sub-op table and the deviations from Xen.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod active;
mod cache_flush;
mod copy;
mod dispatch;
mod map;
pub mod mem;
mod system;
mod table;
mod unmap;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod v2_tests;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

pub use active::{ActiveEntry, Pins, CMPXCHG_RETRIES};
pub use dispatch::{check_count, is_unimplemented};
pub use map::Mapping;
pub use mem::{header_word, split_header_word, GrantEntries, GrantMemory, GuestFrames};
pub use system::{DestroyedDomain, FrameRef, GrantSystem};
pub use table::{
    status_frames_for, DomainConfig, MaptrackEntry, DEFAULT_MAX_GRANT_FRAMES,
    DEFAULT_MAX_MAPTRACK_FRAMES, FIRST_FREE_GREF, GRANT_ENTRIES_PER_FRAME,
    GRANT_ENTRIES_PER_FRAME_V2, INITIAL_NR_GRANT_FRAMES, MAPTRACK_PER_FRAME, MAX_VERSION,
    STATUS_PER_FRAME,
};
pub use unmap::Unmapping;
