//! The source layer's errors: typed outcomes with the model id and the URL path or file in them,
//! never a token. [`SourceError::outcome`] is the short name records and summaries use;
//! [`SourceError::is_transient`] says whether a retry may help.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    #[error("{id} is gated: {path} needs a token from an account that has been granted access (--token or HF_TOKEN)")]
    Gated { id: String, path: String },
    #[error("{id} not found ({path}): no such repository, or it is private and the token cannot see it")]
    RepoNotFound { id: String, path: String },
    #[error("{id}: revision {revision:?} not found ({path})")]
    RevisionNotFound { id: String, revision: String, path: String },
    #[error("{id}: file not found: {path}")]
    EntryNotFound { id: String, path: String },
    #[error("{id}: the token was refused (HTTP {status}) for {path}; check that it is valid")]
    Unauthorized { id: String, path: String, status: u16 },
    #[error("{id}: rate limited by the Hub for {path}{}", retry_after.map(|d| format!(" (asked to wait {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited { id: String, path: String, retry_after: Option<Duration> },
    #[error("{id}: server error HTTP {status} for {path}")]
    Server { id: String, path: String, status: u16 },
    #[error("{id}: unexpected HTTP {status} for {path}")]
    Http { id: String, path: String, status: u16 },
    #[error("{id}: network error for {path}: {message}")]
    Network { id: String, path: String, message: String },
    #[error("{id}: malformed response for {path}: {message}")]
    Malformed { id: String, path: String, message: String },
    #[error(
        "{id}: the server ignored the byte range for {path} (HTTP 200 instead of 206); nothing past the cap was read. Use --allow-download to fetch whole files"
    )]
    RangeIgnored { id: String, path: String },
    #[error("{id}: {path} changed while being read (ETag {first} then {now})")]
    EtagChanged { id: String, path: String, first: String, now: String },
    #[error("{id}: {path} is {size} bytes, over the {cap}-byte limit for this read")]
    TooLarge { id: String, path: String, size: u64, cap: u64 },
    #[error("{id}: {path}: {message}")]
    Io { id: String, path: String, message: String },
}

impl SourceError {
    /// Short outcome name for records and summaries.
    pub fn outcome(&self) -> &'static str {
        match self {
            SourceError::Gated { .. } => "gated",
            SourceError::RepoNotFound { .. } => "not-found",
            SourceError::RevisionNotFound { .. } => "revision-not-found",
            SourceError::EntryNotFound { .. } => "entry-not-found",
            SourceError::Unauthorized { .. } => "unauthorized",
            SourceError::RateLimited { .. } => "rate-limited",
            SourceError::Server { .. } => "server-error",
            SourceError::Http { .. } => "http-error",
            SourceError::Network { .. } => "network-error",
            SourceError::Malformed { .. } => "malformed-response",
            SourceError::RangeIgnored { .. } => "range-unsupported",
            SourceError::EtagChanged { .. } => "changed-upstream",
            SourceError::TooLarge { .. } => "too-large",
            SourceError::Io { .. } => "io-error",
        }
    }

    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SourceError::RateLimited { .. } | SourceError::Server { .. } | SourceError::Network { .. })
    }

    /// Whether this error means the whole model cannot be read (as opposed to one file missing).
    pub fn is_fatal_for_model(&self) -> bool {
        matches!(
            self,
            SourceError::Gated { .. }
                | SourceError::RepoNotFound { .. }
                | SourceError::RevisionNotFound { .. }
                | SourceError::Unauthorized { .. }
        )
    }
}
