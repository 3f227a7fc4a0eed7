//! `ferrite_main`: the first Rust code, called by the long-mode entry on the boot stack.

use super::{parse_multiboot2, BootInfo};
use crate::arch::x86_64::{tsc, uart};

static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();

/// The boot information, once parsed.
pub fn boot_info() -> &'static BootInfo {
    BOOT_INFO
        .get()
        .expect("boot information is parsed before anything asks for it")
}

#[no_mangle]
extern "C" fn ferrite_main(magic: u32, mbi_pa: u64) -> ! {
    tsc::mark_boot();
    uart::init();
    crate::console::init(log::LevelFilter::Info);
    if mbi_pa >= 1 << 30 {
        panic!("multiboot2 information at {mbi_pa:#x} lies beyond the boot window (1 GiB)");
    }
    let mbi_pa = xen_abi::Maddr(mbi_pa);
    let mbi_va = crate::mm::phys_to_virt(mbi_pa) as u64;
    // SAFETY: GRUB left the structure at `mbi_pa`, below 1 GiB (checked), which the boot page
    // tables map at `phys_to_virt`; nothing writes to it.
    let info = match unsafe { parse_multiboot2(magic, mbi_va, mbi_pa) } {
        Ok(i) => i,
        Err(e) => panic!("boot information unusable: {e:?}"),
    };
    let info = BOOT_INFO.call_once(|| info);
    super::start::bsp_main(info)
}
