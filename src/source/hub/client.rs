//! One Hub request over the shared reqwest client: its redirect hops followed by hand (the token
//! only on the endpoint's origin; `X-Linked-Size` / `X-Linked-Etag` kept from the hops), a permit
//! of the per-host limit held until its body is read, a total deadline per request (connect,
//! headers and the whole body: a server that drips a byte a second is cut off) never past the
//! model's own, bodies read up to a cap or a prefix, and error statuses mapped to typed errors
//! (`X-Error-Code` first).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::blocking::Response;
use reqwest::header::{ACCEPT_ENCODING, AUTHORIZATION, HeaderMap, LOCATION, RANGE};
use reqwest::{Method, StatusCode, Url};
use tracing::debug;

use super::super::{Deadline, SourceError};
use super::HubSource;
use super::headers::{header_str, header_u64, retry_after};
use super::limiter::Permit;

/// Redirect hops followed.
const MAX_REDIRECTS: usize = 5;

/// A response with what its redirects said.
pub(super) struct Answer {
    pub(super) resp: Response,
    pub(super) linked_size: Option<u64>,
    pub(super) linked_etag: Option<String>,
    /// `X-Repo-Commit` of the first answer that had one (the `/resolve` answer, before a redirect).
    pub(super) commit: Option<String>,
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
pub(super) enum Limit {
    /// All of it; more than this many bytes is an error.
    AtMost(u64),
    /// This many bytes from its start; the rest is left unread (the connection is dropped).
    Prefix(u64),
}

impl HubSource {
    /// One attempt: the request and its redirects, up to the response headers, all within one
    /// request timeout and the model's deadline.
    pub(super) fn send(
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
    /// request (its hops, the wait for a host slot, and its body) within `timeout`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_hops(
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

    /// A `GET` of an API answer of at most `cap` bytes, retried like every request: the body and
    /// the `Link` header. `id` and `what` name the request in errors.
    pub(crate) fn get_api(
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

    /// A `GET` of `path` on the endpoint (encoded, with its query) of at most `cap` bytes,
    /// retried like every request; `what` names it in errors (e.g. a dataset repository). For
    /// files outside model repositories (`capcache update` reads a dataset's).
    pub fn get_bytes(&self, what: &str, path: &str, cap: u64, deadline: Deadline) -> Result<Vec<u8>, SourceError> {
        let url = self.url(path);
        self.get_api(what, path, &url, cap, deadline).map(|(body, _)| body)
    }

    /// Reads a body within the request's time, by `limit`; counts the bytes. A body that ends
    /// before its `Content-Length` is a network error.
    pub(super) fn read_body(&self, ans: Answer, limit: Limit, id: &str, what: &str) -> Result<Vec<u8>, SourceError> {
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
    pub(super) fn copy_body(
        &self,
        ans: Answer,
        max: u64,
        out: &mut dyn Write,
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
                Err(_) if until.left().is_zero() => return Err(until.expired(id, what, timeout)),
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
