//! The store traits whose SQL is the same on SQLite and PostgreSQL (tenants, tokens, audit,
//! webhook deliveries, the container ledger, the worker registry), written once. Each macro
//! implements them for a store type with a `pool` field and a `writer()` method (SQLite's
//! in-process writer lock; a no-op on PostgreSQL). Only what differs between the dialects
//! (claims, fencing, listing, logs) is written per store.

#[macro_export]
macro_rules! impl_access_store {
    ($store:ty) => {
        const _: () = {
            use ::async_trait::async_trait;
            use ::berth_core::clock::Timestamp;
            use ::berth_core::ids::JobId;
            use ::berth_core::secrets::new_secret;
            use ::berth_core::store::{
                AccessStore, AuditEntry, AuditRecord, Delivery, DeliveryOutcome, DeliveryState, Outbox, StoreError, StoreResult,
                TenantRecord, TokenRecord,
            };
            use $crate as rows;
            use $crate::db_err;

            #[async_trait]
            impl AccessStore for $store {
                async fn ensure_tenant(&self, name: &str, at: Timestamp) -> StoreResult<TenantRecord> {
                    let _writer = self.writer().await;
                    sqlx::query("INSERT INTO tenants (name, webhook_secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
                        .bind(name)
                        .bind(new_secret())
                        .bind(at.0)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    self.get_tenant(name).await
                }

                async fn get_tenant(&self, name: &str) -> StoreResult<TenantRecord> {
                    let row = sqlx::query("SELECT * FROM tenants WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or_else(|| StoreError::NotFound(format!("tenant {name}")))?;
                    rows::tenant(&row)
                }

                async fn set_tenant_limit(&self, name: &str, max_running: Option<u32>) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    let done = sqlx::query("UPDATE tenants SET max_running = $2 WHERE name = $1")
                        .bind(name)
                        .bind(max_running.map(i64::from))
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound(format!("tenant {name}")));
                    }
                    Ok(())
                }

                async fn set_tenant_policy(&self, name: &str, policy: Option<&serde_json::Value>) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    let done = sqlx::query("UPDATE tenants SET policy = $2 WHERE name = $1")
                        .bind(name)
                        .bind(policy.map(|p| p.to_string()))
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound(format!("tenant {name}")));
                    }
                    Ok(())
                }

                async fn create_token(&self, t: &TokenRecord, hash: &str) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    sqlx::query("INSERT INTO tokens (id, hash, name, tenant, admin, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(&t.id)
                        .bind(hash)
                        .bind(&t.name)
                        .bind(&t.tenant)
                        .bind(t.admin)
                        .bind(t.created_at.0)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
                    let row = sqlx::query("SELECT * FROM tokens WHERE hash = $1 AND revoked_at IS NULL")
                        .bind(hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?;
                    row.as_ref().map(rows::token).transpose()
                }

                async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
                    let found =
                        sqlx::query("SELECT * FROM tokens ORDER BY created_at, id").fetch_all(&self.pool).await.map_err(db_err)?;
                    found.iter().map(rows::token).collect()
                }

                async fn revoke_token(&self, id: &str, at: Timestamp) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    let done = sqlx::query("UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                        .bind(id)
                        .bind(at.0)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound(format!("token {id}")));
                    }
                    Ok(())
                }

                async fn append_audit(&self, e: AuditEntry) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    sqlx::query("INSERT INTO audit (at, actor, tenant, action, target, outcome) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(e.at.0)
                        .bind(&e.actor)
                        .bind(&e.tenant)
                        .bind(&e.action)
                        .bind(&e.target)
                        .bind(&e.outcome)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn list_audit(&self, before: Option<i64>, limit: u32) -> StoreResult<Vec<AuditRecord>> {
                    let found = sqlx::query("SELECT * FROM audit WHERE id < $1 ORDER BY id DESC LIMIT $2")
                        .bind(before.unwrap_or(i64::MAX))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    found.iter().map(rows::audit).collect()
                }
            }

            #[async_trait]
            impl Outbox for $store {
                async fn claim_deliveries(&self, now: Timestamp, until: Timestamp, limit: u32) -> StoreResult<Vec<Delivery>> {
                    let _writer = self.writer().await;
                    // One statement: rows another sender is claiming are skipped (PostgreSQL)
                    // or wait behind its write (SQLite's one writer), then no longer due.
                    let sql = format!(
                        "UPDATE deliveries SET next_at = $2, claim = claim + 1 WHERE id IN (
                             SELECT id FROM deliveries WHERE state = 'pending' AND next_at <= $1
                             ORDER BY next_at, id LIMIT $3{}) RETURNING *",
                        Self::SKIP_LOCKED
                    );
                    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(now.0)
                        .bind(until.0)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    let mut out: Vec<Delivery> = found.iter().map(rows::delivery).collect::<StoreResult<_>>()?;
                    out.sort_by_key(|d| d.id);
                    Ok(out)
                }

                async fn record_delivery(&self, id: i64, claim: i64, o: DeliveryOutcome) -> StoreResult<bool> {
                    let _writer = self.writer().await;
                    let state = match (o.delivered, o.retry_at) {
                        (true, _) => DeliveryState::Delivered,
                        (false, Some(_)) => DeliveryState::Pending,
                        (false, None) => DeliveryState::Failed,
                    };
                    let done = sqlx::query(
                        "UPDATE deliveries SET state = $2, tries = tries + 1, next_at = COALESCE($3, next_at),
                             last_status = $4, last_error = $5, delivered_at = CASE WHEN $6 THEN $7 ELSE delivered_at END
                         WHERE id = $1 AND claim = $8 AND state = 'pending'",
                    )
                    .bind(id)
                    .bind(state.as_str())
                    .bind(o.retry_at.map(|t| t.0))
                    .bind(o.status.map(i64::from))
                    .bind(&o.error)
                    .bind(o.delivered)
                    .bind(o.at.0)
                    .bind(claim)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn list_deliveries(&self, job: &JobId) -> StoreResult<Vec<Delivery>> {
                    let found = sqlx::query("SELECT * FROM deliveries WHERE job_id = $1 ORDER BY id")
                        .bind(job.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    found.iter().map(rows::delivery).collect()
                }
            }
        };
    };
}

