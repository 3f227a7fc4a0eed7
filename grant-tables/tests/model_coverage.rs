//! Guards the property test and fuzz harness against vacuity: random operation sequences must
//! reach every interesting outcome (each `GNTST_*` the sub-ops can return) at least once.

use grant_tables::fuzzing::{decode, Harness, OP_BYTES};

#[test]
fn random_sequences_reach_every_outcome() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as u8
    };
    let mut stats = std::collections::BTreeMap::new();
    for _ in 0..600 {
        let bytes: Vec<u8> = (0..1 + 40 * OP_BYTES).map(|_| next()).collect();
        let (n, ops) = decode(&bytes);
        let mut h = Harness::new(n);
        h.collect_stats = true;
        h.run(&ops)
            .unwrap_or_else(|e| panic!("model divergence: {e}"));
        for (k, v) in h.stats {
            *stats.entry(k).or_insert(0u32) += v;
        }
    }
    for (k, v) in &stats {
        println!("{k:40} {v}");
    }
    let want = [
        "Map: Ok",
        "Map: BadGntref",
        "Map: BadDomain",
        "Map: GeneralError",
        "Map: BadPage",
        "Map: Eagain",
        "Unmap: Ok",
        "Unmap: BadHandle",
        "Unmap: GeneralError",
        "UnmapAndReplace: Ok",
        "Copy: Ok",
        "Copy: BadCopyArg",
        "Copy: PermissionDenied",
        "Copy: BadDomain",
        "Copy: BadGntref",
        "Copy: GeneralError",
        "Copy: BadPage",
        "Swap: Ok",
        "Swap: Eagain",
        "Swap: BadGntref",
        "SetupTable: Ok",
        "SetupTable: GeneralError",
        "SetupTable: PermissionDenied",
        "QuerySize: Ok",
        "GetVersion: EPERM",
        "SetVersion: ENOSYS",
        "CacheFlush: Ok",
        "CacheFlush: EOPNOTSUPP",
        "Destroy: Ok",
        "Create: Ok",
        "Create: EEXIST",
    ];
    let missing: Vec<&str> = want
        .iter()
        .copied()
        .filter(|k| !stats.contains_key(*k))
        .collect();
    assert!(missing.is_empty(), "never reached: {missing:?}");
}
