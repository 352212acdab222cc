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
    /// Resolve one model now through the strategy chain, print its record, write nothing.
    ///
    /// Exits 0 when a strategy answered, 1 when none could (each strategy's outcome is printed).
    Resolve {
        /// Model id, `org/name`.
        model: String,
        /// Branch, tag or commit to read.
        #[arg(long, default_value = "main")]
        revision: String,
        /// Print the record as JSON (with an added "id" field), as `get --json` does.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Count a local config.json with the config strategy (nothing is downloaded).
    Estimate {
        /// Path to a config.json.
        config: PathBuf,
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
        /// Also list the parameter tensors the architecture has.
        #[arg(long)]
        tensors: bool,
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

/// Where model files come from.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// `hub` for the Hugging Face Hub, or a folder of models (HF cache layout or `{org}/{name}/`).
    #[arg(long, default_value = "hub", value_name = "hub|DIR")]
    pub source: String,
    /// Hub endpoint [default: $HF_ENDPOINT, else https://huggingface.co].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Access token [default: $HF_TOKEN, else the file at $HF_TOKEN_PATH, else $HF_HOME/token].
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Requests in flight per host.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub max_in_flight: usize,
}

/// Which strategies to run.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// Strategies to try, in order, comma-separated [default: all but download].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub strategies: Option<Vec<String>>,
    /// When the Hub metadata answers, also read the safetensors headers and compare.
    #[arg(long)]
    pub verify: bool,
}
