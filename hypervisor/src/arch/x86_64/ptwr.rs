//! Writable page tables (Xen's `ptwr`, `pv/ro-page-fault.c`): a PV kernel may write its own L1
//! page tables as if they were writable. The write faults (the tables are mapped read-only);
//! the hypervisor decodes the instruction, applies the new entry through the same checks as
//! `mmu_update` and resumes the guest after it. Handled are the forms Linux uses on PTEs:
//! `mov` (register or immediate), `xchg`, `cmpxchg`, `and`/`or` (register or immediate) and
//! `bts`/`btr` (register or immediate), with or without `lock`, at 1, 2, 4 or 8 bytes (narrow
//! writes merge into the 8-byte entry), and `cmpxchg8b` (an operand-size prefix ignored, as Xen
//! since XSA-200; `cmpxchg16b` spans two entries and is not emulated, as on Xen). Anything else,
//! or an entry the checks refuse, is a page fault for the guest, as on Xen.

/// What the instruction does to the memory operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `mov mem, src`.
    Mov,
    /// `xchg mem, reg`: the old value goes to the register.
    Xchg,
    /// `cmpxchg mem, reg`: compared with RAX.
    Cmpxchg,
    /// `and mem, src`.
    And,
    /// `or mem, src`.
    Or,
    /// `bts mem, bit`.
    Bts,
    /// `btr mem, bit`.
    Btr,
    /// `cmpxchg8b mem`: compared with EDX:EAX, ECX:EBX stored.
    Cmpxchg8b,
}

/// The source operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// A general register (0–15, REX.R applied).
    Reg(u8),
    /// An immediate (sign-extended to the operand size as the instruction defines).
    Imm(u64),
}

/// A decoded write to memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Length in bytes.
    pub len: u64,
    /// The operation.
    pub op: Op,
    /// Operand size in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// The source.
    pub src: Src,
}

/// Length of the ModRM/SIB/displacement bytes starting at `b[i]` (the ModRM byte), and the
/// ModRM byte's reg field. `None` for a register operand (mod = 3): no memory write.
fn modrm(b: &[u8], i: usize) -> Option<(usize, u8)> {
    let m = *b.get(i)?;
    let (md, reg, rm) = (m >> 6, (m >> 3) & 7, m & 7);
    if md == 3 {
        return None;
    }
    let mut len = 1;
    let mut base = rm;
    if rm == 4 {
        base = b.get(i + 1)? & 7;
        len += 1;
    }
    len += match md {
        0 if rm == 5 || (rm == 4 && base == 5) => 4,
        0 => 0,
        1 => 1,
        _ => 4,
    };
    Some((len, reg))
}

