//! The domain builder in userspace, as libxenguest's: for now the plan of a PV domU's
//! start-of-day layout ([`layout`]), which `fxl create -n` prints.

pub mod layout;