#[macro_export]
macro_rules! impl_container_ledger {
    ($store:ty) => {
        const _: () = {
            use ::async_trait::async_trait;
            use ::berth_core::ids::JobId;
            use ::berth_core::store::{ContainerEvent, ContainerLedger, ContainerPhase, ContainerRow, StoreResult};
            use ::sqlx::AssertSqlSafe;
            use $crate as rows;
            use $crate::db_err;

            #[async_trait]
            impl ContainerLedger for $store {
                async fn record_container(&self, e: ContainerEvent) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    let sql = $crate::ledger_upsert(e.phase);
                    sqlx::query(AssertSqlSafe(sql))
                        .bind(&e.name)
                        .bind(&e.container_id)
                        .bind(e.job_id.as_str())
                        .bind(i64::from(e.attempt))
                        .bind(&e.backend)
                        .bind(e.at.0)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    let action = match e.phase {
                        ContainerPhase::Created => "container.create",
                        ContainerPhase::Removed => "container.remove",
                        _ => return Ok(()),
                    };
                    sqlx::query($crate::LEDGER_AUDIT)
                        .bind(e.at.0)
                        .bind(e.job_id.as_str())
                        .bind(action)
                        .bind(&e.name)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn list_containers(&self, id: &JobId) -> StoreResult<Vec<ContainerRow>> {
                    let found = sqlx::query("SELECT * FROM containers WHERE job_id = $1 ORDER BY planned_at, name")
                        .bind(id.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    found.iter().map(|r| rows::container(r, id)).collect()
                }
            }
        };
    };
}

#[macro_export]
macro_rules! impl_worker_store {
    ($store:ty) => {
        const _: () = {
            use ::async_trait::async_trait;
            use ::berth_core::store::{StoreResult, WorkerRecord, WorkerStore};
            use $crate as rows;
            use $crate::{db_err, to_json};

            #[async_trait]
            impl WorkerStore for $store {
                async fn upsert_worker(&self, w: &WorkerRecord) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    sqlx::query($crate::UPSERT_WORKER)
                        .bind(&w.id)
                        .bind(&w.host)
                        .bind(&w.version)
                        .bind(i64::from(w.slots))
                        .bind(to_json(&w.queues)?)
                        .bind(to_json(&w.tags)?)
                        .bind(w.started_at.0)
                        .bind(w.heartbeat_at.0)
                        .bind(&w.state)
                        .bind(i64::from(w.running))
                        .bind(&w.breaker)
                        .bind(&w.backend)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>> {
                    let found =
                        sqlx::query("SELECT * FROM workers ORDER BY id").fetch_all(&self.pool).await.map_err(db_err)?;
                    found.iter().map(rows::worker).collect()
                }

                async fn set_queue_limit(&self, queue: &str, max_running: Option<u32>) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    let q = match max_running {
                        Some(n) => sqlx::query($crate::SET_QUEUE_LIMIT).bind(queue).bind(i64::from(n)),
                        None => sqlx::query("DELETE FROM queue_limits WHERE name = $1").bind(queue),
                    };
                    q.execute(&self.pool).await.map_err(db_err)?;
                    Ok(())
                }

                async fn queue_limits(&self) -> StoreResult<Vec<(String, u32)>> {
                    let found: Vec<(String, i64)> =
                        sqlx::query_as("SELECT name, max_running FROM queue_limits ORDER BY name")
                            .fetch_all(&self.pool)
                            .await
                            .map_err(db_err)?;
                    Ok(found.into_iter().map(|(n, m)| (n, m as u32)).collect())
                }
            }
        };
    };
}