/// Decodes the instruction at the start of `b` (at most 15 bytes are looked at).
pub fn decode(b: &[u8]) -> Option<Insn> {
    let mut i = 0;
    let mut opsize16 = false;
    let mut rex = 0u8;
    // Legacy prefixes (lock, operand size; segment overrides are harmless), then REX.
    while i < 4 {
        match *b.get(i)? {
            0xf0 | 0x2e | 0x3e | 0x26 | 0x36 | 0x64 | 0x65 => {}
            0x66 => opsize16 = true,
            _ => break,
        }
        i += 1;
    }
    if (0x40..=0x4f).contains(b.get(i)?) {
        rex = b[i];
        i += 1;
    }
    let wide = if rex & 8 != 0 {
        8
    } else if opsize16 {
        2
    } else {
        4
    };
    let r = |reg: u8| reg | if rex & 4 != 0 { 8 } else { 0 };
    let op = *b.get(i)?;
    i += 1;
    let (opk, size, src, extra) = if op == 0x0f {
        let op2 = *b.get(i)?;
        i += 1;
        let (ml, reg) = modrm(b, i)?;
        match op2 {
            0xb0 => (Op::Cmpxchg, 1, Src::Reg(r(reg)), ml),
            0xb1 => (Op::Cmpxchg, wide, Src::Reg(r(reg)), ml),
            0xab => (Op::Bts, wide, Src::Reg(r(reg)), ml),
            0xb3 => (Op::Btr, wide, Src::Reg(r(reg)), ml),
            // cmpxchg8b (the 0x66 prefix ignored, as Xen's emulator); cmpxchg16b (REX.W) is not
            // emulated.
            0xc7 if reg == 1 && rex & 8 == 0 => (Op::Cmpxchg8b, 8, Src::Reg(0), ml),
            0xba if reg == 5 || reg == 6 => {
                let imm = u64::from(*b.get(i + ml)?);
                let o = if reg == 5 { Op::Bts } else { Op::Btr };
                (o, wide, Src::Imm(imm), ml + 1)
            }
            _ => return None,
        }
    } else {
        let (ml, reg) = modrm(b, i)?;
        let imm = |n: usize, size: u8| -> Option<u64> {
            let s = b.get(i + ml..i + ml + n)?;
            let mut raw = [0u8; 8];
            raw[..n].copy_from_slice(s);
            let v = u64::from_le_bytes(raw);
            // Sign-extend the immediate to the operand size.
            let bits = 8 * n as u32;
            let ext = ((v << (64 - bits)) as i64 >> (64 - bits)) as u64;
            Some(if size == 8 {
                ext
            } else {
                ext & ((1u64 << (8 * size)) - 1)
            })
        };
        match op {
            0x88 => (Op::Mov, 1, Src::Reg(r(reg)), ml),
            0x89 => (Op::Mov, wide, Src::Reg(r(reg)), ml),
            0xc6 if reg == 0 => (Op::Mov, 1, Src::Imm(imm(1, 1)?), ml + 1),
            0xc7 if reg == 0 => {
                let n = if wide == 2 { 2 } else { 4 };
                (Op::Mov, wide, Src::Imm(imm(n, wide)?), ml + n)
            }
            0x86 => (Op::Xchg, 1, Src::Reg(r(reg)), ml),
            0x87 => (Op::Xchg, wide, Src::Reg(r(reg)), ml),
            0x20 => (Op::And, 1, Src::Reg(r(reg)), ml),
            0x21 => (Op::And, wide, Src::Reg(r(reg)), ml),
            0x08 => (Op::Or, 1, Src::Reg(r(reg)), ml),
            0x09 => (Op::Or, wide, Src::Reg(r(reg)), ml),
            0x80 | 0x81 | 0x83 if reg == 1 || reg == 4 => {
                let o = if reg == 1 { Op::Or } else { Op::And };
                let (size, n) = match op {
                    0x80 => (1, 1),
                    0x83 => (wide, 1),
                    _ => (wide, if wide == 2 { 2 } else { 4 }),
                };
                (o, size, Src::Imm(imm(n, size)?), ml + n)
            }
            _ => return None,
        }
    };
    Some(Insn {
        len: (i + extra) as u64,
        op: opk,
        size,
        src,
    })
}

/// The result of running an instruction on the old memory value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The value to store (`None`: no store, a failed `cmpxchg`).
    pub store: Option<u64>,
    /// A register to write back (number, value), full 64 bits as the instruction leaves it.
    pub reg: Option<(u8, u64)>,
    /// A second one (`cmpxchg8b` writes EDX as well as EAX).
    pub reg2: Option<(u8, u64)>,
    /// Flags to set: (mask of affected flags, their new values).
    pub flags: (u64, u64),
}

const CF: u64 = 1;
const PF: u64 = 1 << 2;
const ZF: u64 = 1 << 6;
const SF: u64 = 1 << 7;
const OF: u64 = 1 << 11;

fn logic_flags(v: u64, size: u8) -> (u64, u64) {
    let bits = 8 * u32::from(size);
    let mut f = 0;
    if v == 0 {
        f |= ZF;
    }
    if (v >> (bits - 1)) & 1 != 0 {
        f |= SF;
    }
    if (v as u8).count_ones().is_multiple_of(2) {
        f |= PF;
    }
    (CF | PF | ZF | SF | OF, f)
}

