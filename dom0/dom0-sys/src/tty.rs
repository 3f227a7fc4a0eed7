//! Terminals for console clients (as xenconsole's `init_term`/`restore_term`): a terminal or a
//! pty switched to raw mode (`cfmakeraw`), and, for the user's terminal, its old mode restored
//! when the guard goes.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

fn get(fd: RawFd) -> io::Result<libc::termios> {
    // SAFETY: an all-zero termios is a valid value of the plain C struct; tcgetattr fills it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a live, exclusively borrowed termios; tcgetattr writes only into it and
    // fails cleanly (ENOTTY, EBADF) on a descriptor that is not an open terminal.
    if unsafe { libc::tcgetattr(fd, &mut t) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(t)
}

/// Applies `t` at once, keeping what is queued (`TCSANOW`): a console's pty holds the guest's
/// output from before the client came, which `TCSAFLUSH` would throw away.
fn set(fd: RawFd, t: &libc::termios) -> io::Result<()> {
    // SAFETY: `t` points to a valid termios for the duration of the call; tcsetattr only reads
    // it and fails cleanly on a descriptor that is not a terminal.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, t) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Switches the terminal `f` to raw mode (no echo, no line editing, no signals from keys, 8-bit
/// bytes passed as they are), for good: a pty's other end then sees exactly what is written.
pub fn make_raw<F: AsRawFd>(f: &F) -> io::Result<()> {
    let mut t = get(f.as_raw_fd())?;
    // SAFETY: `t` is a valid termios; cfmakeraw only rewrites its flag fields.
    unsafe { libc::cfmakeraw(&mut t) };
    set(f.as_raw_fd(), &t)
}

/// A terminal in raw mode until this is dropped, when its previous mode comes back.
#[derive(Debug)]
pub struct RawMode {
    fd: RawFd,
    old: libc::termios,
}

impl RawMode {
    /// Switches `f` (which must stay open while the guard lives, e.g. stdin) to raw mode.
    pub fn enter<F: AsRawFd>(f: &F) -> io::Result<RawMode> {
        let fd = f.as_raw_fd();
        let old = get(fd)?;
        let mut t = old;
        // SAFETY: `t` is a valid termios; cfmakeraw only rewrites its flag fields.
        unsafe { libc::cfmakeraw(&mut t) };
        set(fd, &t)?;
        Ok(RawMode { fd, old })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = set(self.fd, &self.old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_raw_of_a_file_is_enotty() {
        let f = std::fs::File::open("/dev/null").expect("/dev/null");
        let e = make_raw(&f).expect_err("not a terminal");
        assert_eq!(e.raw_os_error(), Some(libc::ENOTTY));
        assert!(RawMode::enter(&f).is_err());
    }
}
