//! The deployment's defaults for what a spec leaves unset. Applying them yields the
//! effective spec that is stored with the attempt and translated for the backend, so what
//! ran is always visible in `berth inspect`.

use serde::{Deserialize, Serialize};

use crate::quantity::ByteSize;
use crate::spec::{JobSpec, MemorySwap, Ulimit};

/// The ulimit that caps the size of one file (`RLIMIT_FSIZE`, in bytes).
pub const FSIZE: &str = "fsize";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    /// `bridge` like Docker; set `none` where jobs run untrusted code.
    pub network: String,
    /// Memory limit when the spec sets none (a secure default: no job may eat the host).
    pub memory: ByteSize,
    /// Process limit when the spec sets none (stops fork bombs).
    pub pids_limit: i64,
    /// Largest file a job may write (`RLIMIT_FSIZE`, the `fsize` ulimit) when the spec sets
    /// none: a process writing past it gets SIGXFSZ, so one file cannot fill the disk.
    pub file_size: ByteSize,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            network: "bridge".to_string(),
            memory: ByteSize::gib(2),
            pids_limit: 1024,
            file_size: ByteSize::gib(10),
        }
    }
}

impl Defaults {
    /// Fills in what `spec` leaves unset. Swap defaults to none (memory+swap = memory), so a
    /// memory limit means what it says and OOM kills are prompt.
    pub fn apply(&self, spec: &JobSpec) -> JobSpec {
        let mut s = spec.clone();
        if s.network.is_none() {
            s.network = Some(self.network.clone());
        }
        let memory = *s.resources.memory.get_or_insert(self.memory);
        if s.resources.memory_swap.is_none() {
            s.resources.memory_swap = Some(MemorySwap::Limit(memory));
        }
        if s.resources.pids_limit.is_none() {
            s.resources.pids_limit = Some(self.pids_limit);
        }
        if !s.resources.ulimits.iter().any(|u| u.name == FSIZE) {
            let bytes = i64::try_from(self.file_size.0).unwrap_or(i64::MAX);
            s.resources.ulimits.push(Ulimit { name: FSIZE.to_string(), soft: bytes, hard: bytes });
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_only_gaps() {
        let d = Defaults::default();
        let mut spec = JobSpec::new("busybox");
        spec.resources.memory = Some(ByteSize::mib(64));
        let eff = d.apply(&spec);
        assert_eq!(eff.network.as_deref(), Some("bridge"));
        assert_eq!(eff.resources.memory, Some(ByteSize::mib(64)));
        assert_eq!(eff.resources.memory_swap, Some(MemorySwap::Limit(ByteSize::mib(64))));
        assert_eq!(eff.resources.pids_limit, Some(1024));
        let fsize = Ulimit { name: FSIZE.into(), soft: 10 << 30, hard: 10 << 30 };
        assert_eq!(eff.resources.ulimits, [fsize]);
        assert_eq!(d.apply(&eff), eff);
    }
}
