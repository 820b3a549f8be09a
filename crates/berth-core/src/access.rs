//! The server's share of the store: tenants, hashed API tokens, the audit log, and the
//! webhook outbox (deliveries are written in the same transaction as the terminal status,
//! so a crash can delay a webhook but never lose it).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::ids::JobId;
use crate::store::StoreResult;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TenantRecord {
    pub name: String,
    /// Signs this tenant's webhook bodies.
    pub webhook_secret: String,
    /// Most jobs of this tenant starting or running at once; `None` is unlimited.
    pub max_running: Option<u32>,
    /// Overrides of the server policy for this tenant (a patch: only what differs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<serde_json::Value>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct TokenRecord {
    /// A short public id, used to list and revoke (the secret itself is never stored).
    pub id: String,
    pub name: String,
    pub tenant: String,
    pub admin: bool,
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<i64>)]
    pub revoked_at: Option<Timestamp>,
}

/// One state-changing action: an API call, or a container created or removed.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub at: Timestamp,
    /// `token:<id>`, `anonymous`, or `berth` for the runner's own actions.
    pub actor: String,
    pub tenant: Option<String>,
    /// e.g. `POST /v1/jobs`, `container.create`.
    pub action: String,
    pub target: Option<String>,
    /// An HTTP status, `ok`, or an error message.
    pub outcome: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    #[schema(value_type = i64)]
    pub at: Timestamp,
    pub actor: String,
    pub tenant: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// Gave up after the last retry.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// One webhook call to make (or made) for a job's terminal status.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Delivery {
    pub id: i64,
    #[schema(value_type = String)]
    pub job_id: JobId,
    pub tenant: String,
    pub url: String,
    /// The JSON body, fixed when the delivery is queued so every retry signs the same bytes.
    pub body: String,
    pub state: DeliveryState,
    /// Calls made so far.
    pub tries: u32,
    #[schema(value_type = i64)]
    pub next_at: Timestamp,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<i64>)]
    pub delivered_at: Option<Timestamp>,
    /// Counts claims: the sender that claimed it last records its outcome.
    #[serde(skip)]
    pub claim: i64,
}

/// What one call of a delivery did; `retry_at` is `None` when there will be no more calls.
#[derive(Clone, Debug)]
pub struct DeliveryOutcome {
    pub at: Timestamp,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub delivered: bool,
    pub retry_at: Option<Timestamp>,
}

#[async_trait]
pub trait AccessStore: Send + Sync {
    /// The tenant, created with a fresh webhook secret if it does not exist.
    async fn ensure_tenant(&self, name: &str, at: Timestamp) -> StoreResult<TenantRecord>;
    async fn get_tenant(&self, name: &str) -> StoreResult<TenantRecord>;
    async fn set_tenant_limit(&self, name: &str, max_running: Option<u32>) -> StoreResult<()>;
    /// Replaces the tenant's policy override; `None` removes it.
    async fn set_tenant_policy(&self, name: &str, policy: Option<&serde_json::Value>) -> StoreResult<()>;
    /// Stores a token by its hash; the caller shows the secret once.
    async fn create_token(&self, token: &TokenRecord, hash: &str) -> StoreResult<()>;
    /// The live (not revoked) token with this hash.
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRecord>>;
    async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>>;
    async fn revoke_token(&self, id: &str, at: Timestamp) -> StoreResult<()>;
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()>;
    /// Newest first; `before` pages by id.
    async fn list_audit(&self, before: Option<i64>, limit: u32) -> StoreResult<Vec<AuditRecord>>;
}

/// A secret's name and times; its value is only ever read sealed (`SecretStore::sealed_secret`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SecretRecord {
    pub tenant: String,
    pub name: String,
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
    #[schema(value_type = i64)]
    pub updated_at: Timestamp,
}

/// Each tenant's secrets, stored sealed (`vault`); the store never sees a plain value.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Creates or replaces `tenant`'s secret `name`; true when it is new.
    async fn put_secret(&self, tenant: &str, name: &str, sealed: &[u8], at: Timestamp) -> StoreResult<bool>;
    async fn list_secrets(&self, tenant: &str) -> StoreResult<Vec<SecretRecord>>;
    async fn sealed_secret(&self, tenant: &str, name: &str) -> StoreResult<Option<Vec<u8>>>;
    /// True when there was one to delete.
    async fn delete_secret(&self, tenant: &str, name: &str) -> StoreResult<bool>;
}

/// When each tenant's named volume was last mounted, for retention.
#[async_trait]
pub trait VolumeUse: Send + Sync {
    /// Records that a job of `tenant` mounts its volume `name` at `at`.
    async fn touch_volume(&self, tenant: &str, name: &str, at: Timestamp) -> StoreResult<()>;
    /// Volumes no job mounted since `before`, longest unused first: (tenant, name).
    async fn stale_volumes(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<(String, String)>>;
    async fn forget_volume(&self, tenant: &str, name: &str) -> StoreResult<()>;
}

/// Which tenants pulled an image with registry credentials: a cached private image runs for
/// another tenant only after that tenant's own pull succeeds.
#[async_trait]
pub trait ImagePulls: Send + Sync {
    /// Records that `tenant` pulled the image `image_id` with its credentials at `at`.
    async fn record_private_pull(&self, tenant: &str, image_id: &str, at: Timestamp) -> StoreResult<()>;
    /// The tenants that pulled `image_id` with credentials.
    async fn private_pullers(&self, image_id: &str) -> StoreResult<Vec<String>>;
}

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Claims up to `limit` pending deliveries due at `now`, oldest first, for one sender:
    /// each is held (not due for anyone else) until `until` and gets a new `claim`. Senders
    /// on other nodes skip what one is claiming, so each call is made by one sender.
    async fn claim_deliveries(&self, now: Timestamp, until: Timestamp, limit: u32) -> StoreResult<Vec<Delivery>>;
    /// Records one call of the delivery `claim` holds; false (nothing changed) when another
    /// sender claimed it since (this one held it past `until`).
    async fn record_delivery(&self, id: i64, claim: i64, outcome: DeliveryOutcome) -> StoreResult<bool>;
    async fn list_deliveries(&self, job: &JobId) -> StoreResult<Vec<Delivery>>;
}
