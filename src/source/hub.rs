//! The Hugging Face Hub over HTTP: one blocking reqwest client for the whole run (connection reuse,
//! HTTP/2 where offered, rustls), revisions pinned to a commit, byte ranges that must come back as
//! `206` with a matching `Content-Range`, manual redirects (the token never leaves the endpoint's
//! origin; `X-Linked-Size` is the file size; every range goes back through `/resolve` because Xet
//! CDN URLs are signed for one range), typed errors from `X-Error-Code`, bounded retries with
//! backoff and jitter, `Retry-After` / `RateLimit` honoured, and a per-host limit on requests in
//! flight. Every request has a total deadline (connect, headers and the whole body: a server that
//! drips a byte a second is cut off), never past the model's own deadline; no retry waits past it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, ETAG, HeaderMap, LOCATION, RANGE,
};
use reqwest::{Method, StatusCode, Url};
use tracing::{debug, warn};

use super::{Counters, Deadline, Fetched, MAX_REPO_FILES, RangeRead, Snapshot, Source, SourceError};
use crate::id::{ModelId, check_repo_path};

/// The largest API answer read (the file list of a big repository).
const MAX_API_BYTES: u64 = 32 << 20;
/// Redirect hops followed.
const MAX_REDIRECTS: usize = 5;
/// Pages of a tree listing followed.
const MAX_TREE_PAGES: usize = 1000;
/// The slowest transfer a whole-file download is given time for (bytes a second): its request
/// timeout grows by a second per this many bytes, and never runs past the model's deadline.
const MIN_DOWNLOAD_RATE: u64 = 1 << 20;

/// An access token. Its `Debug` form is redacted so it cannot leak through logs.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Token {
        Token(value.into().trim().to_owned())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// How transient failures are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff; doubles each attempt, with jitter.
    pub base_delay: Duration,
    /// Longest backoff between attempts.
    pub max_delay: Duration,
    /// Longest wait a `429` may ask for before capcache gives up on that request.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_wait: Duration::from_secs(120),
        }
    }
}

/// Settings of a Hub source. The CLI resolves them from flags and the environment.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Base URL, e.g. `https://huggingface.co`.
    pub endpoint: String,
    pub token: Option<Token>,
    /// Requests in flight per host.
    pub max_in_flight: usize,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    /// Longest time one request may take, from connecting to the end of its body.
    pub request_timeout: Duration,
    /// Send the token over plain `http://` to a host that is not loopback (refused otherwise:
    /// anyone on the path could read it).
    pub allow_insecure_token: bool,
}

impl HubSettings {
    pub fn new(endpoint: impl Into<String>) -> HubSettings {
        HubSettings {
            endpoint: endpoint.into(),
            token: None,
            max_in_flight: 16,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            allow_insecure_token: false,
        }
    }
}

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

/// A response with what its redirects said.
struct Answer {
    resp: Response,
    linked_size: Option<u64>,
    linked_etag: Option<String>,
    /// `X-Repo-Commit` of the first answer that had one (the `/resolve` answer, before a redirect).
    commit: Option<String>,
    /// When reading its body must be over.
    until: Until,
    _permit: Permit,
}

/// The end of one request: its own total timeout, or the model's deadline if that comes first.
#[derive(Clone, Copy)]
struct Until {
    at: Instant,
    model: Deadline,
}

impl Until {
    fn new(timeout: Duration, model: Deadline) -> Until {
        Until { at: Instant::now() + model.cap(timeout), model }
    }