/// `OutputStore`: results and artifacts with their bytes (a BLOB or BYTEA column), so any
/// node serves them. Needs `write_job(id)` (written by `impl_job_store!`): a write transaction with the job read (and on
/// PostgreSQL locked) inside it.
#[macro_export]
macro_rules! impl_output_store {
    ($store:ty) => {
        const _: () = {
            use ::async_trait::async_trait;
            use ::berth_core::ids::JobId;
            use ::berth_core::store::{Artifact, ArtifactFile, Fence, OutputStore, StoreResult};
            use $crate as rows;
            use $crate::db_err;

            #[async_trait]
            impl OutputStore for $store {
                async fn set_result(
                    &self,
                    id: &JobId,
                    fence: Option<&Fence>,
                    result: Option<serde_json::Value>,
                    artifacts: &[ArtifactFile],
                ) -> StoreResult<()> {
                    let (mut tx, job) = self.write_job(id).await?;
                    $crate::check_fence(&job, fence)?;
                    let result = result.as_ref().map($crate::to_json).transpose()?;
                    sqlx::query("UPDATE jobs SET result = $2 WHERE id = $1")
                        .bind(id.as_str())
                        .bind(&result)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    for f in artifacts {
                        let a = &f.artifact;
                        sqlx::query(
                            "INSERT INTO artifacts (job_id, attempt, name, size, data) VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (job_id, attempt, name) DO UPDATE SET size = excluded.size, data = excluded.data",
                        )
                        .bind(id.as_str())
                        .bind(i64::from(a.attempt))
                        .bind(&a.name)
                        .bind(a.size as i64)
                        .bind(&f.data[..])
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    }
                    tx.commit().await.map_err(db_err)
                }

                async fn list_artifacts(&self, id: &JobId) -> StoreResult<Vec<Artifact>> {
                    let found =
                        sqlx::query("SELECT attempt, name, size FROM artifacts WHERE job_id = $1 ORDER BY attempt, name")
                            .bind(id.as_str())
                            .fetch_all(&self.pool)
                            .await
                            .map_err(db_err)?;
                    found.iter().map(rows::artifact).collect()
                }

                async fn read_artifact(&self, id: &JobId, attempt: u32, name: &str) -> StoreResult<Option<Vec<u8>>> {
                    let found: Option<Option<Vec<u8>>> =
                        sqlx::query_scalar("SELECT data FROM artifacts WHERE job_id = $1 AND attempt = $2 AND name = $3")
                            .bind(id.as_str())
                            .bind(i64::from(attempt))
                            .bind(name)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(db_err)?;
                    Ok(found.flatten())
                }
            }
        };
    };
}
