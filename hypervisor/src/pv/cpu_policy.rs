//! The system's CPU policies and each domain's (Xen's `arch/x86/cpu-policy.c`): what the
//! hardware reports (raw), what Ferrite uses (host, the same clamped to what a policy holds),
//! and the most a PV guest may see (PV max, which is also the PV default: Ferrite offers no
//! feature only on request). A domain starts with the PV default; the toolstack may replace it
//! before the domain first runs (`XEN_DOMCTL_set_cpu_policy`), and the guest's CPUID then
//! answers from it, with the hypervisor's dynamic adjustments (OSXSAVE, leaf 0xd's sizes for
//! the current XCR0, the hypervisor leaves).
//!
//! The MSR half: Ferrite neither uses nor offers CPUID faulting and gives PV guests no
//! `MSR_ARCH_CAPABILITIES`, so both MSRs are 0 in every policy.

use super::emulate::{guest_cpuid, CpuidView};
use crate::arch::x86_64::{cpu, guest};
use spin::Once;
use xen_abi::cpu_policy::{CpuPolicy, CpuidPolicy, MsrPolicy};

/// The system policies, indexed as `XEN_SYSCTL_cpu_policy_*` (HVM's absent).
pub struct System {
    pub raw: CpuPolicy,
    pub host: CpuPolicy,
    pub pv_max: CpuPolicy,
}

static SYSTEM: Once<System> = Once::new();

/// The system policies, filled from the boot CPU on first use.
pub fn system() -> &'static System {
    SYSTEM.call_once(|| {
        let native = |l, s| {
            let r = cpu::cpuid(l, s);
            [r.eax, r.ebx, r.ecx, r.edx]
        };
        let raw = CpuidPolicy::fill(native);
        let mut host = raw.clone();
        host.clamp_max_leaves();
        // The PV view with every component Ferrite switches, as a kernel that enabled them
        // all would see it; OSXSAVE and the current-XCR0 size are added per read.
        let xfeatures = guest::xfeatures();
        let view = CpuidView {
            xfeatures,
            xcr0: xfeatures,
            osxsave: false,
        };
        let mut pv = CpuidPolicy::fill(|l, s| guest_cpuid(l, s, view));
        pv.clamp_max_leaves();
        let msr = MsrPolicy::default();
        System {
            raw: CpuPolicy { cpuid: raw, msr },
            host: CpuPolicy { cpuid: host, msr },
            pv_max: CpuPolicy { cpuid: pv, msr },
        }
    })
}

/// The policy `XEN_SYSCTL_get_cpu_policy` index `i` names: `None` for HVM's (Xen built
/// without HVM: `-EOPNOTSUPP`) and for indexes past the table (`-EINVAL`, checked first by the
/// caller).
pub fn by_index(i: u32) -> Option<&'static CpuPolicy> {
    use xen_abi::sysctl::*;
    let s = system();
    match i {
        XEN_SYSCTL_CPU_POLICY_RAW => Some(&s.raw),
        XEN_SYSCTL_CPU_POLICY_HOST => Some(&s.host),
        XEN_SYSCTL_CPU_POLICY_PV_MAX | XEN_SYSCTL_CPU_POLICY_PV_DEFAULT => Some(&s.pv_max),
        _ => None,
    }
}

/// The policy `XEN_SYSCTL_get_cpu_featureset` index `i` names (`None`: `-EINVAL`).
pub fn featureset_by_index(i: u32) -> Option<&'static CpuPolicy> {
    use xen_abi::sysctl::*;
    let s = system();
    match i {
        XEN_SYSCTL_CPU_FEATURESET_RAW => Some(&s.raw),
        XEN_SYSCTL_CPU_FEATURESET_HOST => Some(&s.host),
        XEN_SYSCTL_CPU_FEATURESET_PV | XEN_SYSCTL_CPU_FEATURESET_PV_MAX => Some(&s.pv_max),
        _ => None,
    }
}

/// Runs `f` with `d`'s CPU policy (the PV default until the toolstack sets one).
pub fn with_policy<R>(d: &crate::domain::Domain, f: impl FnOnce(&CpuPolicy) -> R) -> R {
    let p = d.cpu_policy.lock();
    f(p.as_deref().unwrap_or(&system().pv_max))
}

/// Whether `d`'s policy offers `MSR_TSC_AUX`: it has RDTSCP (leaf 0x80000001 EDX bit 27) or
/// RDPID (leaf 7:0 ECX bit 22), as Xen's `guest_rdmsr` asks.
pub fn has_tsc_aux(d: &crate::domain::Domain) -> bool {
    const RDTSCP: u32 = 1 << 27;
    const RDPID: u32 = 1 << 22;
    with_policy(d, |p| {
        p.cpuid.lookup(0x8000_0001, 0)[3] & RDTSCP != 0 || p.cpuid.lookup(7, 0)[2] & RDPID != 0
    })
}

/// What a guest's `cpuid(leaf, subleaf)` returns under `policy`: the policy's leaf, the Xen
/// leaves (limited by the toolstack's `hv_limit`), OSXSAVE as the vCPU's view says, and leaf
/// 0xd:0's size for the vCPU's XCR0.
pub fn guest_leaf(policy: &CpuPolicy, leaf: u32, sub: u32, view: CpuidView) -> [u32; 4] {
    if (0x4000_0000..0x4001_0000).contains(&leaf) {
        let limit = match policy.cpuid.hv_limit {
            0 => 5,
            n => n.min(5),
        };
        return match super::emulate::xen_leaf(leaf) {
            Some(mut r) if leaf - 0x4000_0000 <= limit => {
                if leaf == 0x4000_0000 {
                    r[0] = 0x4000_0000 + limit;
                }
                r
            }
            _ => [0; 4],
        };
    }
    let mut r = policy.cpuid.lookup(leaf, sub);
    match (leaf, sub) {
        (1, _) => {
            const XSAVE: u32 = 1 << 26;
            const OSXSAVE: u32 = 1 << 27;
            r[2] &= !OSXSAVE;
            if r[2] & XSAVE != 0 && view.osxsave {
                r[2] |= OSXSAVE;
            }
        }
        (0xd, 0) if r[0] | r[3] != 0 => {
            r[1] = guest::xsave_size_for(view.xcr0, guest::host_xstate_component);
        }
        _ => {}
    }
    r
}
