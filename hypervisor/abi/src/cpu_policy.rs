//! CPU policies as Xen 4.17 serialises them for the toolstack (`xen/lib/x86/cpuid.h`,
//! `lib/x86/cpuid.c`, `lib/x86/msr.c`, `lib/x86/policy.c`): the CPUID leaves a guest may see
//! and the two MSRs that travel with them, turned into and out of [`XenCpuidLeaf`] and
//! [`XenMsrEntry`] arrays (`XEN_SYSCTL_get_cpu_policy`, `XEN_DOMCTL_{get,set}_cpu_policy`),
//! the featureset words of `XEN_SYSCTL_get_cpu_featureset`, and the audit a new policy must
//! pass against the most a guest may have.
//!
//! Pure: the hypervisor fills a policy from the `cpuid` instruction and keeps one per domain;
//! libxc's copy of this code runs on the other side of the hypercall, so the bounds here are
//! 4.17's exactly (a leaf out of them is `-ERANGE` on both sides).

use crate::arch_x86::{XenCpuidLeaf, XenMsrEntry, XEN_CPUID_NO_SUBLEAF};
use crate::Errno;

/// `CPUID_GUEST_NR_BASIC`: leaves 0x0–0xd.
pub const NR_BASIC: usize = 0xd + 1;
/// `CPUID_GUEST_NR_CACHE`: subleaves of leaf 0x4.
pub const NR_CACHE: usize = 5 + 1;
/// `CPUID_GUEST_NR_FEAT`: subleaves of leaf 0x7 (0–2 in 4.17 with the 7:2 word).
pub const NR_FEAT: usize = 2 + 1;
/// `CPUID_GUEST_NR_TOPO`: subleaves of leaf 0xb.
pub const NR_TOPO: usize = 1 + 1;
/// `CPUID_GUEST_NR_XSTATE`: subleaves of leaf 0xd.
pub const NR_XSTATE: usize = 62 + 1;
/// `CPUID_GUEST_NR_EXTD`: leaves 0x80000000–0x80000021.
pub const NR_EXTD: usize = 0x21 + 1;

/// `CPUID_MAX_SERIALISED_LEAVES`: the most leaves a policy becomes (120 in 4.17).
pub const MAX_SERIALISED_LEAVES: u32 =
    (NR_BASIC + (NR_FEAT - 1) + (NR_CACHE - 1) + (NR_TOPO - 1) + (NR_XSTATE - 1) + NR_EXTD + 2)
        as u32;
/// `MSR_MAX_SERIALISED_ENTRIES`: `MSR_INTEL_PLATFORM_INFO` and `MSR_ARCH_CAPABILITIES`.
pub const MAX_SERIALISED_MSRS: u32 = 2;

/// `FEATURESET_NR_ENTRIES` of 4.17's `cpufeatureset.h` (words 0–18).
pub const FEATURESET_NR_ENTRIES: usize = 19;

/// `MSR_INTEL_PLATFORM_INFO`.
pub const MSR_INTEL_PLATFORM_INFO: u32 = 0xce;
/// `MSR_ARCH_CAPABILITIES`.
pub const MSR_ARCH_CAPABILITIES: u32 = 0x10a;
/// `PLATFORM_INFO.cpuid_faulting`.
pub const PLATFORM_INFO_CPUID_FAULTING: u32 = 1 << 31;

/// One leaf's registers: eax, ebx, ecx, edx.
pub type Leaf = [u32; 4];

/// `XEN_CPUID_INPUT_UNUSED`-free identification of a leaf the audit objects to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyError {
    pub errno: Errno,
    /// `err_leaf` (`~0` when the error is not about a leaf).
    pub leaf: u32,
    /// `err_subleaf`.
    pub subleaf: u32,
    /// `err_msr`.
    pub msr: u32,
}

impl PolicyError {
    fn leaf(errno: Errno, leaf: u32, subleaf: u32) -> Self {
        PolicyError {
            errno,
            leaf,
            subleaf,
            msr: !0,
        }
    }

    fn msr(errno: Errno, msr: u32) -> Self {
        PolicyError {
            errno,
            leaf: !0,
            subleaf: !0,
            msr,
        }
    }

