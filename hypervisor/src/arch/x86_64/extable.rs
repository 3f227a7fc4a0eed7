//! The one exception-fixup table (Xen's `__ex_table`/`__pre_ex_table`): every instruction of the
//! hypervisor that may fault on a value a guest chose — the guest copy routine, segment selector
//! loads, `wrmsr` of guest bases, `xrstor`, and the exit `iretq` — has an entry, put in the
//! `.ferrite_extable` section beside the instruction with [`extable_entry!`]. A fault at any
//! other hypervisor address is fatal.
//!
//! An entry is two quadwords: the faulting instruction's address and where to resume, or 0 for
//! the exit `iretq`, whose fault belongs to the guest (see `trap::frame_of_exit_fault`).

/// What to do about a fault at a listed instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fixup {
    /// Resume at this address (the routine reports the failure to its caller).
    Resume(u64),
    /// The fault hit the `iretq` that returns to a guest: deliver it to the guest.
    GuestExit,
}

/// One entry as laid out in the section.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Address of the instruction that may fault.
    pub ip: u64,
    /// Where to resume, or 0 for [`Fixup::GuestExit`].
    pub fixup: u64,
}

/// The assembler lines that add an entry for the instruction at label `$ip` resuming at label
/// `$fixup` (`0` for the exit `iretq`), for use inside `global_asm!`.
#[macro_export]
macro_rules! extable_entry {
    ($ip:literal, $fixup:literal) => {
        concat!(
            ".pushsection .ferrite_extable, \"a\"\n",
            ".balign 8\n",
            ".quad ",
            $ip,
            ", ",
            $fixup,
            "\n",
            ".popsection\n"
        )
    };
}

/// The fixup for a fault at `rip` among `entries`.
pub fn lookup(entries: &[Entry], rip: u64) -> Option<Fixup> {
    entries.iter().find(|e| e.ip == rip).map(|e| match e.fixup {
        0 => Fixup::GuestExit,
        ip => Fixup::Resume(ip),
    })
}

/// The linked table.
#[cfg(target_os = "none")]
fn table() -> &'static [Entry] {
    extern "C" {
        static __ferrite_extable_start: Entry;
        static __ferrite_extable_end: Entry;
    }
    // SAFETY: the linker script brackets the `.ferrite_extable` input sections with these two
    // symbols; the section holds only 16-byte, 8-aligned entries (see `extable_entry!`) and is
    // read-only data that lives as long as the image.
    unsafe {
        let start = core::ptr::addr_of!(__ferrite_extable_start);
        let end = core::ptr::addr_of!(__ferrite_extable_end);
        let n = (end as usize - start as usize) / core::mem::size_of::<Entry>();
        core::slice::from_raw_parts(start, n)
    }
}

/// The fixup for a fault the hypervisor took at `rip`, if that instruction has one.
#[cfg(target_os = "none")]
pub fn search(rip: u64) -> Option<Fixup> {
    lookup(table(), rip)
}

/// Host builds have no table.
#[cfg(not(target_os = "none"))]
pub fn search(_rip: u64) -> Option<Fixup> {
    None
}

/// Number of entries linked in (for the boot log and the self-test).
#[cfg(target_os = "none")]
pub fn len() -> usize {
    table().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_resume_points_and_the_guest_exit() {
        let t = [
            Entry {
                ip: 0x1000,
                fixup: 0x1010,
            },
            Entry {
                ip: 0x2000,
                fixup: 0,
            },
        ];
        assert_eq!(lookup(&t, 0x1000), Some(Fixup::Resume(0x1010)));
        assert_eq!(lookup(&t, 0x2000), Some(Fixup::GuestExit));
        assert_eq!(lookup(&t, 0x1001), None, "only the listed instruction");
        assert_eq!(lookup(&[], 0x1000), None);
    }

    #[test]
    fn extable_entry_emits_two_quads_in_the_section() {
        let s = extable_entry!("a", "b");
        assert!(s.contains(".pushsection .ferrite_extable"));
        assert!(s.contains(".quad a, b"));
        assert!(s.ends_with(".popsection\n"));
    }
}
