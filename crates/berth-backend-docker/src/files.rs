//! An attempt's files on the engine: input files placed before start and outputs read after
//! the exit. On a local engine they are host directories bind-mounted into the container
//! (`Transfer::Bind`, no extra engine calls); on any other engine (a remote `DOCKER_HOST`)
//! they travel through the archive API into anonymous volumes (`Transfer::Archive`).

use std::path::PathBuf;

use berth_core::backend::{
    AttemptPlan, BackendError, OUTPUT_MOUNT, OutputEntry, OutputPicker, SecretInput, UnitHandle,
};
use berth_core::clock::{Clock, SystemClock};
use berth_core::output_tar::read as read_tar;
use berth_core::spec::JobSpec;
#[cfg(test)]
use berth_core::spec::OutputLimits;
use berth_staging::Staging;
use bollard::Docker;
use bollard::query_parameters::{DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder};
use futures::TryStreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::errors::{engine_error, is_not_found};
use crate::secret_files;
use crate::translate::{FILES_ROOT, Staged};

/// How an attempt's files reach the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// Host directories under this root, bind-mounted: the engine must see this host's
    /// filesystem (the local socket).
    Bind(PathBuf),
    /// The archive API: works with any engine, at two or three more calls per attempt.
    Archive,
}

impl Transfer {
    /// The mounts `translate` gives the container of `unit`.
    pub(crate) fn staged(&self, unit: &str, spec: &JobSpec, secrets: &[SecretInput]) -> Staged {
        match self {
            Transfer::Bind(root) => {
                let s = Staging::new(root, unit);
                let shown = |p: PathBuf| p.to_string_lossy().into_owned();
                let files = secrets.iter().enumerate().filter_map(|(i, s)| {
                    s.file.as_ref().map(|target| (secret_files::host_path(unit, i), target.clone()))
                });
                Staged::Bind {
                    output: shown(s.output()),
                    workspace: (!spec.files.is_empty()).then(|| shown(s.workspace())),
                    secrets: files.collect(),
                }
            }
            Transfer::Archive => Staged::Volumes,
        }
    }

    /// Before create: the host directories with the input files and the secret files (bind
    /// mode); a remote engine cannot have secret files.
    pub(crate) async fn stage(&self, plan: &AttemptPlan) -> Result<(), BackendError> {
        let Transfer::Bind(root) = self else {
            if secret_files::any(&plan.secrets) {
                let what =
                    "secret files need the engine on this host (with a remote DOCKER_HOST, give the secret as env)";
                return Err(BackendError::Unsupported(what.into()));
            }
            return Ok(());
        };
        let staging = Staging::new(root, &plan.name);
        let files = plan.spec.files.clone();
        blocking(move || staging.prepare(&files)).await?;
        if secret_files::any(&plan.secrets) {
            let (unit, secrets) = (plan.name.clone(), plan.secrets.clone());
            blocking(move || secret_files::write(&unit, &secrets)).await?;
        }
        Ok(())
    }

    /// After create, before start: an open output dir and the input files (archive mode).
    pub(crate) async fn upload(&self, docker: &Docker, id: &str, spec: &JobSpec) -> Result<(), BackendError> {
        if *self != Transfer::Archive {
            return Ok(());
        }
        put(docker, id, FILES_ROOT, open_dir_tar("output")?).await?;
        if spec.files.is_empty() {
            return Ok(());
        }
        // The workspace volume's root is made writable for any uid as in bind mode, from
        // its parent; a read-only root filesystem refuses that, so there it stays root's.
        let ws = std::path::Path::new(&spec.workspace_dir);
        if let (false, Some(parent), Some(name)) = (spec.read_only, ws.parent(), ws.file_name()) {
            put(docker, id, &parent.to_string_lossy(), open_dir_tar(&name.to_string_lossy())?).await?;
        }
        put(docker, id, &spec.workspace_dir, files_tar(spec)?).await
    }

    pub(crate) async fn collect(
        &self,
        docker: &Docker,
        unit: &UnitHandle,
        picker: OutputPicker,
    ) -> Result<Vec<OutputEntry>, BackendError> {
        match self {
            Transfer::Bind(root) => {
                let staging = Staging::new(root, &unit.name);
                blocking(move || staging.collect(picker)).await
            }
            Transfer::Archive => download(docker, &unit.id, picker).await,
        }
    }

    /// Staging directories whose container is gone (bind mode), older than `PRUNE_AGE`.
    pub(crate) async fn prune(&self, docker: &Docker) -> Result<usize, BackendError> {
        let Transfer::Bind(root) = self else { return Ok(0) };
        // Secret files of containers that are gone (a crash between create and remove).
        for name in blocking(|| Ok(secret_files::units())).await? {
            if let Err(e) = docker.inspect_container(&name, None).await
                && is_not_found(&e)
            {
                blocking(move || secret_files::remove(&name)).await?;
            }
        }
        let before = SystemClock.now().0 - berth_staging::PRUNE_AGE.as_millis() as i64;
        let dir = root.clone();
        let names = blocking(move || berth_staging::stale_units(&dir, before)).await?;
        let mut removed = 0;
        for name in names {
            match docker.inspect_container(&name, None).await {
                Err(e) if is_not_found(&e) => {
                    let staging = Staging::new(root, &name);
                    blocking(move || staging.remove()).await?;
                    removed += 1;
                }
                Ok(_) => {}
                Err(e) => return Err(engine_error(e)),
            }
        }
        Ok(removed)
    }

