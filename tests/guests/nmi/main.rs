//! nmi: `VCPUOP_send_nmi` and the NMI entry of the virtual IDT (Xen's `nmi_pending`,
//! `process_nmi`, `register_guest_nmi_callback`). An NMI sent to the caller's own vCPU arrives on
//! the way out of the hypercall through the trap table's vector 2 (the gate's flags decide the
//! event mask: none here); one sent from inside the handler waits until the handler's `iret`; a
//! non-null argument is -EINVAL and a vCPU beyond the domain's -ENOENT. `CALLBACKOP_unregister`
//! of the NMI callback clears the entry, after which an NMI is dropped; `CALLBACKOP_register` of
//! it installs an interrupt gate again: events masked inside the handler, restored by `iret`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(target_os = "none")]
use domu_frontends::{
    abi::xen::Hypercall,
    sys::{self, events, traps},
    Test,
};

/// `VCPUOP_send_nmi`, `CALLBACKTYPE_nmi`.
#[cfg(target_os = "none")]
const SEND_NMI: u64 = 11;
#[cfg(target_os = "none")]
const CALLBACKTYPE_NMI: u16 = 4;

/// Set for the hook to send one more NMI from inside the handler.
#[cfg(target_os = "none")]
static RESEND: AtomicBool = AtomicBool::new(false);
/// NMIs counted when the hook's resend returned (still inside the first handler).
#[cfg(target_os = "none")]
static COUNT_AFTER_RESEND: AtomicU64 = AtomicU64::new(u64::MAX);
/// The event mask the handler ran with (1: masked), and the saved mask in its frame's CS word.
#[cfg(target_os = "none")]
static MASK_INSIDE: AtomicU64 = AtomicU64::new(u64::MAX);
#[cfg(target_os = "none")]
static SAVED_MASK: AtomicU64 = AtomicU64::new(u64::MAX);

#[cfg(target_os = "none")]
fn hook(f: &traps::GuestFrame) {
    MASK_INSIDE.store(u64::from(events::upcall_mask()), Ordering::SeqCst);
    SAVED_MASK.store((f.cs >> 32) & 0xff, Ordering::SeqCst);
    if RESEND.swap(false, Ordering::SeqCst) {
        let rc = send_nmi_to_self();
        COUNT_AFTER_RESEND.store(
            if rc == 0 {
                traps::NMI_COUNT.load(Ordering::SeqCst)
            } else {
                u64::MAX - 1
            },
            Ordering::SeqCst,
        );
    }
}

#[cfg(target_os = "none")]
fn send_nmi_to_self() -> i64 {
    events::vcpu_op(SEND_NMI, &mut [])
}

#[cfg(target_os = "none")]
fn nmis() -> u64 {
    traps::NMI_COUNT.load(Ordering::SeqCst)
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn guest_main() {
    let mut t = Test::new();
    domu_frontends::setup_events(&mut t);
    events::set_upcall_mask(false);
    traps::set_nmi_hook(Some(hook));

    // The trap table's vector 2 (DPL 0, no event masking), as Linux's trap table has it.
    t.eq(send_nmi_to_self(), 0, "VCPUOP_send_nmi to itself");
    t.eq(nmis(), 1, "the NMI arrived on the way out of the hypercall");
    t.eq(
        MASK_INSIDE.load(Ordering::SeqCst),
        0,
        "a trap-table NMI gate leaves events unmasked",
    );
    t.eq(
        events::vcpu_op(SEND_NMI, &mut [0u8; 8]),
        -22,
        "send_nmi with an argument is -EINVAL",
    );
    t.eq(
        sys::hypercall_ints(Hypercall::VcpuOp as u32, [SEND_NMI, 99, 0, 0, 0]),
        -2,
        "send_nmi to vCPU 99 is -ENOENT",
    );

    // An NMI raised inside the handler waits for its iret.
    RESEND.store(true, Ordering::SeqCst);
    t.eq(
        send_nmi_to_self(),
        0,
        "send_nmi, resending from the handler",
    );
    t.eq(
        COUNT_AFTER_RESEND.load(Ordering::SeqCst),
        2,
        "the second NMI did not nest inside the first handler",
    );
    t.eq(
        nmis(),
        3,
        "the second NMI arrived after the first handler's iret",
    );

    // Unregistering the NMI callback clears the entry: NMIs are dropped.
    let unreg = [CALLBACKTYPE_NMI, 0u16];
    // SAFETY: a live `callback_unregister`.
    let rc = unsafe {
        sys::hypercall(
            Hypercall::CallbackOp as u32,
            1,
            unreg.as_ptr() as u64,
            0,
            0,
            0,
        )
    };
    t.eq(rc, 0, "CALLBACKOP_unregister of the NMI callback");
    t.eq(send_nmi_to_self(), 0, "send_nmi with no NMI entry");
    t.eq(nmis(), 3, "no entry: the NMI is dropped");

    // CALLBACKOP_register installs an interrupt gate: events masked inside, restored after.
    t.eq(
        sys::register_callback(CALLBACKTYPE_NMI, traps::stub(2), false),
        0,
        "CALLBACKOP_register of the NMI callback",
    );
    t.eq(send_nmi_to_self(), 0, "send_nmi to the callback");
    t.eq(nmis(), 4, "the NMI arrived through the callback");
    t.eq(
        MASK_INSIDE.load(Ordering::SeqCst),
        1,
        "the NMI callback runs with events masked",
    );
    t.eq(
        SAVED_MASK.load(Ordering::SeqCst),
        0,
        "its frame saved the unmasked state",
    );
    t.eq(
        u64::from(events::upcall_mask()),
        0,
        "iret restored the event mask",
    );
    events::set_upcall_mask(true);
    t.finish()
}

#[cfg(not(target_os = "none"))]
fn main() {}
