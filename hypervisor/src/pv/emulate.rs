//! Instructions Xen emulates for PV guests: the forced-emulation CPUID prefix
//! (`ud2; .ascii "xen"; cpuid`, `emul-inv-op.c`) and, on #GP from the guest kernel, privileged
//! register and MSR accesses, `xsetbv` and `int n` (`emul-priv-op.c`, `do_general_protection`).

use super::{inject, set_segment_base};
use crate::arch::x86_64::guest::{
    self, copy_from_guest, MSR_FS_BASE, MSR_GS_BASE, MSR_SHADOW_GS_BASE,
};
use crate::arch::x86_64::idt::TrapFrame;
use crate::arch::x86_64::trap::Vector;
use crate::arch::x86_64::{cpu, ioport};
use crate::domain::{Domain, Vcpu};
use xen_abi::arch_x86::{SEGBASE_FS, SEGBASE_GS_KERNEL, SEGBASE_GS_USER};

/// `ud2; .ascii "xen"` followed by `cpuid`.
pub const FEP_CPUID: [u8; 7] = [0x0f, 0x0b, b'x', b'e', b'n', 0x0f, 0xa2];

/// Xen's hypervisor CPUID leaves (`cpuid_hypervisor_leaves`): signature, version, hypercall MSR.
pub fn xen_leaf(leaf: u32) -> Option<[u32; 4]> {
    match leaf {
        0x4000_0000 => Some([0x4000_0005, 0x566e_6558, 0x6558_4d4d, 0x4d4d_566e]), // "XenVMMXenVMM"
        0x4000_0001 => Some([(4 << 16) | 17, 0, 0, 0]),
        0x4000_0002 => Some([1, 0x4000_0000, 0, 0]),
        0x4000_0003..=0x4000_0005 => Some([0; 4]),
        _ => None,
    }
}

/// What of a vCPU the CPUID it sees depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuidView {
    /// The components Ferrite switches (`guest::xfeatures`, 0 without XSAVE).
    pub xfeatures: u64,
    /// The vCPU's XCR0.
    pub xcr0: u64,
    /// OSXSAVE is reported: the guest set its virtual CR4.OSXSAVE, or (Xen's de-facto PV ABI)
    /// the guest kernel asks through the forced-emulation prefix while XSAVE is enabled.
    pub osxsave: bool,
}

