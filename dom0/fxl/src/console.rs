//! `fxl console` and `create -c`: a domain's PV console, as `xl console` reaches it through
//! xenconsole: xenconsoled serves the console ring and writes the pty it made into
//! `/local/domain/N/console/tty`; fxl opens that pty, copies it to stdout and stdin to it, and
//! detaches on `Ctrl-]`.

use crate::ops::{privcmd, xenstore};
use anyhow::{bail, Context, Result};
use dom0_sys::privcmd::Privcmd;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};
use xen_abi::domctl::DomInfFlags;
use xen_abi::types::DomId;
use xenstore::NO_TX;

/// `Ctrl-]`, xenconsole's escape character: it detaches.
pub const ESCAPE: u8 = 0x1d;

/// What of `input` goes to the guest, and whether the escape character came (what follows it is
/// dropped, as xenconsole drops it).
pub fn split_escape(input: &[u8]) -> (&[u8], bool) {
    match input.iter().position(|&b| b == ESCAPE) {
        Some(i) => (&input[..i], true),
        None => (input, false),
    }
}

/// True while `domid` exists and is not dying.
fn alive(pc: &Privcmd, domid: u16) -> bool {
    matches!(pc.getdomaininfo(DomId(domid)),
        Ok(i) if i.domain.0 == domid && i.flags & DomInfFlags::DYING.bits() == 0)
}

/// `console [-t pv] [-n 0] DOMAIN`.
pub fn console(q: &str, ty: Option<&str>, num: Option<u32>) -> Result<()> {
    match ty {
        None | Some("pv") => {}
        Some("serial") => bail!("console -t serial: only HVM guests have one; use -t pv"),
        Some(t) => bail!("console -t {t}: unknown console type (pv or serial)"),
    }
    if num.unwrap_or(0) != 0 {
        bail!(
            "console -n {}: fxl attaches to console 0 only",
            num.unwrap_or(0)
        );
    }
    let id = crate::ops::domain_id(q)?;
    attach(id, || Ok(()))
}

/// Waits for xenconsoled's pty of `domid`, opens it, runs `ready` (`create -c` unpauses the
/// domain there, so nothing of its boot is missed), then copies until the escape character,
/// the pty's hangup or the domain's end.
pub fn attach(domid: u16, ready: impl FnOnce() -> Result<()>) -> Result<()> {
    let (pc, xs) = (privcmd()?, xenstore()?);
    let dir = format!("/local/domain/{domid}/console");
    let t0 = Instant::now();
    let mut hinted = false;
    let tty = loop {
        match xs.read_string(NO_TX, &format!("{dir}/tty")) {
            Ok(t) if !t.is_empty() => break t,
            _ => {}
        }
        if !alive(&pc, domid) {
            bail!("domain {domid} is gone: no console to attach to");
        }
        if xs.read(NO_TX, &dir).is_err() {
            bail!("domain {domid} has no PV console ({dir} is missing)");
        }
        if !hinted && t0.elapsed() > Duration::from_secs(10) {
            eprintln!("fxl: waiting for xenconsoled to write {dir}/tty (is xenconsoled running?)");
            hinted = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut pty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&tty)
        .with_context(|| format!("cannot open the console's pty {tty}"))?;
    // As xenconsole: the pty passes bytes as they are (no echo, no CR/LF mangling).
    let _ = dom0_sys::tty::make_raw(&pty);
    ready()?;

    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    // On a terminal, raw mode (restored when this goes): keys go to the guest as typed, Ctrl-C
    // included; only Ctrl-] is ours.
    let _raw = if interactive {
        Some(dom0_sys::tty::RawMode::enter(&stdin).context("raw mode on the terminal")?)
    } else {
        None
    };
    let mut input = std::fs::File::from(
        stdin
            .as_fd()
            .try_clone_to_owned()
            .context("duplicating stdin")?,
    );
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 16384];
    let mut stdin_open = true;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: pty.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open { input.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let n = dom0_sys::poll(&mut fds, 1000).context("poll")?;
        if n == 0 {
            if !alive(&pc, domid) {
                break;
            }
            continue;
        }
        let ready = libc::POLLIN | libc::POLLHUP | libc::POLLERR;
        if fds[0].revents & ready != 0 {
            match pty.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    out.write_all(&buf[..k])?;
                    out.flush()?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // EIO: xenconsoled closed its end (the domain died).
                Err(_) => break,
            }
        }
        if stdin_open && fds[1].revents & ready != 0 {
            match input.read(&mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(k) => {
                    let (send, escape) = split_escape(&buf[..k]);
                    pty.write_all(send).context("writing to the console")?;
                    if escape {
                        break;
                    }
                }
            }
        }
    }
    if interactive {
        // The guest's last line may lack its newline; the shell's prompt starts afresh.
        let _ = out.write_all(b"\r\n");
    }
    let _ = out.flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_escape_stops_at_ctrl_right_bracket() {
        assert_eq!(split_escape(b"ls\n"), (&b"ls\n"[..], false));
        assert_eq!(split_escape(b"ab\x1dcd"), (&b"ab"[..], true));
        assert_eq!(split_escape(b"\x1d"), (&b""[..], true));
        assert_eq!(split_escape(b""), (&b""[..], false));
        // Ctrl-C and other control bytes go to the guest.
        assert_eq!(split_escape(b"\x03\x04"), (&b"\x03\x04"[..], false));
    }
}