    /// An error that names nothing (`INIT_CPU_POLICY_ERRORS`).
    pub fn plain(errno: Errno) -> Self {
        PolicyError::msr(errno, !0)
    }
}

/// `struct cpuid_policy`: every leaf a guest's CPUID answers from, by range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuidPolicy {
    pub basic: [Leaf; NR_BASIC],
    pub cache: [Leaf; NR_CACHE],
    pub feat: [Leaf; NR_FEAT],
    pub topo: [Leaf; NR_TOPO],
    pub xstate: [Leaf; NR_XSTATE],
    pub extd: [Leaf; NR_EXTD],
    /// The toolstack's limit on the hypervisor leaves at 0x40000000 (0: none).
    pub hv_limit: u32,
    /// The same at 0x40000100.
    pub hv2_limit: u32,
}

impl Default for CpuidPolicy {
    fn default() -> Self {
        CpuidPolicy {
            basic: [[0; 4]; NR_BASIC],
            cache: [[0; 4]; NR_CACHE],
            feat: [[0; 4]; NR_FEAT],
            topo: [[0; 4]; NR_TOPO],
            xstate: [[0; 4]; NR_XSTATE],
            extd: [[0; 4]; NR_EXTD],
            hv_limit: 0,
            hv2_limit: 0,
        }
    }
}

/// `struct msr_policy`: the MSRs that travel with the CPUID leaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsrPolicy {
    /// `MSR_INTEL_PLATFORM_INFO` (32 bits in Xen's struct).
    pub platform_info: u32,
    /// `MSR_ARCH_CAPABILITIES`.
    pub arch_caps: u64,
}

/// A domain's (or the system's) whole policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuPolicy {
    pub cpuid: CpuidPolicy,
    pub msr: MsrPolicy,
}

/// Leaf 0x4's subleaf `type` (eax[4:0]): 0 ends the list.
fn cache_type(l: &Leaf) -> u32 {
    l[0] & 0x1f
}

/// Leaf 0xb's subleaf `type` (ecx[15:8]): 0 ends the list.
fn topo_type(l: &Leaf) -> u32 {
    (l[2] >> 8) & 0xff
}

impl CpuidPolicy {
    /// Leaf 0's `max_leaf`.
    pub fn max_leaf(&self) -> u32 {
        self.basic[0][0]
    }

    /// Leaf 7:0's `max_subleaf`.
    pub fn feat_max_subleaf(&self) -> u32 {
        self.feat[0][0]
    }

    /// Leaf 0x80000000's `max_leaf`.
    pub fn extd_max_leaf(&self) -> u32 {
        self.extd[0][0]
    }

    /// `cpuid_policy_xcr0_max`: the XCR0 bits leaf 0xd:0 offers.
    pub fn xcr0_max(&self) -> u64 {
        (u64::from(self.xstate[0][3]) << 32) | u64::from(self.xstate[0][0])
    }

    /// `cpuid_policy_xstates`: the XCR0 and XSS bits together.
    pub fn xstates(&self) -> u64 {
        self.xcr0_max() | (u64::from(self.xstate[1][3]) << 32) | u64::from(self.xstate[1][2])
    }

    /// Fills the policy from a `cpuid(leaf, subleaf)` source as Xen's
    /// `x86_cpuid_policy_fill_native` does: every in-range leaf up to the source's maxima, the
    /// cache and topology lists to their terminating entry, leaf 0xd's components that its
    /// state masks name. `max_leaf` values are kept as the source gives them (see
    /// [`Self::clamp_max_leaves`]).
    pub fn fill(mut cpuid: impl FnMut(u32, u32) -> Leaf) -> Self {
        let mut p = CpuidPolicy::default();
        p.basic[0] = cpuid(0, 0);
        for leaf in 1..=p.max_leaf().min(NR_BASIC as u32 - 1) {
            match leaf {
                0x4 => {
                    for (i, slot) in p.cache.iter_mut().enumerate() {
                        *slot = cpuid(4, i as u32);
                        if cache_type(slot) == 0 {
                            break;
                        }
                    }
                }
                0x7 => {
                    p.feat[0] = cpuid(7, 0);
                    for i in 1..=p.feat_max_subleaf().min(NR_FEAT as u32 - 1) {
                        p.feat[i as usize] = cpuid(7, i);
                    }
                }
                0xb => {
                    for (i, slot) in p.topo.iter_mut().enumerate() {
                        *slot = cpuid(0xb, i as u32);
                        if topo_type(slot) == 0 {
                            break;
                        }
                    }
                }
                0xd => {
                    p.xstate[0] = cpuid(0xd, 0);
                    p.xstate[1] = cpuid(0xd, 1);
                    let xstates = p.xstates();
                    for i in 2..NR_XSTATE {
                        if xstates & (1 << i) != 0 {
                            p.xstate[i] = cpuid(0xd, i as u32);
                        }
                    }
                }
                _ => p.basic[leaf as usize] = cpuid(leaf, 0),
            }
        }
        p.extd[0] = cpuid(0x8000_0000, 0);
        if p.extd_max_leaf() >> 16 == 0x8000 {
            for i in 1..=(p.extd_max_leaf() & 0xffff).min(NR_EXTD as u32 - 1) {
                p.extd[i as usize] = cpuid(0x8000_0000 | i, 0);
            }
        } else {
            p.extd[0] = [0; 4];
        }
        p
    }

