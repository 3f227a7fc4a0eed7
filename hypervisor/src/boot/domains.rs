//! Domains built at boot from the boot modules: the first module is dom0's kernel (its command
//! line is the module's), and each module whose command line starts with `domu` becomes an
//! unprivileged domain: `domu name=NAME memory=MIB vcpus=N [restarts=N] [-- GUEST COMMAND LINE]`.
//! A module right after a kernel (dom0's or a domU's) that is not itself a domU is that kernel's
//! initrd (`start_info.mod_start`), as the module after the kernel is on Xen. With `restarts=N`
//! the domU is rebuilt from its module after each of its first N shutdowns or crashes (xl's
//! `on_poweroff=restart`, with a new domain id each time; `domain::destroy`).

use super::{cmdline, BootInfo, Module};
use crate::domain::build::{build, BuildSpec};
use alloc::string::String;
use xen_abi::DomId;

/// A domU's memory when `memory=` is absent (MiB).
pub const DEFAULT_DOMU_MEM_MIB: u64 = 32;

fn module_bytes(m: &Module) -> &'static [u8] {
    // SAFETY-free view through the direct map: `mm::module_slice` checks the range is RAM.
    crate::mm::module_slice(m.range.start, m.range.len())
}

/// Frames kept back from dom0's default size for what building it takes besides its own
/// memory (grant and event frames, vCPU state): Xen's reserve for `struct vcpu`s, generously.
const DOM0_BUILD_SLACK_FRAMES: u64 = 1024;

/// Parses a domU's `memory=` (MiB as xl's `memory=`; `NNN[MGk]`).
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

/// A domU module's line split into its own options and the guest's command line (after `--`).
fn domu_line(m: &Module) -> (&str, &str) {
    m.cmdline
        .split_once(" -- ")
        .unwrap_or((m.cmdline.as_str(), ""))
}

/// A domU module's `memory=` in MiB.
fn domu_mem_mib(head: &str) -> u64 {
    cmdline::value(head, "memory")
        .and_then(parse_mem_mib)
        .unwrap_or(DEFAULT_DOMU_MEM_MIB)
}

/// dom0's vCPUs: `dom0_max_vcpus=` as Xen reads it, one per physical CPU by default.
fn dom0_vcpus(info: &BootInfo, pcpus: usize) -> u32 {
    let range = match cmdline::value(&info.cmdline, "dom0_max_vcpus") {
        None => (1, u32::MAX),
        Some(v) => super::dom0::parse_dom0_max_vcpus(v).unwrap_or_else(|| {
            log::warn!("dom0_max_vcpus={v}: not N, N-, N-M or -M; ignored");
            (1, u32::MAX)
        }),
    };
    let limit = xen_abi::xen::XEN_LEGACY_MAX_VCPUS as u32;
    super::dom0::dom0_vcpus(range, u32::try_from(pcpus).unwrap_or(u32::MAX), limit)
}

/// dom0's size: `dom0_mem=` as Xen computes it, from the frames that are free now less what
/// the boot-module domUs will take, what unpacking a bzImage needs for the moment of the build,
/// and a little for the build itself (Ferrite builds domUs from boot modules; Xen does not).
fn dom0_size(info: &BootInfo, kernel: &Module, vcpus: u32) -> super::dom0::Dom0Size {
    let spec = match cmdline::value(&info.cmdline, "dom0_mem") {
        None => super::dom0::Dom0Mem::default(),
        Some(v) => super::dom0::parse_dom0_mem(v).unwrap_or_else(|| {
            log::warn!("dom0_mem={v}: not a list of [min:|max:][-]SIZE; ignored");
            super::dom0::Dom0Mem::default()
        }),
    };
    let domus: u64 = info
        .modules
        .iter()
        .filter(|m| is_domu(m))
        .map(|m| domu_mem_mib(domu_line(m).0).saturating_mul(256) + DOM0_BUILD_SLACK_FRAMES / 4)
        .sum();
    // Unpacking is temporary and the builds run one after another: the largest unpack counts.
    let unpack = info
        .modules
        .iter()
        .filter(|m| is_domu(m))
        .map(|m| crate::domain::build::unpack_frames(module_bytes(m)))
        .fold(
            crate::domain::build::unpack_frames(module_bytes(kernel)),
            u64::max,
        );
    let avail = crate::mm::free_frames()
        .saturating_sub(domus)
        .saturating_sub(unpack)
        .saturating_sub(DOM0_BUILD_SLACK_FRAMES + u64::from(vcpus) * 4);
    let size = spec.size(avail);
    log::info!(
        "d0: {} MiB of {} MiB available (dom0_mem={}), {vcpus} vCPU(s)",
        size.nr_pages / 256,
        avail / 256,
        cmdline::value(&info.cmdline, "dom0_mem").unwrap_or("(default)"),
    );
    size
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
        let module_index = i;
        let mut restarts = 0u32;
        let mut dom0_max_pages = 0;
        let (spec_id, name, privileged, nr_pages, vcpus, guest_cmdline, initrd) =
            if i == 0 && !is_domu(m) {
                let initrd = info.modules.get(1).filter(|n| !is_domu(n));
                if initrd.is_some() {
                    i += 1;
                }
                let vcpus = dom0_vcpus(info, pcpus);
                let size = dom0_size(info, m, vcpus);
                dom0_max_pages = size.max_pages;
                (
                    DomId(0),
                    String::from("Domain-0"),
                    true,
                    size.nr_pages,
                    vcpus,
                    String::from(m.cmdline.as_str()),
                    initrd,
                )
            } else if is_domu(m) {
                let (head, tail) = domu_line(m);
                let name = cmdline::value(head, "name")
                    .map_or_else(|| alloc::format!("domu{next_id}"), String::from);
                let mem = domu_mem_mib(head).saturating_mul(256);
                let vcpus = cmdline::value(head, "vcpus")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                restarts = cmdline::value(head, "restarts")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let id = DomId(next_id);
                next_id += 1;
                let initrd = info.modules.get(i + 1).filter(|n| !is_domu(n));
                if initrd.is_some() {
                    i += 1;
                }
                (id, name, false, mem, vcpus, String::from(tail), initrd)
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
            nr_pages,
            max_pages: if privileged { dom0_max_pages } else { nr_pages },
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
                    initrd: initrd.map(module_bytes),
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
                module_index
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
