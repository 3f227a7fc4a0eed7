//! Loading a guest's data segment selectors from the hypervisor, where a selector the guest
//! made bad (a descriptor it since changed or a GDT it replaced) faults: the fault is caught
//! and reported, so the caller can deliver the guest's failsafe callback (Xen's
//! `load_segments` with its exception fixups).

/// Which segment register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seg {
    /// DS.
    Ds = 0,
    /// ES.
    Es = 1,
    /// FS.
    Fs = 2,
    /// GS.
    Gs = 3,
}

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .section .text.ferrite_segments, "ax"
    .global ferrite_load_seg
    # edi = which (0 ds, 1 es, 2 fs, 3 gs), esi = selector; eax = 1 loaded, 0 faulted
ferrite_load_seg:
    cmpl $1, %edi
    jb 1f
    je 2f
    cmpl $2, %edi
    je 3f
ferrite_seg_ip_gs:
    movw %si, %gs
    jmp 9f
1:
ferrite_seg_ip_ds:
    movw %si, %ds
    jmp 9f
2:
ferrite_seg_ip_es:
    movw %si, %es
    jmp 9f
3:
ferrite_seg_ip_fs:
    movw %si, %fs
9:
    movl $1, %eax
    ret
ferrite_seg_fixup:
    xorl %eax, %eax
    ret
"#,
    crate::extable_entry!("ferrite_seg_ip_ds", "ferrite_seg_fixup"),
    crate::extable_entry!("ferrite_seg_ip_es", "ferrite_seg_fixup"),
    crate::extable_entry!("ferrite_seg_ip_fs", "ferrite_seg_fixup"),
    crate::extable_entry!("ferrite_seg_ip_gs", "ferrite_seg_fixup"),
    options(att_syntax)
);

#[cfg(target_os = "none")]
extern "C" {
    fn ferrite_load_seg(which: u32, sel: u32) -> u32;
}

/// Loads `sel` into `which`; false if the load faulted (the register is then unchanged).
#[cfg(target_os = "none")]
pub fn load(which: Seg, sel: u16) -> bool {
    // SAFETY: the hypervisor uses none of DS/ES/FS/GS in 64-bit mode (it addresses through
    // flat CS/SS and absolute addresses); a faulting load (#NP, #SS, #GP, or #PF reading a
    // descriptor) is resumed at `ferrite_seg_fixup` through the fixup table (`extable`).
    unsafe { ferrite_load_seg(which as u32, u32::from(sel)) == 1 }
}

/// Host builds have no segments to load.
#[cfg(not(target_os = "none"))]
pub fn load(_which: Seg, _sel: u16) -> bool {
    false
}

/// `FIRST_RESERVED_GDT_ENTRY`: guest GDTs end where the hypervisor's reserved page starts.
pub const MAX_GDT_ENTRIES: u64 = 14 * 512;

const SEG_P: u64 = 1 << 47;
const SEG_S: u64 = 1 << 44;
const SEG_DPL_SHIFT: u32 = 45;
const SEG_TYPE_SHIFT: u32 = 40;

/// Checks (and fixes up) one 8-byte descriptor a 64-bit PV guest wants in its GDT or LDT, as
/// Xen's `check_descriptor`: not-present descriptors are harmless; code and data segments get a
/// DPL of at least 3 (the guest kernel's ring); a call gate must target a flat or guest code
/// selector and gets DPL 0 (so using it faults and can be emulated), its original DPL kept in
/// the selector's RPL; type 0 (the upper half of a call gate) passes; every other system
/// descriptor (TSS, LDT, interrupt and trap gates) is refused. Returns the descriptor to store.
pub fn check_descriptor(raw: u64) -> Option<u64> {
    if raw & SEG_P == 0 {
        return Some(raw);
    }
    let dpl = ((raw >> SEG_DPL_SHIFT) & 3).max(3);
    let fixed = (raw & !(3 << SEG_DPL_SHIFT)) | (dpl << SEG_DPL_SHIFT);
    if raw & SEG_S != 0 {
        return Some(fixed);
    }
    match (raw >> SEG_TYPE_SHIFT) & 0xf {
        0 => Some(raw),
        0xc => {
            let cs = (raw >> 16) & 0xffff;
            if !gate_selector_ok(cs as u16) {
                return None;
            }
            // Reserved bits (the parameter count byte) must be zero.
            if (raw >> 32) & 0xff != 0 {
                return None;
            }
            let cs = (cs & !3) | dpl;
            Some((fixed & !(3 << SEG_DPL_SHIFT) & !(0xffff << 16)) | (cs << 16))
        }
        _ => None,
    }
}

/// A call gate may target a selector of the guest's GDT or LDT, or the flat ring-3 code
/// selectors of the reserved page (`guest_gate_selector_okay`).
fn gate_selector_ok(sel: u16) -> bool {
    use crate::layout::selectors::{FLAT_RING3_CS32, FLAT_RING3_CS64};
    if sel & 4 != 0 {
        return true; // LDT
    }
    let index = u64::from(sel >> 3);
    if index == 0 {
        return false;
    }
    index < crate::arch::x86_64::segments::MAX_GDT_ENTRIES
        || sel & !3 == FLAT_RING3_CS64 & !3
        || sel & !3 == FLAT_RING3_CS32 & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_data_get_dpl_3() {
        // A flat 64-bit code segment with DPL 0 comes back with DPL 3.
        let d = 0x00af_9b00_0000_ffffu64;
        assert_eq!(check_descriptor(d), Some(0x00af_fb00_0000_ffff));
        // DPL 3 data stays as it is; not-present anything passes untouched.
        assert_eq!(
            check_descriptor(0x00cf_f300_0000_ffff),
            Some(0x00cf_f300_0000_ffff)
        );
        assert_eq!(check_descriptor(0x1234_0000_5678), Some(0x1234_0000_5678));
    }

    #[test]
    fn system_descriptors_are_refused_but_type_0_passes() {
        // An available 64-bit TSS, an LDT, an interrupt gate: refused.
        for ty in [0x9u64, 0x2, 0xe, 0xf] {
            assert_eq!(
                check_descriptor(SEG_P | (ty << SEG_TYPE_SHIFT)),
                None,
                "type {ty:#x}"
            );
        }
        assert_eq!(check_descriptor(SEG_P), Some(SEG_P));
    }

    #[test]
    fn call_gates_get_dpl_0_and_keep_it_in_the_rpl() {
        let gate = |sel: u64, dpl: u64| {
            SEG_P | (0xc << SEG_TYPE_SHIFT) | (dpl << SEG_DPL_SHIFT) | (sel << 16)
        };
        let out = check_descriptor(gate(0xe030, 3)).unwrap();
        assert_eq!((out >> SEG_DPL_SHIFT) & 3, 0);
        assert_eq!((out >> 16) & 0xffff, 0xe033);
        assert_eq!(check_descriptor(gate(0, 3)), None, "null target");
        assert_eq!(
            check_descriptor(gate(0xe008, 3)),
            None,
            "the hypervisor's code selector"
        );
        assert_eq!(
            check_descriptor(gate(0x10, 3) | (1 << 32)),
            None,
            "parameter count"
        );
    }
}