    /// Clamps the maxima to what the policy can hold (Xen's host policy does this).
    pub fn clamp_max_leaves(&mut self) {
        self.basic[0][0] = self.max_leaf().min(NR_BASIC as u32 - 1);
        self.feat[0][0] = self.feat_max_subleaf().min(NR_FEAT as u32 - 1);
        if self.extd_max_leaf() >> 16 == 0x8000 {
            self.extd[0][0] = 0x8000_0000 | (self.extd_max_leaf() & 0xffff).min(NR_EXTD as u32 - 1);
        }
    }

    /// `x86_cpuid_copy_to_buffer`: the leaves in order, each through `out` (which fails with
    /// `-ENOBUFS` when the caller's array is full, or `-EFAULT`); returns how many.
    pub fn to_leaves(
        &self,
        mut out: impl FnMut(u32, XenCpuidLeaf) -> Result<(), Errno>,
    ) -> Result<u32, Errno> {
        let mut n = 0u32;
        let mut put = |leaf: u32, subleaf: u32, l: &Leaf| {
            out(
                n,
                XenCpuidLeaf {
                    leaf,
                    subleaf,
                    a: l[0],
                    b: l[1],
                    c: l[2],
                    d: l[3],
                },
            )?;
            n += 1;
            Ok::<(), Errno>(())
        };
        for leaf in 0..=self.max_leaf().min(NR_BASIC as u32 - 1) {
            match leaf {
                0x4 => {
                    for (i, l) in self.cache.iter().enumerate() {
                        put(leaf, i as u32, l)?;
                        if cache_type(l) == 0 {
                            break;
                        }
                    }
                }
                0x7 => {
                    for i in 0..=self.feat_max_subleaf().min(NR_FEAT as u32 - 1) {
                        put(leaf, i, &self.feat[i as usize])?;
                    }
                }
                0xb => {
                    for (i, l) in self.topo.iter().enumerate() {
                        put(leaf, i as u32, l)?;
                        if topo_type(l) == 0 {
                            break;
                        }
                    }
                }
                0xd => {
                    put(leaf, 0, &self.xstate[0])?;
                    put(leaf, 1, &self.xstate[1])?;
                    let xstates = self.xstates();
                    for i in 2..NR_XSTATE {
                        if xstates >> i == 0 {
                            break;
                        }
                        put(leaf, i as u32, &self.xstate[i])?;
                    }
                }
                _ => put(leaf, XEN_CPUID_NO_SUBLEAF, &self.basic[leaf as usize])?,
            }
        }
        put(0x4000_0000, XEN_CPUID_NO_SUBLEAF, &[self.hv_limit, 0, 0, 0])?;
        put(
            0x4000_0100,
            XEN_CPUID_NO_SUBLEAF,
            &[self.hv2_limit, 0, 0, 0],
        )?;
        for i in 0..=(self.extd_max_leaf() & 0xffff).min(NR_EXTD as u32 - 1) {
            put(
                0x8000_0000 | i,
                XEN_CPUID_NO_SUBLEAF,
                &self.extd[i as usize],
            )?;
        }
        Ok(n)
    }

