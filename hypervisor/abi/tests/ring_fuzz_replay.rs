//! Replays the checked-in fuzz corpus (`fuzz/corpus/back_ring_consumer/`) and every crash
//! reproducer (`fuzz/regressions/back_ring_consumer/`) through the fuzz target's body, so fuzz
//! findings stay fixed under plain `cargo test`.

#[path = "../fuzz/common/back_ring.rs"]
mod back_ring;

use std::fs;
use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable fuzz directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

fn fuzz_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(sub)
        .join("back_ring_consumer")
}

#[test]
fn replay_checked_in_corpus_never_panics() {
    let files = inputs(&fuzz_dir("corpus"));
    assert!(
        files.len() >= 4,
        "expected the checked-in seed corpus, found {} files",
        files.len()
    );
    let mut taken = 0;
    let mut overflows = 0;
    for f in &files {
        let data = fs::read(f).expect("readable corpus file");
        let out = back_ring::run_back_ring_consumer(&data);
        taken += out.taken;
        overflows += out.overflows;
    }
    // The seeds exercise both the honest path and the malicious-peer path.
    assert!(taken > 0, "no corpus file consumed a request");
    assert!(overflows > 0, "no corpus file drove the ring into Overflow");
}

#[test]
fn replay_regressions_never_panic() {
    for f in inputs(&fuzz_dir("regressions")) {
        let data = fs::read(&f).expect("readable regression file");
        back_ring::run_back_ring_consumer(&data);
    }
}
