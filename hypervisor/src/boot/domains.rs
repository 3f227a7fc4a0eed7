//! Domains built at boot from the boot modules: the first module is dom0's kernel (its command
//! line is the module's), a following module that is not a domU is dom0's initrd, and each module
//! whose command line starts with `domu` becomes an unprivileged domain:
//! `domu name=NAME memory=MIB vcpus=N [restarts=N] [-- GUEST COMMAND LINE]`. With `restarts=N`
//! the domU is rebuilt from its module after each of its first N shutdowns or crashes (xl's
//! `on_poweroff=restart`, with a new domain id each time; `domain::destroy`).

use super::{cmdline, BootInfo, Module};
use crate::domain::build::{build, BuildSpec};
use alloc::string::String;
use xen_abi::DomId;

/// dom0's memory when `dom0_mem=` is absent (MiB).
pub const DEFAULT_DOM0_MEM_MIB: u64 = 64;
/// A domU's memory when `memory=` is absent (MiB).
pub const DEFAULT_DOMU_MEM_MIB: u64 = 32;

fn module_bytes(m: &Module) -> &'static [u8] {
    // SAFETY-free view through the direct map: `mm::module_slice` checks the range is RAM.
    crate::mm::module_slice(m.range.start, m.range.len())
}

/// Parses `dom0_mem=` (`NNN[MGk]`, Xen's spelling; the first value of a list).
pub fn parse_mem_mib(v: &str) -> Option<u64> {
    let v = v.split(',').next()?;
    let (num, unit) = v
        .find(|c: char| !c.is_ascii_digit())
        .map_or((v, ""), |i| v.split_at(i));
    let n: u64 = num.parse().ok()?;
    match unit {
        "" | "M" | "m" => Some(n),
        "G" | "g" => n.checked_mul(1024),
        "K" | "k" => Some(n / 1024),
        _ => None,
    }
}

fn is_domu(m: &Module) -> bool {
    m.cmdline.split_ascii_whitespace().next() == Some("domu")
}

/// Builds every boot-module domain and queues their vCPUs; returns how many were built.
pub fn build_from_modules(info: &BootInfo, pcpus: usize) -> usize {
    let mut built = 0;
    let mut next_id = 1u16;
    let mut first_pcpu = 0usize;
    let mut i = 0;
    while i < info.modules.len() {
        let m = &info.modules[i];
        let mut restarts = 0u32;
        let (spec_id, name, privileged, mem_mib, vcpus, guest_cmdline, initrd) =
            if i == 0 && !is_domu(m) {
                let initrd = info.modules.get(1).filter(|n| !is_domu(n));
                if initrd.is_some() {
                    i += 1;
                }
                let mem = cmdline::value(&info.cmdline, "dom0_mem")
                    .and_then(parse_mem_mib)
                    .unwrap_or(DEFAULT_DOM0_MEM_MIB);
                let vcpus = cmdline::value(&info.cmdline, "dom0_max_vcpus")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                (
                    DomId(0),
                    String::from("Domain-0"),
                    true,
                    mem,
                    vcpus,
                    String::from(m.cmdline.as_str()),
                    initrd,
                )
            } else if is_domu(m) {
                let (head, tail) = m
                    .cmdline
                    .split_once(" -- ")
                    .unwrap_or((m.cmdline.as_str(), ""));
                let name = cmdline::value(head, "name")
                    .map_or_else(|| alloc::format!("domu{next_id}"), String::from);
                let mem = cmdline::value(head, "memory")
                    .and_then(parse_mem_mib)
                    .unwrap_or(DEFAULT_DOMU_MEM_MIB);
                let vcpus = cmdline::value(head, "vcpus")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                restarts = cmdline::value(head, "restarts")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let id = DomId(next_id);
                next_id += 1;
                (id, name, false, mem, vcpus, String::from(tail), None)
            } else {
                log::warn!(
                    "module {i} ('{}') is neither dom0's kernel, its initrd nor a domU: ignored",
                    m.cmdline
                );
                i += 1;
                continue;
            };
        i += 1;
        let spec = BuildSpec {
            id: spec_id,
            name: &name,
            privileged,
            kernel: module_bytes(m),
            cmdline: &guest_cmdline,
            initrd: initrd.map(module_bytes),
            nr_pages: mem_mib.saturating_mul(256),
            vcpus,
            pcpus,
            first_pcpu,
        };
        let free_before = crate::mm::free_frames();
        match build(&spec) {
            Ok(d) => {
                let restart = (restarts > 0).then(|| crate::domain::destroy::RestartSpec {
                    name: name.clone(),
                    kernel: module_bytes(m),
                    cmdline: guest_cmdline.clone(),
                    nr_pages: spec.nr_pages,
                    vcpus,
                    pcpus,
                    first_pcpu,
                    left: restarts,
                });
                crate::domain::destroy::note_built(d.id, free_before, restart);
                for v in &d.vcpus {
                    crate::sched::add(v.clone());
                }
                crate::domain::DOMAINS.lock().insert(d.id, d);
                built += 1;
                first_pcpu = (first_pcpu + vcpus as usize) % pcpus.max(1);
            }
            Err(e) => log::error!(
                "d{}: cannot build '{}' from module {}: {e}",
                spec_id.0,
                name,
                i - 1
            ),
        }
    }
    built
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_mem_mib_accepts_xen_units() {
        assert_eq!(parse_mem_mib("64M"), Some(64));
        assert_eq!(parse_mem_mib("1G"), Some(1024));
        assert_eq!(parse_mem_mib("512"), Some(512));
        assert_eq!(parse_mem_mib("1024M,max:1024M"), Some(1024));
        assert_eq!(parse_mem_mib("lots"), None);
        assert_eq!(parse_mem_mib("12Q"), None);
    }
}
