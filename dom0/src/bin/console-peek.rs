//! `console-peek DOMID [--frame MFN]`: prints what is still in a domain's PV console ring (the
//! last bytes it wrote, up to the ring's 2048), read through a foreign mapping of the ring page
//! with `/dev/xen/privcmd`, without consuming anything: a look at a guest's console that needs
//! no console daemon, and the rig's test of dom0-sys's foreign mappings.
//!
//! The frame is the one the toolstack wrote to `/local/domain/DOMID/console/ring-ref` (for a PV
//! guest its MFN, from `start_info`), or `--frame MFN`.

use anyhow::{bail, Context, Result};
use dom0_sys::privcmd::Privcmd;
use std::io::Write;
use xen_abi::io::console::{XenconsInterface, XENCONS_OUT};
use xen_abi::types::{DomId, Mfn};
use xenstore::{Xenstore, NO_TX};

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut domid = None;
    let mut frame = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--frame" => {
                let v = it.next().context("--frame needs a frame number")?;
                frame = Some(parse_u64(v).with_context(|| format!("--frame: bad number '{v}'"))?);
            }
            "-h" | "--help" => {
                println!("usage: console-peek DOMID [--frame MFN]");
                return Ok(());
            }
            s if domid.is_none() => {
                let d: u16 = s
                    .parse()
                    .with_context(|| format!("bad domain id '{s}' (want 0..32751)"))?;
                domid = Some(DomId(d));
            }
            s => bail!("unexpected argument '{s}' (usage: console-peek DOMID [--frame MFN])"),
        }
    }
    let domid = domid.context("usage: console-peek DOMID [--frame MFN]")?;
    let frame = match frame {
        Some(f) => f,
        None => {
            let xs = Xenstore::open().context("connecting to xenstore")?;
            let path = format!("/local/domain/{}/console/ring-ref", domid.0);
            let v = xs
                .read_string(NO_TX, &path)
                .with_context(|| format!("reading {path}"))?;
            parse_u64(v.trim()).with_context(|| format!("{path}: not a frame number: '{v}'"))?
        }
    };
    let privcmd = Privcmd::open().context("opening /dev/xen/privcmd")?;
    let page = privcmd
        .map_foreign(domid, &[Mfn(frame)], false)
        .with_context(|| format!("mapping frame {frame:#x} of domain {}", domid.0))?;
    let mut buf = vec![0u8; size_of::<XenconsInterface>()];
    let n = XENCONS_OUT
        .recent(&*page, &mut buf)
        .with_context(|| format!("console ring of domain {} (frame {frame:#x})", domid.0))?;
    std::io::stdout()
        .write_all(&buf[..n])
        .context("writing to stdout")?;
    Ok(())
}
