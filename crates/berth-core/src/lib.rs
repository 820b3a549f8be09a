//! berth's domain model and seams: the job spec and its validation, the job lifecycle,
//! and the `Store`, `Backend` and `Clock` traits that engines, stores and backends meet at.
//!
//! This crate does no IO: no tokio, no database, no Docker. Everything here is pure and
//! unit-tested; the crates around it plug real implementations into the traits.

pub mod access;
pub mod backend;
pub mod capabilities;
pub mod clock;
pub mod defaults;
pub mod fake_backend;
pub mod ids;
pub mod logcap;
pub mod output_tar;
pub mod parse;
pub mod policy;
pub mod quantity;
pub mod redact;
pub mod retry;
pub mod schedule;
pub mod secrets;
pub mod spec;
pub mod spec_load;
pub mod status;
pub mod stdout_events;
pub mod store;
pub mod validate;
pub mod vault;
pub mod volumes;

pub use ids::JobId;
pub use spec::JobSpec;
pub use status::{JobStatus, Reason};