    /// `x86_cpuid_copy_from_buffer`: merges `nr` leaves read through `get` into the policy.
    /// More than [`MAX_SERIALISED_LEAVES`] is `-E2BIG`; a leaf or subleaf the policy cannot
    /// hold is `-ERANGE`, naming it (the leaves before it are merged, as in Xen, which works on
    /// a copy it then drops).
    pub fn merge_leaves(
        &mut self,
        nr: u32,
        mut get: impl FnMut(u32) -> Result<XenCpuidLeaf, Errno>,
    ) -> Result<(), PolicyError> {
        if nr > MAX_SERIALISED_LEAVES {
            return Err(PolicyError::plain(Errno::E2BIG));
        }
        for i in 0..nr {
            let d = get(i).map_err(PolicyError::plain)?;
            let l = [d.a, d.b, d.c, d.d];
            let sub = d.subleaf as usize;
            let slot = match d.leaf {
                0x4 => self.cache.get_mut(sub),
                0x7 => self.feat.get_mut(sub),
                0xb => self.topo.get_mut(sub),
                0xd => self.xstate.get_mut(sub),
                leaf if (leaf as usize) < NR_BASIC && d.subleaf == XEN_CPUID_NO_SUBLEAF => {
                    Some(&mut self.basic[leaf as usize])
                }
                0x4000_0000 if d.subleaf == XEN_CPUID_NO_SUBLEAF => {
                    self.hv_limit = d.a;
                    continue;
                }
                0x4000_0100 if d.subleaf == XEN_CPUID_NO_SUBLEAF => {
                    self.hv2_limit = d.a;
                    continue;
                }
                leaf if (0x8000_0000..0x8000_0000 + NR_EXTD as u32).contains(&leaf)
                    && d.subleaf == XEN_CPUID_NO_SUBLEAF =>
                {
                    Some(&mut self.extd[(leaf & 0xffff) as usize])
                }
                _ => None,
            };
            match slot {
                Some(s) => *s = l,
                None => return Err(PolicyError::leaf(Errno::ERANGE, d.leaf, d.subleaf)),
            }
        }
        Ok(())
    }

    /// `x86_cpuid_policy_clear_out_of_range_leaves`: zeroes what lies past the maxima, so a
    /// lowered maximum leaves no stale data behind.
    pub fn clear_out_of_range(&mut self) {
        let max = self.max_leaf();
        for (i, l) in self.basic.iter_mut().enumerate().skip(1) {
            if i as u32 > max {
                *l = [0; 4];
            }
        }
        if max < 0x4 {
            self.cache = [[0; 4]; NR_CACHE];
        }
        if max < 0x7 {
            self.feat = [[0; 4]; NR_FEAT];
        } else {
            let sub = self.feat_max_subleaf();
            for (i, l) in self.feat.iter_mut().enumerate().skip(1) {
                if i as u32 > sub {
                    *l = [0; 4];
                }
            }
        }
        if max < 0xb {
            self.topo = [[0; 4]; NR_TOPO];
        }
        if max < 0xd {
            self.xstate = [[0; 4]; NR_XSTATE];
        } else {
            let xstates = self.xstates();
            for (i, l) in self.xstate.iter_mut().enumerate().skip(2) {
                if xstates & (1 << i) == 0 {
                    *l = [0; 4];
                }
            }
        }
        let extd = self.extd_max_leaf() & 0xffff;
        let extd_valid = self.extd_max_leaf() >> 16 == 0x8000;
        for (i, l) in self.extd.iter_mut().enumerate().skip(1) {
            if !extd_valid || i as u32 > extd {
                *l = [0; 4];
            }
        }
    }

    /// The leaf a guest's `cpuid(leaf, subleaf)` reads, before the hypervisor's dynamic
    /// adjustments: zero past the maxima and outside the ranges a policy holds.
    pub fn lookup(&self, leaf: u32, subleaf: u32) -> Leaf {
        let sub = subleaf as usize;
        let found = match leaf {
            0..=0xd if leaf <= self.max_leaf() => match leaf {
                0x4 => self.cache.get(sub),
                0x7 if subleaf <= self.feat_max_subleaf() => self.feat.get(sub),
                0x7 => None,
                0xb => self.topo.get(sub),
                0xd => self.xstate.get(sub),
                _ => Some(&self.basic[leaf as usize]),
            },
            0x8000_0000..=0x8000_ffff
                if self.extd_max_leaf() >> 16 == 0x8000
                    && leaf & 0xffff <= self.extd_max_leaf() & 0xffff =>
            {
                self.extd.get((leaf & 0xffff) as usize)
            }
            _ => None,
        };
        found.copied().unwrap_or([0; 4])
    }

