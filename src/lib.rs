//! capcache: parameter counts per dtype and capacity facts for Hugging Face models, resolved once
//! through a chain of strategies and kept in an authoritative cache (`db.json` + SQLite).
//!
//! The library reads no environment variables: the command line ([`cmd`], feature `cli`, shared by
//! the binary and the Python package) resolves settings and passes values.

// The command line's modules name the library `capcache::`, as the binary once did.
#[cfg(feature = "cli")]
extern crate self as capcache;

pub mod arch;
pub mod batch;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod cmd;
pub mod count;
pub mod diff;
pub mod discover;
pub mod dtype;
pub mod file;
pub mod fnv;
pub mod format;
pub mod id;
pub mod list;
pub mod names;
pub mod record;
pub mod site;
pub mod source;
pub mod stale;
pub mod store;
pub mod strategy;
pub mod summary;
pub mod text;
pub mod time;
pub mod update;
