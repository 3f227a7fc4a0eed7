//! Guards the property test and fuzz harness against vacuity: random operation sequences must
//! reach every interesting outcome (each `GNTST_*` the sub-ops can return) at least once, and
//! batch-heavy sequences must put failing entries between successes and undo maps often.

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
        "MapBatch: Ok",
        "MapBatch: BadGntref",
        "MapBatch: BadDomain",
        "MapBatch: GeneralError",
        "MapBatch: Ok after a failed entry",
        "MapBatch: cancel_map Ok",
        "UnmapBatch: Ok",
        "UnmapBatch: BadHandle",
        "UnmapBatch: GeneralError",
        "UnmapBatch: Ok after a failed entry",
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

#[test]
fn batch_heavy_sequences_reach_failures_between_successes_and_cancel() {
    // The shape of `batched_map_unmap_sequences_match_model_entry_by_entry`: mostly guests
    // granting, map batches and unmap batches.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as u8
    };
    let mut stats = std::collections::BTreeMap::new();
    for _ in 0..200 {
        let mut bytes = vec![next()];
        for _ in 0..30 {
            let k = next();
            bytes.push(match k % 10 {
                0..=2 => next() % 6,
                3..=5 => 32 + next() % 2,
                6..=8 => 34 + next() % 2,
                _ => next(),
            });
            bytes.extend((1..OP_BYTES).map(|_| next()));
        }
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
    for (k, at_least) in [
        ("MapBatch: Ok", 150),
        ("MapBatch: Ok after a failed entry", 100),
        ("MapBatch: cancel_map Ok", 80),
        ("UnmapBatch: Ok", 60),
        ("UnmapBatch: Ok after a failed entry", 30),
        ("UnmapBatch: BadHandle", 100),
        ("UnmapBatch: GeneralError", 15),
    ] {
        let got = stats.get(k).copied().unwrap_or(0);
        assert!(got >= at_least, "{k}: {got} < {at_least}");
    }
}
