//! ldt: a guest LDT (`MMUEXT_SET_LDT`). A frame of the guest's own, filled with
//! `update_descriptor` and mapped read-only, becomes its LDT; a data selector of the LDT loads
//! (and reads back), an empty LDT slot faults with #GP(selector), a misaligned base or more
//! than 8192 entries is -EINVAL, and an empty LDT (0 entries) removes it, after which the
//! selector no longer loads. With a 6-entry LDT: `lar`/`lsl`/`verr`/`verw` see the descriptors
//! as stored (a data segment's rights and limit; nothing past the LDT's limit), a not-present
//! segment is #NP(selector) for DS and #SS(selector) for SS, a selector past the limit is
//! #GP(selector), and a 64-bit call gate (accepted, its DPL forced to 0 as Xen stores it) is
//! invisible to `lar` and a far call through it is #GP(gate selector): a 64-bit PV guest's call
//! gates are not emulated.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::xen::Hypercall,
    sys,
    sys::mmu::{self, mmuext, update_va_mapping, PTE_RO, PTE_RW},
    sys::{failsafe, traps},
    Test,
};

/// A flat 32-bit data segment, DPL 3.
#[cfg(target_os = "none")]
const DATA_DPL3: u64 = 0x00cf_f300_0000_ffff;
/// The same, not present.
#[cfg(target_os = "none")]
const DATA_DPL3_NOT_PRESENT: u64 = 0x00cf_7300_0000_ffff;
/// The low half of a 64-bit call gate, DPL 3, to offset 0x1000 of the flat 64-bit ring-3 code
/// selector (0xe033).
#[cfg(target_os = "none")]
const CALL_GATE_LOW: u64 = 0x0000_ec00_e033_1000;
#[cfg(target_os = "none")]
const SET_LDT: u32 = 13;

#[cfg(target_os = "none")]
fn update_descriptor(ma: u64, desc: u64) -> i64 {
    sys::hypercall_ints(Hypercall::UpdateDescriptor as u32, [ma, desc, 0, 0, 0])
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    t.eq(traps::install(&[]), 0, "set_trap_table");
    let si = sys::start_info();
    let l = mmu::pfn_to_mfn(si.nr_pages - 1);
    t.eq(mmuext(16, l, 0), 0, "clear the frame");
    t.eq(
        update_descriptor((l << 12) | 8, DATA_DPL3),
        0,
        "a data descriptor in slot 1",
    );
    let buf = sys::static_buffer();
    let va = (buf.as_ptr() as u64 + 4095) & !4095;
    let own = mmu::va_to_mfn(va);
    t.eq(
        update_va_mapping(va, (l << 12) | PTE_RO, 2),
        0,
        "map it read-only",
    );

    t.eq(mmuext(SET_LDT, va + 8, 1), -22, "a misaligned LDT");
    t.eq(mmuext(SET_LDT, va, 8193), -22, "more than 8192 entries");
    t.eq(mmuext(SET_LDT, va, 512), 0, "MMUEXT_SET_LDT");
    // Selector: index 1, TI (LDT), RPL 3.
    t.eq(
        traps::load_ds(0x0f).map(|x| x.vector),
        None,
        "an LDT data selector loads",
    );
    t.eq(failsafe::ds(), 0x0f, "DS holds it");
    t.eq(
        traps::load_ds(0x17).map(|x| (x.vector, x.error_code)),
        Some((13, 0x14)),
        "an empty LDT slot: #GP(selector)",
    );
    t.eq(traps::load_ds(0).map(|x| x.vector), None, "null DS");

    // Six entries: 1 data, 3 not present, 4-5 a call gate.
    t.eq(
        update_descriptor((l << 12) | 24, DATA_DPL3_NOT_PRESENT),
        0,
        "a not-present data descriptor in slot 3",
    );
    t.eq(
        update_descriptor((l << 12) | 32, CALL_GATE_LOW),
        0,
        "a 64-bit call gate in slots 4-5",
    );
    t.eq(mmuext(SET_LDT, va, 6), 0, "a 6-entry LDT");
    t.eq(
        traps::lar(0x0f),
        Some(0x00c0_f300),
        "lar of the data selector",
    );
    t.eq(
        traps::lsl(0x0f),
        Some(0xffff_ffff),
        "lsl of the data selector",
    );
    t.eq(
        traps::verr_verw(0x0f),
        (true, true),
        "verr/verw of the data selector",
    );
    t.eq(
        traps::lar(0x1f),
        Some(0x00c0_7300),
        "lar of the not-present one",
    );
    t.eq(traps::lar(0x37), None, "lar past the LDT's limit");
    t.eq(traps::lsl(0x37), None, "lsl past the LDT's limit");
    t.eq(
        traps::verr_verw(0x37),
        (false, false),
        "verr/verw past the LDT's limit",
    );
    t.eq(
        traps::load_ds(0x37).map(|x| (x.vector, x.error_code)),
        Some((13, 0x34)),
        "DS past the LDT's limit: #GP(selector)",
    );
    t.eq(
        traps::load_ds(0x1f).map(|x| (x.vector, x.error_code)),
        Some((11, 0x1c)),
        "a not-present DS: #NP(selector)",
    );
    t.eq(
        traps::load_ss(0x1f).map(|x| (x.vector, x.error_code)),
        Some((12, 0x1c)),
        "a not-present SS: #SS(selector)",
    );
    t.eq(
        traps::load_ss(0x17).map(|x| (x.vector, x.error_code)),
        Some((13, 0x14)),
        "an empty SS slot: #GP(selector)",
    );
    t.eq(traps::load_ss(0x0f), None, "SS loads the data selector");
    t.eq(
        traps::lar(0x27),
        None,
        "lar of the call gate (DPL 0 as stored)",
    );
    t.eq(
        traps::far_call(0x27).map(|x| (x.vector, x.error_code)),
        Some((13, 0x24)),
        "a far call through the call gate: #GP(gate selector)",
    );
    t.eq(mmuext(SET_LDT, 0, 0), 0, "no LDT");
    t.eq(
        traps::load_ds(0x0f).map(|x| x.vector),
        Some(13),
        "the LDT selector no longer loads",
    );
    t.eq(
        update_va_mapping(va, (own << 12) | PTE_RW, 2),
        0,
        "restore the buffer page",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
