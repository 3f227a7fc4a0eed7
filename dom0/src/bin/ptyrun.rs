//! `ptyrun COMMAND [ARG...]`: runs COMMAND on a new pseudo-terminal and relays between it and
//! this process's own standard input and output, so that a program that is interactive only on
//! a terminal (`xl console`'s `xenconsole` forwards what is typed only when its input and
//! output are ttys) can be driven by a script: what is written into `ptyrun`'s input is typed
//! into COMMAND, what COMMAND prints comes out. Exits with COMMAND's status when it ends; the end
//! of the input closes nothing (COMMAND decides when it is done).

use anyhow::{bail, Context, Result};
use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

/// The master side of a new pty and the path of its slave.
fn open_pty() -> Result<(RawFd, CString)> {
    // SAFETY: plain libc calls on a descriptor this function owns; `ptsname_r` writes at most
    // `buf.len()` bytes including the NUL.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        if m < 0 {
            bail!("posix_openpt: {}", std::io::Error::last_os_error());
        }
        if libc::grantpt(m) != 0 || libc::unlockpt(m) != 0 {
            bail!("grantpt/unlockpt: {}", std::io::Error::last_os_error());
        }
        let mut buf = [0 as libc::c_char; 64];
        if libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()) != 0 {
            bail!("ptsname_r: {}", std::io::Error::last_os_error());
        }
        Ok((m, CStr::from_ptr(buf.as_ptr()).to_owned()))
    }
}

/// Writes all of `buf` to `fd`; false if the other side is gone.
fn write_all(fd: RawFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for its length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        buf = &buf[n as usize..];
    }
    true
}

fn main() -> Result<()> {
    let args: Vec<CString> = std::env::args()
        .skip(1)
        .map(CString::new)
        .collect::<Result<_, _>>()
        .context("an argument holds a NUL")?;
    if args.is_empty() {
        bail!("usage: ptyrun COMMAND [ARG...]");
    }
    let (master, slave) = open_pty()?;
    // SAFETY: fork in a single-threaded process; the child only makes async-signal-safe calls
    // before exec (or _exit).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        bail!("fork: {}", std::io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above; `argv` stays alive until exec.
        unsafe {
            libc::close(master);
            libc::setsid();
            let s = libc::open(slave.as_ptr(), libc::O_RDWR);
            if s < 0 {
                libc::_exit(126);
            }
            libc::ioctl(s, libc::TIOCSCTTY, 0);
            for fd in 0..3 {
                libc::dup2(s, fd);
            }
            if s > 2 {
                libc::close(s);
            }
            let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
            argv.push(core::ptr::null());
            libc::execvp(argv[0], argv.as_ptr());
            libc::_exit(127);
        }
    }
    let mut stdin_open = true;
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: master,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            bail!("poll: {}", std::io::Error::last_os_error());
        }
        if fds[0].revents != 0 {
            // SAFETY: `buf` is valid for its length.
            let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
            // EIO: the command closed its terminal (it ended).
            if n <= 0 || !write_all(1, &buf[..n as usize]) {
                break;
            }
        }
        if fds[1].revents != 0 {
            // SAFETY: as above.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                stdin_open = false;
            } else if !write_all(master, &buf[..n as usize]) {
                break;
            }
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child this process forked.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    std::process::exit(code)
}
