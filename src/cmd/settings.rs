//! Resolving flags and the environment into library settings: the Hub endpoint and token, the
//! source (the Hub behind the local HF cache; the cache alone with `HF_HUB_OFFLINE`), the strategy
//! list. This is the only place capcache reads the environment. The Hugging Face variables resolve
//! as huggingface_hub's `constants.py` resolves them:
//! - `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`;
//! - `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`;
//! - `HF_TOKEN_PATH`, else `$HF_HOME/token`;
//! - the token: `--token`, else (unless `HF_HUB_DISABLE_IMPLICIT_TOKEN` is true) `HF_TOKEN`, else
//!   `HUGGING_FACE_HUB_TOKEN`, else the token file;
//! - `HF_ENDPOINT` (else `https://huggingface.co`), `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`);
//!
//! with `~` expanded in every path and empty values treated as unset. Also `CAPCACHE_DB`,
//! `XDG_DATA_HOME` (where `capcache update` installs), `RUST_LOG` and `NO_COLOR`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use capcache::record::Strategy;
use capcache::source::cached::CachedSource;
use capcache::source::hub::{HubSettings, HubSource, Token};
use capcache::source::local::LocalSource;
use capcache::source::{DEFAULT_ENDPOINT, Source};
use capcache::strategy::{Limits, Options};

use crate::cli::{ChainArgs, HubArgs, SourceArgs};

/// A variable of the process environment; empty means unset.
fn process_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A resolved value and where it came from (a variable's name, or how the default was made).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Setting<T> {
    pub value: T,
    pub from: String,
}

fn setting<T>(value: T, from: impl Into<String>) -> Setting<T> {
    Setting { value, from: from.into() }
}

/// Where the token sent to the Hub comes from. Never holds the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Flag,
    Var(&'static str),
    File(PathBuf),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Flag => f.write_str("--token"),
            TokenSource::Var(name) => f.write_str(name),
            TokenSource::File(path) => write!(f, "the file {}", path.display()),
        }
    }
}

/// The Hugging Face environment, resolved.
#[derive(Debug, Clone)]
pub struct Hf {
    pub home: Option<Setting<PathBuf>>,
    pub hub_cache: Option<Setting<PathBuf>>,
    pub token_path: Option<Setting<PathBuf>>,
    pub endpoint: Setting<String>,
    pub offline: bool,
    /// `HF_HUB_DISABLE_IMPLICIT_TOKEN`: only a token given with `--token` is sent.
    pub implicit_token_disabled: bool,
    env_token: Option<(&'static str, Token)>,
}

/// huggingface_hub's `_is_true`.
fn is_true(value: Option<String>) -> bool {
    value.is_some_and(|v| matches!(v.trim().to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE"))
}

/// huggingface_hub's `_clean_token`: line breaks removed, spaces trimmed, empty is none.
fn clean_token(text: &str) -> Option<Token> {
    let t: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let t = t.trim();
    (!t.is_empty()).then(|| Token::new(t))
}

/// `~` and `~/...` expanded to the home folder.
fn expand(path: &str, home: Option<&str>) -> PathBuf {
    match (path.strip_prefix('~'), home) {
        (Some(""), Some(h)) => PathBuf::from(h),
        (Some(rest), Some(h)) if rest.starts_with('/') => PathBuf::from(h).join(rest.trim_start_matches('/')),
        _ => PathBuf::from(path),
    }
}

impl Hf {
    /// The process environment's settings.
    pub fn from_env() -> Hf {
        Hf::resolve(&process_var)
    }

    /// Settings from `var` (the environment, or a fixed map in tests).
    fn resolve(var: &dyn Fn(&str) -> Option<String>) -> Hf {
        let user_home = var("HOME");
        let path_var = |name: &'static str| var(name).map(|v| setting(expand(&v, user_home.as_deref()), name));
        let home = path_var("HF_HOME")
            .or_else(|| {
                var("XDG_CACHE_HOME").map(|x| {
                    setting(expand(&x, user_home.as_deref()).join("huggingface"), "$XDG_CACHE_HOME/huggingface")
                })
            })
            .or_else(|| user_home.as_ref().map(|h| setting(PathBuf::from(h).join(".cache/huggingface"), "default")));
        let under_home = |sub: &str, from: &str| home.as_ref().map(|h| setting(h.value.join(sub), from));
        let hub_cache = path_var("HF_HUB_CACHE")
            .or_else(|| path_var("HUGGINGFACE_HUB_CACHE"))
            .or_else(|| under_home("hub", "$HF_HOME/hub"));
        let token_path = path_var("HF_TOKEN_PATH").or_else(|| under_home("token", "$HF_HOME/token"));
        let endpoint = var("HF_ENDPOINT").map_or_else(
            || setting(DEFAULT_ENDPOINT.to_owned(), "default"),
            |e| setting(e.trim().trim_end_matches('/').to_owned(), "HF_ENDPOINT"),
        );
        let env_token = ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]
            .into_iter()
            .find_map(|name| var(name).as_deref().and_then(clean_token).map(|t| (name, t)));
        Hf {
            home,
            hub_cache,
            token_path,
            endpoint,
            offline: is_true(var("HF_HUB_OFFLINE").or_else(|| var("TRANSFORMERS_OFFLINE"))),
            implicit_token_disabled: is_true(var("HF_HUB_DISABLE_IMPLICIT_TOKEN")),
            env_token,
        }
    }

    /// The token to send and where it came from: `--token`, else the implicit token (variables,
    /// then the token file) unless that is disabled.
    pub fn token(&self, flag: Option<&str>) -> Option<(Token, TokenSource)> {
        if let Some(t) = flag.and_then(clean_token) {
            return Some((t, TokenSource::Flag));
        }
        if self.implicit_token_disabled {
            return None;
        }
        if let Some((name, t)) = &self.env_token {
            return Some((t.clone(), TokenSource::Var(name)));
        }
        let path = &self.token_path.as_ref()?.value;
        let t = clean_token(&std::fs::read_to_string(path).ok()?)?;
        Some((t, TokenSource::File(path.clone())))
    }

    /// `--endpoint`, else the environment's.
    pub fn endpoint(&self, flag: Option<&str>) -> String {
        flag.map_or_else(|| self.endpoint.value.clone(), str::to_owned)
    }
}

/// `$CAPCACHE_DB`: the cache read commands read when `--db` is not given.
pub fn db_var() -> Option<PathBuf> {
    process_var("CAPCACHE_DB").map(|v| expand(&v, process_var("HOME").as_deref()))
}

/// Where `capcache update` installs the published db: `$XDG_DATA_HOME/capcache`, else
/// `~/.local/share/capcache` (XDG's rule: a relative `XDG_DATA_HOME` is ignored).
pub fn data_dir() -> Option<PathBuf> {
    let home = process_var("HOME");
    process_var("XDG_DATA_HOME")
        .map(|x| expand(&x, home.as_deref()))
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| PathBuf::from(h).join(".local/share")))
        .map(|d| d.join("capcache"))
}