    fn left(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// The error for a request cut off at this point.
    fn expired(self, id: &str, what: &str, timeout: Duration) -> SourceError {
        if self.model.passed() {
            SourceError::Deadline { id: id.into(), path: what.into() }
        } else {
            SourceError::Network {
                id: id.into(),
                path: what.into(),
                message: format!("timed out: the request took longer than {}s in all", timeout.as_secs()),
            }
        }
    }
}

/// How much of a body to read.
#[derive(Clone, Copy)]
enum Limit {
    /// All of it; more than this many bytes is an error.
    AtMost(u64),
    /// This many bytes from its start; the rest is left unread (the connection is dropped).
    Prefix(u64),
}

impl HubSource {
    pub fn new(settings: HubSettings) -> Result<HubSource, String> {
        let endpoint = Url::parse(settings.endpoint.trim_end_matches('/'))
            .map_err(|e| format!("invalid endpoint {:?}: {e}", settings.endpoint))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(format!("invalid endpoint {:?}: expected http(s)://host", settings.endpoint));
        }
        if settings.token.is_some() && !settings.allow_insecure_token && !token_safe_at(&endpoint) {
            return Err(format!(
                "refusing to send the token over plain http:// to {}: anyone on the way could read it; use https, or allow it explicitly (--allow-insecure-token)",
                endpoint.host_str().unwrap_or("?")
            ));
        }
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("capcache/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
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
    pub(super) fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// `path` (already encoded, with its query) on the endpoint.
    pub(super) fn url(&self, path: &str) -> Url {
        let base = self.endpoint.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}")).expect("endpoint plus an encoded path is a URL")
    }

    fn resolve_url(&self, snap: &Snapshot, path: &str) -> Url {
        self.url(&format!("/{}/resolve/{}/{}", snap.id, encode(&snap.sha), encode_path(path)))
    }

    /// One attempt: the request and its redirects, up to the response headers, all within one
    /// request timeout and the model's deadline.
    fn send(
        &self,
        id: &str,
        what: &str,
        method: &Method,
        url: Url,
        range: Option<(u64, u64)>,
        deadline: Deadline,
    ) -> Result<Answer, SourceError> {
        self.send_hops(id, what, method, url, range, deadline, true, self.request_timeout)
    }

    /// [`send`](Self::send), or with `follow` false, the first answer, a redirect included; the
    /// request (its redirects and body) within `timeout`.
    #[allow(clippy::too_many_arguments)]
    fn send_hops(
        &self,
        id: &str,
        what: &str,
        method: &Method,
        url: Url,
        range: Option<(u64, u64)>,
        deadline: Deadline,
        follow: bool,
        timeout: Duration,
    ) -> Result<Answer, SourceError> {
        let until = Until::new(timeout, deadline);
        let mut url = url;
        let mut linked_size = None;
        let mut linked_etag = None;
        let mut commit = None;
        for _ in 0..=MAX_REDIRECTS {
            if until.left().is_zero() {
                return Err(until.expired(id, what, timeout));
            }
            let permit = self
                .limiter
                .acquire(url.host_str().unwrap_or(""), url.port_or_known_default(), until.at)
                .ok_or_else(|| until.expired(id, what, timeout))?;
            let mut req = self
                .client
                .request(method.clone(), url.clone())
                .header(ACCEPT_ENCODING, "identity")
                .timeout(until.left());
            if let Some((start, end)) = range {
                req = req.header(RANGE, format!("bytes={start}-{end}"));
            }
            if let Some(token) = &self.token
                && url.origin() == self.endpoint.origin()
            {
                req = req.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
            }
            debug!(method = %method, path = %url.path(), range = ?range, "request");
            let resp = req.send().map_err(|e| {
                if until.left().is_zero() { until.expired(id, what, timeout) } else { network(id, what, &e) }
            })?;
            self.counters.add(1, 0);
            let status = resp.status();
            commit = commit.or_else(|| header_str(resp.headers(), "x-repo-commit"));
            if status.is_redirection() && !follow {
                return Ok(Answer { resp, linked_size, linked_etag, commit, until, _permit: permit });
            }
            if status.is_redirection() {
                let headers = resp.headers();
                linked_size = header_u64(headers, "x-linked-size").or(linked_size);
                linked_etag = header_str(headers, "x-linked-etag").or(linked_etag);
                let location = header_str(headers, LOCATION.as_str()).ok_or_else(|| SourceError::Malformed {
                    id: id.into(),
                    path: what.into(),
                    message: format!("HTTP {status} without a Location header"),
                })?;
                url = url.join(&location).map_err(|e| SourceError::Malformed {
                    id: id.into(),
                    path: what.into(),
                    message: format!("redirect to an invalid location: {e}"),
                })?;
                continue;
            }
            if status.is_success() || status == StatusCode::RANGE_NOT_SATISFIABLE {
                return Ok(Answer { resp, linked_size, linked_etag, commit, until, _permit: permit });
            }
            return Err(classify(status, resp.headers(), id, what, self.token.is_some()));
        }
        Err(SourceError::Malformed { id: id.into(), path: what.into(), message: "too many redirects".into() })
    }