/// The basic and extended CPUID leaves of the PV policy (`pv::cpu_policy` fills it from
/// these): host values with the features a PV guest cannot use hidden and the hypervisor bit
/// set; XSAVE and the AVX family as far as Ferrite switches their state, and leaf 0xD
/// describing exactly those components. Xen's leaves at 0x40000000 are `xen_leaf`'s.
pub fn guest_cpuid(leaf: u32, sub: u32, view: CpuidView) -> [u32; 4] {
    let r = cpu::cpuid(leaf, sub);
    let (mut a, mut b, mut c, mut d) = (r.eax, r.ebx, r.ecx, r.edx);
    let xsave = view.xfeatures != 0;
    let avx = view.xfeatures & guest::XSTATE_YMM != 0;
    match leaf {
        1 => {
            // Hide MONITOR, VMX, SMX, EST, TM2, xTPR, PDCM, DCA, x2APIC, TSC-deadline; set HYPERVISOR.
            c &= !((1 << 3)
                | (1 << 5)
                | (1 << 6)
                | (1 << 7)
                | (1 << 8)
                | (1 << 14)
                | (1 << 15)
                | (1 << 18)
                | (1 << 21)
                | (1 << 24));
            // XSAVE as far as Ferrite switches state with it; OSXSAVE as Xen reports it to PV
            // guests; FMA, AVX and F16C only with the AVX state switched.
            if !xsave {
                c &= !(1 << 26);
            }
            c &= !(1 << 27);
            if xsave && view.osxsave {
                c |= 1 << 27;
            }
            if !avx {
                c &= !((1 << 12) | (1 << 28) | (1 << 29));
            }
            c |= 1 << 31;
            // As Xen's PV policy (`cpufeatureset.h`: only 'A' features reach PV guests): no
            // 64-bit debug store, CPL-qualified debug store or PCID either.
            c &= !((1 << 2) | (1 << 4) | (1 << 17));
            // Hide VME, PSE, PGE, PSE36, DS (HVM-only or never offered: a PV kernel maps with
            // 4 KiB pages through the hypervisor) and ACPI, TM, PBE. MTRR stays, as Xen shows it
            // to the hardware domain.
            d &= !((1 << 1)
                | (1 << 3)
                | (1 << 13)
                | (1 << 17)
                | (1 << 21)
                | (1 << 22)
                | (1 << 29)
                | (1 << 31));
        }
        7 if sub == 0 => {
            // Hide FSGSBASE and TSC_ADJUST (CR4.FSGSBASE stays clear under 64-bit PV), AVX2
            // unless the AVX state is switched, and the AVX-512 family and AMX (their state is
            // not switched).
            if !avx {
                b &= !(1 << 5);
            }
            // SGX, SMEP, INVPCID, PQM, MPX, PQE and SMAP are not for PV guests either.
            b &= !((1 << 2) | (1 << 7) | (1 << 10) | (1 << 12) | (1 << 14) | (1 << 15) | (1 << 20));
            b &= !((1 << 0)
                | (1 << 1)
                | (1 << 16)
                | (1 << 17)
                | (1 << 21)
                | (1 << 26)
                | (1 << 27)
                | (1 << 28)
                | (1 << 30)
                | (1 << 31));
            c &= !((1 << 1) | (1 << 6) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 14));
            // UMIP, PKU, OSPKE, CET shadow stacks, MOVDIRI, MOVDIR64B, ENQCMD.
            c &= !((1 << 2) | (1 << 3) | (1 << 4) | (1 << 7) | (1 << 27) | (1 << 28) | (1 << 29));
            d &= !((1 << 2) | (1 << 3) | (1 << 8) | (1 << 22) | (1 << 23) | (1 << 24) | (1 << 25));
        }
        7 if sub == 1 => {
            // AVX-VNNI needs the AVX state; AVX512_BF16 the AVX-512 state, never switched.
            if !avx {
                a &= !(1 << 4);
            }
            a &= !(1 << 5);
        }
        0xd => [a, b, c, d] = guest::xstate_cpuid(sub, view.xfeatures, view.xcr0, [a, b, c, d]),
        // 1 GiB pages are for HAP guests only (`PAGE1GB` is 'H'); SVM and the AMD CR8 alias
        // are HVM matters.
        0x8000_0001 => {
            d &= !(1 << 26);
            c &= !((1 << 2) | (1 << 4));
        }
        // As Xen's PV policy (seen through `XEN_SYSCTL_get_cpu_policy` on 4.17): no MONITOR
        // leaf, no thermal/power leaf, no topology leaf (a PV guest's vCPUs are not the
        // host's threads), no SVM leaf.
        5 | 6 | 0xb | 0x8000_000a => [a, b, c, d] = [0; 4],
        _ => {}
    }
    if leaf == 1 {
        // SYSENTER is not offered to 64-bit PV guests.
        d &= !(1 << 11);
    }
    if (leaf, sub) == (7, 0) {
        // 5-level paging and supervisor protection keys are the hypervisor's; PCOMMIT is
        // withdrawn.
        c &= !((1 << 16) | (1 << 31));
        b &= !(1 << 22);
    }
    [a, b, c, d]
}

/// Handles #UD at the forced-emulation prefix followed by CPUID. Returns false to deliver #UD.
pub fn forced_cpuid(frame: &mut TrapFrame) -> bool {
    let mut insn = [0u8; 7];
    if copy_from_guest(frame.rip, &mut insn).is_err() || insn != FEP_CPUID {
        return false;
    }
    let xfeatures = guest::xfeatures();
    let current = crate::sched::current();
    let view = current.as_ref().map_or(CpuidView::default(), |v| {
        let st = v.state.lock();
        CpuidView {
            xfeatures,
            xcr0: st.fpu.xcr0,
            // Xen's `guest_cpuid` leaks the hardware's CR4.OSXSAVE into the kernel's
            // emulated view (see its comment on the PV ABI); user mode sees its virtual CR4.
            osxsave: st.cr4_osxsave || st.kernel_mode,
        }
    });
    let (leaf, sub) = (frame.rax as u32, frame.rcx as u32);
    let r = match current.and_then(|v| v.domain()) {
        Some(d) => super::cpu_policy::with_policy(&d, |p| {
            super::cpu_policy::guest_leaf(p, leaf, sub, view)
        }),
        None => super::cpu_policy::guest_leaf(&super::cpu_policy::system().pv_max, leaf, sub, view),
    };
    frame.rax = u64::from(r[0]);
    frame.rbx = u64::from(r[1]);
    frame.rcx = u64::from(r[2]);
    frame.rdx = u64::from(r[3]);
    frame.rip = frame.rip.wrapping_add(7);
    true
}