    /// Each featureset word's place: (policy range, index, register).
    fn feature_word(&mut self, word: usize) -> Option<&mut u32> {
        let (leaf, reg): (&mut Leaf, usize) = match word {
            0 => (&mut self.basic[1], 3),
            1 => (&mut self.basic[1], 2),
            2 => (&mut self.extd[1], 3),
            3 => (&mut self.extd[1], 2),
            4 => (&mut self.xstate[1], 0),
            5 => (&mut self.feat[0], 1),
            6 => (&mut self.feat[0], 2),
            7 => (&mut self.extd[7], 3),
            8 => (&mut self.extd[8], 1),
            9 => (&mut self.feat[0], 3),
            10 => (&mut self.feat[1], 0),
            11 => (&mut self.extd[0x21], 0),
            12 => (&mut self.feat[1], 1),
            13 => (&mut self.feat[2], 3),
            14 => (&mut self.feat[1], 2),
            15 => (&mut self.feat[1], 3),
            18 => (&mut self.extd[0x21], 2),
            _ => return None,
        };
        Some(&mut leaf[reg])
    }
}

impl CpuPolicy {
    /// `cpu_policy_to_featureset`: the 19 words of `XEN_SYSCTL_get_cpu_featureset`, words 16
    /// and 17 from `MSR_ARCH_CAPABILITIES`.
    pub fn featureset(&self) -> [u32; FEATURESET_NR_ENTRIES] {
        let mut c = self.cpuid.clone();
        let mut fs = [0u32; FEATURESET_NR_ENTRIES];
        for (w, v) in fs.iter_mut().enumerate() {
            *v = match w {
                16 => self.msr.arch_caps as u32,
                17 => (self.msr.arch_caps >> 32) as u32,
                _ => c.feature_word(w).map_or(0, |x| *x),
            };
        }
        fs
    }

    /// Keeps only the features `max` has, word by word (the first step of Xen's
    /// `recalculate_cpuid_policy`).
    pub fn and_features(&mut self, max: &CpuPolicy) {
        let fs = max.featureset();
        for (w, m) in fs.iter().enumerate() {
            if let Some(x) = self.cpuid.feature_word(w) {
                *x &= m;
            }
        }
        self.msr.arch_caps &= max.msr.arch_caps;
    }

    /// `x86_msr_copy_to_buffer`: the two MSRs through `out`; returns how many.
    pub fn msrs_to_buffer(
        &self,
        mut out: impl FnMut(u32, XenMsrEntry) -> Result<(), Errno>,
    ) -> Result<u32, Errno> {
        out(
            0,
            XenMsrEntry {
                idx: MSR_INTEL_PLATFORM_INFO,
                flags: 0,
                val: u64::from(self.msr.platform_info),
            },
        )?;
        out(
            1,
            XenMsrEntry {
                idx: MSR_ARCH_CAPABILITIES,
                flags: 0,
                val: self.msr.arch_caps,
            },
        )?;
        Ok(2)
    }

    /// `x86_msr_copy_from_buffer`: more than [`MAX_SERIALISED_MSRS`] is `-E2BIG`; non-zero
    /// `flags` `-EINVAL`; a value wider than the field `-EOVERFLOW`; another MSR `-ERANGE`;
    /// each naming the MSR.
    pub fn merge_msrs(
        &mut self,
        nr: u32,
        mut get: impl FnMut(u32) -> Result<XenMsrEntry, Errno>,
    ) -> Result<(), PolicyError> {
        if nr > MAX_SERIALISED_MSRS {
            return Err(PolicyError::plain(Errno::E2BIG));
        }
        for i in 0..nr {
            let e = get(i).map_err(PolicyError::plain)?;
            if e.flags != 0 {
                return Err(PolicyError::msr(Errno::EINVAL, e.idx));
            }
            match e.idx {
                MSR_INTEL_PLATFORM_INFO => {
                    self.msr.platform_info = u32::try_from(e.val)
                        .map_err(|_| PolicyError::msr(Errno::EOVERFLOW, e.idx))?;
                }
                MSR_ARCH_CAPABILITIES => self.msr.arch_caps = e.val,
                _ => return Err(PolicyError::msr(Errno::ERANGE, e.idx)),
            }
        }
        Ok(())
    }

