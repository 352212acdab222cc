//! The Hugging Face Hub as a [`Source`]: revisions pinned to a commit (the model API, or one cheap
//! `HEAD` whose `X-Repo-Commit` names it), byte ranges that must come back as `206` with a
//! matching `Content-Range` (every range goes back through `/resolve`, because Xet CDN URLs are
//! signed for one range), file sizes from `X-Linked-Size` or the paginated tree, and one ETag per
//! file for the whole run. The parts live in one module each: the settings (`settings`), one
//! request with its hops and deadline (`client`), retries (`retry`), the per-host limit
//! (`limiter`), the API's typed answers (`api`), response headers (`headers`) and URL encoding
//! (`url`).

mod api;
mod client;
mod headers;
mod limiter;
mod retry;
mod settings;
mod url;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG};
use reqwest::{Method, StatusCode, Url};

pub(crate) use api::ApiModel;
use api::{ApiTreeEntry, Capped, is_commit};
use client::Limit;
pub(crate) use headers::next_link;
use headers::{header_str, header_u64, parse_content_range};
use limiter::HostLimiter;
pub use retry::RetryPolicy;
pub use settings::{HubSettings, Token};
pub use url::encode;
use url::encode_path;

use super::{Counters, Deadline, Fetched, MAX_REPO_FILES, RangeRead, Snapshot, Source, SourceError};
use crate::id::{ModelId, check_repo_path};

/// The largest API answer read (the file list of a big repository).
const MAX_API_BYTES: u64 = 32 << 20;
/// Pages of a tree listing followed.
const MAX_TREE_PAGES: usize = 1000;
/// The slowest transfer a whole-file download is given time for (bytes a second): its request
/// timeout grows by a second per this many bytes, and never runs past the model's deadline.
const MIN_DOWNLOAD_RATE: u64 = 1 << 20;

/// A file entry of a tree listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub size: u64,
}

/// The Hub source.
pub struct HubSource {
    client: Client,
    endpoint: Url,
    token: Option<Token>,
    retry: RetryPolicy,
    request_timeout: Duration,
    limiter: HostLimiter,
    counters: Counters,
    etags: Mutex<HashMap<(String, String), String>>,
}

