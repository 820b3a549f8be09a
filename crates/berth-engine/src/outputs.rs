//! Preparing and collecting an attempt's files on the host: input files written into the
//! workspace before start, and after exit the result (`result.json`) and artifacts read from
//! the output directory, each size-capped.
//!
//! The job controls what it writes, so nothing here follows a symlink: a link to a host file
//! is removed, never read.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use berth_core::spec::{InputFile, OutputLimits};
use berth_core::store::Artifact;

/// Writes the input files under `dir` and makes the attempt's directories writable by any
/// container user (the job may run as a non-root uid with all capabilities dropped).
pub fn prepare_dirs(output: &Path, workspace: Option<&Path>, files: &[InputFile]) -> io::Result<()> {
    make_open_dir(output)?;
    let Some(ws) = workspace else { return Ok(()) };
    make_open_dir(ws)?;
    for f in files {
        // Validation already refused absolute paths and `..`; join is safe.
        let path = ws.join(&f.path);
        if let Some(parent) = path.parent() {
            for dir in parent.ancestors().take_while(|d| d.starts_with(ws) && *d != ws) {
                fs::create_dir_all(dir)?;
                fs::set_permissions(dir, fs::Permissions::from_mode(0o777))?;
            }
        }
        fs::write(&path, f.content.as_bytes())?;
        fs::set_permissions(&path, fs::Permissions::from_mode(f.mode.unwrap_or(0o644)))?;
    }
    Ok(())
}

fn make_open_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o777))
}

/// What an attempt left behind.
#[derive(Debug, Default, PartialEq)]
pub struct Collected {
    pub result: Option<serde_json::Value>,
    pub artifacts: Vec<Artifact>,
    /// Problems to record as events (an invalid result, dropped files).
    pub warnings: Vec<String>,
}

pub fn collect(output: &Path, attempt: u32, limits: &OutputLimits) -> Collected {
    let mut out = Collected::default();
    let mut files = Vec::new();
    walk(output, output, &mut files, &mut out.warnings);
    files.sort();
    let mut kept: u64 = 0;
    for (name, size) in files {
        let path = output.join(&name);
        if name == limits.result_file {
            read_result(&path, size, limits, &mut out);
            continue;
        }
        if kept + size > limits.artifacts_cap.0 {
            out.warnings.push(format!(
                "artifact {name} ({size} bytes) dropped: artifacts are capped at {} per attempt",
                limits.artifacts_cap
            ));
            let _ = fs::remove_file(&path);
            continue;
        }
        kept += size;
        out.artifacts.push(Artifact { attempt, name, size });
    }
    out
}

fn read_result(path: &Path, size: u64, limits: &OutputLimits, out: &mut Collected) {
    if size > limits.result_cap.0 {
        out.warnings.push(format!(
            "{} is {size} bytes, over the {} result cap: ignored",
            limits.result_file, limits.result_cap
        ));
        return;
    }
    match fs::read(path).map(|b| serde_json::from_slice::<serde_json::Value>(&b)) {
        Ok(Ok(v)) => out.result = Some(v),
        Ok(Err(e)) => out.warnings.push(format!("{} is not valid JSON ({e}): no result recorded", limits.result_file)),
        Err(e) => out.warnings.push(format!("{} could not be read: {e}", limits.result_file)),
    }
}

/// Lists regular files under `dir` as (relative name, size); removes anything else.
fn walk(root: &Path, dir: &Path, files: &mut Vec<(String, u64)>, warnings: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path: PathBuf = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        let name = path.strip_prefix(root).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        if meta.is_dir() {
            walk(root, &path, files, warnings);
        } else if meta.is_file() {
            files.push((name, meta.len()));
        } else {
            warnings.push(format!("{name} is not a regular file (symlink, device or pipe): removed"));
            let _ = fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::quantity::ByteSize;

    #[test]
    fn result_artifacts_caps_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        fs::write(out.join("result.json"), br#"{"ok":true}"#).unwrap();
        fs::create_dir(out.join("sub")).unwrap();
        fs::write(out.join("sub/a.txt"), b"aaaa").unwrap();
        fs::write(out.join("z.bin"), vec![0u8; 100]).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", out.join("leak")).unwrap();
        let limits = OutputLimits { artifacts_cap: ByteSize(50), ..OutputLimits::default() };
        let got = collect(out, 1, &limits);
        assert_eq!(got.result, Some(serde_json::json!({"ok": true})));
        assert_eq!(got.artifacts, vec![Artifact { attempt: 1, name: "sub/a.txt".into(), size: 4 }]);
        assert_eq!(got.warnings.len(), 2, "{:?}", got.warnings);
        assert!(!out.join("leak").exists() && !out.join("z.bin").exists());
    }

    #[test]
    fn invalid_result_is_a_warning_not_a_result() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("result.json"), b"{nope").unwrap();
        let got = collect(dir.path(), 1, &OutputLimits::default());
        assert_eq!(got.result, None);
        assert!(got.warnings[0].contains("not valid JSON"));
    }

    #[test]
    fn input_files_land_in_the_workspace_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        let files = [InputFile { path: "bin/run.sh".into(), content: "echo hi".into(), mode: Some(0o755) }];
        prepare_dirs(&dir.path().join("out"), Some(&ws), &files).unwrap();
        let meta = fs::metadata(ws.join("bin/run.sh")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        assert_eq!(fs::metadata(ws.join("bin")).unwrap().permissions().mode() & 0o777, 0o777);
    }
}