pub(crate) fn gpr(frame: &mut TrapFrame, n: u8) -> &mut u64 {
    match n & 15 {
        0 => &mut frame.rax,
        1 => &mut frame.rcx,
        2 => &mut frame.rdx,
        3 => &mut frame.rbx,
        4 => &mut frame.rsp,
        5 => &mut frame.rbp,
        6 => &mut frame.rsi,
        7 => &mut frame.rdi,
        8 => &mut frame.r8,
        9 => &mut frame.r9,
        10 => &mut frame.r10,
        11 => &mut frame.r11,
        12 => &mut frame.r12,
        13 => &mut frame.r13,
        14 => &mut frame.r14,
        _ => &mut frame.r15,
    }
}

/// `MSR_IA32_MCG_CAP`: machine-check capabilities (the bank count in its low byte).
pub const MSR_MCG_CAP: u32 = 0x179;
/// `MSR_IA32_MCG_STATUS`.
pub const MSR_MCG_STATUS: u32 = 0x17a;

/// `MSR_TSC_AUX`: what `rdtscp` and `rdpid` return, per vCPU.
pub const MSR_TSC_AUX: u32 = 0xc000_0103;

/// The MSRs a vCPU holds as its own state (Xen's `guest_rdmsr` for them), read for the guest
/// or for the toolstack (`XEN_DOMCTL_get_vcpu_msrs`); `None` is the guest's #GP. So far
/// `MSR_TSC_AUX`, offered when the domain's policy has RDTSCP or RDPID.
pub fn vcpu_rdmsr(dom: &Domain, v: &Vcpu, msr: u32) -> Option<u64> {
    match msr {
        MSR_TSC_AUX if super::cpu_policy::has_tsc_aux(dom) => {
            Some(u64::from(v.state.lock().tsc_aux))
        }
        _ => None,
    }
}

/// Writes a vCPU's own MSR (Xen's `guest_wrmsr` for them); false is the guest's #GP (and the
/// toolstack's `-EINVAL`). `current`: `v` runs on this CPU, so the register itself changes
/// too. `MSR_TSC_AUX` takes 32-bit values only.
pub fn vcpu_wrmsr(dom: &Domain, v: &Vcpu, msr: u32, value: u64, current: bool) -> bool {
    match msr {
        MSR_TSC_AUX if super::cpu_policy::has_tsc_aux(dom) => {
            let Ok(aux) = u32::try_from(value) else {
                return false;
            };
            v.state.lock().tsc_aux = aux;
            if current {
                guest::load_tsc_aux(aux);
            }
            true
        }
        _ => false,
    }
}

/// CR4 as a PV guest sees it (`pv_guest_cr4`): PAE, MCE, OSFXSR, OSXMMEXCPT, and OSXSAVE
/// ([`CR4_OSXSAVE`]) once the guest sets it.
pub const GUEST_CR4: u64 = (1 << 5) | (1 << 6) | (1 << 9) | (1 << 10);
/// CR4.OSXSAVE: the one CR4 bit a PV guest controls here (`PV_CR4_GUEST_MASK`), kept per vCPU
/// when the guest may use XSAVE (`pv_fixup_guest_cr4`).
pub const CR4_OSXSAVE: u64 = 1 << 18;

