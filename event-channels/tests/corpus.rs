//! Replays every checked-in fuzz corpus file and crash reproducer through the same decode+run
//! function as the fuzz target (`fuzzing::run`), so they stay fixed in a plain `cargo test`.

use std::fs;
use std::path::Path;

fn replay_dir(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("readable corpus directory entry").path();
        if path.is_file() {
            let data = fs::read(&path).expect("readable corpus file");
            let result = std::panic::catch_unwind(|| event_channels::fuzzing::run(&data));
            assert!(result.is_ok(), "{} fails", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn fuzz_corpus_and_regressions_replay_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = replay_dir(&root.join("corpus/evtchn_ops"));
    replay_dir(&root.join("regressions/evtchn_ops"));
    assert!(corpus >= 5, "checked-in corpus missing ({corpus} files)");
}
