//! gdt: a guest GDT. `update_descriptor` writes checked descriptors into a frame of the guest's
//! (a TSS descriptor, a misaligned address or a frame not its own are -EINVAL); `set_gdt`
//! installs the frame (too many entries, or a frame mapped writable, -EINVAL) and the guest
//! loads its own data selector; an empty slot faults with #GP(selector); the frame cannot be
//! mapped writable while it is a GDT (-EBUSY) but `update_descriptor` still changes it; after
//! `set_gdt` with no frames it is an ordinary page again. On Ferrite, a selector whose
//! descriptor the guest removed fails to reload after the vCPU blocks, and the failsafe
//! callback gets the old selector (Xen reloads data selectors only on a full context switch,
//! which a single-vCPU dom0 blocking alone does not get, so that part is Ferrite's).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use domu_frontends::{
    abi::xen::Hypercall,
    println, sys,
    sys::mmu::{self, mmuext, update_va_mapping, ADDR_MASK, PTE_RW},
    sys::{events, failsafe, traps},
    Test,
};

#[cfg(target_os = "none")]
const EINVAL: i64 = -22;
#[cfg(target_os = "none")]
const EBUSY: i64 = -16;
/// A flat 32-bit data segment, DPL 3.
#[cfg(target_os = "none")]
const DATA_DPL3: u64 = 0x00cf_f300_0000_ffff;

#[cfg(target_os = "none")]
fn update_descriptor(ma: u64, desc: u64) -> i64 {
    sys::hypercall_ints(Hypercall::UpdateDescriptor as u32, [ma, desc, 0, 0, 0])
}

#[cfg(target_os = "none")]
fn set_gdt(frames: &[u64], entries: u64) -> i64 {
    sys::hypercall_ints(
        Hypercall::SetGdt as u32,
        [frames.as_ptr() as u64, entries, 0, 0, 0],
    )
}

#[cfg(target_os = "none")]
fn on_xen() -> bool {
    let mut extra = [0u8; 16];
    sys::hypercall_buf(Hypercall::XenVersion as u32, 1, &mut extra);
    !extra.windows(7).any(|w| w == b"ferrite")
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    let si = sys::start_info();
    let g = mmu::pfn_to_mfn(si.nr_pages - 1);
    t.eq(mmuext(16, g, 0), 0, "clear the frame");
    let ma = |i: u64| (g << 12) | (i * 8);

    t.eq(
        update_descriptor(ma(1), DATA_DPL3),
        0,
        "update_descriptor: data, DPL 3",
    );
    t.eq(
        update_descriptor(ma(2), 0x0000_8900_0000_0067),
        EINVAL,
        "update_descriptor: a TSS descriptor",
    );
    t.eq(
        update_descriptor(ma(1) + 4, DATA_DPL3),
        EINVAL,
        "update_descriptor: misaligned",
    );
    let hv_frame = (mmu::read_table(sys::read_cr3() >> 12, 256) & ADDR_MASK) >> 12;
    t.eq(
        update_descriptor(hv_frame << 12, DATA_DPL3),
        EINVAL,
        "update_descriptor: a frame not the guest's",
    );

    t.eq(
        set_gdt(&[g], 14 * 512 + 1),
        EINVAL,
        "set_gdt: beyond the reserved entries",
    );
    let buf = sys::static_buffer();
    let spare = (buf.as_ptr() as u64 + 4095) & !4095;
    t.eq(
        set_gdt(&[mmu::va_to_mfn(spare)], 512),
        EINVAL,
        "set_gdt: a frame mapped writable",
    );
    t.eq(set_gdt(&[g], 512), 0, "set_gdt");
    t.eq(
        traps::load_ds(0x0b).map(|x| x.vector),
        None,
        "load DS with the guest's own selector",
    );
    t.eq(failsafe::ds(), 0x0b, "DS holds it");
    let bad = traps::load_ds(0x13);
    t.eq(
        bad.map(|x| (x.vector, x.error_code)),
        Some((13, 0x10)),
        "an empty GDT slot: #GP(selector)",
    );
    t.eq(
        update_va_mapping(spare, (g << 12) | PTE_RW, 2),
        EBUSY,
        "the GDT frame cannot be mapped writable",
    );
    t.eq(
        update_descriptor(ma(3), DATA_DPL3),
        0,
        "update_descriptor on the live GDT",
    );
    t.eq(
        traps::load_ds(0x1b).map(|x| x.vector),
        None,
        "the new descriptor loads",
    );
    t.eq(
        traps::load_ds(0x0b).map(|x| x.vector),
        None,
        "back to the first",
    );

    if on_xen() {
        println!("failsafe part skipped: Xen reloads data selectors only on a full context switch");
    } else {
        t.eq(failsafe::register(), 0, "register the failsafe callback");
        // Remove the descriptor DS uses, then let the vCPU block: on the way back in its DS no
        // longer loads.
        t.eq(update_descriptor(ma(1), 0), 0, "remove DS's descriptor");
        let port = events::bind_virq(0).unwrap_or(0);
        let before = events::events(port);
        t.eq(
            events::set_timer_op(events::system_time() + 20_000_000),
            0,
            "set_timer_op(+20 ms)",
        );
        events::wait_until(|| events::events(port) != before);
        let (count, words) = failsafe::last();
        println!("failsafe: {count} call(s), DS/ES/FS/GS {:x?}", words);
        t.check(count >= 1, format_args!("the failsafe callback ran"));
        t.eq(
            words[0],
            0x0b,
            "its frame carries the DS that would not load",
        );
        t.eq(failsafe::ds(), 0, "DS is null afterwards");
    }

    t.eq(traps::load_ds(0).map(|x| x.vector), None, "null DS");
    t.eq(set_gdt(&[], 0), 0, "set_gdt with no frames");
    t.eq(
        update_va_mapping(spare, (g << 12) | PTE_RW, 2),
        0,
        "the old GDT frame maps writable again",
    );
    t.eq(
        update_va_mapping(spare, (mmu::va_to_mfn(spare) << 12) | PTE_RW, 2),
        0,
        "restore the buffer page",
    );
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
