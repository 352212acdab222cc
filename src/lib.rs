//! capcache: parameter counts per dtype and capacity facts for Hugging Face models, resolved once
//! through a chain of strategies and kept in an authoritative cache (`db.json` + SQLite).
//!
//! The library reads no environment variables: the binary resolves settings and passes values.

pub mod arch;
pub mod batch;
pub mod count;
pub mod dtype;
pub mod format;
pub mod id;
pub mod list;
pub mod names;
pub mod query;
pub mod record;
pub mod source;
pub mod store;
pub mod strategy;
pub mod summary;
pub mod time;
