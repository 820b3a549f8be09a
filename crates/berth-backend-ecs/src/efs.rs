//! Named volumes on EFS (`[backends.ecs] efs_file_system`): each tenant's volume is an EFS
//! access point of that file system, made on first use (its directory
//! `/berth/<16 hex>-<name>` created root-owned 0755, as Docker makes a volume), found again by
//! its tags, and mounted into the job by the task definition (`efsVolumeConfiguration`, TLS
//! in transit, IAM authorization when the tasks have a role). `berth volume ls/rm` list and
//! delete the access points; deleting one leaves its directory's data on the file system.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_efs::types::{CreationInfo, LifeCycleState, RootDirectory, Tag};
use berth_core::backend::{BackendError, labels};
use berth_core::volumes::VolumeInfo;
use sha2::Digest;

use berth_core::spec::{JobSpec, Mount};

use crate::aws::{self, Clients};
use crate::translate::{self, EfsAuthorization, EfsVolume, MountPoint, TaskDefinition, Volume, tag_value};

/// How long a new access point may take to become available.
const AVAILABLE_WITHIN: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Volumes {
    clients: Clients,
    file_system: String,
    /// Access point ids by the engine's (scoped) volume name.
    known: Mutex<HashMap<String, String>>,
}

fn digest(install_id: &str, scoped: &str) -> String {
    hex::encode(sha2::Sha256::digest(format!("{install_id}\0{scoped}").as_bytes()))
}

