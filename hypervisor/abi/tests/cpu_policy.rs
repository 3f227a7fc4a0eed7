//! Property tests of CPU-policy serialisation: whatever a CPU reports, the policy Xen would
//! fill from it fits the 4.17 bound, goes out and comes back unchanged, and any serialised
//! policy merged into another is audited by its maxima alone.

use proptest::prelude::*;
use xen_abi::arch_x86::XenCpuidLeaf;
use xen_abi::cpu_policy::{CpuPolicy, CpuidPolicy, MAX_SERIALISED_LEAVES};
use xen_abi::Errno;

fn serialise(p: &CpuidPolicy) -> Vec<XenCpuidLeaf> {
    let mut v = Vec::new();
    let n = p
        .to_leaves(|i, l| {
            if i == MAX_SERIALISED_LEAVES {
                return Err(Errno::ENOBUFS);
            }
            v.push(l);
            Ok(())
        })
        .expect("a policy always fits CPUID_MAX_SERIALISED_LEAVES");
    assert_eq!(n as usize, v.len());
    v
}

proptest! {
    #[test]
    fn any_cpu_round_trips(seed in any::<u64>(), max in 0u32..0x40, extd in 0u32..0x40,
                           sub7 in 0u32..8, xcr0 in any::<u64>()) {
        // A CPU whose every register is a hash of (leaf, subleaf, seed), with chosen maxima.
        let cpu = |leaf: u32, sub: u32| -> [u32; 4] {
            let h = |r: u32| {
                let x = ((u64::from(leaf) << 32) | u64::from(sub)) ^ seed ^ (u64::from(r) * 0x9e37_79b9);
                (x.wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 17) as u32
            };
            match (leaf, sub) {
                (0, _) => [max, h(1), h(2), h(3)],
                (7, 0) => [sub7, h(1), h(2), h(3)],
                (0xd, 0) => [xcr0 as u32, h(1), h(2), (xcr0 >> 32) as u32],
                (0x8000_0000, _) => [0x8000_0000 | extd, 0, 0, 0],
                _ => [h(0), h(1), h(2), h(3)],
            }
        };
        let mut p = CpuidPolicy::fill(cpu);
        p.clamp_max_leaves();
        let v = serialise(&p);
        let mut q = CpuidPolicy::default();
        q.merge_leaves(v.len() as u32, |i| Ok(v[i as usize])).unwrap();
        // What went out comes back: serialising the copy gives the same leaves.
        prop_assert_eq!(serialise(&q), v.clone());
        // A policy is compatible with itself; updating by its own leaves only removes (state
        // without XSAVE), and a second update changes nothing.
        let full = CpuPolicy { cpuid: q.clone(), ..Default::default() };
        let mut d = full.clone();
        d.update(&full, v.len() as u32, |i| Ok(v[i as usize]), 0, |_| unreachable!()).unwrap();
        for (got, max) in d.featureset().iter().zip(full.featureset()) {
            prop_assert_eq!(got & !max, 0);
        }
        let w = serialise(&d.cpuid);
        let mut e = d.clone();
        e.update(&full, w.len() as u32, |i| Ok(w[i as usize]), 0, |_| unreachable!()).unwrap();
        prop_assert_eq!(e, d);
    }
}
