//! `SecretStore`, `VolumeUse` and `ImagePulls`, written once for both stores: sealed values,
//! when volumes were last mounted, and who pulled a private image, keyed by tenant.

#[macro_export]
macro_rules! impl_secret_store {
    ($store:ty) => {
        const _: () = {
            use ::async_trait::async_trait;
            use ::berth_core::clock::Timestamp;
            use ::berth_core::store::{SecretRecord, SecretStore, StoreResult};
            use $crate::db_err;
            use sqlx::Row;

            #[async_trait]
            impl SecretStore for $store {
                async fn put_secret(&self, tenant: &str, name: &str, sealed: &[u8], at: Timestamp) -> StoreResult<bool> {
                    let _writer = self.writer().await;
                    let existed = self.sealed_secret(tenant, name).await?.is_some();
                    sqlx::query(
                        "INSERT INTO secrets (tenant, name, sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
                         ON CONFLICT (tenant, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                    )
                    .bind(tenant)
                    .bind(name)
                    .bind(sealed)
                    .bind(at.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(!existed)
                }

                async fn list_secrets(&self, tenant: &str) -> StoreResult<Vec<SecretRecord>> {
                    let rows = sqlx::query(
                        "SELECT tenant, name, created_at, updated_at FROM secrets WHERE tenant = $1 ORDER BY name",
                    )
                    .bind(tenant)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    rows.iter()
                        .map(|r| {
                            Ok(SecretRecord {
                                tenant: r.try_get("tenant").map_err(db_err)?,
                                name: r.try_get("name").map_err(db_err)?,
                                created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
                                updated_at: Timestamp(r.try_get("updated_at").map_err(db_err)?),
                            })
                        })
                        .collect()
                }

                async fn sealed_secret(&self, tenant: &str, name: &str) -> StoreResult<Option<Vec<u8>>> {
                    sqlx::query_scalar("SELECT sealed FROM secrets WHERE tenant = $1 AND name = $2")
                        .bind(tenant)
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)
                }

                async fn delete_secret(&self, tenant: &str, name: &str) -> StoreResult<bool> {
                    let _writer = self.writer().await;
                    let done = sqlx::query("DELETE FROM secrets WHERE tenant = $1 AND name = $2")
                        .bind(tenant)
                        .bind(name)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(done.rows_affected() > 0)
                }
            }
        };
    };
}

#[macro_export]
macro_rules! impl_volume_use {
    ($store:ty) => {
        const _: () = {
            use ::async_trait::async_trait;
            use ::berth_core::clock::Timestamp;
            use ::berth_core::store::{StoreResult, VolumeUse};
            use $crate::db_err;

            #[async_trait]
            impl VolumeUse for $store {
                async fn touch_volume(&self, tenant: &str, name: &str, at: Timestamp) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    sqlx::query(
                        "INSERT INTO volume_use (tenant, name, last_used_at) VALUES ($1, $2, $3)
                         ON CONFLICT (tenant, name) DO UPDATE SET last_used_at = excluded.last_used_at",
                    )
                    .bind(tenant)
                    .bind(name)
                    .bind(at.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(())
                }

                async fn stale_volumes(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<(String, String)>> {
                    sqlx::query_as(
                        "SELECT tenant, name FROM volume_use WHERE last_used_at < $1 ORDER BY last_used_at LIMIT $2",
                    )
                    .bind(before.0)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)
                }

                async fn forget_volume(&self, tenant: &str, name: &str) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    sqlx::query("DELETE FROM volume_use WHERE tenant = $1 AND name = $2")
                        .bind(tenant)
                        .bind(name)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }
            }
        };
    };
}

#[macro_export]
macro_rules! impl_image_pulls {
    ($store:ty) => {
        const _: () = {
            use ::async_trait::async_trait;
            use ::berth_core::clock::Timestamp;
            use ::berth_core::store::{ImagePulls, StoreResult};
            use $crate::db_err;

            #[async_trait]
            impl ImagePulls for $store {
                async fn record_private_pull(&self, tenant: &str, image_id: &str, at: Timestamp) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    sqlx::query(
                        "INSERT INTO private_images (image_id, tenant, pulled_at) VALUES ($1, $2, $3)
                         ON CONFLICT (image_id, tenant) DO UPDATE SET pulled_at = excluded.pulled_at",
                    )
                    .bind(image_id)
                    .bind(tenant)
                    .bind(at.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(())
                }

                async fn private_pullers(&self, image_id: &str) -> StoreResult<Vec<String>> {
                    sqlx::query_scalar("SELECT tenant FROM private_images WHERE image_id = $1 ORDER BY tenant")
                        .bind(image_id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)
                }
            }
        };
    };
}
