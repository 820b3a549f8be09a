//! The data directory's layout. Per-attempt directories hold the input files mounted as the
//! workspace and the output directory the job writes its result and artifacts to.

use std::path::{Path, PathBuf};

use berth_core::ids::JobId;

#[derive(Clone, Debug)]
pub struct DataPaths {
    root: PathBuf,
}

impl DataPaths {
    pub fn new(root: impl Into<PathBuf>) -> DataPaths {
        DataPaths { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the data dir private to its owner (0700) if it does not exist yet. Attempt
    /// directories inside are world-writable so any container uid can write its outputs;
    /// the private root keeps other local users out. Containers reach their directories
    /// through the bind mount, so the root's mode does not limit them.
    pub fn create_private(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        if self.root.exists() {
            return Ok(());
        }
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.root)
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("berth.db")
    }

    pub fn job_dir(&self, id: &JobId) -> PathBuf {
        self.root.join("jobs").join(id.as_str())
    }

    pub fn attempt_dir(&self, id: &JobId, attempt: u32) -> PathBuf {
        self.job_dir(id).join(attempt.to_string())
    }

    pub fn output_dir(&self, id: &JobId, attempt: u32) -> PathBuf {
        self.attempt_dir(id, attempt).join("output")
    }

    pub fn workspace_dir(&self, id: &JobId, attempt: u32) -> PathBuf {
        self.attempt_dir(id, attempt).join("workspace")
    }
}