/// The log filter, `$RUST_LOG`.
pub fn log_filter() -> Option<String> {
    process_var("RUST_LOG")
}

/// Whether to colour output going to a stream: only a terminal, and not with `NO_COLOR` set to
/// anything but the empty string (no-color.org).
pub fn color(is_terminal: bool) -> bool {
    use_color(is_terminal, std::env::var_os("NO_COLOR"))
}

fn use_color(is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) set to a true value, as huggingface_hub reads it.
pub fn offline() -> bool {
    Hf::from_env().offline
}

/// Why a source cannot list models.
pub const NO_LISTING: &str = "it needs the Hub (--source hub, and HF_HUB_OFFLINE not set)";

/// The Hub source the flags describe (no cache in front, whatever `HF_HUB_OFFLINE` says).
pub fn hub(args: &HubArgs) -> anyhow::Result<HubSource> {
    HubSource::new(hub_settings(args)).map_err(anyhow::Error::msg)
}

/// The settings of [`hub`], to adjust before building the source.
pub fn hub_settings(args: &HubArgs) -> HubSettings {
    let hf = Hf::from_env();
    let mut s = HubSettings::new(hf.endpoint(args.endpoint.as_deref()));
    s.token = hf.token(args.token.as_deref()).map(|(t, _)| t);
    s.max_in_flight = args.max_in_flight;
    s.retry.max_attempts = args.attempts.max(1);
    s.allow_insecure_token = args.allow_insecure_token;
    s.http2_prior_knowledge = args.http2_prior_knowledge;
    s
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
        let hf = Hf::from_env();
        let cache = hf.hub_cache.map(|c| c.value);
        if hf.offline {
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
            opts.download = Some(download_settings(args)?);
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
        if opts.strategies.contains(&Strategy::Download) && !args.allow_download {
            bail!(
                "--strategies download: the download strategy runs only with --allow-download (it downloads \
                 the weight files into the Hugging Face cache)"
            );
        }
    }
    Ok(opts)
}