    /// Runs `op` with retries for retryable errors; never waits past the deadline.
    fn with_retry<T>(
        &self,
        id: &str,
        what: &str,
        deadline: Deadline,
        mut op: impl FnMut() -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let mut attempt = 0u32;
        loop {
            match op() {
                Err(e) if e.is_retryable() && attempt + 1 < self.retry.max_attempts => {
                    let wait = match &e {
                        SourceError::RateLimited { retry_after: Some(d), .. } => {
                            if *d > self.retry.max_wait {
                                return Err(e);
                            }
                            *d + jitter(Duration::from_millis(100))
                        }
                        _ => backoff(&self.retry, attempt),
                    };
                    if deadline.remaining().is_some_and(|left| left <= wait) {
                        return Err(e);
                    }
                    warn!(model = id, path = what, error = %e, wait_ms = wait.as_millis() as u64, "retrying");
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                other => return other,
            }
        }
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

    /// A `GET` of an API answer of at most `cap` bytes, retried like every request: the body and
    /// the `Link` header. `id` and `what` name the request in errors.
    pub(super) fn get_api(
        &self,
        id: &str,
        what: &str,
        url: &Url,
        cap: u64,
        deadline: Deadline,
    ) -> Result<(Vec<u8>, Option<String>), SourceError> {
        self.with_retry(id, what, deadline, || {
            let ans = self.send(id, what, &Method::GET, url.clone(), None, deadline)?;
            let link = header_str(ans.resp.headers(), "link");
            Ok((self.read_body(ans, Limit::AtMost(cap), id, what)?, link))
        })
    }

    /// Reads a body within the request's time, by `limit`; counts the bytes. A body that ends
    /// before its `Content-Length` is a network error.
    fn read_body(&self, ans: Answer, limit: Limit, id: &str, what: &str) -> Result<Vec<u8>, SourceError> {
        let Answer { mut resp, until, .. } = ans;
        let expected = resp.content_length();
        let cap = match limit {
            Limit::AtMost(cap) => {
                if let Some(len) = expected.filter(|len| *len > cap) {
                    return Err(SourceError::TooLarge { id: id.into(), path: what.into(), size: len, cap });
                }
                cap
            }
            Limit::Prefix(n) => n,
        };
        let mut body = Vec::with_capacity(expected.unwrap_or(0).min(cap).min(1 << 20) as usize);
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            if until.left().is_zero() {
                self.counters.add(0, body.len() as u64);
                return Err(until.expired(id, what, self.request_timeout));
            }
            let room = (cap + 1).saturating_sub(body.len() as u64).min(chunk.len() as u64) as usize;
            if room == 0 || (matches!(limit, Limit::Prefix(_)) && body.len() as u64 >= cap) {
                break;
            }
            match resp.read(&mut chunk[..room]) {
                Ok(0) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.counters.add(0, body.len() as u64);
                    if until.left().is_zero() {
                        return Err(until.expired(id, what, self.request_timeout));
                    }
                    return Err(SourceError::Network {
                        id: id.into(),
                        path: what.into(),
                        message: format!("reading the body: {e}"),
                    });
                }
            }
        }
        self.counters.add(0, body.len() as u64);
        match limit {
            Limit::AtMost(cap) if body.len() as u64 > cap => {
                Err(SourceError::TooLarge { id: id.into(), path: what.into(), size: body.len() as u64, cap })
            }
            Limit::AtMost(_) if expected.is_some_and(|n| n != body.len() as u64) => Err(SourceError::Network {
                id: id.into(),
                path: what.into(),
                message: format!("body ended after {} of {} bytes", body.len(), expected.unwrap_or(0)),
            }),
            Limit::Prefix(n) => {
                body.truncate(n as usize);
                Ok(body)
            }
            Limit::AtMost(_) => Ok(body),
        }
    }
}

impl HubSource {
    /// Streams a body into `out` within the request's time: at most `max` bytes (more is
    /// `TooLarge`, cut off as it arrives, or before a byte when its `Content-Length` says so);
    /// counts the bytes. A body that ends before its `Content-Length` is a network error.
    fn copy_body(
        &self,
        ans: Answer,
        max: u64,
        out: &mut dyn std::io::Write,
        id: &str,
        what: &str,
        timeout: Duration,
    ) -> Result<u64, SourceError> {
        let Answer { mut resp, until, .. } = ans;
        let expected = resp.content_length();
        if let Some(len) = expected.filter(|len| *len > max) {
            return Err(SourceError::TooLarge { id: id.into(), path: what.into(), size: len, cap: max });
        }
        let mut chunk = vec![0u8; 256 << 10];
        let mut done = 0u64;
        loop {
            if until.left().is_zero() {
                return Err(until.expired(id, what, timeout));
            }
            let room = max.saturating_add(1).saturating_sub(done).min(chunk.len() as u64) as usize;
            let n = match resp.read(&mut chunk[..room.max(1)]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if until.left().is_zero() => {
                    let _ = e;
                    return Err(until.expired(id, what, timeout));
                }
                Err(e) => {
                    let message = format!("reading the body after {done} bytes: {e}");
                    return Err(SourceError::Network { id: id.into(), path: what.into(), message });
                }
            };
            self.counters.add(0, n as u64);
            done += n as u64;
            if done > max {
                return Err(SourceError::TooLarge { id: id.into(), path: what.into(), size: done, cap: max });
            }
            out.write_all(&chunk[..n]).map_err(|e| SourceError::Io {
                id: id.into(),
                path: what.into(),
                message: format!("writing: {e}"),
            })?;
        }
        if let Some(len) = expected.filter(|len| *len != done) {
            let message = format!("body ended after {done} of {len} bytes");
            return Err(SourceError::Network { id: id.into(), path: what.into(), message });
        }
        Ok(done)
    }
}

/// Whether a token may go to `endpoint`: over https, or to a loopback host.
fn token_safe_at(endpoint: &Url) -> bool {
    let host = endpoint.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
    endpoint.scheme() == "https"
        || host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
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

/// A commit sha as the Hub gives it: 40 hex digits (64 for SHA-256 repos).
fn is_commit(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The most dtypes the Hub's parameter counts of one model may name (a checkpoint has a handful).
const MAX_DTYPES: usize = 64;

/// A model as the model API (and each entry of the model listing) describes it.
#[derive(serde::Deserialize)]
pub(super) struct ApiModel {
    sha: Option<String>,
    /// `None`: not asked for (`expand[]=siblings`).
    siblings: Option<Capped<ApiSibling, MAX_REPO_FILES>>,
    safetensors: Option<ApiSafetensors>,
}

/// An entry of a tree listing page (its other fields are skipped unread).
#[derive(serde::Deserialize)]
struct ApiTreeEntry {
    #[serde(rename = "type")]
    kind: String,
    path: Option<String>,
    size: Option<u64>,
}

#[derive(serde::Deserialize)]
struct ApiSibling {
    rfilename: String,
}

#[derive(serde::Deserialize)]
struct ApiSafetensors {
    parameters: Counts,
}

/// A JSON array of at most `N` items, refused past that as it is read (not after).
struct Capped<T, const N: usize>(Vec<T>);

impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::Deserialize<'de> for Capped<T, N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::de::Visitor<'de> for V<T, N> {
            type Value = Capped<T, N>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "an array of at most {N} items")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if out.len() == N {
                        return Err(serde::de::Error::custom(format!("more than {N} items")));
                    }
                    out.push(item);
                }
                Ok(Capped(out))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// The Hub's parameter counts by dtype: a JSON object of at most [`MAX_DTYPES`] entries, refused
/// past that as it is read.
struct Counts(BTreeMap<String, u64>);

impl<'de> serde::Deserialize<'de> for Counts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Counts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "an object of at most {MAX_DTYPES} dtypes and their counts")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((dtype, n)) = map.next_entry::<String, u64>()? {
                    if out.len() == MAX_DTYPES {
                        return Err(serde::de::Error::custom(format!("more than {MAX_DTYPES} dtypes")));
                    }
                    out.insert(dtype, n);
                }
                Ok(Counts(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl ApiModel {
    /// Whether the answer lists the repository's files.
    pub(super) fn has_files(&self) -> bool {
        self.siblings.is_some()
    }

    /// The model pinned at the answer's commit; `None` without a usable commit sha. Unsafe file
    /// paths are skipped with a warning.
    pub(super) fn into_snapshot(self, id: &ModelId) -> Option<Snapshot> {
        let sha = self.sha.filter(|s| is_commit(s))?;
        let siblings = self.siblings.map(|s| s.0).unwrap_or_default();
        let mut files = Vec::with_capacity(siblings.len());
        for s in siblings {
            match check_repo_path(&s.rfilename) {
                Ok(()) => files.push(s.rfilename),
                Err(e) => warn!(model = %id, "{e}; skipped"),
            }
        }
        Some(Snapshot::new(id.clone(), sha, files, self.safetensors.map(|s| s.parameters.0)))
    }
}

/// Maps an error status and its `X-Error-Code` to a typed error.
fn classify(status: StatusCode, headers: &HeaderMap, id: &str, what: &str, has_token: bool) -> SourceError {
    let (id, path) = (id.to_owned(), what.to_owned());
    match header_str(headers, "x-error-code").as_deref() {
        Some("GatedRepo") => return SourceError::Gated { id, path },
        Some("RepoNotFound") => return SourceError::RepoNotFound { id, path },
        Some("RevisionNotFound") => {
            let revision = what.rsplit("/revision/").next().unwrap_or("").to_owned();
            return SourceError::RevisionNotFound { id, revision, path };
        }
        Some("EntryNotFound") => return SourceError::EntryNotFound { id, path },
        _ => {}
    }
    match status.as_u16() {
        429 => SourceError::RateLimited { id, path, retry_after: retry_after(headers) },
        401 if !has_token => SourceError::RepoNotFound { id, path },
        401 | 403 => SourceError::Unauthorized { id, path, status: status.as_u16() },
        404 if what.starts_with("/api/") => SourceError::RepoNotFound { id, path },
        404 => SourceError::EntryNotFound { id, path },
        s @ 500..=599 => SourceError::Server { id, path, status: s },
        s => SourceError::Http { id, path, status: s },
    }
}

/// Seconds to wait from `Retry-After: N` or `RateLimit: "api";r=0;t=N`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(secs) = header_str(headers, "retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let rl = header_str(headers, "ratelimit")?;
    rl.split(';').find_map(|p| p.trim().strip_prefix("t=")).and_then(|t| t.trim().parse().ok()).map(Duration::from_secs)
}

/// `bytes a-b/total` (total may be `*`).
fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let total = if total == "*" { None } else { Some(total.parse().ok()?) };
    Some((a.parse().ok()?, b.parse().ok()?, total))
}

/// The `rel="next"` target of a `Link` header.
pub(super) fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name).and_then(|v| v.trim().parse().ok())
}