impl HubSource {
    pub fn new(settings: HubSettings) -> Result<HubSource, String> {
        let endpoint = Url::parse(settings.endpoint.trim_end_matches('/'))
            .map_err(|e| format!("invalid endpoint {:?}: {e}", settings.endpoint))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(format!("invalid endpoint {:?}: expected http(s)://host", settings.endpoint));
        }
        // Request paths are appended to the endpoint: after a query or fragment they would be
        // part of it, and every request would miss.
        if endpoint.query().is_some() || endpoint.fragment().is_some() {
            return Err(format!(
                "invalid endpoint {}://{}{}: it may not have a query (?) or a fragment (#)",
                endpoint.scheme(),
                endpoint.host_str().unwrap_or("?"),
                endpoint.path().trim_end_matches('/')
            ));
        }
        if settings.token.is_some() && !settings.allow_insecure_token && !settings::token_safe_at(&endpoint) {
            return Err(format!(
                "refusing to send the token over plain http:// to {}: anyone on the way could read it; use https, or allow it explicitly (--allow-insecure-token)",
                endpoint.host_str().unwrap_or("?")
            ));
        }
        let mut builder = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("capcache/", env!("CARGO_PKG_VERSION")));
        if settings.http2_prior_knowledge {
            builder = builder.http2_prior_knowledge();
        }
        let client = builder.build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(HubSource {
            client,
            endpoint,
            token: settings.token,
            retry: settings.retry,
            request_timeout: settings.request_timeout,
            limiter: HostLimiter::new(settings.max_in_flight.max(1)),
            counters: Counters::default(),
            etags: Mutex::new(HashMap::new()),
        })
    }

    /// The endpoint, e.g. `https://huggingface.co`.
    pub(crate) fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// `path` (already encoded, with its query) on the endpoint.
    pub(crate) fn url(&self, path: &str) -> Url {
        let base = self.endpoint.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}")).expect("endpoint plus an encoded path is a URL")
    }

    fn resolve_url(&self, snap: &Snapshot, path: &str) -> Url {
        self.url(&format!("/{}/resolve/{}/{}", snap.id, encode(&snap.sha), encode_path(path)))
    }

    /// Runs `op` under the source's retry policy.
    fn with_retry<T>(
        &self,
        id: &str,
        what: &str,
        deadline: Deadline,
        op: impl FnMut() -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        retry::with_retry(&self.retry, id, what, deadline, op)
    }

    fn check_etag(&self, snap: &Snapshot, path: &str, etag: Option<String>) -> Result<(), SourceError> {
        let Some(etag) = etag else { return Ok(()) };
        let mut etags = self.etags.lock().unwrap_or_else(|p| p.into_inner());
        let key = (snap.sha.clone(), format!("{}/{path}", snap.id));
        match etags.get(&key) {
            Some(first) if *first != etag => Err(SourceError::EtagChanged {
                id: snap.id.to_string(),
                path: path.into(),
                first: first.clone(),
                now: etag,
            }),
            Some(_) => Ok(()),
            None => {
                etags.insert(key, etag);
                Ok(())
            }
        }
    }

    /// The whole file tree at the snapshot's commit, with sizes (follows `Link: rel="next"` pages).
    pub fn list_tree(&self, snap: &Snapshot, deadline: Deadline) -> Result<Vec<TreeEntry>, SourceError> {
        let id = snap.id.as_str();
        let mut next = Some(self.url(&format!("/api/models/{id}/tree/{}?recursive=true", encode(&snap.sha))));
        let mut out = Vec::new();
        let mut visited = HashSet::new();
        for _ in 0..MAX_TREE_PAGES {
            let Some(url) = next.take() else { return Ok(out) };
            let what = url.path().to_owned();
            if !visited.insert(url.clone()) {
                return Err(malformed(id, &what, "the next-page link leads back to a page already read"));
            }
            let (body, link) = self.get_api(id, &what, &url, MAX_API_BYTES, deadline)?;
            let entries: Capped<ApiTreeEntry, MAX_REPO_FILES> =
                serde_json::from_slice(&body).map_err(|e| malformed(id, &what, e))?;
            for e in entries.0 {
                if e.kind != "file" {
                    continue;
                }
                let (Some(path), Some(size)) = (e.path, e.size) else {
                    return Err(malformed(id, &what, "tree entry without path or size"));
                };
                if check_repo_path(&path).is_ok() {
                    if out.len() == MAX_REPO_FILES {
                        return Err(malformed(id, &what, format!("the tree lists more than {MAX_REPO_FILES} files")));
                    }
                    out.push(TreeEntry { path, size });
                }
            }
            next = link
                .as_deref()
                .and_then(next_link)
                .map(|l| url.join(&l))
                .transpose()
                .map_err(|e| malformed(id, &what, e))?;
        }
        Err(malformed(id, "tree", format!("more than {MAX_TREE_PAGES} pages")))
    }
}

impl Source for HubSource {
    fn snapshot(&self, id: &ModelId, revision: &str, deadline: Deadline) -> Result<Snapshot, SourceError> {
        let path = format!(
            "/api/models/{id}/revision/{}?expand[]=safetensors&expand[]=sha&expand[]=siblings",
            encode(revision)
        );
        let url = self.url(&path);
        let what = url.path().to_owned();
        let ids = id.as_str();
        let (body, _) = self.get_api(ids, &what, &url, MAX_API_BYTES, deadline)?;
        let info: ApiModel = serde_json::from_slice(&body).map_err(|e| malformed(ids, &what, e))?;
        info.into_snapshot(id).ok_or_else(|| malformed(ids, &what, "no commit sha in the answer"))
    }