    /// `x86_cpu_policies_are_compatible(host, guest)`: the maxima may not exceed `max`'s, nor
    /// may `PLATFORM_INFO` claim what `max`'s lacks (`-EINVAL`, naming the leaf or MSR). Xen
    /// 4.17 audits nothing else here; features beyond `max` are removed afterwards.
    pub fn compatible_with(&self, max: &CpuPolicy) -> Result<(), PolicyError> {
        let (g, h) = (&self.cpuid, &max.cpuid);
        if g.max_leaf() > h.max_leaf() {
            return Err(PolicyError::leaf(Errno::EINVAL, 0, XEN_CPUID_NO_SUBLEAF));
        }
        if g.feat_max_subleaf() > h.feat_max_subleaf() {
            return Err(PolicyError::leaf(Errno::EINVAL, 7, 0));
        }
        if g.extd_max_leaf() > h.extd_max_leaf() {
            return Err(PolicyError::leaf(
                Errno::EINVAL,
                0x8000_0000,
                XEN_CPUID_NO_SUBLEAF,
            ));
        }
        if !max.msr.platform_info & self.msr.platform_info != 0 {
            return Err(PolicyError::msr(Errno::EINVAL, MSR_INTEL_PLATFORM_INFO));
        }
        Ok(())
    }

