//! berth's AWS ECS backend, being built (issue 13; the plan is docs/design/ecs-backend.md).
//! This step is its pure core: `translate` (a spec's task definition shape and RunTask
//! input, snapshot-tested), `fargate` (task sizes), `support` (the refusals at submit) and
//! `settings` (`[backends.ecs]`). The API calls and the fake ECS server come next.

pub mod fargate;
pub mod settings;
pub mod support;
pub mod translate;

pub use settings::Settings;
