//! A cache of unpacked kernels in dom0 (`/var/cache/fxl/kernels`): decompressing Debian's
//! bzImage is most of a domain's build time (about 8 s under the rig's TCG), so the ELF
//! unpacked from a kernel file is kept, keyed by the file's device, inode, size and
//! modification time; a changed or replaced file misses. At most [`KEEP`] kernels are kept (the
//! least recently written go first). A cached ELF is only a hint: it is parsed and checked like
//! a fresh one, and anything wrong with the cache (unreadable, unwritable) is ignored.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where unpacked kernels are kept.
pub const DIR: &str = "/var/cache/fxl/kernels";
/// Kernels kept.
pub const KEEP: usize = 4;

/// The cache file's name for a kernel file with this identity.
pub fn key(dev: u64, ino: u64, size: u64, mtime: i64, mtime_nsec: i64) -> String {
    format!("{dev:x}-{ino:x}-{size:x}-{mtime:x}.{mtime_nsec:x}.elf")
}

/// The cache file for the kernel at `path` (`None` if it cannot be stat'ed).
pub fn entry(dir: &Path, path: &str) -> Option<PathBuf> {
    let m = std::fs::metadata(path).ok()?;
    Some(dir.join(key(m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec())))
}

/// The cached ELF, if there is one.
pub fn load(entry: &Path) -> Option<Vec<u8>> {
    std::fs::read(entry).ok()
}

/// Keeps `elf` as `entry` (written aside, then renamed), then drops the oldest entries beyond
/// [`KEEP`]. Failures are ignored: the cache only saves time.
pub fn store(entry: &Path, elf: &[u8]) {
    let Some(dir) = entry.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, elf).is_err() || std::fs::rename(&tmp, entry).is_err() {
        let _ = std::fs::remove_file(&tmp);
        return;
    }
    prune(dir, KEEP);
}

/// Removes all but the `keep` most recently written `.elf` files of `dir`.
pub fn prune(dir: &Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = rd
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "elf"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort();
    let n = files.len().saturating_sub(keep);
    for (_, p) in files.into_iter().take(n) {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fxl-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn key_changes_with_every_part_of_the_identity() {
        let k = key(1, 2, 3, 4, 5);
        assert_eq!(k, "1-2-3-4.5.elf");
        for other in [
            key(9, 2, 3, 4, 5),
            key(1, 9, 3, 4, 5),
            key(1, 2, 9, 4, 5),
            key(1, 2, 3, 9, 5),
            key(1, 2, 3, 4, 9),
        ] {
            assert_ne!(k, other);
        }
    }

    #[test]
    fn store_then_load_and_a_rewritten_file_misses() {
        let d = tempdir("hit");
        let kernel = d.join("vmlinuz");
        std::fs::create_dir_all(&d).expect("dir");
        std::fs::write(&kernel, b"bzImage v1").expect("write");
        let ks = kernel.to_str().expect("utf-8");
        let e = entry(&d.join("c"), ks).expect("stat");
        assert_eq!(load(&e), None);
        store(&e, b"\x7fELF unpacked");
        assert_eq!(load(&e).as_deref(), Some(&b"\x7fELF unpacked"[..]));
        std::fs::write(&kernel, b"bzImage v2, longer").expect("rewrite");
        let e2 = entry(&d.join("c"), ks).expect("stat");
        assert_ne!(e, e2);
        assert_eq!(load(&e2), None);
        assert_eq!(entry(&d, "/nonexistent/vmlinuz"), None);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn prune_keeps_the_newest() {
        let d = tempdir("prune");
        std::fs::create_dir_all(&d).expect("dir");
        for i in 0..6 {
            std::fs::write(d.join(format!("{i}.elf")), b"x").expect("write");
            let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + i);
            let f = std::fs::File::options()
                .write(true)
                .open(d.join(format!("{i}.elf")))
                .expect("open");
            f.set_modified(t).expect("set mtime");
        }
        std::fs::write(d.join("other.txt"), b"x").expect("write");
        prune(&d, 4);
        let mut left: Vec<String> = std::fs::read_dir(&d)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["2.elf", "3.elf", "4.elf", "5.elf", "other.txt"]);
        let _ = std::fs::remove_dir_all(&d);
    }
}