    fn commit(&self, id: &ModelId, revision: &str, probe: &str, deadline: Deadline) -> Result<String, SourceError> {
        // `X-Repo-Commit` of a file the model has, from the first answer (a weight file's is a
        // redirect to the CDN, not followed): one request in the cheap resolver bucket. A probe
        // that is gone falls back to the API.
        let what = format!("/{id}/resolve/{}/{}", encode(revision), encode_path(probe));
        let ids = id.as_str();
        let head = self.with_retry(ids, &what, deadline, || {
            let ans = self.send_hops(
                ids,
                &what,
                &Method::HEAD,
                self.url(&what),
                None,
                deadline,
                false,
                self.request_timeout,
            )?;
            Ok(header_str(ans.resp.headers(), "x-repo-commit"))
        });
        match head {
            Ok(Some(sha)) if is_commit(&sha) => Ok(sha),
            Ok(_) | Err(SourceError::EntryNotFound { .. }) => self.snapshot(id, revision, deadline).map(|s| s.sha),
            Err(e) => Err(e),
        }
    }

    fn read_range(
        &self,
        snap: &Snapshot,
        path: &str,
        start: u64,
        len: u64,
        deadline: Deadline,
    ) -> Result<RangeRead, SourceError> {
        let id = snap.id.as_str();
        if len == 0 {
            return Ok(RangeRead { bytes: Vec::new(), file_size: self.file_size(snap, path, deadline)? });
        }
        let end = start.checked_add(len - 1).ok_or_else(|| malformed(id, path, "range past 2^64"))?;
        self.with_retry(id, path, deadline, || {
            let ans = self.send(id, path, &Method::GET, self.resolve_url(snap, path), Some((start, end)), deadline)?;
            let status = ans.resp.status();
            let range = header_str(ans.resp.headers(), CONTENT_RANGE.as_str());
            let etag = ans.linked_etag.clone().or_else(|| header_str(ans.resp.headers(), ETAG.as_str()));
            if status == StatusCode::OK {
                // The range was ignored. From offset 0, the bytes wanted are the body's first ones:
                // read them and hang up. From anywhere else, drop the response unread.
                if start != 0 {
                    return Err(SourceError::RangeIgnored { id: id.into(), path: path.into() });
                }
                let file_size = ans
                    .linked_size
                    .or(ans.resp.content_length())
                    .ok_or_else(|| malformed(id, path, "200 without a size"))?;
                let bytes = self.read_body(ans, Limit::Prefix(len), id, path)?;
                if (bytes.len() as u64) < len.min(file_size) {
                    return Err(SourceError::Network {
                        id: id.into(),
                        path: path.into(),
                        message: format!("body ended after {} bytes", bytes.len()),
                    });
                }
                self.check_etag(snap, path, etag)?;
                return Ok(RangeRead { bytes, file_size });
            }
            if status == StatusCode::RANGE_NOT_SATISFIABLE {
                let total = range.as_deref().and_then(|r| r.strip_prefix("bytes */")).and_then(|t| t.parse().ok());
                let file_size = total.ok_or_else(|| malformed(id, path, "416 without a Content-Range size"))?;
                return Ok(RangeRead { bytes: Vec::new(), file_size });
            }
            if status != StatusCode::PARTIAL_CONTENT {
                return Err(SourceError::Http { id: id.into(), path: path.into(), status: status.as_u16() });
            }
            let (first, last, total) = range
                .as_deref()
                .and_then(parse_content_range)
                .ok_or_else(|| malformed(id, path, format!("206 with an unusable Content-Range {range:?}")))?;
            if first != start || last > end || last < first || total.is_some_and(|t| last >= t) {
                return Err(malformed(
                    id,
                    path,
                    format!("asked for bytes {start}-{end}, got Content-Range {}", range.unwrap_or_default()),
                ));
            }
            let file_size = ans.linked_size.or(total).ok_or_else(|| malformed(id, path, "file size unknown"))?;
            let want = last - first + 1;
            let bytes = self.read_body(ans, Limit::AtMost(want), id, path)?;
            if (bytes.len() as u64) < want {
                return Err(SourceError::Network {
                    id: id.into(),
                    path: path.into(),
                    message: format!("body ended after {} of {want} bytes", bytes.len()),
                });
            }
            self.check_etag(snap, path, etag)?;
            Ok(RangeRead { bytes, file_size })
        })
    }

