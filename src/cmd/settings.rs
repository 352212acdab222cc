//! Resolving flags and the environment into library settings: the Hub endpoint and token
//! (`--endpoint`/`HF_ENDPOINT`, `--token`/`HF_TOKEN`/`HF_TOKEN_PATH`/`$HF_HOME/token`), the source
//! (the Hub behind the local HF cache; the cache alone with `HF_HUB_OFFLINE`), the strategy list.
//! This is the only place capcache reads the environment.

use std::path::PathBuf;

use anyhow::{Context, bail};
use capcache::record::Strategy;
use capcache::source::Source;
use capcache::source::cached::CachedSource;
use capcache::source::hub::{HubSettings, HubSource, Token};
use capcache::source::local::LocalSource;
use capcache::strategy::{Limits, Options};

use crate::cli::{ChainArgs, HubArgs, SourceArgs};

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `$HF_HOME`, else `~/.cache/huggingface`.
pub fn hf_home() -> Option<PathBuf> {
    env("HF_HOME").map(PathBuf::from).or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface")))
}

/// The token: `--token`, `HF_TOKEN`, the file at `HF_TOKEN_PATH`, `$HF_HOME/token`.
pub fn token(flag: Option<&str>) -> Option<Token> {
    if let Some(t) = flag.filter(|t| !t.trim().is_empty()) {
        return Some(Token::new(t));
    }
    if let Some(t) = env("HF_TOKEN") {
        return Some(Token::new(t));
    }
    let file = env("HF_TOKEN_PATH").map(PathBuf::from).or_else(|| hf_home().map(|h| h.join("token")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| Token::new(t))
}

pub fn endpoint(flag: Option<&str>) -> String {
    flag.map(str::to_owned).or_else(|| env("HF_ENDPOINT")).unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned())
}

/// `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) set to a true value, as huggingface_hub reads it.
pub fn offline() -> bool {
    env("HF_HUB_OFFLINE")
        .or_else(|| env("TRANSFORMERS_OFFLINE"))
        .is_some_and(|v| matches!(v.trim().to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE"))
}

/// Why a source cannot list models.
pub const NO_LISTING: &str = "it needs the Hub (--source hub, and HF_HUB_OFFLINE not set)";

/// The Hub source the flags describe (no cache in front, whatever `HF_HUB_OFFLINE` says).
pub fn hub(args: &HubArgs) -> anyhow::Result<HubSource> {
    let mut s = HubSettings::new(endpoint(args.endpoint.as_deref()));
    s.token = token(args.token.as_deref());
    s.max_in_flight = args.max_in_flight;
    s.retry.max_attempts = args.attempts.max(1);
    HubSource::new(s).map_err(anyhow::Error::msg)
}

/// The source the flags name: the Hub (which can also list models), with the local HF cache in
/// front when there is one, or a folder (the cache alone when offline).
pub enum Chosen {
    Hub(Box<HubSource>),
    Cached(Box<CachedSource<HubSource>>),
    Local(LocalSource),
}

impl Chosen {
    /// The Hub source, for the model listing (one client, limiter and counters for everything).
    pub fn hub(&self) -> Option<&HubSource> {
        match self {
            Chosen::Hub(h) => Some(h),
            Chosen::Cached(c) => Some(c.upstream()),
            Chosen::Local(_) => None,
        }
    }
}

impl AsRef<dyn Source> for Chosen {
    fn as_ref(&self) -> &(dyn Source + 'static) {
        match self {
            Chosen::Hub(h) => h.as_ref(),
            Chosen::Cached(c) => c.as_ref(),
            Chosen::Local(l) => l,
        }
    }
}

/// The source the flags name. For the Hub: files of the pinned commit already in the local HF
/// cache are read there; offline, the cache alone answers and nothing is requested.
pub fn source(args: &SourceArgs) -> anyhow::Result<Chosen> {
    if args.source == "hub" {
        let cache = hub_cache();
        if offline() {
            let cache =
                cache.context("HF_HUB_OFFLINE is set but there is no cache folder: set HF_HUB_CACHE or HF_HOME")?;
            return Ok(Chosen::Local(LocalSource::offline(cache)));
        }
        let hub = hub(&args.hub)?;
        return Ok(match cache.filter(|c| c.is_dir()) {
            Some(dir) => Chosen::Cached(Box::new(CachedSource::new(hub, LocalSource::new(dir)))),
            None => Chosen::Hub(Box::new(hub)),
        });
    }
    let dir = PathBuf::from(&args.source);
    if !dir.is_dir() {
        bail!("--source {}: not `hub` and not a folder", dir.display());
    }
    Ok(Chosen::Local(LocalSource::new(dir)))
}

/// The hub cache folder: `$HF_HUB_CACHE`, else `$HF_HOME/hub`.
pub fn hub_cache() -> Option<PathBuf> {
    env("HF_HUB_CACHE").map(PathBuf::from).or_else(|| hf_home().map(|h| h.join("hub")))
}

/// A size like `256MiB`, `1GB`, `1500` (bytes).
pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().with_context(|| format!("{text:?} is not a size like 256MiB or 1GB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => bail!("{text:?}: unknown unit {unit:?} (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"),
    };
    n.checked_mul(mult).with_context(|| format!("{text:?} is more than 2^64 bytes"))
}

/// Strategy options from the flags.
pub fn chain(args: &ChainArgs, source: &SourceArgs) -> anyhow::Result<Options> {
    let timeout = capcache::time::parse_duration(&args.model_timeout)
        .with_context(|| format!("--model-timeout {}: expected a duration like 90s or 5m", args.model_timeout))?;
    let limits = Limits {
        timeout: (timeout > 0).then(|| std::time::Duration::from_secs(timeout)),
        max_bytes: parse_size(&args.max_model_bytes).context("--max-model-bytes")?,
    };
    let mut opts = Options { verify: args.verify, gguf: args.gguf.clone(), limits, ..Options::default() };
    if args.allow_download {
        if offline() {
            bail!("--allow-download: the Hub is offline (HF_HUB_OFFLINE)");
        }
        if source.source != "hub" {
            bail!("--allow-download needs --source hub: a local folder has nothing to download");
        }
        #[cfg(feature = "download")]
        {
            opts.download = Some(download_settings(args, source)?);
        }
        #[cfg(not(feature = "download"))]
        bail!("--allow-download: this capcache was built without the `download` feature");
    }
    if let Some(list) = &args.strategies {
        opts.strategies = list
            .iter()
            .map(|s| s.trim().parse::<Strategy>().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()
            .context("--strategies")?;
    }
    Ok(opts)
}

#[cfg(feature = "download")]
fn download_settings(args: &ChainArgs, source: &SourceArgs) -> anyhow::Result<capcache::strategy::download::Settings> {
    let cache_dir = hub_cache().context("no cache folder: set HF_HOME (or HOME)")?;
    Ok(capcache::strategy::download::Settings {
        endpoint: endpoint(source.hub.endpoint.as_deref()),
        token: token(source.hub.token.as_deref()),
        cache_dir,
        max_bytes: args.max_download_bytes,
        delete_after: args.delete_after_download,
        progress: Some(std::sync::Arc::new(crate::cmd::progress::DownloadBar::default())),
        disk: Default::default(),
    })
}
