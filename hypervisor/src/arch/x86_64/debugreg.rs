//! The debug registers of PV vCPUs: Xen's `set_debugreg`/`x86emul_read_dr` rules for what a
//! guest may put in DR0–DR7 (breakpoints on guest addresses only, reserved bits forced, no
//! general detect, no I/O breakpoints without CR4.DE — which a PV guest here never has), the
//! switch of the registers with the vCPU, and the #DB bookkeeping of DR6.

use xen_abi::Errno;

/// DR6 as it reads with nothing recorded (`X86_DR6_DEFAULT`).
pub const DR6_DEFAULT: u64 = 0xffff_0ff0;
/// DR7 with nothing enabled (`X86_DR7_DEFAULT`: bit 10 reads as one).
pub const DR7_DEFAULT: u64 = 0x400;
/// DR6 bit 12 is reserved and zero (`X86_DR6_ZEROS`).
const DR6_ZEROS: u64 = 1 << 12;
/// DR7 bits 11 (RTM, which guests never see), 12, 14 and 15 are reserved and zero.
const DR7_ZEROS: u64 = (1 << 11) | (1 << 12) | (1 << 14) | (1 << 15);
/// DR7.GD: general detect, which would make the hypervisor's own DR accesses fault.
const DR7_GD: u64 = 1 << 13;
/// The L0–L3 and G0–G3 enables.
const DR7_ACTIVE: u64 = 0xff;
/// The R/W field value of an I/O breakpoint.
const DR_IO: u64 = 0b10;

/// A vCPU's debug registers (DR4 and DR5 alias DR6 and DR7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DebugRegs {
    /// DR0–DR3: breakpoint addresses.
    pub dr: [u64; 4],
    /// DR6: what the last #DB hit.
    pub dr6: u64,
    /// DR7: the enables and conditions.
    pub dr7: u64,
}

impl Default for DebugRegs {
    fn default() -> Self {
        DebugRegs {
            dr: [0; 4],
            dr6: DR6_DEFAULT,
            dr7: DR7_DEFAULT,
        }
    }
}

/// Xen's `breakpoint_addr_ok`: all 8 bytes a breakpoint may cover lie in guest space, below
/// the non-canonical hole or above the hypervisor's range.
pub fn breakpoint_addr_ok(va: u64) -> bool {
    !((1 << 47) - 7..crate::layout::HYPERVISOR_VIRT_END).contains(&va)
}

impl DebugRegs {
    /// `set_debugreg(reg, value)` as Xen's `set_debugreg` for a PV vCPU without CR4.DE:
    /// `-EPERM` for a breakpoint outside guest space, DR7.GD or an I/O breakpoint; `-EINVAL`
    /// for a DR6/DR7 value with upper bits; `-ENODEV` for a register that does not exist.
    /// Reserved bits of DR6 and DR7 are forced. Nothing changes on an error.
    pub fn set(&mut self, reg: u64, value: u64) -> Result<(), Errno> {
        match reg {
            0..=3 => {
                if !breakpoint_addr_ok(value) {
                    return Err(Errno::EPERM);
                }
                self.dr[reg as usize] = value;
            }
            4 | 6 => {
                if value >> 32 != 0 {
                    return Err(Errno::EINVAL);
                }
                self.dr6 = (value | DR6_DEFAULT) & !DR6_ZEROS;
            }
            5 | 7 => {
                if value >> 32 != 0 {
                    return Err(Errno::EINVAL);
                }
                let value = (value & !DR7_ZEROS) | DR7_DEFAULT;
                if value & DR7_GD != 0 {
                    return Err(Errno::EPERM);
                }
                let io = (16..32)
                    .step_by(4)
                    .any(|shift| (value >> shift) & 3 == DR_IO);
                if value & DR7_ACTIVE != 0 && io {
                    return Err(Errno::EPERM);
                }
                self.dr7 = value;
            }
            _ => return Err(Errno::ENODEV),
        }
        Ok(())
    }

    /// `get_debugreg(reg)` (Xen's `x86emul_read_dr`): DR4 and DR5 read as DR6 and DR7;
    /// `-ENODEV` beyond DR7.
    pub fn get(&self, reg: u64) -> Result<u64, Errno> {
        match reg {
            0..=3 => Ok(self.dr[reg as usize]),
            4 | 6 => Ok(self.dr6),
            5 | 7 => Ok(self.dr7),
            _ => Err(Errno::ENODEV),
        }
    }

    /// True if a breakpoint is enabled (the registers must then be live while the vCPU runs).
    pub fn active(&self) -> bool {
        self.dr7 & DR7_ACTIVE != 0
    }

    /// Records a #DB the guest took, whose hardware DR6 was `hw` (Xen's `do_debug`): the
    /// conditions it reports are added, the bits it clears among the defaults cleared.
    pub fn record(&mut self, hw: u64) {
        self.dr6 |= hw & !DR6_DEFAULT;
        self.dr6 &= hw | !DR6_DEFAULT;
    }
}

#[cfg(target_os = "none")]
mod hw {
    use core::arch::asm;

    macro_rules! dr_read {
        ($read:ident, $reg:literal) => {
            pub fn $read() -> u64 {
                let v: u64;
                // SAFETY: reading a debug register has no side effect (DR7.GD is never set:
                // `DebugRegs::set` refuses it).
                unsafe { asm!(concat!("mov {}, ", $reg), out(reg) v, options(nomem, nostack)) };
                v
            }
        };
    }

