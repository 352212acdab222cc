//! The Hub's model listing (`GET /api/models`): a [`ListingQuery`]'s pages, read through the Hub
//! source's own client (the same retries, `Retry-After` / `RateLimit` waits, per-host limit and
//! request counters as every other Hub request), following `Link: rel="next"` verbatim but only
//! on the endpoint's own origin and path, with caps on pages, models and bytes per page. Entries
//! that carry `sha` and `siblings` become pinned [`Snapshot`]s, so a build answers a listed model
//! without asking the model API about it again.

use std::collections::HashSet;

use reqwest::Url;
use tracing::warn;

use super::query::{ListingQuery, MAX_LIMIT};
use crate::id::ModelId;
use crate::source::hub::{ApiModel, HubSource, malformed, next_link};
use crate::source::{Deadline, Snapshot, SourceError};

/// The largest page asked for (the Hub's own maximum).
pub const PAGE_SIZE: u64 = 1000;
/// Pages followed for one query.
const MAX_PAGES: usize = 200;
/// The largest page read (1,000 entries with their file lists).
const MAX_PAGE_BYTES: u64 = 64 << 20;
/// How errors name the listing.
const WHO: &str = "model listing";
/// How long one query's pages may take in all, retries and rate-limit waits included (200 pages
/// of the Hub take well under a minute).
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// The most files the models of one query may name in all (their `siblings`), so that the
/// listing's memory has a bound: 10,000 models of 100 files each.
const MAX_FILES: usize = 1_000_000;

/// The fields a build asks for: the commit (the incremental check), the file list and the Hub's
/// parameter counts (together, the snapshot `hub-metadata` answers from).
pub const BUILD_FIELDS: &[&str] = &["sha", "siblings", "safetensors"];
/// The fields `capcache discover` shows.
pub const SHOW_FIELDS: &[&str] =
    &["sha", "downloads", "likes", "pipeline_tag", "library_name", "gated", "createdAt", "lastModified", "safetensors"];

/// What the listing says about a model besides its commit and files (each field only when asked
/// for).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Info {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downloads: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library_name: Option<String>,
    /// `false`, `"auto"` or `"manual"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gated: Option<Gated>,
    #[serde(rename(deserialize = "createdAt"), skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(rename(deserialize = "lastModified"), skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// A repository's gating: `false`, or how access is granted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum Gated {
    Flag(bool),
    Mode(String),
}

/// One listed model.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: ModelId,
    /// The model at the listing's commit (`None` when the entry has no usable `sha`).
    pub snapshot: Option<Snapshot>,
    /// Whether `snapshot.files` is the repository's file list (the entry carried `siblings`).
    pub has_files: bool,
    pub info: Info,
}

impl Listed {
    /// The snapshot a build may use instead of asking the model API: only when the entry carried
    /// both the commit and the file list.
    pub fn pinned(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref().filter(|_| self.has_files)
    }
}

/// The models a query listed, in the listing's order.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub models: Vec<Listed>,
    /// Pages read.
    pub pages: usize,
    /// The listing had more than capcache reads for a query without `limit` ([`MAX_LIMIT`] models
    /// or the page cap).
    pub truncated: bool,
    /// Entries skipped because their id is not a valid model id.
    pub skipped: usize,
}

/// An entry of a listing page.
#[derive(serde::Deserialize)]
struct RawEntry {
    id: String,
    #[serde(flatten)]
    model: ApiModel,
    #[serde(flatten)]
    info: Info,
}

/// Lists the models `query` selects, asking for `fields` (`expand[]`) of each, up to its `limit`
/// (or [`MAX_LIMIT`]) across pages, within [`TIMEOUT`] in all.
pub fn list(hub: &HubSource, query: &ListingQuery, fields: &[&str]) -> Result<Listing, SourceError> {
    let deadline = Deadline::after(TIMEOUT);
    let mut files = 0usize;
    let want = query.limit.unwrap_or(MAX_LIMIT);
    let mut params = query.wire_params();
    params.push(format!("limit={}", want.min(PAGE_SIZE)));
    params.extend(fields.iter().map(|f| format!("expand[]={f}")));
    let first = hub.url(&format!("/api/models?{}", params.join("&")));
    let mut out = Listing::default();
    let mut seen = HashSet::new();
    let mut next = Some(first.clone());
    while let Some(url) = next.take() {
        if out.pages == MAX_PAGES {
            warn!(query = %query, "the listing has more than {MAX_PAGES} pages; stopped there");
            out.truncated = true;
            break;
        }
        let what = format!("{}?{}", url.path(), url.query().unwrap_or_default());
        let (body, link) = hub.get_api(WHO, &what, &url, MAX_PAGE_BYTES, deadline)?;
        out.pages += 1;
        let entries: Vec<RawEntry> = serde_json::from_slice(&body).map_err(|e| malformed(WHO, &what, e))?;
        if entries.is_empty() {
            // Nothing more, whatever a `Link` says.
            break;
        }
        for e in entries {
            if out.models.len() as u64 == want {
                break;
            }
            let id = match ModelId::parse(&e.id) {
                Ok(id) => id,
                Err(err) => {
                    warn!(query = %query, "listed {err}; skipped");
                    out.skipped += 1;
                    continue;
                }
            };
            if !seen.insert(id.as_str().to_ascii_lowercase()) {
                continue;
            }
            let has_files = e.model.has_files();
            let snapshot = e.model.into_snapshot(&id);
            files = files.saturating_add(snapshot.as_ref().map_or(0, |s| s.files.len()));
            if files > MAX_FILES {
                return Err(malformed(
                    WHO,
                    &what,
                    format!("the listed models name more than {MAX_FILES} files in all"),
                ));
            }
            out.models.push(Listed { id, snapshot, has_files, info: e.info });
        }
        let more = link.as_deref().and_then(next_link);
        if out.models.len() as u64 == want {
            out.truncated = more.is_some() && query.limit.is_none();
            break;
        }
        next = more.map(|l| follow(hub, &first, &url, &l, &what)).transpose()?;
    }
    Ok(out)
}

/// The next page's URL, refused unless it stays on the endpoint's origin and the listing's path
/// (the request would carry the token).
fn follow(hub: &HubSource, first: &Url, page: &Url, link: &str, what: &str) -> Result<Url, SourceError> {
    let next = page.join(link).map_err(|e| malformed(WHO, what, format!("unusable next-page link: {e}")))?;
    if next.origin() != hub.endpoint().origin() || next.path() != first.path() {
        return Err(malformed(
            WHO,
            what,
            format!(
                "the next-page link points to {}{}, not to the endpoint's {}{}; not followed",
                next.origin().ascii_serialization(),
                next.path(),
                first.origin().ascii_serialization(),
                first.path()
            ),
        ));
    }
    Ok(next)
}
