//! Links the test guests with the PV guest link map (only for `x86_64-unknown-none`).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let ld = std::path::Path::new(&dir).join("../../domu-frontends/domu-sys/guest.ld");
    println!("cargo:rerun-if-changed={}", ld.display());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{}", ld.display());
        println!("cargo:rustc-link-arg-bins=--no-pie");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
}
