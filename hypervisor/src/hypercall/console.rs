//! `console_io` (Xen's `drivers/char/console.c`): the hypervisor console for guests.

use crate::domain::Domain;
use crate::pv::write_guest;
use xen_abi::xen::ConsoleIoCmd;
use xen_abi::{Errno, XenResult};

/// `console_io`: every domain may write (as Xen's debug builds allow); reading serial input
/// belongs to the initial domain.
pub fn console_io(dom: &Domain, cmd: u64, count: u64, buf: u64) -> XenResult<u64> {
    match ConsoleIoCmd::try_from(u32::try_from(cmd).map_err(|_| Errno::ENOSYS)?)? {
        // CONSOLEIO_write
        ConsoleIoCmd::Write => {
            let mut left = count as u32 as u64;
            let mut va = buf;
            while left > 0 {
                let n = left.min(128) as usize;
                let mut chunk = [0u8; 128];
                crate::arch::x86_64::guest::copy_from_guest(va, &mut chunk[..n])
                    .map_err(|_| Errno::EFAULT)?;
                dom.console_write(&chunk[..n]);
                left -= n as u64;
                va = va.wrapping_add(n as u64);
            }
            Ok(0)
        }
        // CONSOLEIO_read: serial input belongs to the initial domain (Xen's XSM default denies
        // the others).
        ConsoleIoCmd::Read if !dom.privileged => Err(Errno::EPERM),
        ConsoleIoCmd::Read => {
            let mut chunk = [0u8; 256];
            let want = (count as u32 as usize).min(chunk.len());
            let n = crate::console::read_input(&mut chunk[..want]);
            if let Err(e) = write_guest(buf, &chunk[..n]) {
                // Not lost: the bytes go back to the front of the ring.
                crate::console::unread_input(&chunk[..n]);
                return Err(e);
            }
            Ok(n as u64)
        }
    }
}