    fn read_small(&self, snap: &Snapshot, path: &str, cap: u64, deadline: Deadline) -> Result<Vec<u8>, SourceError> {
        let id = snap.id.as_str();
        self.with_retry(id, path, deadline, || {
            let ans = self.send(id, path, &Method::GET, self.resolve_url(snap, path), None, deadline)?;
            let etag = ans.linked_etag.clone().or_else(|| header_str(ans.resp.headers(), ETAG.as_str()));
            let bytes = self.read_body(ans, Limit::AtMost(cap), id, path)?;
            self.check_etag(snap, path, etag)?;
            Ok(bytes)
        })
    }

    fn file_sizes(&self, snap: &Snapshot, paths: &[&str], deadline: Deadline) -> Result<Vec<u64>, SourceError> {
        if paths.len() < 2 {
            return paths.iter().map(|p| self.file_size(snap, p, deadline)).collect();
        }
        let tree: HashMap<String, u64> =
            self.list_tree(snap, deadline)?.into_iter().map(|e| (e.path, e.size)).collect();
        paths.iter().map(|p| tree.get(*p).copied().map_or_else(|| self.file_size(snap, p, deadline), Ok)).collect()
    }

    /// A file's size from a `HEAD` on `/resolve` (`X-Linked-Size` for LFS files).
    fn file_size(&self, snap: &Snapshot, path: &str, deadline: Deadline) -> Result<u64, SourceError> {
        let id = snap.id.as_str();
        self.with_retry(id, path, deadline, || {
            let ans = self.send(id, path, &Method::HEAD, self.resolve_url(snap, path), None, deadline)?;
            ans.linked_size
                .or_else(|| header_u64(ans.resp.headers(), CONTENT_LENGTH.as_str()))
                .ok_or_else(|| malformed(id, path, "no X-Linked-Size or Content-Length"))
        })
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn origin(&self) -> crate::record::Origin {
        crate::record::Origin::Hub
    }

    /// The endpoint as records name it: without credentials a URL may carry (`user:password@`), a
    /// query or a fragment, which records are published with.
    fn endpoint(&self) -> Option<String> {
        let mut url = self.endpoint.clone();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
        let at = url.as_str().trim_end_matches('/').to_owned();
        (at != super::DEFAULT_ENDPOINT).then_some(at)
    }

    fn parallelism(&self) -> usize {
        self.limiter.per_host
    }

    fn fetch_file(
        &self,
        snap: &Snapshot,
        path: &str,
        max: u64,
        out: &mut dyn std::io::Write,
        deadline: Deadline,
    ) -> Result<Fetched, SourceError> {
        let id = snap.id.as_str();
        // A whole file takes longer than one small request: its time grows with its size (at
        // MIN_DOWNLOAD_RATE), never past the model's deadline.
        let timeout = self.request_timeout.saturating_add(Duration::from_secs(max / MIN_DOWNLOAD_RATE));
        let ans = self.with_retry(id, path, deadline, || {
            let url = self.resolve_url(snap, path);
            let ans = self.send_hops(id, path, &Method::GET, url, None, deadline, true, timeout)?;
            match ans.resp.status() {
                StatusCode::OK => Ok(ans),
                s => Err(SourceError::Http { id: id.into(), path: path.into(), status: s.as_u16() }),
            }
        })?;
        let etag = ans.linked_etag.clone().or_else(|| header_str(ans.resp.headers(), ETAG.as_str()));
        let commit = ans.commit.clone();
        let bytes = self.copy_body(ans, max, out, id, path, timeout)?;
        Ok(Fetched { bytes, etag, commit })
    }
}

pub(crate) fn malformed(id: &str, what: &str, message: impl std::fmt::Display) -> SourceError {
    SourceError::Malformed { id: id.into(), path: what.into(), message: message.to_string() }
}