fn network(id: &str, what: &str, e: &reqwest::Error) -> SourceError {
    // reqwest errors carry the URL, which holds no secret (tokens go in headers only).
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    SourceError::Network { id: id.into(), path: what.into(), message }
}

pub(super) fn malformed(id: &str, what: &str, message: impl std::fmt::Display) -> SourceError {
    SourceError::Malformed { id: id.into(), path: what.into(), message: message.to_string() }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (`/` too: revisions like
/// `refs/pr/1` become one segment).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Encodes each segment of a repository path, keeping the `/` separators.
fn encode_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy.base_delay.saturating_mul(1u32 << attempt.min(16));
    let capped = exp.min(policy.max_delay);
    capped / 2 + jitter(capped / 2)
}

/// A pseudo-random duration in `[0, max)`, from the clock and thread (no RNG crate needed).
fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    let nanos = max.as_nanos().max(1) as u64;
    Duration::from_nanos(h.finish() % nanos)
}

/// Bounds requests in flight per host.
struct HostLimiter {
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

struct Semaphore {
    free: Mutex<usize>,
    cv: Condvar,
}

/// Returned to its semaphore on drop.
struct Permit(Arc<Semaphore>);

impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.cv.notify_one();
    }
}

impl HostLimiter {
    fn new(per_host: usize) -> HostLimiter {
        HostLimiter { per_host, hosts: Mutex::new(HashMap::new()) }
    }

