//! The store conformance suite against a real SQLite file, plus what only SQLite has.

use std::sync::Arc;

use berth_core::store::{JobStore, Store};

use crate::SqliteStore;

async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("berth.db")).await.unwrap();
    (dir, Arc::new(s))
}

berth_store_sql::conformance_tests!(store);

#[tokio::test]
async fn reopening_keeps_the_install_id_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/berth.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let id = a.install_id().await.unwrap();
    drop(a);
    let b = SqliteStore::open(&path).await.unwrap();
    assert_eq!(b.install_id().await.unwrap(), id);
    assert_eq!(id.len(), 16);
}