/// Handles #GP from a guest: `int n` per the virtual IDT, and privileged instructions of the
/// guest kernel. Returns false when the guest should get the #GP.
pub fn privileged(dom: &Domain, v: &Vcpu, frame: &mut TrapFrame) -> bool {
    let mut insn = [0u8; 16];
    // Fetch what is readable; a short read leaves zeros, which decode as nothing we emulate.
    for len in [16usize, 8, 4, 2] {
        if copy_from_guest(frame.rip, &mut insn[..len]).is_ok() {
            break;
        }
    }
    // `int n`: decode the instruction (QEMU < 8 reports a wrong error code for it).
    if insn[0] == 0xcd {
        let n = insn[1];
        let (allowed, has_handler) = {
            let st = v.state.lock();
            let te = st.traps[n as usize];
            (st.kernel_mode || te.flags & 3 == 3, te.address != 0)
        };
        if allowed && has_handler {
            frame.rip = frame.rip.wrapping_add(2);
            inject(dom, v, frame, Vector(n), None);
        } else {
            inject(
                dom,
                v,
                frame,
                Vector::GENERAL_PROTECTION,
                Some((u64::from(n) << 3) | 2),
            );
        }
        return true;
    }
    if let Some(done) = port_io(dom, v, frame, &insn) {
        return done;
    }
    // `cli`/`sti` with I/O privilege: no-ops, as Xen's `priv_op_validate` makes them (the
    // virtual interrupt flag is the upcall mask, which a guest changes through its
    // `vcpu_info`; Linux runs a `cli` in early code before its alternatives are patched).
    if matches!(insn[0], 0xfa | 0xfb) {
        if !has_io_privilege(dom, v) {
            return false;
        }
        frame.rip = frame.rip.wrapping_add(1);
        return true;
    }
    if !v.state.lock().kernel_mode {
        return false;
    }
    let mut i = 0;
    let mut rex = 0u8;
    if insn[0] & 0xf0 == 0x40 {
        rex = insn[0];
        i = 1;
    }
    // hlt: the guest kernel idles; block until an event (Xen's `hlt` emulation).
    if insn[0] == 0xf4 {
        frame.rip = frame.rip.wrapping_add(1);
        super::block(v);
        return true;
    }
    match (insn[i], insn[i + 1]) {
        // wrmsr
        (0x0f, 0x30) => {
            let value = (frame.rdx << 32) | (frame.rax & 0xffff_ffff);
            let segment = |which| set_segment_base(&v.state.lock(), which, value).is_ok();
            let ok = match frame.rcx as u32 {
                MSR_FS_BASE => segment(SEGBASE_FS),
                MSR_GS_BASE => segment(SEGBASE_GS_KERNEL),
                MSR_SHADOW_GS_BASE => segment(SEGBASE_GS_USER),
                // EFER writes that change nothing; STAR, LSTAR, CSTAR, SFMASK and SYSENTER_*
                // belong to the hypervisor: dropped, as Xen does.
                0xc000_0080 => value == cpu::rdmsr(0xc000_0080),
                0xc000_0081..=0xc000_0084 | 0x174..=0x176 => true,
                // MCG_STATUS of the virtual machine-check architecture: only a clear.
                MSR_MCG_STATUS => value == 0,
                m => vcpu_wrmsr(dom, v, m, value, true),
            };
            if ok {
                frame.rip = frame.rip.wrapping_add(2 + i as u64);
            }
            ok
        }
        // rdmsr
        (0x0f, 0x32) => {
            let value = match frame.rcx as u32 {
                m @ (MSR_FS_BASE | MSR_GS_BASE | MSR_SHADOW_GS_BASE | 0xc000_0080) => cpu::rdmsr(m),
                // The virtual machine-check architecture (Xen's `vmce_rdmsr`), without banks:
                // nothing to report, nothing pending. Linux's MCE code panics when these
                // reads fault.
                MSR_MCG_CAP | MSR_MCG_STATUS => 0,
                // The PAT every CPU runs with, as Xen reports it.
                crate::arch::x86_64::guest::MSR_PAT => crate::arch::x86_64::guest::XEN_MSR_PAT,
                m => match vcpu_rdmsr(dom, v, m) {
                    Some(value) => value,
                    None => return false,
                },
            };
            frame.rax = value & 0xffff_ffff;
            frame.rdx = value >> 32;
            frame.rip = frame.rip.wrapping_add(2 + i as u64);
            true
        }
        // mov %crN, reg / mov reg, %crN
        (0x0f, op @ (0x20 | 0x22)) => {
            let modrm = insn[i + 2];
            if modrm >> 6 != 3 {
                return false;
            }
            let crn = ((modrm >> 3) & 7) | if rex & 4 != 0 { 8 } else { 0 };
            let reg = (modrm & 7) | if rex & 1 != 0 { 8 } else { 0 };
            let handled = if op == 0x20 {
                let value = match crn {
                    0 => {
                        let (cr0, _) = cpu::read_cr0_cr4();
                        if v.state.lock().fpu_ts {
                            cr0 | 8
                        } else {
                            cr0 & !8
                        }
                    }
                    2 => super::guest_cr2(v),
                    3 => v.state.lock().active_l4().map_or(0, |l4| l4.addr()),
                    4 => {
                        GUEST_CR4
                            | if v.state.lock().cr4_osxsave {
                                CR4_OSXSAVE
                            } else {
                                0
                            }
                    }
                    _ => return false,
                };
                *gpr(frame, reg) = value;
                true
            } else {
                let value = *gpr(frame, reg);
                match crn {
                    0 => {
                        v.state.lock().fpu_ts = value & 8 != 0;
                        cpu::set_ts(value & 8 != 0);
                        true
                    }
                    2 => {
                        super::set_guest_cr2(v, value);
                        true
                    }
                    // Bits a PV guest cannot change are dropped silently, as Xen does.
                    4 => {
                        v.state.lock().cr4_osxsave =
                            value & CR4_OSXSAVE != 0 && guest::xfeatures() != 0;
                        true
                    }
                    _ => false,
                }
            };
            if handled {
                frame.rip = frame.rip.wrapping_add(3 + i as u64);
            }
            handled
        }
        // xsetbv (Xen's `x86emul_write_xcr` and `handle_xsetbv`): #UD while the guest's CR4.OSXSAVE
        // is clear; XCR0 only, valid, within what Ferrite switches and within the components
        // the domain's CPU policy offers (leaf 0xd:0, Xen's `xcr0_max`), or #GP(0).
        (0x0f, 0x01) if insn[i + 2] == 0xd1 => {
            let xcr0_max = super::cpu_policy::with_policy(dom, |p| {
                let l = p.cpuid.lookup(0xd, 0);
                u64::from(l[0]) | (u64::from(l[3]) << 32)
            });
            let mut st = v.state.lock();
            if !st.cr4_osxsave {
                drop(st);
                inject(dom, v, frame, Vector::INVALID_OPCODE, None);
                return true;
            }
            let value = (frame.rdx << 32) | (frame.rax & 0xffff_ffff);
            let ok = frame.rcx as u32 == 0
                && value & !xcr0_max == 0
                && guest::set_guest_xcr0(&mut st.fpu, value);
            if ok {
                frame.rip = frame.rip.wrapping_add(3 + i as u64);
            }
            ok
        }
        // wbinvd, invd: harmless for the guest to skip.
        (0x0f, 0x09 | 0x08) => {
            frame.rip = frame.rip.wrapping_add(2 + i as u64);
            true
        }
        _ => false,
    }
}

