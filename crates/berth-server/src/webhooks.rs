//! Webhook delivery from the outbox: each due delivery is POSTed with its fixed JSON body,
//! signed with the tenant's secret (`Berth-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">`), and retried with exponential backoff and jitter until a 2xx or the last
//! try. Every call's outcome is recorded on the delivery. Deliveries are claimed for one
//! sender at a time, so servers sharing a store call each webhook once (retries excepted).

use std::time::Duration;

use berth_core::clock::Timestamp;
use berth_core::secrets::sign_webhook;
use berth_core::store::{Delivery, DeliveryOutcome};

use crate::state::AppState;

const POLL: Duration = Duration::from_millis(500);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries claimed at once.
const BATCH: u32 = 20;

/// How long a claim of `n` deliveries holds them: every call may take its whole timeout, and
/// then some. A sender that dies holding them delays them by this much, no more.
fn hold(n: u32) -> Duration {
    CALL_TIMEOUT * (n + 1) + Duration::from_secs(30)
}

/// Longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

pub async fn run(state: AppState) {
    let client = match reqwest::Client::builder().timeout(CALL_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => return tracing::error!("webhooks disabled: cannot build an HTTP client: {e}"),
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = state.shutdown.cancelled() => return,
        }
        let now = state.runner.clock().now();
        let until = Timestamp(now.0 + hold(BATCH).as_millis() as i64);
        let due = match state.runner.store().claim_deliveries(now, until, BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("reading the webhook outbox failed: {e}");
                continue;
            }
        };
        for d in due {
            let outcome = deliver(&state, &client, &d).await;
            match state.runner.store().record_delivery(d.id, d.claim, outcome).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("webhook delivery {} was claimed by another sender meanwhile", d.id),
                Err(e) => tracing::warn!("recording webhook delivery {} failed: {e}", d.id),
            }
        }
    }
}

async fn deliver(state: &AppState, client: &reqwest::Client, d: &Delivery) -> DeliveryOutcome {
    let (status, error) = match call(state, client, d).await {
        Ok(code) => (Some(code), None),
        Err(e) => (None, Some(e)),
    };
    let at = state.runner.clock().now();
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let tries = d.tries + 1;
    let retry_at = (!delivered && tries < state.config.webhook_max_tries)
        .then(|| Timestamp(at.0 + backoff(state.config.webhook_backoff, tries).as_millis() as i64));
    let error = error.or_else(|| (!delivered).then(|| format!("the receiver answered {}", status.unwrap_or(0))));
    DeliveryOutcome { at, status, error, delivered, retry_at }
}

async fn call(state: &AppState, client: &reqwest::Client, d: &Delivery) -> Result<u16, String> {
    // A read per call; only a tenant that never had a token (e.g. `local`) is created here.
    let store = &state.runner.store();
    let tenant = match store.get_tenant(&d.tenant).await {
        Err(berth_core::store::StoreError::NotFound(_)) => {
            store.ensure_tenant(&d.tenant, state.runner.clock().now()).await
        }
        found => found,
    }
    .map_err(|e| e.to_string())?;
    let now = state.runner.clock().now();
    let signature = sign_webhook(&tenant.webhook_secret, now.0 / 1000, d.body.as_bytes());
    let event = serde_json::from_str::<serde_json::Value>(&d.body)
        .ok()
        .and_then(|v| v["event"].as_str().map(str::to_string))
        .unwrap_or_default();
    let response = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("berth/", env!("CARGO_PKG_VERSION")))
        .header("berth-signature", signature)
        .header("berth-delivery", d.id.to_string())
        .header("berth-event", event)
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    Ok(response.status().as_u16())
}

/// `base * 2^(tries-1)`, capped, plus up to 10% jitter so retries of many hooks spread out.
pub fn backoff(base: Duration, tries: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << (tries.saturating_sub(1)).min(20)).min(MAX_BACKOFF);
    let jitter_ms = (uuid::Uuid::new_v4().as_u128() % 1000) as u64 * exp.as_millis() as u64 / 10_000;
    exp + Duration::from_millis(jitter_ms)
}