    /// A slot for `host:port`, waiting for one until `until` at the latest (`None`: none came
    /// free in time). A lock a panicking thread held is taken over, not a reason to fail: the
    /// counts it guards are whole at every point.
    fn acquire(&self, host: &str, port: Option<u16>, until: Instant) -> Option<Permit> {
        let key = format!("{host}:{}", port.unwrap_or(0));
        let sem = Arc::clone(
            self.hosts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore { free: Mutex::new(self.per_host), cv: Condvar::new() })),
        );
        let mut free = sem.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            free = sem.cv.wait_timeout(free, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        *free -= 1;
        drop(free);
        Some(Permit(sem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_capped_as_they_are_read() {
        let list = |n: usize| format!("[{}]", vec!["1"; n].join(","));
        assert_eq!(serde_json::from_str::<Capped<u8, 3>>(&list(3)).unwrap().0.len(), 3);
        let e = serde_json::from_str::<Capped<u8, 3>>(&list(4)).err().unwrap();
        assert!(e.to_string().contains("more than 3 items"), "{e}");
        let counts = |n: usize| {
            let m: serde_json::Map<String, serde_json::Value> = (0..n).map(|i| (format!("D{i}"), 1.into())).collect();
            serde_json::json!({"sha": "0".repeat(40), "safetensors": {"parameters": m}}).to_string()
        };
        assert!(serde_json::from_str::<ApiModel>(&counts(MAX_DTYPES)).is_ok());
        let e = serde_json::from_str::<ApiModel>(&counts(MAX_DTYPES + 1)).err().unwrap();
        assert!(e.to_string().contains("more than 64 dtypes"), "{e}");
    }

    #[test]
    fn parses_protocol_headers() {
        assert_eq!(parse_content_range("bytes 0-99/1000"), Some((0, 99, Some(1000))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9, None)));
        assert_eq!(parse_content_range("bytes x-9/10"), None);
        assert_eq!(
            next_link("<https://h/api/models/a/b/tree/main?cursor=xyz>; rel=\"next\""),
            Some("https://h/api/models/a/b/tree/main?cursor=xyz".into())
        );
        let mut h = HeaderMap::new();
        h.insert("ratelimit", "\"api\";r=0;t=37".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(37)));
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        assert_eq!(encode("refs/pr/1"), "refs%2Fpr%2F1");
        assert_eq!(encode_path("a b/c.json"), "a%20b/c.json");
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = Token::new("hf_secretsecret");
        assert!(!format!("{t:?}").contains("secret"));
        let s = HubSettings { token: Some(t), ..HubSettings::new("http://127.0.0.1:1") };
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn the_limiter_waits_until_a_deadline_and_takes_over_poisoned_locks() {
        let l = HostLimiter::new(1);
        let far = Instant::now() + Duration::from_secs(30);
        let permit = l.acquire("h", Some(1), far).unwrap();
        // Threads panic while holding the host map's lock and the semaphore's.
        std::thread::scope(|s| {
            let sem = &permit.0;
            assert!(
                s.spawn(|| {
                    let _g = sem.free.lock().unwrap();
                    panic!("boom")
                })
                .join()
                .is_err()
            );
            assert!(
                s.spawn(|| {
                    let _g = l.hosts.lock().unwrap();
                    panic!("boom")
                })
                .join()
                .is_err()
            );
        });
        let started = Instant::now();
        assert!(l.acquire("h", Some(1), Instant::now() + Duration::from_millis(100)).is_none(), "the slot is held");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(permit);
        let again = l.acquire("h", Some(1), far);
        assert!(again.is_some(), "a poisoned lock is no reason to fail");
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        for a in 0..40 {
            assert!(backoff(&p, a) <= p.max_delay);
        }
    }
}