    /// With the container: its host directories (bind mode; volumes go with the container).
    pub(crate) async fn unstage(&self, unit: &UnitHandle) -> Result<(), BackendError> {
        let Transfer::Bind(root) = self else { return Ok(()) };
        if unit.name.is_empty() {
            return Ok(());
        }
        let staging = Staging::new(root, &unit.name);
        let name = unit.name.clone();
        blocking(move || staging.remove().and_then(|()| secret_files::remove(&name))).await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, BackendError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| BackendError::Files(e.to_string())),
        Err(e) => Err(BackendError::Files(e.to_string())),
    }
}

async fn put(docker: &Docker, id: &str, path: &str, tar: Vec<u8>) -> Result<(), BackendError> {
    let options = UploadToContainerOptionsBuilder::new().path(path).build();
    docker
        .upload_to_container(id, Some(options), bollard::body_full(tar.into()))
        .await
        .map_err(|e| BackendError::Files(format!("copying into {path}: {}", engine_error(e))))
}

/// One directory entry, mode 0777 (`output/` under `FILES_ROOT`: any uid may write its
/// outputs). The archive API keeps the mode of the destination itself, so a directory's
/// mode is set from its parent.
fn open_dir_tar(name: &str) -> Result<Vec<u8>, BackendError> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o777);
    h.set_size(0);
    append(&mut b, &mut h, &format!("{name}/"), &[][..])?;
    b.into_inner().map_err(files_err)
}

/// The spec's files with their modes, under directories any uid may write.
fn files_tar(spec: &JobSpec) -> Result<Vec<u8>, BackendError> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for f in &spec.files {
        let mut parent = std::path::Path::new(&f.path).parent();
        let mut chain = Vec::new();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            chain.push(p.to_string_lossy().into_owned());
            parent = p.parent();
        }
        for dir in chain.into_iter().rev().filter(|d| dirs.insert(d.clone())) {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o777);
            h.set_size(0);
            append(&mut b, &mut h, &format!("{dir}/"), &[][..])?;
        }
        let mut h = tar::Header::new_ustar();
        h.set_mode(f.mode.unwrap_or(0o644));
        h.set_size(f.content.len() as u64);
        append(&mut b, &mut h, &f.path, f.content.as_bytes())?;
    }
    b.into_inner().map_err(files_err)
}

fn append(b: &mut tar::Builder<Vec<u8>>, h: &mut tar::Header, path: &str, data: &[u8]) -> Result<(), BackendError> {
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(h, path, data).map_err(files_err)
}

fn files_err(e: std::io::Error) -> BackendError {
    BackendError::Files(e.to_string())
}

/// Streams `OUTPUT_MOUNT` out as a tar and reads only what `picker` wants: the rest is
/// listed with its size and skipped over, never held.
async fn download(docker: &Docker, id: &str, picker: OutputPicker) -> Result<Vec<OutputEntry>, BackendError> {
    let options = DownloadFromContainerOptionsBuilder::new().path(OUTPUT_MOUNT).build();
    let mut stream = Box::pin(docker.download_from_container(id, Some(options)));
    // The first chunk tells a missing directory (nothing to collect) from a tar.
    let first = match stream.try_next().await {
        Ok(first) => first,
        Err(e) if is_not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(BackendError::Files(engine_error(e).to_string())),
    };
    let rest = stream.map_err(|e| std::io::Error::other(e.to_string()));
    let body = futures::stream::iter(first.map(Ok)).chain(rest);
    let reader = SyncIoBridge::new(StreamReader::new(body));
    blocking(move || read_tar(reader, picker)).await
}

use futures::StreamExt;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_tar_of_the_output_dir_becomes_entries_within_the_budget() {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_ustar();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_size(0);
        b.append_data(&mut dir, "output/", &[][..]).unwrap();
        for (name, data) in [("output/result.json", &b"{}"[..]), ("output/big.bin", &[7u8; 64][..])] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, data).unwrap();
        }
        let mut link = tar::Header::new_ustar();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        b.append_link(&mut link, "output/leak", "/etc/passwd").unwrap();
        let bytes = b.into_inner().unwrap();
        let limits = OutputLimits { artifacts_cap: berth_core::quantity::ByteSize(10), ..OutputLimits::default() };
        let got = read_tar(&bytes[..], OutputPicker::new(&limits)).unwrap();
        let seen: Vec<(&str, bool, Option<usize>)> =
            got.iter().map(|e| (e.name.as_str(), e.regular, e.data.as_ref().map(|d| d.len()))).collect();
        assert_eq!(seen, [("result.json", true, Some(2)), ("big.bin", true, None), ("leak", false, None)]);
    }

    #[test]
    fn input_files_get_their_modes_and_open_parent_dirs() {
        let mut spec = JobSpec::new("x");
        spec.files =
            vec![berth_core::spec::InputFile { path: "a/b/run.sh".into(), content: "hi".into(), mode: Some(0o755) }];
        let bytes = files_tar(&spec).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let seen: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), e.header().mode().unwrap())
            })
            .collect();
        assert_eq!(seen, [("a/".into(), 0o777), ("a/b/".into(), 0o777), ("a/b/run.sh".into(), 0o755)]);
    }
}
