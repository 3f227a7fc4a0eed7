//! Replays every checked-in fuzz corpus file and crash reproducer through the fuzz target's
//! decode-and-check function, so stable `cargo test` guards what fuzzing found.

use std::path::Path;

use grant_tables::fuzzing::{decode, run_bytes, Harness};

fn inputs() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["corpus/gnttab_ops", "regressions/gnttab_ops"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_file() {
                let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                out.push((p.display().to_string(), bytes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn fuzz_corpus_and_regressions_replay_cleanly() {
    let inputs = inputs();
    assert!(
        inputs.len() >= 5,
        "expected the checked-in corpus, found {}",
        inputs.len()
    );
    for (name, bytes) in &inputs {
        if let Err(e) = run_bytes(bytes) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn fuzz_seed_corpus_reaches_successful_map_unmap_and_copy() {
    // The hand-written seeds are meaningful starting points, not noise.
    let mut stats = std::collections::BTreeMap::new();
    for (name, bytes) in inputs().iter().filter(|(n, _)| n.contains("/corpus/")) {
        let (n, ops) = decode(bytes);
        let mut h = Harness::new(n);
        h.collect_stats = true;
        h.run(&ops).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (k, v) in h.stats {
            *stats.entry(k).or_insert(0u32) += v;
        }
    }
    for k in [
        "Map: Ok",
        "Unmap: Ok",
        "Copy: Ok",
        "Destroy: Ok",
        "SetupTable: Ok",
        "MapBatch: Ok",
        "MapBatch: cancel_map Ok",
        "UnmapBatch: Ok",
    ] {
        assert!(stats.contains_key(k), "seeds never reach {k}: {stats:?}");
    }
}
