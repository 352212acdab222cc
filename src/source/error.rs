//! The source layer's errors: typed outcomes with the model id and the URL path or file in them,
//! never a token. [`SourceError::outcome`] is the outcome records and summaries use;
//! [`SourceError::is_retryable`] says whether retrying the same request at once may help.

use std::time::Duration;

use crate::record::Outcome;

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
    #[error("{id}: the model's deadline passed while reading {path}")]
    Deadline { id: String, path: String },
    #[error(
        "{id}@{revision} is not in the local cache {cache}, and the Hub is offline (HF_HUB_OFFLINE): nothing was requested"
    )]
    Offline { id: String, revision: String, cache: String },
}

impl SourceError {
    /// The outcome records and summaries use.
    pub fn outcome(&self) -> Outcome {
        match self {
            SourceError::Gated { .. } => Outcome::Gated,
            SourceError::RepoNotFound { .. } => Outcome::NotFound,
            SourceError::RevisionNotFound { .. } => Outcome::RevisionNotFound,
            SourceError::EntryNotFound { .. } => Outcome::EntryNotFound,
            SourceError::Unauthorized { .. } => Outcome::Unauthorized,
            SourceError::RateLimited { .. } => Outcome::RateLimited,
            SourceError::Server { .. } => Outcome::ServerError,
            SourceError::Http { .. } => Outcome::HttpError,
            SourceError::Network { .. } => Outcome::NetworkError,
            SourceError::Malformed { .. } => Outcome::MalformedResponse,
            SourceError::RangeIgnored { .. } => Outcome::RangeUnsupported,
            SourceError::EtagChanged { .. } => Outcome::ChangedUpstream,
            SourceError::TooLarge { .. } => Outcome::TooLarge,
            SourceError::Io { .. } => Outcome::IoError,
            SourceError::Deadline { .. } => Outcome::Timeout,
            SourceError::Offline { .. } => Outcome::Offline,
        }
    }

    /// Whether retrying the same request now may succeed (rate limits, server errors, network).
    pub fn is_retryable(&self) -> bool {
        matches!(self, SourceError::RateLimited { .. } | SourceError::Server { .. } | SourceError::Network { .. })
    }
}
