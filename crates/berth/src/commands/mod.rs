//! One file per command; each is a thin adapter from flags to the engine and store, or (the
//! job verbs) to `jobs::Jobs`, which is the store in this process or a server.

pub mod attach;
pub mod cancel;
pub mod cp;
pub mod exec;
pub mod gc;
pub mod inspect;
pub mod logs;
pub mod node;
pub mod policy;
pub mod ps;
pub mod remote;
pub mod rm;
pub mod run;
pub mod schedule;
pub mod secret;
pub mod server;
pub mod shell;
pub mod token;
pub mod volume;
pub mod wait;
pub mod worker;
pub mod workers;
