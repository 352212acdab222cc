//! Command-line types (clap derive). No behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// capcache: parameter counts per dtype and capacity facts for Hugging Face models, from a cache.
///
/// `get` answers from the cache (a db.json, a SQLite store, or the copy built into this binary)
/// with no network.
#[derive(Debug, Parser)]
#[command(name = "capcache", version, about, long_about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show one model's cached facts (no network).
    ///
    /// Looks in --db (a .json or SQLite file), else $CAPCACHE_DB, else ./db.json, else the copy
    /// built into this binary.
    Get {
        /// Model id, `org/name`.
        model: String,
        /// Print the record as JSON (with an added "id" field).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// List cached model ids.
    List {
        /// Only ids containing this text (case-insensitive).
        filter: Option<String>,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
        /// Also list failures.
        #[arg(long)]
        failures: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Counts by strategy, exact vs estimate, and failures.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Export a SQLite store (or any database) to db.json, atomically.
    Export {
        /// The store to read.
        #[arg(long, default_value = "capcache.sqlite")]
        sqlite: PathBuf,
        /// The db.json to write.
        #[arg(long, default_value = "db.json")]
        db: PathBuf,
    },
}

/// Where to read the cache from.
#[derive(Debug, Args)]
pub struct DbArg {
    /// A db.json or SQLite store [default: $CAPCACHE_DB, else ./db.json, else the built-in copy].
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}
