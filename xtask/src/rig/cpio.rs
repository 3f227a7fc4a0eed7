//! An initramfs as Linux reads it: a `newc` cpio archive built from an in-memory file list.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// Where an archive entry's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir,
    /// A file copied from the host (its permission bits are kept).
    HostFile(PathBuf),
    /// A file with the given content and permission bits.
    Bytes(Vec<u8>, u32),
    /// A symbolic link to the given target.
    Symlink(String),
}

/// The files of an initramfs, keyed by their path inside it (no leading `/`).
#[derive(Debug, Clone, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    /// Adds (or replaces) `path`, creating its parent directories.
    pub fn add(&mut self, path: &str, entry: Entry) {
        let path = path.trim_start_matches('/').to_string();
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent {
            let s = p.to_string_lossy().into_owned();
            if s.is_empty() {
                break;
            }
            self.entries.entry(s).or_insert(Entry::Dir);
            parent = p.parent();
        }
        self.entries.insert(path, entry);
    }

    /// Adds a host file at the same path inside the archive.
    pub fn add_host(&mut self, host: &Path) {
        self.add(&host.to_string_lossy(), Entry::HostFile(host.into()));
    }

    /// Adds an executable script.
    pub fn add_script(&mut self, path: &str, text: &str) {
        self.add(path, Entry::Bytes(text.as_bytes().to_vec(), 0o755));
    }

    /// Adds every file below the host directory `dir`, at the same paths (symlinks kept).
    pub fn add_host_tree(&mut self, dir: &Path) -> Result<()> {
        self.add_tree_at(dir, &dir.to_string_lossy())
    }

    /// Adds every file below the host directory `dir` under `at` in the archive (symlinks kept).
    pub fn add_tree_at(&mut self, dir: &Path, at: &str) -> Result<()> {
        let inside = |p: &Path| -> String {
            let rel = p.strip_prefix(dir).unwrap_or(p);
            format!("{}/{}", at.trim_end_matches('/'), rel.to_string_lossy())
                .trim_end_matches('/')
                .to_string()
        };
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            self.add(&inside(&d), Entry::Dir);
            for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
                let p = e?.path();
                let meta = std::fs::symlink_metadata(&p)?;
                if meta.file_type().is_symlink() {
                    let t = std::fs::read_link(&p)?;
                    self.add(&inside(&p), Entry::Symlink(t.to_string_lossy().into()));
                } else if meta.is_dir() {
                    stack.push(p);
                } else {
                    self.add(&inside(&p), Entry::HostFile(p.clone()));
                }
            }
        }
        Ok(())
    }

    /// True if the archive holds `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path.trim_start_matches('/'))
    }

    /// The uncompressed `newc` archive.
    pub fn to_newc(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for (ino, (name, entry)) in self.entries.iter().enumerate() {
            let (mode, data) = match entry {
                Entry::Dir => (S_IFDIR | 0o755, Vec::new()),
                Entry::HostFile(p) => {
                    let data =
                        std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                    let perm = std::fs::metadata(p)?.permissions().mode() & 0o7777;
                    (S_IFREG | perm, data)
                }
                Entry::Bytes(b, perm) => (S_IFREG | perm, b.clone()),
                Entry::Symlink(t) => (S_IFLNK | 0o777, t.as_bytes().to_vec()),
            };
            let nlink = if matches!(entry, Entry::Dir) { 2 } else { 1 };
            write_header(&mut out, ino as u32 + 1, mode, nlink, data.len(), name)?;
            out.extend_from_slice(&data);
            pad4(&mut out);
        }
        write_header(&mut out, 0, 0, 1, 0, "TRAILER!!!")?;
        Ok(out)
    }

    /// Writes the archive gzip-compressed (by the host's `gzip`) to `out`.
    pub fn write_gz(&self, out: &Path) -> Result<()> {
        let data = self.to_newc()?;
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut gz = Command::new("gzip")
            .arg("-5")
            .stdin(Stdio::piped())
            .stdout(file)
            .spawn()
            .context("running gzip")?;
        gz.stdin.take().context("gzip stdin")?.write_all(&data)?;
        let status = gz.wait()?;
        if !status.success() {
            bail!("gzip failed ({status})");
        }
        Ok(())
    }
}

fn write_header(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    size: usize,
    name: &str,
) -> Result<()> {
    let size = u32::try_from(size).context("file too large for cpio")?;
    let namesize = name.len() as u32 + 1;
    // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
    // rdevminor, namesize, check
    write!(
        out,
        "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
        0, 0, 0, 0, 0, 0, 0, 0
    )?;
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    Ok(())
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_has_parents_padding_and_trailer() {
        let mut a = Archive::default();
        a.add_script("/bin/x", "ab");
        a.add("bin/sh", Entry::Symlink("busybox".into()));
        let out = a.to_newc().unwrap();
        let text = String::from_utf8_lossy(&out);
        // "bin" (implied directory), then "bin/sh", then "bin/x", then the trailer.
        let bin = text.find("bin\0").unwrap();
        let sh = text.find("bin/sh\0").unwrap();
        let x = text.find("bin/x\0").unwrap();
        assert!(bin < sh && sh < x);
        assert!(text.ends_with("TRAILER!!!\0\0\0\0") || text.contains("TRAILER!!!\0"));
        assert_eq!(out.len() % 4, 0);
        // Every header starts on a 4-byte boundary with the newc magic.
        assert_eq!(&out[..6], b"070701");
        // The script is executable: mode 0100755.
        let hx = text[..x].rfind("070701").unwrap();
        assert_eq!(&text[hx + 14..hx + 22], "000081ed");
    }
}