/// An `in`/`out` instruction: its length, port-size, direction and where the port comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortInsn {
    /// Instruction length in bytes.
    pub len: u64,
    /// Access size: 1, 2 or 4.
    pub size: u8,
    /// `out` (as opposed to `in`).
    pub write: bool,
    /// The immediate port, or `None` for the `dx` forms.
    pub imm: Option<u8>,
}

/// Decodes `in`/`out` (E4–E7, EC–EF) after optional operand-size (66) and REX prefixes. String
/// forms (`ins`/`outs`) are not decoded: the guest gets the #GP.
pub fn decode_port_insn(insn: &[u8; 16]) -> Option<PortInsn> {
    let mut i = 0;
    let mut opsize16 = false;
    while i < 4 {
        match insn[i] {
            0x66 => opsize16 = true,
            0x40..=0x4f => {}
            _ => break,
        }
        i += 1;
    }
    let op = insn[i];
    let wide = op & 1 != 0;
    let size = match (wide, opsize16) {
        (false, _) => 1,
        (true, true) => 2,
        (true, false) => 4,
    };
    let (imm, len) = match op {
        0xe4..=0xe7 => (Some(insn[i + 1]), i as u64 + 2),
        0xec..=0xef => (None, i as u64 + 1),
        _ => return None,
    };
    Some(PortInsn {
        len,
        size,
        write: op & 2 != 0,
        imm,
    })
}

