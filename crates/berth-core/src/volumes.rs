//! Named volumes belong to a tenant: the name a spec gives is scoped by its tenant before a
//! backend sees it, so one tenant's `cache` is never another's. The local tenant (the CLI
//! without a server) keeps plain names, as `docker run -v cache:/c` would. Likewise a
//! server tenant's `bridge` is `ISOLATED_NETWORK`, where no job reaches another's container.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::spec::{JobSpec, Mount};
use crate::store::LOCAL_TENANT;

/// Whether `name` can name a volume: Docker's rule, `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most
/// 200 characters (room for the tenant prefix).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 200
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a volume name: letters, digits, _ . - (starting with a letter or digit)"))
    }
}

/// The engine's name for `tenant`'s volume `name`: `berth-<16 hex of the tenant's
/// SHA-256>-<name>`. The prefix has a fixed length, so two tenants never share a name.
pub fn scoped_name(tenant: &str, name: &str) -> String {
    if tenant == LOCAL_TENANT {
        return name.to_string();
    }
    format!("{}{name}", prefix(tenant))
}

/// The name the tenant gave, if `scoped` is one of `tenant`'s volumes.
pub fn unscoped_name<'a>(tenant: &str, scoped: &'a str) -> Option<&'a str> {
    if tenant == LOCAL_TENANT {
        return Some(scoped);
    }
    scoped.strip_prefix(&prefix(tenant)).filter(|n| !n.is_empty())
}

fn prefix(tenant: &str) -> String {
    let digest = Sha256::digest(tenant.as_bytes());
    format!("berth-{}-", &hex::encode(digest)[..16])
}

/// The bridge network server tenants' jobs get for `bridge` (or no choice): traffic between
/// containers is off on it, so a job reaches no other job's container, any tenant's.
pub const ISOLATED_NETWORK: &str = "berth-isolated";

/// `spec` with each named volume's source scoped to `tenant`, and (for a server tenant) the
/// shared `bridge` replaced by `ISOLATED_NETWORK`.
pub fn scope(spec: &mut JobSpec, tenant: &str) {
    if tenant != LOCAL_TENANT && spec.network.as_deref().is_none_or(|n| n == "bridge") {
        spec.network = Some(ISOLATED_NETWORK.to_string());
    }
    for m in &mut spec.mounts {
        if let Mount::Volume { source, .. } = m {
            *source = scoped_name(tenant, source);
        }
    }
}

/// One of a tenant's volumes, as the backend reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VolumeInfo {
    /// The name jobs of the tenant use.
    pub name: String,
    pub tenant: String,
    /// The engine's name for it.
    pub engine_name: String,
    /// RFC 3339, as the engine reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_never_share_a_volume_name() {
        let a = scoped_name("a", "b-c");
        assert!(a.starts_with("berth-") && a.ends_with("-b-c"), "{a}");
        assert_ne!(scoped_name("a", "x"), scoped_name("b", "x"));
        assert_ne!(scoped_name("a-b", "c"), scoped_name("a", "b-c"));
        assert_eq!(scoped_name(LOCAL_TENANT, "cache"), "cache");
        assert_eq!(unscoped_name("a", &a), Some("b-c"));
        assert_eq!(unscoped_name("b", &a), None);
        assert!(check_name("cache-1.x_y").is_ok());
        for bad in ["", "-x", "a/b", "a b", "\u{8e}Q"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let mut spec =
            crate::spec_load::parse_spec("image: x\nmounts: [{type: volume, source: cache, target: /c}]").unwrap();
        scope(&mut spec, "acme");
        let Mount::Volume { source, .. } = &spec.mounts[0] else { panic!() };
        assert_eq!(source, &scoped_name("acme", "cache"));
        assert_eq!(spec.network.as_deref(), Some(ISOLATED_NETWORK));
        let mut local = crate::spec_load::parse_spec("image: x\nnetwork: bridge").unwrap();
        scope(&mut local, LOCAL_TENANT);
        assert_eq!(local.network.as_deref(), Some("bridge"), "the CLI keeps Docker's bridge");
    }
}
