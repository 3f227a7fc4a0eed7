//! The domain builder in userspace, as libxenguest's and libxl's: the plan of a PV domU's
//! start-of-day layout ([`layout`], which `fxl create -n` prints), the guest's initial contents
//! as pure functions ([`image`]), the xenstore entries libxl writes ([`xs`]), and the build
//! itself over privcmd and xenstore ([`domain`]), and a cache of unpacked kernels ([`cache`]).

pub mod cache;
pub mod domain;
pub mod image;
pub mod layout;
pub mod xs;