/// Whether the vCPU's virtual IOPL lets its current mode do port I/O, `cli` and `sti` (Xen's
/// `iopl_ok`: the kernel counts as ring 1, ring 0 under `VMASST_TYPE_architectural_iopl`).
fn has_io_privilege(dom: &Domain, v: &Vcpu) -> bool {
    let (iopl, kernel) = {
        let st = v.state.lock();
        (st.iopl, st.kernel_mode)
    };
    let arch_iopl = dom.vm_assist.load(core::sync::atomic::Ordering::Relaxed)
        & (1 << xen_abi::xen::VMASST_TYPE_ARCHITECTURAL_IOPL)
        != 0;
    crate::domain::ioports::iopl_ok(iopl, kernel, arch_iopl)
}

/// Emulates port I/O for a vCPU whose virtual IOPL allows it (Xen's `guest_io_okay`); a port
/// the domain may not reach reads as all ones and drops writes (`admin_io_okay`). Returns
/// `None` if the instruction is not port I/O, `Some(false)` to deliver the #GP.
fn port_io(dom: &Domain, v: &Vcpu, frame: &mut TrapFrame, insn: &[u8; 16]) -> Option<bool> {
    let p = decode_port_insn(insn)?;
    if !has_io_privilege(dom, v) {
        return Some(false);
    }
    let port = p.imm.map_or(frame.rdx as u16, u16::from);
    let mask = if p.size == 4 {
        u32::MAX
    } else {
        (1u32 << (8 * p.size)) - 1
    };
    let allowed = dom.ioports.permitted(port, p.size);
    if p.write {
        if allowed {
            let _ = ioport::guest_write(port, p.size, frame.rax as u32 & mask);
        }
    } else {
        let value = if allowed {
            ioport::guest_read(port, p.size).unwrap_or(mask)
        } else {
            mask
        };
        frame.rax = match p.size {
            // 32-bit results zero-extend into RAX; narrower ones merge.
            4 => u64::from(value),
            _ => (frame.rax & !u64::from(mask)) | u64::from(value & mask),
        };
    }
    frame.rip = frame.rip.wrapping_add(p.len);
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xen_leaf_signature_spells_xenvmm() {
        let r = xen_leaf(0x4000_0000).unwrap();
        let mut s = [0u8; 12];
        s[..4].copy_from_slice(&r[1].to_le_bytes());
        s[4..8].copy_from_slice(&r[2].to_le_bytes());
        s[8..].copy_from_slice(&r[3].to_le_bytes());
        assert_eq!(&s, b"XenVMMXenVMM");
        assert!(r[0] >= 0x4000_0002);
        assert_eq!(xen_leaf(0x4000_0001).unwrap()[0], 0x0004_0011);
    }

    fn insn(bytes: &[u8]) -> [u8; 16] {
        let mut b = [0x90u8; 16];
        b[..bytes.len()].copy_from_slice(bytes);
        b
    }

    #[test]
    fn port_instructions_decode() {
        let d = |b: &[u8]| decode_port_insn(&insn(b));
        assert_eq!(
            d(&[0xe4, 0x71]),
            Some(PortInsn {
                len: 2,
                size: 1,
                write: false,
                imm: Some(0x71)
            })
        );
        assert_eq!(
            d(&[0xee]),
            Some(PortInsn {
                len: 1,
                size: 1,
                write: true,
                imm: None
            })
        );
        assert_eq!(
            d(&[0x66, 0xed]),
            Some(PortInsn {
                len: 2,
                size: 2,
                write: false,
                imm: None
            })
        );
        assert_eq!(
            d(&[0xe7, 0x80]),
            Some(PortInsn {
                len: 2,
                size: 4,
                write: true,
                imm: Some(0x80)
            })
        );
        assert_eq!(d(&[0x6c]), None, "ins is not emulated");
        assert_eq!(d(&[0x0f, 0x30]), None);
    }
}
