//! Job ids: random (UUIDv4, 32 hex characters), shown in full or by a unique prefix of at
//! least 4 characters, like Docker's short ids. Random rather than time-ordered on purpose:
//! a UUIDv7's first 12 characters are its timestamp, so jobs made in the same millisecond
//! would share every short prefix people type. Listings order by `created_at` instead.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

/// The shortest prefix the CLI accepts when looking a job up.
pub const MIN_PREFIX: usize = 4;

impl JobId {
    pub fn generate() -> JobId {
        JobId(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 12-character form shown in tables.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a job id: expected 32 lowercase hex characters")]
pub struct BadJobId(pub String);

impl FromStr for JobId {
    type Err = BadJobId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(JobId(s.to_string()))
        } else {
            Err(BadJobId(s.to_string()))
        }
    }
}

/// Checks a user-typed id prefix before it reaches a query.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.len() < MIN_PREFIX {
        return Err(format!("`{prefix}` is too short: give at least {MIN_PREFIX} characters of the job id"));
    }
    if !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{prefix}` is not a job id: ids are hexadecimal"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ_early() {
        let a = JobId::generate();
        let b = JobId::generate();
        assert_eq!(a.as_str().parse::<JobId>(), Ok(a.clone()));
        assert_ne!(a.short(), b.short());
        assert_eq!(a.short().len(), 12);
        assert!(check_prefix("abc").is_err());
        assert!(check_prefix("zzzz").is_err());
        assert!(check_prefix(a.short()).is_ok());
    }
}
