//! cpuid: the forced-emulation prefix (`ud2; .ascii "xen"; cpuid`) works before and after a trap
//! table exists; leaf 0x40000000 says "XenVMMXenVMM" with at least 0x40000002 leaves, leaf
//! 0x40000001 gives 4.17, and the hypervisor bit is set in leaf 1; the features Xen keeps from PV
//! guests (large and global pages, SMEP, SMAP) are hidden. The guest kernel's `rdmsr` of
//! `IA32_PAT` reads Xen's PAT (WB, WT, UC-, UC, WC, WP, UC, UC), which Linux maps with.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{println, sys::traps, Test};

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    // No trap table yet: the emulation must not need one.
    let sig = traps::fep_cpuid(0x4000_0000, 0);
    let mut name = [0u8; 12];
    name[..4].copy_from_slice(&sig[1].to_le_bytes());
    name[4..8].copy_from_slice(&sig[2].to_le_bytes());
    name[8..].copy_from_slice(&sig[3].to_le_bytes());
    println!(
        "leaf 0x40000000: eax {:#x} '{}'",
        sig[0],
        core::str::from_utf8(&name).unwrap_or("?")
    );
    t.eq(&name, b"XenVMMXenVMM", "Xen signature");
    t.check(
        sig[0] >= 0x4000_0002,
        format_args!("max hypervisor leaf {:#x} >= 0x40000002", sig[0]),
    );
    t.eq(
        traps::fep_cpuid(0x4000_0001, 0)[0],
        0x0004_0011,
        "leaf 0x40000001 version",
    );
    let leaf1 = traps::fep_cpuid(1, 0);
    t.check(
        leaf1[2] & (1 << 31) != 0,
        format_args!("leaf 1 ECX hypervisor bit"),
    );
    // AVX state is XSAVE-managed: a hypervisor that switches guest state without XSAVE must
    // hide AVX (the xsave guest checks the rest).
    t.check(
        leaf1[2] & (1 << 28) == 0 || leaf1[2] & (1 << 26) != 0,
        format_args!("AVX offered only with XSAVE"),
    );
    // A PV kernel maps through the hypervisor with 4 KiB pages and no global pages: Xen's PV
    // policy offers no PSE, PGE, PSE36 or 1 GiB pages (Linux builds its direct map with large
    // pages when it sees them), and no SMEP or SMAP.
    t.eq(
        leaf1[3] & ((1 << 3) | (1 << 13) | (1 << 17)),
        0,
        "leaf 1 EDX: no PSE, PGE, PSE36",
    );
    t.eq(
        traps::fep_cpuid(0x8000_0001, 0)[3] & (1 << 26),
        0,
        "leaf 0x80000001 EDX: no 1 GiB pages",
    );
    t.eq(
        traps::fep_cpuid(7, 0)[1] & ((1 << 7) | (1 << 20)),
        0,
        "leaf 7 EBX: no SMEP, SMAP",
    );
    let leaf0 = traps::fep_cpuid(0, 0);
    t.check(
        leaf0[0] >= 1,
        format_args!("leaf 0 max basic leaf {}", leaf0[0]),
    );
    t.eq(traps::install(&[]), 0, "set_trap_table");
    t.eq(
        traps::fep_cpuid(0x4000_0000, 0)[1],
        sig[1],
        "same answer with a trap table",
    );
    t.eq(
        domu_frontends::sys::rdmsr(0x277),
        0x0000_0501_0007_0406,
        "IA32_PAT reads as XEN_MSR_PAT",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
