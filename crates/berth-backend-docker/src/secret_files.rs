//! Secret files on a local engine: written to a host tmpfs (`/dev/shm`), never to disk, in
//! a directory only root can enter, and bind-mounted read-only one file at a time; removed
//! with the container. A remote engine gets no secret files (the archive API would write them
//! into the container's layer on its disk): such a job is refused at create.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use berth_core::backend::SecretInput;

/// Where the secret files of each container live, one directory per container.
const ROOT: &str = "/dev/shm/berth-secrets";

/// The directory of `unit`'s secret files.
pub fn dir(unit: &str) -> PathBuf {
    PathBuf::from(ROOT).join(unit)
}

/// The host file holding the `i`-th secret of the plan.
pub fn host_path(unit: &str, i: usize) -> String {
    dir(unit).join(i.to_string()).to_string_lossy().into_owned()
}

pub fn any(secrets: &[SecretInput]) -> bool {
    secrets.iter().any(|s| s.file.is_some())
}

/// Writes each file secret of `secrets` (mode 0444 inside a 0700 directory: readable by the
/// job's user through its bind mount, by no one else on the host). `/dev/shm` is writable by
/// every local user, so the root must be a real directory of ours, and nothing is followed.
pub fn write(unit: &str, secrets: &[SecretInput]) -> std::io::Result<()> {
    own_dir(&PathBuf::from(ROOT))?;
    let dir = dir(unit);
    own_dir(&dir)?;
    for (i, s) in secrets.iter().enumerate().filter(|(_, s)| s.file.is_some()) {
        let path = dir.join(i.to_string());
        // `create_new` is O_EXCL: it never opens an existing file or follows a link.
        let _ = std::fs::remove_file(&path);
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o444).open(path)?;
        f.write_all(&s.value.0)?;
    }
    Ok(())
}

/// `path` as a directory of this process's user, mode 0700, made if missing; refused if it
/// is a link, another user's, or open to others.
fn own_dir(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(path)?;
    let mine = meta.uid() == std::fs::metadata("/proc/self")?.uid();
    if !meta.is_dir() || !mine || meta.mode() & 0o077 != 0 {
        let what = format!("{} is not a private directory of this user: remove it", path.display());
        return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, what));
    }
    Ok(())
}

/// Units with secret files whose container is gone are for `prune`: the names here.
pub fn units() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(ROOT) else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()
}

/// Removes `unit`'s secret files, if it had any.
pub fn remove(unit: &str) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir(unit)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
