//! The store conformance suite against a real PostgreSQL (`BERTH_TEST_PG`, started by
//! `scripts/test`), one fresh schema per case. `scripts/test` recreates the test database
//! before every run, so the schemas are not dropped here.

use std::sync::Arc;

use berth_core::store::Store;

use crate::PgStore;

#[allow(clippy::disallowed_methods)] // test set-up: scripts/test exports the URL
pub(crate) fn test_url() -> String {
    std::env::var("BERTH_TEST_PG").expect("BERTH_TEST_PG is not set: run the tests through scripts/test")
}

async fn store() -> (String, Arc<dyn Store>) {
    let url = test_url();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let s = PgStore::open_in_schema(&url, &name).await.unwrap();
    (name, Arc::new(s))
}

berth_store_sql::conformance_tests!(store);

#[tokio::test]
async fn a_bad_url_says_what_is_expected() {
    let err = PgStore::open("mysql://x").await.unwrap_err().to_string();
    assert!(err.contains("expected postgres://user:password@host:5432/db"), "{err}");
    let err = PgStore::open("postgres://nobody:secret@127.0.0.1:1/db").await.unwrap_err().to_string();
    assert!(err.contains("cannot connect to PostgreSQL at 127.0.0.1:1/db") && !err.contains("secret"), "{err}");
}
