//! Ferrite's xenstored: the xenstore database and protocol of Xen 4.17 (`io/xs_wire.h`), with
//! C xenstored's permissions, transactions, watches and quotas, behind a single-threaded poll
//! loop serving Unix socket clients (and, through [`ring`], domains' shared rings).
//!
//! [`core::Xenstored`] is the whole request engine and does no I/O; [`daemon`] moves bytes.
#![forbid(unsafe_code)]

pub mod core;
pub mod daemon;
pub mod filering;
pub mod path;
pub mod perms;
pub mod quota;
pub mod ring;
pub mod rings;
pub mod store;
pub mod wire;
pub mod xenrings;

pub use crate::core::{
    ConnId, ConnKind, DomainConnector, DomainState, Message, NoRings, Xenstored,
};
pub use crate::quota::Quota;
