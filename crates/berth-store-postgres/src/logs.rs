//! `LogStore` on PostgreSQL: output chunks and events, each ordered by a per-job sequence number.

use async_trait::async_trait;
use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::store::{EventRecord, LogChunk, LogStore, StoreResult};

use crate::jobs::{insert_event, lock_job};
use crate::rows;
use crate::{PgStore, db_err};

#[async_trait]
impl LogStore for PgStore {
    async fn append_logs(&self, id: &JobId, chunks: &[LogChunk]) -> StoreResult<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for c in chunks {
            sqlx::query(
                "INSERT INTO log_chunks (job_id, seq, attempt, stream, at, data) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (job_id, seq) DO UPDATE SET data = excluded.data, at = excluded.at",
            )
            .bind(id.as_str())
            .bind(c.seq)
            .bind(i64::from(c.attempt))
            .bind(c.stream.as_i64())
            .bind(c.at.0)
            .bind(&c.data)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn delete_logs(&self, id: &JobId, seqs: &[i64]) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for seq in seqs {
            sqlx::query("DELETE FROM log_chunks WHERE job_id = $1 AND seq = $2")
                .bind(id.as_str())
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn read_logs(&self, id: &JobId, after: i64, limit: u32) -> StoreResult<Vec<LogChunk>> {
        let found = sqlx::query(
            "SELECT seq, attempt, stream, at, data FROM log_chunks WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(id.as_str())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        found.iter().map(rows::log_chunk).collect()
    }

    async fn next_log_seq(&self, id: &JobId) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), -1) + 1 FROM log_chunks WHERE job_id = $1")
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn append_event(&self, id: &JobId, kind: &str, data: serde_json::Value, at: Timestamp) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_job(&mut tx, id).await?;
        let seq = insert_event(&mut tx, id, kind, &data, at).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(seq)
    }

    async fn read_events(&self, id: &JobId, after: i64, limit: u32) -> StoreResult<Vec<EventRecord>> {
        let found =
            sqlx::query("SELECT seq, at, kind, data FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
                .bind(id.as_str())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        found.iter().map(rows::event).collect()
    }
}
