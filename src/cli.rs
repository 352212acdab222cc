//! Command-line types (clap derive). No behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// capcache: parameter counts per dtype and capacity facts for Hugging Face models, from a cache.
///
/// `get` answers from the cache (a db.json, a SQLite store, or the copy built into this binary)
/// with no network.
#[derive(Debug, Parser)]
#[command(
    name = "capcache",
    version,
    about,
    long_about,
    propagate_version = true,
    after_long_help = "Examples:
  capcache get meta-llama/Llama-3.1-8B            a model's cached record
  capcache get facebook/opt-125m --json           the record as JSON, for scripts
  capcache get --json - < models.txt              many records at once, as a JSON array
  capcache env                                    which db, endpoint, token source and caches are used
  capcache resolve Qwen/Qwen3-0.6B                resolve one model from the Hub now
  capcache estimate ./config.json                 count a local config before downloading anything
  HF_TOKEN=hf_... capcache build                  the nightly job over models.txt
  capcache build --shard 2/4 --sqlite s2.sqlite   one of four machines; then `capcache merge`
  capcache discover --author RedHatAI --sort downloads --limit 20   ids from the Hub's listing

Exit codes: 0 all good; 1 some models failed or were not found; 2 usage or unusable input."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve every model of a list into the cache (the nightly job).
    ///
    /// Models whose commit is unchanged since their record was made cost one request. Each result
    /// is committed to the SQLite store as soon as it is known (a killed build resumes), and
    /// db.json is exported atomically at the end. Exit 0: all resolved; 1: some failed (the rest
    /// written); 2: unusable input.
    Build(BuildArgs),
    /// List model ids from the Hub's model listing, one a line (ready for models.txt).
    ///
    /// Filters and sort keys are the listing's own; `--limit` is the total across pages. A
    /// `discover: QUERY` line in models.txt (or `build --discover QUERY`) adds the same models to a
    /// build. Exit 0: listed; 1: the listing failed; 2: usage.
    Discover(DiscoverArgs),
    /// Show models' cached facts (no network).
    ///
    /// Looks in --db (a .json or SQLite file), else $CAPCACHE_DB, else ./db.json, else the copy
    /// built into this binary. Ids match ignoring case, as on the Hub. With --json, one id prints
    /// one object (the record with an added "id" field, or an error object {"id", "error",
    /// "message", ...} when there is no record); several ids, or `-`, print an array of those in
    /// the order asked. Exit 0: every id found; 1: some not found; 2: some not a model id.
    Get {
        /// Model ids, `org/name`; `-` reads ids from stdin (one a line, `#` comments, as models.txt).
        #[arg(required = true, value_name = "MODEL")]
        models: Vec<String>,
        /// Print JSON.
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
    /// Count a local config.json, or a model folder's, with the config strategy (nothing is downloaded).
    Estimate {
        /// Path to a config.json, or a model folder holding one.
        config: PathBuf,
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
        /// Also list the parameter tensors the architecture has.
        #[arg(long)]
        tensors: bool,
    },
    /// Merge several stores (SQLite files from sharded builds, or db.json files) into one db.json.
    ///
    /// For each model the newest record wins (by resolved_at); models whose records disagree are
    /// reported. Streams: memory stays bounded whatever the stores' sizes.
    Merge {
        /// SQLite stores or db.json files.
        #[arg(required = true, value_name = "STORE")]
        inputs: Vec<PathBuf>,
        /// The db.json to write.
        #[arg(long, default_value = "db.json", value_name = "PATH")]
        db: PathBuf,
        /// Print what was written, and the conflicts, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a SQLite store to db.json, atomically (streamed, in bounded memory).
    Export {
        /// The store to read.
        #[arg(long, default_value = "capcache.sqlite", value_name = "PATH")]
        sqlite: PathBuf,
        /// The db.json to write.
        #[arg(long, default_value = "db.json", value_name = "PATH")]
        db: PathBuf,
        /// Print what was written as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import a db.json into a SQLite store (streamed, in bounded memory).
    ///
    /// Records and failures the store lacks are added; those it has are kept.
    Import {
        /// The db.json to read.
        #[arg(long, default_value = "db.json", value_name = "PATH")]
        db: PathBuf,
        /// The SQLite store to add to (created if missing).
        #[arg(long, default_value = "capcache.sqlite", value_name = "PATH")]
        sqlite: PathBuf,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the settings capcache runs with: version, the db it reads (its age and record count),
    /// the Hub endpoint, where the token comes from (never the token), the cache folders.
    Env {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Install the newest published db for this user (from a Hugging Face dataset repository).
    ///
    /// Reads the repository's commit first: an unchanged publication downloads nothing more. A new
    /// db.json is installed only if it matches db.json.sha256, every record passes the store checks,
    /// and it is no older than the installed one; then atomically, in $XDG_DATA_HOME/capcache/ (else
    /// ~/.local/share/capcache/). Read commands without --db answer from it before the copy built
    /// into capcache (after $CAPCACHE_DB and ./db.json). Exit 0: installed or unchanged; 2: refused
    /// or unreachable (the installed db is kept).
    Update(UpdateArgs),
    /// What changed between two db.json files: models added, removed, and changed.
    ///
    /// For each changed id: its total, strategy and revision before and after, and the names of
    /// other fields that changed (`resolved_at` alone is no change). A record that went from exact
    /// to an estimate is flagged as a regression. Markdown by default (the nightly's CHANGES.md);
    /// --json prints {"added": [ids], "removed": [ids], "changed": [{"id", "total": {"old", "new"},
    /// "strategy", "revision", "exact", "regression", "fields"}], "regressions": N}. Exit 0.
    Diff {
        /// The older db.json.
        old: PathBuf,
        /// The newer db.json.
        new: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (e.g. `capcache completions bash > ~/.local/share/bash-completion/completions/capcache`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff), or write every page into a folder.
    ///
    /// `capcache man` prints capcache(1), `capcache man build` prints capcache-build(1) with all of
    /// that command's options, and `capcache man --dir ~/.local/share/man/man1` writes capcache.1 and
    /// one capcache-COMMAND.1 per command.
    Man {
        /// The command whose page to print (the top page when absent).
        #[arg(value_name = "COMMAND", conflicts_with = "dir")]
        command: Option<String>,
        /// Write every page into this folder instead of printing one.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Write a static web site of the cache into OUT: a catalog to search and a page per model
    /// (`index.html?model=ORG/NAME`) with a GPU memory calculator.
    ///
    /// HTML, CSS and JavaScript only: no server, no external URL. Open OUT/index.html from the file
    /// system, or serve OUT as it is (GitHub Pages). An earlier site in OUT is replaced; any
    /// other non-empty folder is refused.
    Site {
        /// The folder to write (created when missing).
        out: PathBuf,
        /// Print what was written as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArg,
    },
}

/// `capcache build` flags.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The model list: one `org/name[@revision]` a line, `discover: QUERY` lines, `#` comments.
    #[arg(long, default_value = "models.txt", value_name = "PATH")]
    pub models: PathBuf,
    /// Also build the models a Hub listing query selects (repeatable), e.g.
    /// `author=RedHatAI&sort=downloads&limit=500`. Keys: author, search, filter, pipeline_tag,
    /// apps, gated, sort, limit.
    #[arg(long, value_name = "QUERY")]
    pub discover: Vec<String>,
    /// The db.json to export to.
    #[arg(long, default_value = "db.json", value_name = "PATH")]
    pub db: PathBuf,
    /// A db.json (or SQLite store) whose records and failures of this shard the store lacks are
    /// loaded (streamed) before building, so a fresh store starts from the last published cache
    /// [default: --db, when it exists].
    #[arg(long, value_name = "PATH")]
    pub seed: Option<PathBuf>,
    /// Trust the seed's records as checked: a model whose commit is unchanged keeps its seeded
    /// record without being resolved again. Without it, each seeded record is resolved once (the
    /// seed is a file anyone may have written; a record can lie consistently).
    #[arg(long)]
    pub trust_seed: bool,
    /// The SQLite working store.
    #[arg(long, default_value = "capcache.sqlite", value_name = "PATH")]
    pub sqlite: PathBuf,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Models resolved in parallel (1 to 256).
    #[arg(long, default_value_t = 8, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub jobs: usize,
    /// Re-resolve every model, even those whose commit is unchanged.
    #[arg(long, conflicts_with = "max_age")]
    pub refresh: bool,
    /// Re-resolve models last resolved longer ago than this (`12h`, `7d`, `2w`).
    #[arg(long, value_name = "DUR")]
    pub max_age: Option<String>,
    /// Build only shard K of N (1-based; a stable hash partition of the list).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Remove cached models that are no longer in the list (of this shard).
    #[arg(long)]
    pub prune: bool,
    /// Stop starting new models after the first failure.
    #[arg(long)]
    pub fail_on_error: bool,
    /// Export db.json after every N finished models too (0: only at the end).
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub export_every: usize,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// The time to stamp on new records (RFC 3339 UTC), for reproducible builds.
    #[arg(long, hide = true, value_name = "TIME")]
    pub now: Option<String>,
}

/// Where to read the cache from.
/// `capcache update` flags.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The dataset repository the nightly publishes to.
    #[arg(long, value_name = "ORG/NAME", default_value = DEFAULT_UPDATE_REPO)]
    pub repo: String,
    /// The repository's branch, tag or commit.
    #[arg(long, default_value = "main", value_name = "REV")]
    pub revision: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub hub: HubArgs,
}

/// Where the nightly publishes the db (README, "Fresh facts").
pub const DEFAULT_UPDATE_REPO: &str = "capcache/capcache-db";

#[derive(Debug, Args)]
pub struct DbArg {
    /// A db.json or SQLite store [default: $CAPCACHE_DB, else ./db.json, else the built-in copy].
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// `capcache discover` flags: the listing's filters and sort.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Models of this user or organization.
    #[arg(long, value_name = "NAME")]
    pub author: Option<String>,
    /// Models whose id contains this text.
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Models with this tag (repeatable; all must match), e.g. `gguf`, `license:apache-2.0`.
    #[arg(long, value_name = "TAG")]
    pub filter: Vec<String>,
    /// Models with this pipeline tag, e.g. `text-generation`.
    #[arg(long, value_name = "TAG")]
    pub pipeline_tag: Option<String>,
    /// Models an app supports, e.g. `vllm` (repeatable).
    #[arg(long, value_name = "APP")]
    pub apps: Vec<String>,
    /// Only gated (`true`) or only open (`false`) models.
    #[arg(long, value_name = "true|false")]
    pub gated: Option<String>,
    /// Most first by: downloads, likes, trendingScore, lastModified or createdAt.
    #[arg(long, value_name = "KEY")]
    pub sort: Option<String>,
    /// Models to list in all, across pages (at most 10000).
    #[arg(long, value_name = "N")]
    pub limit: Option<String>,
    /// Print a JSON array of the entries (id, commit, downloads, likes, tags, the Hub's parameter
    /// counts, ...).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub hub: HubArgs,
}

/// Where model files come from.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// `hub` for the Hugging Face Hub, or a folder of models (HF cache layout or `{org}/{name}/`).
    #[arg(long, default_value = "hub", value_name = "hub|DIR")]
    pub source: String,
    #[command(flatten)]
    pub hub: HubArgs,
}

/// How to reach the Hub.
#[derive(Debug, Args)]
pub struct HubArgs {
    /// Hub endpoint [default: $HF_ENDPOINT, else https://huggingface.co].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Access token [default: $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN, else the file at
    /// $HF_TOKEN_PATH, else $HF_HOME/token; none of those with HF_HUB_DISABLE_IMPLICIT_TOKEN=1].
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Requests in flight per host (1 to 256).
    #[arg(long, default_value_t = 32, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub max_in_flight: usize,
    /// Attempts per request for transient errors (429, 5xx, resets, timeouts), the first included
    /// (1 to 20).
    #[arg(long, default_value_t = 5, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(1..=20))]
    pub attempts: u32,
    /// Send the token over plain http:// to an endpoint that is not loopback (refused without
    /// this: anyone on the way could read it).
    #[arg(long)]
    pub allow_insecure_token: bool,
    /// Speak HTTP/2 from the first byte to a plain http:// endpoint (h2c, for benchmarks behind
    /// an HTTP/2 front; https negotiates HTTP/2 by itself).
    #[arg(long, hide = true)]
    pub http2_prior_knowledge: bool,
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
    /// Allow the last resort: download the weight files into the Hugging Face cache and count
    /// them there (for repos that cannot be read by range). Never on by default.
    #[arg(long)]
    pub allow_download: bool,
    /// Refuse downloads larger than this many bytes (checked before any byte is fetched).
    #[arg(long, default_value_t = 20_000_000_000, value_name = "BYTES")]
    pub max_download_bytes: u64,
    /// Remove the files this run downloaded once they are counted (never files already cached).
    #[arg(long, requires = "allow_download")]
    pub delete_after_download: bool,
    /// The GGUF file to read when a repo has several quantizations (part of its name, e.g.
    /// Q4_K_M) [default: the highest precision present].
    #[arg(long, value_name = "NAME")]
    pub gguf: Option<String>,
    /// Wall-clock limit per model, every request and retry included (`90s`, `5m`; `0` for none).
    /// A model over it fails with `timeout`; the run goes on.
    #[arg(long, default_value = "120s", value_name = "DUR")]
    pub model_timeout: String,
    /// Bytes read per model at most, across all its files, shards and split parts (`256MiB`,
    /// `1GB`, a plain number of bytes). A model over it fails with `too-large`; the run goes on.
    #[arg(long, default_value = "256MiB", value_name = "SIZE")]
    pub max_model_bytes: String,
}