    /// What `XEN_DOMCTL_set_cpu_policy` does to the domain's policy `self` with the
    /// toolstack's leaves and MSRs (Xen's `update_domain_cpu_policy`): merge into a copy,
    /// clear stale leaves, audit against `max`, then keep only `max`'s features and state
    /// components. On error `self` is unchanged.
    pub fn update(
        &mut self,
        max: &CpuPolicy,
        nr_leaves: u32,
        leaves: impl FnMut(u32) -> Result<XenCpuidLeaf, Errno>,
        nr_msrs: u32,
        msrs: impl FnMut(u32) -> Result<XenMsrEntry, Errno>,
    ) -> Result<(), PolicyError> {
        let mut new = self.clone();
        new.cpuid.merge_leaves(nr_leaves, leaves)?;
        new.merge_msrs(nr_msrs, msrs)?;
        new.cpuid.clear_out_of_range();
        new.compatible_with(max)?;
        new.and_features(max);
        // Leaf 0xd: only the state components the maximum has; without XSAVE, none.
        let xsave = new.cpuid.basic[1][2] & (1 << 26) != 0;
        let x = &mut new.cpuid.xstate;
        let m = &max.cpuid.xstate;
        if xsave {
            x[0][0] &= m[0][0];
            x[0][3] &= m[0][3];
            x[1][2] &= m[1][2];
            x[1][3] &= m[1][3];
        } else {
            *x = [[0; 4]; NR_XSTATE];
        }
        new.cpuid.clear_out_of_range();
        *self = new;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    /// A CPU like QEMU's `max`: basic leaves to 0x1f, four caches, two topology levels,
    /// x87/SSE/AVX state, extended leaves to 0x80000021.
    fn qemu_like(leaf: u32, sub: u32) -> Leaf {
        match (leaf, sub) {
            (0, _) => [0x1f, 0x756e_6547, 0x6c65_746e, 0x4965_6e69],
            (1, _) => [0x806f8, 0x0080_0800, 0xfffa_3203 | (1 << 26), 0x0f8b_fbff],
            (4, s) if s < 4 => [0x121 + (s << 5) + 1, 0x01c0_003f, 0x3f, 0],
            (7, 0) => [1, 0xd19f_4fbb, 0x0040_5f5e, 0xbc00_0400],
            (7, 1) => [0x30, 0, 0, 0],
            (0xb, 0) => [0, 1, 0x100, 0],
            (0xb, 1) => [1, 1, 0x201, 0],
            (0xd, 0) => [0x7, 0x340, 0x340, 0],
            (0xd, 1) => [0xf, 0x340, 0, 0],
            (0xd, 2) => [0x100, 0x240, 0, 0],
            (0x8000_0000, _) => [0x8000_0021, 0, 0, 0],
            (0x8000_0001, _) => [0x806f8, 0, 0x121, 0x2c10_0800],
            (0x8000_0008, _) => [0x3028, 0, 0, 0],
            _ => [0; 4],
        }
    }

    fn serialise(p: &CpuidPolicy, room: u32) -> Result<Vec<XenCpuidLeaf>, Errno> {
        let mut v = Vec::new();
        p.to_leaves(|i, l| {
            if i == room {
                return Err(Errno::ENOBUFS);
            }
            v.push(l);
            Ok(())
        })?;
        Ok(v)
    }

    fn host() -> CpuPolicy {
        let mut c = CpuidPolicy::fill(qemu_like);
        c.clamp_max_leaves();
        CpuPolicy {
            cpuid: c,
            msr: MsrPolicy::default(),
        }
    }

    #[test]
    fn the_size_is_4_17s() {
        assert_eq!(MAX_SERIALISED_LEAVES, 120);
    }

    #[test]
    fn serialises_in_xens_order_and_fits() {
        let p = host().cpuid;
        let v = serialise(&p, MAX_SERIALISED_LEAVES).unwrap();
        let ids: Vec<(u32, u32)> = v.iter().map(|l| (l.leaf, l.subleaf)).collect();
        let n = XEN_CPUID_NO_SUBLEAF;
        // 0–3, 4:0–4 (the fifth ends the list), 5, 6, 7:0–1, 8–a, b:0–2? no: b:0 has type 1,
        // b:1 type 2, both kept (NR_TOPO = 2), c, d:0–2, the two hypervisor limits, extd.
        assert_eq!(&ids[..4], &[(0, n), (1, n), (2, n), (3, n)]);
        assert_eq!(&ids[4..9], &[(4, 0), (4, 1), (4, 2), (4, 3), (4, 4)]);
        assert_eq!(&ids[9..13], &[(5, n), (6, n), (7, 0), (7, 1)]);
        assert!(ids.contains(&(0xd, 2)) && !ids.contains(&(0xd, 3)));
        assert!(ids.contains(&(0x4000_0000, n)) && ids.contains(&(0x8000_0021, n)));
        assert_eq!(v.len(), 13 + 3 + 2 + 1 + 3 + 2 + 34);
        assert_eq!(
            serialise(&p, v.len() as u32 - 1).unwrap_err(),
            Errno::ENOBUFS
        );
    }

    #[test]
    fn round_trips() {
        let p = host().cpuid;
        let v = serialise(&p, MAX_SERIALISED_LEAVES).unwrap();
        let mut q = CpuidPolicy::default();
        q.merge_leaves(v.len() as u32, |i| Ok(v[i as usize]))
            .unwrap();
        assert_eq!(p, q);
    }

    #[test]
    fn out_of_range_leaves_are_named() {
        let mut q = CpuidPolicy::default();
        let bad = [
            (0x4, 6),
            (0x7, 3),
            (0xb, 2),
            (0xd, 63),
            (0x1, 0),
            (0xe, XEN_CPUID_NO_SUBLEAF),
            (0x8000_0022, XEN_CPUID_NO_SUBLEAF),
            (0x4000_0001, XEN_CPUID_NO_SUBLEAF),
        ];
        for (leaf, subleaf) in bad {
            let l = XenCpuidLeaf {
                leaf,
                subleaf,
                ..Default::default()
            };
            assert_eq!(
                q.merge_leaves(1, |_| Ok(l)),
                Err(PolicyError::leaf(Errno::ERANGE, leaf, subleaf)),
                "{leaf:#x}:{subleaf:#x}"
            );
        }
        assert_eq!(
            q.merge_leaves(121, |_| unreachable!()).unwrap_err().errno,
            Errno::E2BIG
        );
    }

    #[test]
    fn msrs_are_checked_as_xen_does() {
        let mut p = host();
        let e = |idx, flags, val| XenMsrEntry { idx, flags, val };
        assert_eq!(
            p.merge_msrs(1, |_| Ok(e(0xce, 1, 0))).unwrap_err(),
            PolicyError::msr(Errno::EINVAL, 0xce)
        );
        assert_eq!(
            p.merge_msrs(1, |_| Ok(e(0xce, 0, 1 << 32))).unwrap_err(),
            PolicyError::msr(Errno::EOVERFLOW, 0xce)
        );
        assert_eq!(
            p.merge_msrs(1, |_| Ok(e(0x10, 0, 0))).unwrap_err(),
            PolicyError::msr(Errno::ERANGE, 0x10)
        );
        assert_eq!(
            p.merge_msrs(3, |_| unreachable!()).unwrap_err().errno,
            Errno::E2BIG
        );
        p.merge_msrs(2, |i| Ok(e([0xce, 0x10a][i as usize], 0, 5)))
            .unwrap();
        assert_eq!(
            p.msr,
            MsrPolicy {
                platform_info: 5,
                arch_caps: 5
            }
        );
    }

    #[test]
    fn update_audits_maxima_and_trims_features() {
        let max = host();
        let mut d = max.clone();
        // A larger basic maximum: -EINVAL naming leaf 0, and the policy is unchanged.
        let mut v = serialise(&max.cpuid, 120).unwrap();
        v[0].a = 0x1f;
        let r = d.update(
            &max,
            v.len() as u32,
            |i| Ok(v[i as usize]),
            0,
            |_| unreachable!(),
        );
        assert_eq!(
            r,
            Err(PolicyError::leaf(Errno::EINVAL, 0, XEN_CPUID_NO_SUBLEAF))
        );
        assert_eq!(d, max);
        // cpuid_faulting the maximum does not offer.
        let r = d.update(
            &max,
            0,
            |_| unreachable!(),
            1,
            |_| {
                Ok(XenMsrEntry {
                    idx: MSR_INTEL_PLATFORM_INFO,
                    flags: 0,
                    val: u64::from(PLATFORM_INFO_CPUID_FAULTING),
                })
            },
        );
        assert_eq!(
            r,
            Err(PolicyError::msr(Errno::EINVAL, MSR_INTEL_PLATFORM_INFO))
        );
        // Features beyond the maximum are dropped; fewer are kept; a lower maximum leaf
        // clears the leaves above it.
        let mut v = serialise(&max.cpuid, 120).unwrap();
        v[1].c = !0; // every 1.ecx feature
        v[1].d &= !1; // no FPU
        v[0].a = 6;
        d.update(
            &max,
            v.len() as u32,
            |i| Ok(v[i as usize]),
            0,
            |_| unreachable!(),
        )
        .unwrap();
        assert_eq!(d.cpuid.basic[1][2], max.cpuid.basic[1][2]);
        assert_eq!(d.cpuid.basic[1][3], max.cpuid.basic[1][3] & !1);
        assert_eq!(d.cpuid.lookup(7, 0), [0; 4]);
        assert_eq!(d.cpuid.xstate, [[0; 4]; NR_XSTATE]);
        assert_eq!(d.cpuid.lookup(0x8000_0001, 0), max.cpuid.extd[1]);
    }

    #[test]
    fn featureset_words_come_from_their_leaves() {
        let p = host();
        let fs = p.featureset();
        assert_eq!(fs[0], p.cpuid.basic[1][3]);
        assert_eq!(fs[1], p.cpuid.basic[1][2]);
        assert_eq!(fs[5], p.cpuid.feat[0][1]);
        assert_eq!(fs[10], p.cpuid.feat[1][0]);
        assert_eq!(fs[3], 0x121);
    }

    #[test]
    fn lookup_is_zero_past_the_maxima() {
        let p = host().cpuid;
        assert_eq!(p.lookup(0, 0)[0], 0xd);
        assert_eq!(p.lookup(0x1f, 0), [0; 4]);
        assert_eq!(p.lookup(7, 2), [0; 4]);
        assert_eq!(p.lookup(4, 1), p.cache[1]);
        assert_eq!(p.lookup(1, 99), p.basic[1]);
        assert_eq!(p.lookup(0x8000_0022, 0), [0; 4]);
        assert_eq!(p.lookup(0x4000_0000, 0), [0; 4]);
    }
}