/// Runs `insn` on `old` (the memory operand, `size` bytes, zero-extended), with `reg(n)` the
/// current value of register `n` (RAX is 0).
pub fn execute(insn: &Insn, old: u64, reg: impl Fn(u8) -> u64) -> Outcome {
    let mask = if insn.size == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * insn.size)) - 1
    };
    let src = match insn.src {
        Src::Reg(n) => reg(n) & mask,
        Src::Imm(v) => v & mask,
    };
    let merge_reg = |n: u8, v: u64| -> (u8, u64) {
        // 32-bit results zero-extend; 8- and 16-bit ones merge into the register.
        let full = match insn.size {
            8 | 4 => v & mask,
            _ => (reg(n) & !mask) | (v & mask),
        };
        (n, full)
    };
    match insn.op {
        Op::Mov => Outcome {
            store: Some(src),
            reg: None,
            reg2: None,
            flags: (0, 0),
        },
        Op::Xchg => Outcome {
            store: Some(src),
            reg: match insn.src {
                Src::Reg(n) => Some(merge_reg(n, old)),
                Src::Imm(_) => None,
            },
            reg2: None,
            flags: (0, 0),
        },
        Op::Cmpxchg => {
            let expected = reg(0) & mask;
            if expected == old {
                Outcome {
                    store: Some(src),
                    reg: None,
                    reg2: None,
                    flags: (ZF, ZF),
                }
            } else {
                Outcome {
                    store: None,
                    reg: Some(merge_reg(0, old)),
                    reg2: None,
                    flags: (ZF, 0),
                }
            }
        }
        Op::Cmpxchg8b => {
            let expected = (reg(0) & 0xffff_ffff) | (reg(2) << 32);
            if expected == old {
                Outcome {
                    store: Some((reg(3) & 0xffff_ffff) | (reg(1) << 32)),
                    reg: None,
                    reg2: None,
                    flags: (ZF, ZF),
                }
            } else {
                // The value found goes to EDX:EAX (32-bit writes: zero-extended).
                Outcome {
                    store: None,
                    reg: Some((0, old & 0xffff_ffff)),
                    reg2: Some((2, old >> 32)),
                    flags: (ZF, 0),
                }
            }
        }
        Op::And | Op::Or => {
            let v = if insn.op == Op::And {
                old & src
            } else {
                old | src
            };
            Outcome {
                store: Some(v),
                reg: None,
                reg2: None,
                flags: logic_flags(v, insn.size),
            }
        }
        Op::Bts | Op::Btr => {
            let bit = src % (8 * u64::from(insn.size));
            let was = (old >> bit) & 1;
            let v = if insn.op == Op::Bts {
                old | (1 << bit)
            } else {
                old & !(1 << bit)
            };
            Outcome {
                store: Some(v),
                reg: None,
                reg2: None,
                flags: (CF, if was != 0 { CF } else { 0 }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: &[u8]) -> Option<Insn> {
        let mut x = [0x90u8; 16];
        x[..b.len()].copy_from_slice(b);
        decode(&x)
    }

    #[test]
    fn cmpxchg8b_compares_edx_eax_and_stores_ecx_ebx() {
        // x86_emulate's cmpxchg8b: 0F C7 /1, 8 bytes whatever the operand-size prefix
        // (XSA-200); with REX.W it is cmpxchg16b, not emulated on a PTE.
        let i = d(&[0xf0, 0x0f, 0xc7, 0x0e]).expect("lock cmpxchg8b [rsi]");
        assert_eq!((i.op, i.size, i.len), (Op::Cmpxchg8b, 8, 4));
        let p = d(&[0x66, 0x0f, 0xc7, 0x0e]).expect("0x66 cmpxchg8b");
        assert_eq!((p.op, p.size), (Op::Cmpxchg8b, 8));
        assert_eq!(d(&[0x48, 0x0f, 0xc7, 0x0e]), None);
        assert_eq!(d(&[0x0f, 0xc7, 0x16]), None, "0F C7 /2 is no cmpxchg8b");
        let regs = |n: u8| match n {
            0 => 0xffff_ffff_1111_2222, // RAX: only EAX counts
            1 => 0x5555_6666,           // RCX
            2 => 0x3333_4444,           // RDX
            3 => 0x7777_8888,           // RBX
            _ => 0,
        };
        let hit = execute(&i, 0x3333_4444_1111_2222, regs);
        assert_eq!(hit.store, Some(0x5555_6666_7777_8888));
        assert_eq!(hit.flags, (ZF, ZF));
        let miss = execute(&i, 0x0000_0001_0000_0002, regs);
        assert_eq!(miss.store, None);
        assert_eq!((miss.reg, miss.reg2), (Some((0, 2)), Some((2, 1))));
        assert_eq!(miss.flags, (ZF, 0));
    }

    #[test]
    fn decodes_linux_pte_writes() {
        // mov %rsi, (%rdi)
        assert_eq!(
            d(&[0x48, 0x89, 0x37]),
            Some(Insn {
                len: 3,
                op: Op::Mov,
                size: 8,
                src: Src::Reg(6)
            })
        );
        // xchg %rax, 0x10(%rdi)
        assert_eq!(
            d(&[0x48, 0x87, 0x47, 0x10]),
            Some(Insn {
                len: 4,
                op: Op::Xchg,
                size: 8,
                src: Src::Reg(0)
            })
        );
        // lock cmpxchg %r8, (%rdx,%rcx,8)
        assert_eq!(
            d(&[0xf0, 0x4c, 0x0f, 0xb1, 0x04, 0xca]),
            Some(Insn {
                len: 6,
                op: Op::Cmpxchg,
                size: 8,
                src: Src::Reg(8)
            })
        );
        // lock andb $0xfd, (%rdi)  (Linux's clear_bit(_PAGE_BIT_RW))
        assert_eq!(
            d(&[0xf0, 0x80, 0x27, 0xfd]),
            Some(Insn {
                len: 4,
                op: Op::And,
                size: 1,
                src: Src::Imm(0xfd)
            })
        );
        // lock btrq $1, (%rdi)
        assert_eq!(
            d(&[0xf0, 0x48, 0x0f, 0xba, 0x37, 0x01]),
            Some(Insn {
                len: 6,
                op: Op::Btr,
                size: 8,
                src: Src::Imm(1)
            })
        );
        // movq $-1, 8(%rax) (imm32 sign-extended)
        assert_eq!(
            d(&[0x48, 0xc7, 0x40, 0x08, 0xff, 0xff, 0xff, 0xff]),
            Some(Insn {
                len: 8,
                op: Op::Mov,
                size: 8,
                src: Src::Imm(u64::MAX)
            })
        );
        // RIP-relative: mov %rax, 0x1234(%rip)
        assert_eq!(
            d(&[0x48, 0x89, 0x05, 0x34, 0x12, 0, 0]).map(|i| i.len),
            Some(7)
        );
        // A register destination is no memory write; unknown opcodes are refused.
        assert_eq!(d(&[0x48, 0x89, 0xc0]), None);
        assert_eq!(d(&[0x48, 0x01, 0x07]), None, "add is not a PTE update form");
    }

    #[test]
    fn executes_with_flags_and_registers() {
        let i = Insn {
            len: 0,
            op: Op::Cmpxchg,
            size: 8,
            src: Src::Reg(1),
        };
        let regs = |n: u8| [5u64, 9][n as usize];
        let ok = execute(&i, 5, regs);
        assert_eq!((ok.store, ok.flags), (Some(9), (ZF, ZF)));
        let miss = execute(&i, 7, regs);
        assert_eq!(
            (miss.store, miss.reg, miss.flags),
            (None, Some((0, 7)), (ZF, 0))
        );
        let btr = Insn {
            len: 0,
            op: Op::Btr,
            size: 8,
            src: Src::Imm(1),
        };
        let o = execute(&btr, 0x3, |_| 0);
        assert_eq!((o.store, o.flags), (Some(0x1), (CF, CF)));
        let andb = Insn {
            len: 0,
            op: Op::And,
            size: 1,
            src: Src::Imm(0xfd),
        };
        assert_eq!(execute(&andb, 0x67, |_| 0).store, Some(0x65));
        let xchg = Insn {
            len: 0,
            op: Op::Xchg,
            size: 4,
            src: Src::Reg(2),
        };
        let o = execute(&xchg, 0xaaaa_bbbb, |_| 0xffff_ffff_1111_2222);
        assert_eq!(
            (o.store, o.reg),
            (Some(0x1111_2222), Some((2, 0xaaaa_bbbb)))
        );
    }
}
