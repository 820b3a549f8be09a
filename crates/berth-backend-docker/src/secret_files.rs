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
/// job's user through its bind mount, by no one else on the host).
pub fn write(unit: &str, secrets: &[SecretInput]) -> std::io::Result<()> {
    let dir = dir(unit);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    for (i, s) in secrets.iter().enumerate().filter(|(_, s)| s.file.is_some()) {
        let path = dir.join(i.to_string());
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o444).open(path)?;
        f.write_all(&s.value.0)?;
    }
    Ok(())
}

/// Removes `unit`'s secret files, if it had any.
pub fn remove(unit: &str) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir(unit)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