/// The access point's directory: EFS takes at most 100 characters.
pub fn root_path(install_id: &str, scoped: &str) -> String {
    let mut name: String = scoped.chars().take(70).collect();
    name.retain(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    format!("/berth/{}-{name}", &digest(install_id, scoped)[..16])
}

/// One token per volume: two workers making it at once get the same access point.
fn client_token(install_id: &str, scoped: &str) -> String {
    digest(install_id, scoped)[..64].to_string()
}

fn built<T>(r: Result<T, aws_sdk_efs::error::BuildError>) -> Result<T, BackendError> {
    r.map_err(|e| BackendError::Create(format!("an EFS access point request: {e}")))
}

impl Volumes {
    pub fn new(clients: Clients, file_system: String) -> Volumes {
        Volumes { clients, file_system, known: Mutex::default() }
    }

    pub fn file_system(&self) -> &str {
        &self.file_system
    }

    /// The access point of `tenant`'s volume `scoped`, made if it does not exist yet.
    pub async fn ensure(&self, install_id: &str, tenant: &str, scoped: &str) -> Result<String, BackendError> {
        if let Some(id) = self.known.lock().unwrap_or_else(|e| e.into_inner()).get(scoped) {
            return Ok(id.clone());
        }
        let found = self.points(install_id).await?.into_iter().find(|p| p.tag(labels::VOLUME) == Some(scoped));
        let id = match found {
            Some(p) => p.id,
            None => self.make(install_id, tenant, scoped).await?,
        };
        self.wait_available(&id).await?;
        self.known.lock().unwrap_or_else(|e| e.into_inner()).insert(scoped.to_string(), id.clone());
        Ok(id)
    }

    async fn make(&self, install_id: &str, tenant: &str, scoped: &str) -> Result<String, BackendError> {
        let creation = built(CreationInfo::builder().owner_uid(0).owner_gid(0).permissions("0755").build())?;
        let root = RootDirectory::builder().path(root_path(install_id, scoped)).creation_info(creation).build();
        let mut call = self
            .clients
            .efs
            .create_access_point()
            .client_token(client_token(install_id, scoped))
            .file_system_id(&self.file_system)
            .root_directory(root);
        let name = format!("berth {scoped}");
        for (key, value) in [
            ("Name", name.as_str()),
            (labels::MANAGED, "true"),
            (labels::INSTALL, install_id),
            (labels::TENANT, tenant),
            (labels::VOLUME, scoped),
        ] {
            call = call.tags(built(Tag::builder().key(key).value(tag_value(value)).build())?);
        }
        let out =
            call.send().await.map_err(|e| aws::refused_is_create(aws::error("making the EFS access point", e)))?;
        out.access_point_id().map(String::from).ok_or_else(|| BackendError::Create("no access point id".into()))
    }

    async fn wait_available(&self, id: &str) -> Result<(), BackendError> {
        let deadline = tokio::time::Instant::now() + AVAILABLE_WITHIN;
        loop {
            let out = self.clients.efs.describe_access_points().access_point_id(id).send().await;
            let out = out.map_err(|e| aws::error("describing the EFS access point", e))?;
            let state = out.access_points().first().and_then(|p| p.life_cycle_state().cloned());
            match state {
                Some(LifeCycleState::Available) => return Ok(()),
                Some(LifeCycleState::Creating) | None if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => {
                    let why = format!("EFS access point {id} is {other:?}, not available");
                    return Err(BackendError::Unavailable(why));
                }
            }
        }
    }

    /// The install's access points on the file system.
    async fn points(&self, install_id: &str) -> Result<Vec<Point>, BackendError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let call =
                self.clients.efs.describe_access_points().file_system_id(&self.file_system).set_next_token(token);
            let page = call.send().await.map_err(|e| aws::error("listing the EFS access points", e))?;
            for p in page.access_points() {
                let tags = p.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                let point = Point { id: p.access_point_id().unwrap_or_default().to_string(), tags };
                if point.tag(labels::INSTALL) == Some(install_id) && point.tag(labels::VOLUME).is_some() {
                    out.push(point);
                }
            }
            token = page.next_token().map(String::from);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// `tenant`'s volumes (every tenant's with `None`).
    pub async fn list(&self, install_id: &str, tenant: Option<&str>) -> Result<Vec<VolumeInfo>, BackendError> {
        let points = self.points(install_id).await?;
        let mut out = Vec::new();
        for p in points {
            let (Some(owner), Some(scoped)) = (p.tag(labels::TENANT), p.tag(labels::VOLUME)) else { continue };
            if tenant.is_some_and(|t| tag_value(t) != owner) {
                continue;
            }
            let owner = tenant.map_or(owner.to_string(), String::from);
            let name = berth_core::volumes::unscoped_name(&owner, scoped).unwrap_or(scoped).to_string();
            out.push(VolumeInfo { name, tenant: owner, engine_name: p.id.clone(), created_at: None });
        }
        Ok(out)
    }

    /// Deletes `tenant`'s volume `name` (its access point; the data stays on the file system).
    pub async fn remove(&self, install_id: &str, tenant: &str, name: &str) -> Result<(), BackendError> {
        let scoped = berth_core::volumes::scoped_name(tenant, name);
        let points = self.points(install_id).await?;
        let point = points.into_iter().find(|p| p.tag(labels::VOLUME) == Some(scoped.as_str()));
        let point = point.ok_or_else(|| BackendError::Gone(format!("volume {name}")))?;
        let call = self.clients.efs.delete_access_point().access_point_id(&point.id);
        call.send().await.map_err(|e| aws::error("deleting the EFS access point", e))?;
        self.known.lock().unwrap_or_else(|e| e.into_inner()).remove(&scoped);
        Ok(())
    }
}

/// Adds `spec`'s named volumes to `def` (`points`: each scoped name's access point) and
/// names its family anew: the volumes are part of the shape.
pub fn mount(def: &mut TaskDefinition, spec: &JobSpec, points: &HashMap<String, String>, fs: &str, iam: bool) {
    let mut k = 0;
    for m in &spec.mounts {
        let Mount::Volume { source, target, read_only } = m else { continue };
        let Some(id) = points.get(source) else { continue };
        let name = format!("efs-{k}");
        k += 1;
        def.volumes.push(Volume {
            name: name.clone(),
            efs_volume_configuration: Some(EfsVolume {
                file_system_id: fs.to_string(),
                root_directory: "/".into(),
                transit_encryption: "ENABLED".into(),
                authorization_config: EfsAuthorization {
                    access_point_id: id.clone(),
                    iam: if iam { "ENABLED" } else { "DISABLED" }.into(),
                },
            }),
        });
        if let Some(main) = def.container_definitions.iter_mut().find(|c| c.name == translate::MAIN) {
            let point = MountPoint { source_volume: name, container_path: target.clone(), read_only: *read_only };
            main.mount_points.push(point);
        }
    }
    def.family = translate::family(def);
}

struct Point {
    id: String,
    tags: Vec<(String, String)>,
}

impl Point {
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use berth_core::backend::AttemptPlan;
    use berth_core::spec::{JobSpec, Mount};

    use crate::settings::Settings;

    #[test]
    fn a_volume_is_an_efs_volume_of_the_shape_mounted_into_main_only() {
        let mut spec = JobSpec::new("busybox");
        spec.mounts = vec![Mount::Volume { source: "cache".into(), target: "/cache".into(), read_only: true }];
        let plan = AttemptPlan {
            job_id: berth_core::ids::JobId::generate(),
            attempt: 1,
            spec: spec.clone(),
            name: "berth-x-1".into(),
            install_id: "i".into(),
            owner: "o".into(),
            tenant: "local".into(),
            berth_env: BTreeMap::new(),
            stdin: false,
            secrets: Vec::new(),
        };
        let mut def = crate::translate::task_definition(&plan, &Settings::default()).unwrap();
        let plain = def.family.clone();
        let points = HashMap::from([("cache".to_string(), "fsap-1".to_string())]);
        super::mount(&mut def, &spec, &points, "fs-1", true);
        assert_ne!(def.family, plain, "the volume is part of the shape");
        let json = serde_json::to_value(&def).unwrap();
        let volume = &json["volumes"].as_array().unwrap().last().unwrap();
        assert_eq!(
            volume["efsVolumeConfiguration"],
            serde_json::json!({"fileSystemId": "fs-1", "rootDirectory": "/", "transitEncryption": "ENABLED",
                "authorizationConfig": {"accessPointId": "fsap-1", "iam": "ENABLED"}})
        );
        let mounted: Vec<&str> = json["containerDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["mountPoints"].to_string().contains("efs-0"))
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(mounted, ["main"]);
    }

    #[test]
    fn paths_and_tokens_fit_efs_limits() {
        let long = "berth-0123456789abcdef-".to_string() + &"v".repeat(200);
        let path = super::root_path("5d41402abc4b2a76b9719d911017c592", &long);
        assert!(path.len() <= 100 && path.starts_with("/berth/"), "{path}");
        assert_eq!(super::client_token("i", "cache").len(), 64);
        assert_ne!(super::root_path("i", "cache"), super::root_path("j", "cache"), "per install");
    }
}
