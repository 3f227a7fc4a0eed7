//! The bare-metal entry crate: links the hypervisor library into the multiboot2 image.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use hypervisor as _;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("ferrite is a bare-metal binary: build it with `cargo xtask build` and boot it with `cargo xtask run`");
    std::process::exit(2);
}