#[cfg(feature = "download")]
fn download_settings(args: &ChainArgs) -> anyhow::Result<capcache::strategy::download::Settings> {
    let hf = Hf::from_env();
    let cache_dir = hf.hub_cache.as_ref().map(|c| c.value.clone());
    Ok(capcache::strategy::download::Settings {
        cache_dir: cache_dir.context("no cache folder: set HF_HUB_CACHE or HF_HOME (or HOME)")?,
        max_bytes: args.max_download_bytes,
        delete_after: args.delete_after_download,
        progress: Some(std::sync::Arc::new(crate::cmd::progress::DownloadBar::default())),
        disk: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    fn hf(vars: &[(&str, &str)]) -> Hf {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Hf::resolve(&move |k| map.get(k).cloned().filter(|v| !v.trim().is_empty()))
    }

    fn value(s: &Option<Setting<PathBuf>>) -> &Path {
        &s.as_ref().unwrap().value
    }

    #[test]
    fn hf_home_follows_xdg_cache_home_and_the_token_file_and_hub_cache_follow_it() {
        let h = hf(&[("HOME", "/home/u")]);
        assert_eq!(value(&h.home), Path::new("/home/u/.cache/huggingface"));
        let h = hf(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg")]);
        assert_eq!(value(&h.home), Path::new("/xdg/huggingface"));
        assert_eq!(value(&h.token_path), Path::new("/xdg/huggingface/token"));
        assert_eq!(value(&h.hub_cache), Path::new("/xdg/huggingface/hub"));
        let h = hf(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg"), ("HF_HOME", "/hf")]);
        assert_eq!(value(&h.home), Path::new("/hf"));
        assert_eq!(h.home.unwrap().from, "HF_HOME");
        assert!(hf(&[]).home.is_none(), "no HOME, no default");
    }

    #[test]
    fn tilde_is_expanded_and_hub_cache_and_token_path_take_their_variables() {
        let h = hf(&[
            ("HOME", "/home/u"),
            ("HF_HOME", "~/hf"),
            ("HUGGINGFACE_HUB_CACHE", "~/legacy"),
            ("HF_TOKEN_PATH", "~"),
        ]);
        assert_eq!(value(&h.home), Path::new("/home/u/hf"));
        assert_eq!(value(&h.hub_cache), Path::new("/home/u/legacy"));
        assert_eq!(value(&h.token_path), Path::new("/home/u"));
        let h = hf(&[("HOME", "/home/u"), ("HF_HUB_CACHE", "~/new"), ("HUGGINGFACE_HUB_CACHE", "~/legacy")]);
        assert_eq!(value(&h.hub_cache), Path::new("/home/u/new"));
        assert_eq!(expand("~user/x", Some("/home/u")), Path::new("~user/x"), "only the caller's own home");
        assert_eq!(expand("a/~", Some("/home/u")), Path::new("a/~"));
    }

    #[test]
    fn token_order_older_variable_name_file_and_the_implicit_token_switch() {
        // A folder of its own.
        let dir = std::env::temp_dir().join(format!("capcache-settings-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "hf_file\r\n").unwrap();
        let path = file.to_str().unwrap();
        let from = |vars: &[(&str, &str)], flag: Option<&str>| hf(vars).token(flag).map(|(_, s)| s);
        assert_eq!(
            from(&[("HF_TOKEN", "a"), ("HUGGING_FACE_HUB_TOKEN", "b")], None),
            Some(TokenSource::Var("HF_TOKEN"))
        );
        assert_eq!(
            from(&[("HUGGING_FACE_HUB_TOKEN", "b"), ("HF_TOKEN_PATH", path)], None),
            Some(TokenSource::Var("HUGGING_FACE_HUB_TOKEN"))
        );
        assert_eq!(from(&[("HF_TOKEN_PATH", path)], None), Some(TokenSource::File(file.clone())));
        assert_eq!(from(&[("HF_HOME", dir.to_str().unwrap())], None), Some(TokenSource::File(file.clone())));
        let off = [("HF_TOKEN", "a"), ("HF_TOKEN_PATH", path), ("HF_HUB_DISABLE_IMPLICIT_TOKEN", "yes")];
        assert_eq!(from(&off, None), None);
        assert_eq!(from(&off, Some("explicit")), Some(TokenSource::Flag));
        assert_eq!(
            from(&[("HF_HUB_DISABLE_IMPLICIT_TOKEN", "0"), ("HF_TOKEN", "a")], None),
            Some(TokenSource::Var("HF_TOKEN"))
        );
        assert_eq!(from(&[("HF_TOKEN", " \n")], None), None, "a blank token is none");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn endpoint_offline_and_colour() {
        assert_eq!(hf(&[]).endpoint(None), DEFAULT_ENDPOINT);
        assert_eq!(hf(&[("HF_ENDPOINT", "http://mirror:8080/")]).endpoint(None), "http://mirror:8080");
        assert_eq!(hf(&[("HF_ENDPOINT", "http://mirror")]).endpoint(Some("http://flag")), "http://flag");
        assert!(hf(&[("HF_HUB_OFFLINE", "1")]).offline);
        assert!(hf(&[("TRANSFORMERS_OFFLINE", "true")]).offline);
        assert!(!hf(&[("HF_HUB_OFFLINE", "0")]).offline);
        assert!(use_color(true, None));
        assert!(use_color(true, Some("".into())), "an empty NO_COLOR does not count");
        assert!(!use_color(true, Some("1".into())));
        assert!(!use_color(false, None));
    }
}
