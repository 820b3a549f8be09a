//! Host directories a backend stages an attempt's files in, for backends whose units see
//! the host's filesystem (Docker on a local engine through bind mounts, plain processes):
//! input files written with their modes before start, and after the exit the output
//! directory read back as `OutputEntry`s. The job controls what it writes, so nothing here
//! follows a symlink: links and other special files are listed, never read.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use berth_core::backend::{OutputEntry, OutputPicker};
use berth_core::spec::InputFile;

/// One unit's staging directory: `<root>/<unit name>/{output,workspace}`.
#[derive(Clone, Debug)]
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    pub fn new(root: &Path, unit: &str) -> Staging {
        Staging { dir: root.join(unit) }
    }

    /// The unit's directory (a backend may keep a record of its own in it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn output(&self) -> PathBuf {
        self.dir.join("output")
    }

    pub fn workspace(&self) -> PathBuf {
        self.dir.join("workspace")
    }

    /// Makes the output directory, and the workspace with `files` in it when there are
    /// any, writable by any container user (the job may run as a non-root uid with all
    /// capabilities dropped).
    pub fn prepare(&self, files: &[InputFile]) -> io::Result<()> {
        make_open_dir(&self.output())?;
        if files.is_empty() {
            return Ok(());
        }
        let ws = self.workspace();
        make_open_dir(&ws)?;
        for f in files {
            // Validation already refused absolute paths and `..`; join is safe.
            let path = ws.join(&f.path);
            if let Some(parent) = path.parent() {
                for dir in parent.ancestors().take_while(|d| d.starts_with(&ws) && *d != ws) {
                    fs::create_dir_all(dir)?;
                    fs::set_permissions(dir, fs::Permissions::from_mode(0o777))?;
                }
            }
            fs::write(&path, f.content.as_bytes())?;
            fs::set_permissions(&path, fs::Permissions::from_mode(f.mode.unwrap_or(0o644)))?;
        }
        Ok(())
    }

    /// Every entry under the output directory, by name, with the content of the regular
    /// files `picker` wants. A file that cannot be read (another owner, removed meanwhile)
    /// is listed without data; never more than its listed size (or the result cap) is read.
    pub fn collect(&self, mut picker: OutputPicker) -> io::Result<Vec<OutputEntry>> {
        let root = self.output();
        let mut found = Vec::new();
        walk(&root, &root, &mut found)?;
        found.sort_by(|a, b| a.name.cmp(&b.name));
        for e in found.iter_mut() {
            if picker.wants(&e.name, e.size, e.regular) {
                e.data = read_at_most(&root.join(&e.name), picker.limit(&e.name, e.size)).ok().map(Into::into);
            }
        }
        Ok(found)
    }

    /// Removes the directory and everything in it; a missing one is fine.
    pub fn remove(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// At most `limit` bytes of a regular file, never through a link (`O_NOFOLLOW`).
fn read_at_most(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)?;
    let mut data = Vec::new();
    file.take(limit).read_to_end(&mut data)?;
    Ok(data)
}

/// How long a staging directory must sit unchanged before a prune may take it: one being
/// set up right now (staged, container not created yet) is never taken.
pub const PRUNE_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// Units with a staging directory under `root` last changed before `before` (epoch ms).
pub fn stale_units(root: &Path, before: i64) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let changed = entry.metadata().and_then(|m| m.modified()).ok();
        let ms = changed.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_millis() as i64);
        if let (true, Some(name)) = (ms.is_some_and(|ms| ms < before), entry.file_name().to_str()) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

fn make_open_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o777))
}

/// Lists entries under `dir` (files and specials; directories are walked into).
fn walk(root: &Path, dir: &Path, out: &mut Vec<OutputEntry>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            walk(root, &path, out)?;
            continue;
        }
        let name = path.strip_prefix(root).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        out.push(OutputEntry { name, size: meta.len(), regular: meta.is_file(), data: None });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn input_files_land_in_the_workspace_with_modes() {
        let root = tempfile::tempdir().unwrap();
        let s = Staging::new(root.path(), "u");
        let files = [InputFile { path: "bin/run.sh".into(), content: "echo hi".into(), mode: Some(0o755) }];
        s.prepare(&files).unwrap();
        let meta = fs::metadata(s.workspace().join("bin/run.sh")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        assert_eq!(fs::metadata(s.workspace().join("bin")).unwrap().permissions().mode() & 0o777, 0o777);
        assert_eq!(fs::metadata(s.output()).unwrap().permissions().mode() & 0o777, 0o777);
        s.remove().unwrap();
        assert!(!root.path().join("u").exists());
        s.remove().unwrap();
    }

    #[test]
    fn outputs_are_read_within_the_budget_and_links_never_followed() {
        let root = tempfile::tempdir().unwrap();
        let s = Staging::new(root.path(), "u");
        s.prepare(&[]).unwrap();
        let out = s.output();
        fs::create_dir(out.join("sub")).unwrap();
        fs::write(out.join("sub/a.txt"), b"aaaa").unwrap();
        fs::write(out.join("b.bin"), vec![0u8; 100]).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", out.join("leak")).unwrap();
        let limits =
            berth_core::spec::OutputLimits { artifacts_cap: berth_core::quantity::ByteSize(50), ..Default::default() };
        let got = s.collect(OutputPicker::new(&limits)).unwrap();
        let names: Vec<(&str, bool, Option<usize>)> =
            got.iter().map(|e| (e.name.as_str(), e.regular, e.data.as_ref().map(|d| d.len()))).collect();
        assert_eq!(names, [("b.bin", true, None), ("leak", false, None), ("sub/a.txt", true, Some(4))]);
    }
}