    macro_rules! dr_write {
        ($write:ident, $reg:literal) => {
            /// # Safety
            /// The value must have passed `DebugRegs::set` (guest addresses only, no GD, no
            /// reserved bits): a breakpoint can then only fire on guest memory, which the
            /// hypervisor's #DB handler tolerates.
            pub unsafe fn $write(v: u64) {
                // SAFETY: forwarded from the caller.
                unsafe { asm!(concat!("mov ", $reg, ", {}"), in(reg) v, options(nomem, nostack)) };
            }
        };
    }

    dr_write!(write_dr0, "dr0");
    dr_write!(write_dr1, "dr1");
    dr_write!(write_dr2, "dr2");
    dr_write!(write_dr3, "dr3");
    dr_read!(read_dr6, "dr6");
    dr_write!(write_dr6, "dr6");
    dr_read!(read_dr7, "dr7");
    dr_write!(write_dr7, "dr7");
}

/// Loads `regs` into this CPU for the vCPU about to run (Xen loads DR0–DR3 only while DR7 is
/// active): with a breakpoint enabled, all of them; otherwise the breakpoints are only
/// disabled if the previous vCPU left some on.
#[cfg(target_os = "none")]
pub fn load(regs: &DebugRegs) {
    // SAFETY: every value in `regs` went through `DebugRegs::set` (or is the default).
    unsafe {
        if regs.active() {
            let [a, b, c, d] = regs.dr;
            hw::write_dr0(a);
            hw::write_dr1(b);
            hw::write_dr2(c);
            hw::write_dr3(d);
            hw::write_dr6(regs.dr6);
            hw::write_dr7(regs.dr7);
        } else if hw::read_dr7() & DR7_ACTIVE != 0 {
            hw::write_dr7(DR7_DEFAULT);
        }
    }
}

/// Host builds have no debug registers.
#[cfg(not(target_os = "none"))]
pub fn load(_regs: &DebugRegs) {}

/// Reads and resets the hardware DR6 at a #DB (the CPU never clears it).
#[cfg(target_os = "none")]
pub fn take_dr6() -> u64 {
    let v = hw::read_dr6();
    // SAFETY: the default DR6 value.
    unsafe { hw::write_dr6(DR6_DEFAULT) };
    v
}

/// Host builds have no debug registers.
#[cfg(not(target_os = "none"))]
pub fn take_dr6() -> u64 {
    DR6_DEFAULT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vcpu_starts_with_the_default_registers() {
        let d = DebugRegs::default();
        assert_eq!(
            (d.get(0), d.get(6), d.get(7)),
            (Ok(0), Ok(0xffff_0ff0), Ok(0x400))
        );
        assert_eq!(d.get(4), d.get(6));
        assert_eq!(d.get(5), d.get(7));
        assert_eq!(d.get(8), Err(Errno::ENODEV));
        assert!(!d.active());
    }

    #[test]
    fn breakpoints_take_guest_addresses_only() {
        let mut d = DebugRegs::default();
        assert_eq!(d.set(1, 0x1234_5678), Ok(()));
        assert_eq!(
            d.set(1, 0xffff_8000_0000_0000),
            Err(Errno::EPERM),
            "hypervisor"
        );
        assert_eq!(
            d.set(1, 0x8000_0000_0000_0000),
            Err(Errno::EPERM),
            "non-canonical"
        );
        assert_eq!(
            d.set(1, (1 << 47) - 4),
            Err(Errno::EPERM),
            "reaching the hole"
        );
        assert_eq!(d.get(1), Ok(0x1234_5678), "refusals change nothing");
        assert_eq!(
            d.set(2, 0xffff_ff80_0000_0000),
            Ok(()),
            "above the hypervisor"
        );
        assert_eq!(d.set(9, 0), Err(Errno::ENODEV));
    }

    #[test]
    fn dr6_and_dr7_get_their_reserved_bits_and_refuse_privileged_ones() {
        let mut d = DebugRegs::default();
        assert_eq!(d.set(6, 0), Ok(()));
        assert_eq!(d.get(6), Ok(0xffff_0ff0));
        assert_eq!(d.set(6, 1 << 12), Ok(()));
        assert_eq!(d.get(6), Ok(0xffff_0ff0), "bit 12 reads as zero");
        assert_eq!(d.set(6, 1 << 32), Err(Errno::EINVAL));
        assert_eq!(d.set(7, 0), Ok(()));
        assert_eq!(d.get(7), Ok(0x400));
        assert_eq!(d.set(7, 1 << 13), Err(Errno::EPERM), "general detect");
        assert_eq!(
            d.set(7, 1 | (0b10 << 16)),
            Err(Errno::EPERM),
            "I/O breakpoint"
        );
        assert_eq!(d.set(7, 1 << 32), Err(Errno::EINVAL));
        let w8 = 1 | (0b01 << 16) | (0b10 << 18);
        assert_eq!(d.set(7, w8 | 0xd800), Ok(()));
        assert_eq!(d.get(7), Ok(w8 | 0x400), "bits 11, 12, 14, 15 read as zero");
        assert!(d.active());
        assert_eq!(d.set(5, 0), Ok(()), "DR5 writes DR7");
        assert!(!d.active());
    }

    #[test]
    fn a_hit_is_recorded_as_xen_does() {
        let mut d = DebugRegs::default();
        d.record(0xffff_0ff1);
        assert_eq!(d.dr6, 0xffff_0ff1, "B0");
        d.record(0xffff_4ff0);
        assert_eq!(d.dr6, 0xffff_4ff1, "BS added, B0 kept");
    }
}
