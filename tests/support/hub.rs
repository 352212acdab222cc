//! The fixture hub: a loopback HTTP/1.1 server that speaks the Hugging Face Hub protocol over
//! in-memory and on-disk model files, for capcache's tests and benchmarks. It never touches the
//! real Hub.
//!
//! Serves the model listing `/api/models` (filters, sort keys, `limit` pages of at most 1000,
//! `expand[]`, opaque cursors in an absolute `Link`), `/api/models/{id}[/revision/{rev}]` (with
//! `expand[]` fields), `/api/models/{id}/tree/{rev}` (paginated with `Link`), and
//! `/{id}/resolve/{rev}/{path}` (GET/HEAD, `Range`, `ETag`,
//! `X-Repo-Commit`); weight files redirect (302) to a second listener acting as the CDN, with
//! `X-Linked-Size`, on URLs signed for exactly one range, as Xet URLs are. Per-model faults: gated,
//! missing, 429s, 5xx, resets and truncation mid-body, ignored ranges, wrong `Content-Range`,
//! changing ETags, latency; the listing has its own 429s and 5xx, and can point its `Link` at another
//! host. Every request is logged with its bytes served and its `Authorization`. Dataset
//! repositories (added with [`FixtureHub::add_dataset`], logged as `datasets/{org}/{name}`) serve
//! `/api/datasets/{id}/revision/{rev}` (`sha`, `siblings`) and
//! `/datasets/{id}/resolve/{rev}/{path}`.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A file's content.
#[derive(Clone)]
pub enum Body {
    Bytes(Arc<Vec<u8>>),
    /// Read from disk on demand.
    File(PathBuf),
    /// `len` bytes of `fill` except the given parts (offset, bytes): a huge checkpoint from its
    /// header (and, for zips, its central directory) alone.
    Sparse {
        parts: Arc<Vec<(u64, Vec<u8>)>>,
        len: u64,
        fill: u8,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Body::Sparse { len, .. } => *len,
        }
    }

    /// Bytes `[start, start + len)`.
    fn slice(&self, start: u64, len: u64) -> Vec<u8> {
        match self {
            Body::Bytes(b) => b[start as usize..(start + len) as usize].to_vec(),
            Body::File(p) => {
                let mut f = std::fs::File::open(p).expect("fixture file");
                f.seek(SeekFrom::Start(start)).unwrap();
                let mut out = Vec::with_capacity(len as usize);
                f.take(len).read_to_end(&mut out).unwrap();
                out
            }
            Body::Sparse { parts, fill, .. } => {
                let mut out = vec![*fill; len as usize];
                for (at, bytes) in parts.iter() {
                    let (lo, hi) = ((*at).max(start), (at + bytes.len() as u64).min(start + len));
                    if lo < hi {
                        out[(lo - start) as usize..(hi - start) as usize]
                            .copy_from_slice(&bytes[(lo - at) as usize..(hi - at) as usize]);
                    }
                }
                out
            }
        }
    }
}

/// Misbehaviours of one model's endpoints. Counted faults apply to that many requests, then stop.
#[derive(Clone, Default, Debug)]
pub struct Faults {
    /// `/resolve` needs a token; 401 without one, 403 with a token that has no access.
    pub gated: bool,
    /// The repository does not exist (404 `RepoNotFound`).
    pub missing: bool,
    /// Answer this many requests with 429.
    pub rate_limit: u32,
    /// Say the wait in `RateLimit: "api";r=0;t=N` rather than `Retry-After`.
    pub rate_limit_header: bool,
    /// Seconds a 429 asks to wait.
    pub retry_after_secs: u64,
    /// Answer this many requests with 503.
    pub server_errors: u32,
    /// Answer this many CDN requests with 503 (the API and small files stay healthy).
    pub cdn_errors: u32,
    /// Reset the connection mid-body this many times.
    pub resets: u32,
    /// Close the connection after half the body this many times (Content-Length says more).
    pub truncations: u32,
    /// Answer ranged requests with 200 and the whole file.
    pub ignore_range: bool,
    /// Answer ranged requests with a Content-Range that starts one byte late.
    pub wrong_content_range: bool,
    /// Give every response of a file a new ETag.
    pub etag_changes: bool,
    /// Added before every response.
    pub latency: Duration,
    /// Bodies trickle out at this many bytes per second.
    pub throttle: Option<u64>,
    /// Weight files are listed (tree listing, `X-Linked-Size`) as this many bytes, whatever they hold.
    pub listed_size: Option<u64>,
    /// Every file's `ETag` and `X-Linked-Etag` say this instead (a lying mirror: `../../x`).
    pub etag: Option<String>,
    /// `/resolve` answers' `X-Repo-Commit` says this instead of the repository's commit.
    pub repo_commit: Option<String>,
}

/// What the model listing says about a repository besides its files.
#[derive(Clone, Debug)]
pub struct Meta {
    pub tags: Vec<String>,
    pub pipeline_tag: Option<String>,
    pub library_name: Option<String>,
    /// Apps that support the model (`apps=` filter).
    pub apps: Vec<String>,
    pub downloads: u64,
    pub likes: u64,
    pub trending_score: u64,
    pub created_at: String,
    pub last_modified: String,
}

impl Default for Meta {
    fn default() -> Meta {
        Meta {
            tags: Vec::new(),
            pipeline_tag: None,
            library_name: None,
            apps: Vec::new(),
            downloads: 0,
            likes: 0,
            trending_score: 0,
            created_at: "2025-01-01T00:00:00.000Z".into(),
            last_modified: "2025-01-01T00:00:00.000Z".into(),
        }
    }
}

/// One model repository.
#[derive(Clone)]
pub struct Repo {
    pub sha: String,
    pub files: BTreeMap<String, Body>,
    /// The API's `safetensors` field (`None`: absent, as for repos the Hub has no metadata for).
    pub api_safetensors: Option<serde_json::Value>,
    pub meta: Meta,
    pub faults: Faults,
}

impl Repo {
    pub fn new(id: &str) -> Repo {
        Repo {
            sha: sha_of(id),
            files: BTreeMap::new(),
            api_safetensors: None,
            meta: Meta::default(),
            faults: Faults::default(),
        }
    }
    pub fn meta(mut self, meta: Meta) -> Repo {
        self.meta = meta;
        self
    }
    pub fn bytes(mut self, path: &str, bytes: impl Into<Vec<u8>>) -> Repo {
        self.files.insert(path.into(), Body::Bytes(Arc::new(bytes.into())));
        self
    }
    pub fn disk(mut self, path: &str, file: impl Into<PathBuf>) -> Repo {
        self.files.insert(path.into(), Body::File(file.into()));
        self
    }
    pub fn sparse(self, path: &str, head: Vec<u8>, len: u64) -> Repo {
        self.segments(path, vec![(0, head)], len)
    }
    pub fn segments(mut self, path: &str, parts: Vec<(u64, Vec<u8>)>, len: u64) -> Repo {
        self.files.insert(path.into(), Body::Sparse { parts: Arc::new(parts), len, fill: 0 });
        self
    }
    /// Like [`Repo::segments`], with `fill` between the parts.
    pub fn filled(mut self, path: &str, parts: Vec<(u64, Vec<u8>)>, len: u64, fill: u8) -> Repo {
        self.files.insert(path.into(), Body::Sparse { parts: Arc::new(parts), len, fill });
        self
    }
    pub fn api_safetensors(mut self, parameters: &BTreeMap<String, u64>) -> Repo {
        let total: u64 = parameters.values().sum();
        self.api_safetensors = Some(serde_json::json!({"parameters": parameters, "total": total}));
        self
    }
    pub fn faults(mut self, faults: Faults) -> Repo {
        self.faults = faults;
        self
    }
    /// Loads every file below `dir` from disk.
    pub fn from_dir(id: &str, dir: &Path) -> Repo {
        let mut repo = Repo::new(id);
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                    repo.files.insert(rel, Body::File(p));
                }
            }
        }
        repo
    }
}

/// A deterministic 40-hex commit sha for an id.
pub fn sha_of(id: &str) -> String {
    let mut h = capcache::fnv::Fnv1a::new();
    let mut out = String::new();
    for round in 0..3u8 {
        h.write(id.as_bytes());
        h.write(&[round]);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(40);
    out
}

/// One request as the fixture hub saw it.
#[derive(Clone, Debug)]
pub struct Hit {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    pub model: Option<String>,
    pub range: Option<String>,
    pub status: u16,
    /// Body bytes written to the socket.
    pub bytes: u64,
    pub authorization: Option<String>,
    /// Served by the CDN listener.
    pub cdn: bool,
}

struct State {
    repos: Mutex<BTreeMap<String, Repo>>,
    log: Mutex<Vec<Hit>>,
    /// A token that opens gated repos.
    token: Mutex<Option<String>>,
    tree_page: Mutex<usize>,
    /// The tree listing's `Link` points back at its first page, for ever.
    tree_loops: Mutex<bool>,
    /// The most entries a listing page holds, whatever `limit` asks.
    listing_page: Mutex<usize>,
    /// Faults of the listing itself (429s, 5xx, latency).
    listing_faults: Mutex<Faults>,
    /// The origin the listing's `Link` points at (`None`: the hub's own).
    listing_link_base: Mutex<Option<String>>,
    base: Mutex<String>,
    cdn_base: Mutex<String>,
    etag_counter: Mutex<u64>,
    /// Requests being answered now, and the most seen at once (main listener).
    in_flight: Mutex<(usize, usize)>,
    /// Requests read and not yet logged (both listeners): the log waits for them, so a client that
    /// has its answer finds its request in the log.
    unlogged: Mutex<usize>,
}

/// A running fixture hub. Its threads live until the process ends.
pub struct FixtureHub {
    pub url: String,
    pub cdn_url: String,
    state: Arc<State>,
}

impl FixtureHub {
    /// Starts the hub and its CDN on loopback, ports chosen by the OS.
    pub fn start() -> FixtureHub {
        let state = Arc::new(State {
            repos: Mutex::new(BTreeMap::new()),
            log: Mutex::new(Vec::new()),
            token: Mutex::new(None),
            tree_page: Mutex::new(50),
            tree_loops: Mutex::new(false),
            listing_page: Mutex::new(1000),
            listing_faults: Mutex::new(Faults::default()),
            listing_link_base: Mutex::new(None),
            base: Mutex::new(String::new()),
            cdn_base: Mutex::new(String::new()),
            etag_counter: Mutex::new(0),
            in_flight: Mutex::new((0, 0)),
            unlogged: Mutex::new(0),
        });
        let main = TcpListener::bind("127.0.0.1:0").expect("bind fixture hub");
        let cdn = TcpListener::bind("127.0.0.1:0").expect("bind fixture CDN");
        let url = format!("http://{}", main.local_addr().unwrap());
        let cdn_url = format!("http://{}", cdn.local_addr().unwrap());
        *state.base.lock().unwrap() = url.clone();
        *state.cdn_base.lock().unwrap() = cdn_url.clone();
        for (listener, is_cdn) in [(main, false), (cdn, true)] {
            let state = Arc::clone(&state);
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || serve_connection(stream, &state, is_cdn));
                }
            });
        }
        FixtureHub { url, cdn_url, state }
    }

    pub fn add(&self, id: &str, repo: Repo) {
        self.state.repos.lock().unwrap().insert(id.into(), repo);
    }
    /// A dataset repository `org/name`; [`FixtureHub::with_repo`] reaches it as
    /// `datasets/org/name`.
    pub fn add_dataset(&self, id: &str, repo: Repo) {
        self.state.repos.lock().unwrap().insert(format!("datasets/{id}"), repo);
    }
    pub fn set_faults(&self, id: &str, faults: Faults) {
        self.state.repos.lock().unwrap().get_mut(id).expect("repo").faults = faults;
    }
    pub fn with_repo<T>(&self, id: &str, f: impl FnOnce(&mut Repo) -> T) -> T {
        f(self.state.repos.lock().unwrap().get_mut(id).expect("repo"))
    }
    pub fn set_token(&self, token: &str) {
        *self.state.token.lock().unwrap() = Some(token.into());
    }
    pub fn set_tree_page(&self, n: usize) {
        *self.state.tree_page.lock().unwrap() = n;
    }

    /// The tree listing's `Link` points back at its first page, whatever page is read.
    pub fn set_tree_loops(&self) {
        *self.state.tree_loops.lock().unwrap() = true;
    }
    /// Listing pages hold at most `n` entries.
    pub fn set_listing_page(&self, n: usize) {
        *self.state.listing_page.lock().unwrap() = n;
    }
    pub fn set_listing_faults(&self, faults: Faults) {
        *self.state.listing_faults.lock().unwrap() = faults;
    }
    /// The listing's `Link` points at `base` (another host) instead of the hub.
    pub fn set_listing_link_base(&self, base: &str) {
        *self.state.listing_link_base.lock().unwrap() = Some(base.into());
    }
    /// Redirects to the CDN point at `base` (a front for the CDN listener) instead of the
    /// listener itself.
    pub fn set_cdn_base(&self, base: &str) {
        *self.state.cdn_base.lock().unwrap() = base.into();
    }
    /// Requests to the model listing.
    pub fn listing_hits(&self) -> Vec<Hit> {
        self.log().into_iter().filter(|h| is_listing(&h.target)).collect()
    }
    /// The most requests the main listener answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.in_flight.lock().unwrap().1
    }
    pub fn log(&self) -> Vec<Hit> {
        self.settle();
        self.state.log.lock().unwrap().clone()
    }
    pub fn clear_log(&self) {
        self.settle();
        self.state.log.lock().unwrap().clear();
    }
    /// Waits (at most 10 s) until every request read so far is in the log: a response reaches the
    /// client before its hit is logged.
    fn settle(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while *self.state.unlogged.lock().unwrap() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    pub fn hits_for(&self, id: &str) -> Vec<Hit> {
        self.log().into_iter().filter(|h| h.model.as_deref() == Some(id)).collect()
    }
    /// Requests that reached a file's bytes (`/resolve` answered directly, or the CDN).
    pub fn file_reads(&self, id: &str) -> Vec<Hit> {
        self.hits_for(id).into_iter().filter(|h| h.cdn || (h.target.contains("/resolve/") && h.status != 302)).collect()
    }
    pub fn bytes_for(&self, id: &str) -> u64 {
        self.hits_for(id).iter().map(|h| h.bytes).sum()
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    let mut total = 0;
    loop {
        let mut h = String::new();
        let n = reader.read_line(&mut h).ok()?;
        total += n;
        if n == 0 || total > 64 * 1024 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let req = Request { method, target, headers };
    if let Some(len) = req.header("content-length").and_then(|v| v.parse::<u64>().ok()) {
        std::io::copy(&mut reader.take(len.min(1 << 20)), &mut std::io::sink()).ok()?;
    }
    Some(req)
}

/// What to send.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Bytes the headers announce (differs from `body` for HEAD and truncation).
    content_length: u64,
    end: End,
}

#[derive(PartialEq)]
enum End {
    KeepAlive,
    /// Send half the body, then close.
    Truncate,
    /// Send half the body, then reset.
    Reset,
}

impl Reply {
    fn new(status: u16, body: Vec<u8>) -> Reply {
        Reply { status, headers: Vec::new(), content_length: body.len() as u64, body, end: End::KeepAlive }
    }
    fn json(status: u16, v: &serde_json::Value) -> Reply {
        Reply::new(status, serde_json::to_vec(v).unwrap()).header("Content-Type", "application/json")
    }
    fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(status, &serde_json::json!({"error": message}))
            .header("X-Error-Code", code)
            .header("X-Error-Message", message)
    }
    fn header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

fn serve_connection(stream: TcpStream, state: &State, is_cdn: bool) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut stream = stream;
    while let Some(req) = read_request(&mut reader) {
        *state.unlogged.lock().unwrap() += 1;
        let (model, reply, latency) = route(&req, state, is_cdn);
        let throttle =
            model.as_deref().and_then(|m| state.repos.lock().unwrap().get(m).and_then(|r| r.faults.throttle));
        // Requests in flight are counted while they wait out the latency: a client cannot see the
        // answer before the count drops, so the count never includes a request already answered.
        if !is_cdn {
            let mut f = state.in_flight.lock().unwrap();
            f.0 += 1;
            f.1 = f.1.max(f.0);
        }
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        if !is_cdn {
            state.in_flight.lock().unwrap().0 -= 1;
        }
        let head_only = req.method == "HEAD";
        let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.content_length));
        let mut written = 0u64;
        let mut ok = stream.write_all(head.as_bytes()).is_ok();
        if ok && !head_only {
            let send = if reply.end == End::KeepAlive { reply.body.len() } else { reply.body.len() / 2 };
            // Throttled bodies go out in pieces of a tenth of a second's worth (a byte at a time
            // at one byte a second), as a slow or hostile server drips them.
            let piece = throttle.map_or(64 * 1024, |rate| (rate / 10).clamp(1, 64 * 1024) as usize);
            for chunk in reply.body[..send].chunks(piece) {
                if stream.write_all(chunk).is_err() {
                    ok = false;
                    break;
                }
                written += chunk.len() as u64;
                if let Some(rate) = throttle {
                    std::thread::sleep(Duration::from_secs_f64(chunk.len() as f64 / rate.max(1) as f64));
                }
            }
        }
        let control = req.target.starts_with("/_fixture/");
        if !control {
            state.log.lock().unwrap().push(Hit {
                method: req.method.clone(),
                target: req.target.clone(),
                model,
                range: req.header("range").map(str::to_owned),
                status: reply.status,
                bytes: written,
                authorization: req.header("authorization").map(str::to_owned),
                cdn: is_cdn,
            });
        }
        *state.unlogged.lock().unwrap() -= 1;
        match reply.end {
            End::KeepAlive if ok => continue,
            End::Reset => {
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                return;
            }
            _ => {
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_lfs(path: &str) -> bool {
    [".safetensors", ".bin", ".gguf", ".pt", ".pth", ".ckpt"].iter().any(|e| path.ends_with(e))
}

/// Routes a request: `(model id for the log, reply, latency)`.
fn route(req: &Request, state: &State, is_cdn: bool) -> (Option<String>, Reply, Duration) {
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    if path == "/_fixture/stats" {
        let log = state.log.lock().unwrap();
        let bytes: u64 = log.iter().map(|h| h.bytes).sum();
        let max_in_flight = state.in_flight.lock().unwrap().1;
        let v = serde_json::json!({"requests": log.len(), "bytes": bytes, "max_in_flight": max_in_flight});
        return (None, Reply::json(200, &v), Duration::ZERO);
    }
    if path == "/_fixture/reset" {
        state.log.lock().unwrap().clear();
        state.in_flight.lock().unwrap().1 = 0;
        return (None, Reply::json(200, &serde_json::json!({"reset": true})), Duration::ZERO);
    }
    if !is_cdn && is_listing(path) {
        let mut faults = state.listing_faults.lock().unwrap();
        let latency = faults.latency;
        let reply = injected(&mut faults, false).unwrap_or_else(|| {
            drop(faults);
            listing(state, query)
        });
        return (None, reply, latency);
    }
    let segs: Vec<String> = path.trim_start_matches('/').split('/').map(percent_decode).collect();
    if !is_cdn && (segs[0] == "datasets" || (segs[0] == "api" && segs.get(1).map(String::as_str) == Some("datasets"))) {
        return dataset(req, state, &segs);
    }
    let model = if is_cdn {
        segs.get(1..3).map(|s| s.join("/"))
    } else if segs.first().map(String::as_str) == Some("api") {
        segs.get(2..4).map(|s| s.join("/"))
    } else {
        segs.get(0..2).map(|s| s.join("/"))
    };
    let Some(model) = model else { return (None, Reply::new(404, b"no route".to_vec()), Duration::ZERO) };
    let mut repos = state.repos.lock().unwrap();
    let Some(repo) = repos.get_mut(&model) else {
        let reply = if req.header("authorization").is_some() {
            Reply::error(404, "RepoNotFound", "Repository not found")
        } else {
            Reply::error(401, "RepoNotFound", "Repository not found")
        };
        return (Some(model), reply, Duration::ZERO);
    };
    let latency = repo.faults.latency;
    let f = &mut repo.faults;
    if f.missing {
        return (Some(model), Reply::error(404, "RepoNotFound", "Repository not found"), latency);
    }
    if let Some(reply) = injected(f, is_cdn) {
        return (Some(model), reply, latency);
    }
    let repo = repo.clone();
    drop(repos);
    let reply = if is_cdn {
        cdn(req, state, &repo, &model, &segs, query)
    } else if segs[0] == "api" {
        api(req, state, &repo, &model, &segs, query)
    } else if segs.get(2).map(String::as_str) == Some("resolve") && segs.len() >= 5 {
        resolve(req, state, &repo, &model, &segs)
    } else {
        Reply::new(404, b"no route".to_vec())
    };
    (Some(model), reply, latency)
}

/// A counted 429 or 5xx fault, if one is due (and counts it down).
fn injected(f: &mut Faults, is_cdn: bool) -> Option<Reply> {
    if f.rate_limit > 0 {
        f.rate_limit -= 1;
        let wait = f.retry_after_secs.to_string();
        let reply = Reply::error(429, "RateLimited", "Too many requests");
        return Some(if f.rate_limit_header {
            reply
                .header("RateLimit", format!("\"api\";r=0;t={wait}"))
                .header("RateLimit-Policy", "\"fixed window\";q=500;w=300")
        } else {
            reply.header("Retry-After", wait)
        });
    }
    if f.server_errors > 0 || (is_cdn && f.cdn_errors > 0) {
        if f.server_errors > 0 {
            f.server_errors -= 1;
        } else {
            f.cdn_errors -= 1;
        }
        return Some(Reply::new(503, b"upstream unavailable".to_vec()));
    }
    None
}

fn is_listing(target: &str) -> bool {
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    path == "/api/models" || path == "/api/models/"
}

/// The query's `(key, value)` pairs, decoded (`+` is a space).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

/// The values of `key` in decoded query pairs.
fn values<'a>(pairs: &'a [(String, String)], key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The fields the listing and the model API can expand.
const EXPAND: &[&str] = &[
    "author",
    "createdAt",
    "downloads",
    "gated",
    "lastModified",
    "library_name",
    "likes",
    "pipeline_tag",
    "private",
    "safetensors",
    "sha",
    "siblings",
    "tags",
    "trendingScore",
];

/// A model as the API describes it, with the fields `want` names.
fn model_json(repo: &Repo, model: &str, want: &dyn Fn(&str) -> bool) -> serde_json::Value {
    let mut v = serde_json::json!({"_id": &sha_of(model)[..24], "id": model});
    let m = &repo.meta;
    let fields: [(&str, serde_json::Value); 12] = [
        ("author", model.split('/').next().unwrap_or_default().into()),
        ("createdAt", m.created_at.clone().into()),
        ("downloads", m.downloads.into()),
        ("gated", if repo.faults.gated { "manual".into() } else { false.into() }),
        ("lastModified", m.last_modified.clone().into()),
        ("library_name", m.library_name.clone().into()),
        ("likes", m.likes.into()),
        ("pipeline_tag", m.pipeline_tag.clone().into()),
        ("private", false.into()),
        ("sha", repo.sha.clone().into()),
        ("tags", m.tags.clone().into()),
        ("trendingScore", m.trending_score.into()),
    ];
    for (k, value) in fields {
        if want(k) {
            v[k] = value;
        }
    }
    if want("siblings") {
        v["siblings"] = repo.files.keys().map(|k| serde_json::json!({"rfilename": k})).collect();
    }
    if want("safetensors")
        && let Some(s) = &repo.api_safetensors
    {
        v["safetensors"] = s.clone();
    }
    v
}

/// `GET /api/models`: filters, sort (most first, ties by id), pages of `min(limit, page)` entries
/// with an opaque cursor in an absolute `Link`.
fn listing(state: &State, query: &str) -> Reply {
    let pairs = query_pairs(query);
    let all = |key: &'static str| values(&pairs, key);
    let one = |key: &'static str| values(&pairs, key).next();
    let expand: Vec<&str> = all("expand[]").chain(all("expand")).collect();
    if let Some(bad) = expand.iter().find(|e| !EXPAND.contains(e)) {
        return Reply::json(400, &serde_json::json!({"error": format!("invalid expand value {bad}")}));
    }
    let limit = match one("limit").map(str::parse::<usize>) {
        None => 1000,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return Reply::json(400, &serde_json::json!({"error": "limit must be between 1 and 1000"})),
    };
    let sort = one("sort");
    if sort.is_some_and(|s| !["downloads", "likes", "trendingScore", "lastModified", "createdAt"].contains(&s)) {
        return Reply::json(400, &serde_json::json!({"error": "invalid sort"}));
    }
    let cursor: usize = match one("cursor").map(|c| c.strip_prefix("fx").map(|n| usize::from_str_radix(n, 16))) {
        None => 0,
        Some(Some(Ok(n))) => n,
        Some(_) => return Reply::json(400, &serde_json::json!({"error": "invalid cursor"})),
    };
    let repos = state.repos.lock().unwrap();
    let mut hits: Vec<(&String, &Repo)> = repos
        .iter()
        .filter(|(id, r)| {
            let lower = id.to_ascii_lowercase();
            !r.faults.missing
                && one("author").is_none_or(|a| id.split('/').next().is_some_and(|o| o.eq_ignore_ascii_case(a)))
                && all("search").all(|s| lower.contains(&s.to_ascii_lowercase()))
                && all("filter").all(|t| r.meta.tags.iter().any(|x| x == t))
                && one("pipeline_tag").is_none_or(|p| r.meta.pipeline_tag.as_deref() == Some(p))
                && all("apps").all(|a| r.meta.apps.iter().any(|x| x == a))
                && one("gated").is_none_or(|g| (g == "true") == r.faults.gated)
        })
        .collect();
    let key = |r: &Repo| -> (u64, String) {
        match sort {
            Some("downloads") => (r.meta.downloads, String::new()),
            Some("likes") => (r.meta.likes, String::new()),
            Some("trendingScore") => (r.meta.trending_score, String::new()),
            Some("lastModified") => (0, r.meta.last_modified.clone()),
            Some("createdAt") => (0, r.meta.created_at.clone()),
            _ => (0, String::new()),
        }
    };
    hits.sort_by(|(a_id, a), (b_id, b)| key(b).cmp(&key(a)).then_with(|| a_id.cmp(b_id)));
    let page = limit.min(*state.listing_page.lock().unwrap());
    let want = |f: &str| {
        if expand.is_empty() {
            ["likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag", "library_name", "createdAt"]
                .contains(&f)
        } else {
            expand.contains(&f)
        }
    };
    let entries: Vec<serde_json::Value> = hits
        .iter()
        .skip(cursor)
        .take(page)
        .map(|(id, r)| {
            let mut v = model_json(r, id, &want);
            if expand.is_empty() {
                v["modelId"] = id.as_str().into();
            }
            v
        })
        .collect();
    let mut reply = Reply::json(200, &serde_json::Value::Array(entries));
    if cursor + page < hits.len() {
        let base =
            state.listing_link_base.lock().unwrap().clone().unwrap_or_else(|| state.base.lock().unwrap().clone());
        let kept: Vec<&str> = query.split('&').filter(|kv| !kv.starts_with("cursor=")).collect();
        let next = format!("{base}/api/models?{}&cursor=fx{:x}", kept.join("&"), cursor + page);
        reply = reply.header("Link", format!("<{next}>; rel=\"next\""));
    }
    reply
}

/// A dataset repository's API answer or file: `segs` from `api/datasets/...` or `datasets/...`.
fn dataset(req: &Request, state: &State, segs: &[String]) -> (Option<String>, Reply, Duration) {
    let api = segs[0] == "api";
    let s = if api { &segs[1..] } else { segs };
    let Some(key) = s.get(1..3).map(|p| format!("datasets/{}", p.join("/"))) else {
        return (None, Reply::new(404, b"no route".to_vec()), Duration::ZERO);
    };
    let Some(repo) = state.repos.lock().unwrap().get(&key).cloned() else {
        return (Some(key), Reply::error(404, "RepoNotFound", "Repository not found"), Duration::ZERO);
    };
    let latency = repo.faults.latency;
    let reply = match (api, s.get(3).map(String::as_str), s.get(4)) {
        (true, Some("revision"), Some(rev)) if s.len() == 5 => {
            if revision_ok(&repo, rev) {
                let siblings: Vec<serde_json::Value> =
                    repo.files.keys().map(|k| serde_json::json!({"rfilename": k})).collect();
                Reply::json(
                    200,
                    &serde_json::json!({"id": &key["datasets/".len()..], "sha": repo.sha, "siblings": siblings}),
                )
            } else {
                Reply::error(404, "RevisionNotFound", &format!("Invalid rev id: {rev}"))
            }
        }
        (false, Some("resolve"), Some(_)) if s.len() >= 6 => resolve(req, state, &repo, &key, &s[1..]),
        _ => Reply::new(404, b"no route".to_vec()),
    };
    (Some(key), reply, latency)
}

fn revision_ok(repo: &Repo, rev: &str) -> bool {
    rev == "main" || rev == repo.sha
}

fn api(req: &Request, state: &State, repo: &Repo, model: &str, segs: &[String], query: &str) -> Reply {
    let rev = match segs.get(4).map(String::as_str) {
        None => "main".to_owned(),
        Some("revision") | Some("tree") => segs.get(5).cloned().unwrap_or_default(),
        Some(_) => return Reply::new(404, b"no route".to_vec()),
    };
    if !revision_ok(repo, &rev) {
        return Reply::error(404, "RevisionNotFound", &format!("Invalid rev id: {rev}"));
    }
    if segs.get(4).map(String::as_str) == Some("tree") {
        return tree(state, repo, model, query);
    }
    let _ = req;
    let expand: Vec<String> =
        query_pairs(query).into_iter().filter(|(k, _)| k == "expand[]" || k == "expand").map(|(_, v)| v).collect();
    let want = |f: &str| expand.is_empty() || expand.iter().any(|e| e == f);
    Reply::json(200, &model_json(repo, model, &want))
}

fn tree(state: &State, repo: &Repo, model: &str, query: &str) -> Reply {
    let page = *state.tree_page.lock().unwrap();
    let cursor: usize =
        query.split('&').find_map(|kv| kv.strip_prefix("cursor=")).and_then(|c| c.parse().ok()).unwrap_or(0);
    let entries: Vec<serde_json::Value> = repo
        .files
        .iter()
        .skip(cursor)
        .take(page)
        .map(|(p, b)| {
            let size = repo.faults.listed_size.filter(|_| is_lfs(p)).unwrap_or(b.len());
            serde_json::json!({"type": "file", "path": p, "size": size, "oid": sha_of(p)})
        })
        .collect();
    let mut reply = Reply::json(200, &serde_json::Value::Array(entries));
    if *state.tree_loops.lock().unwrap() {
        reply = reply.header("Link", format!("</api/models/{model}/tree/{}?recursive=true>; rel=\"next\"", repo.sha));
    } else if cursor + page < repo.files.len() {
        reply = reply.header(
            "Link",
            format!("</api/models/{model}/tree/{}?recursive=true&cursor={}>; rel=\"next\"", repo.sha, cursor + page),
        );
    }
    reply
}

fn authorized(req: &Request, state: &State) -> Result<(), Reply> {
    let token = state.token.lock().unwrap().clone();
    match (req.header("authorization"), token) {
        (None, _) => {
            Err(Reply::error(401, "GatedRepo", "Access to this model is restricted; you must be authenticated"))
        }
        (Some(h), Some(t)) if h == format!("Bearer {t}") => Ok(()),
        (Some(_), _) => Err(Reply::error(403, "GatedRepo", "Access to this model is restricted; ask for access")),
    }
}

fn etag(state: &State, repo: &Repo, path: &str) -> String {
    if let Some(e) = &repo.faults.etag {
        e.clone()
    } else if repo.faults.etag_changes {
        let mut c = state.etag_counter.lock().unwrap();
        *c += 1;
        format!("\"{}-{c}\"", sha_of(path))
    } else {
        format!("\"{}\"", sha_of(&format!("{}{path}", repo.sha)))
    }
}

fn resolve(req: &Request, state: &State, repo: &Repo, model: &str, segs: &[String]) -> Reply {
    let rev = &segs[3];
    let path = segs[4..].join("/");
    if repo.faults.gated
        && let Err(reply) = authorized(req, state)
    {
        return reply;
    }
    if !revision_ok(repo, rev) {
        return Reply::error(404, "RevisionNotFound", &format!("Invalid rev id: {rev}"));
    }
    let Some(body) = repo.files.get(&path) else {
        return Reply::error(404, "EntryNotFound", &format!("{path} does not exist"));
    };
    if is_lfs(&path) {
        let base = state.cdn_base.lock().unwrap().clone();
        let range = req.header("range").unwrap_or("all").replace(' ', "");
        let location = format!("{base}/cdn/{model}/{}/{path}?signed-range={range}", repo.sha);
        let mut reply = Reply::new(302, b"Found. Redirecting".to_vec())
            .header("Location", location)
            .header("X-Linked-Size", repo.faults.listed_size.unwrap_or(body.len()).to_string())
            .header("X-Linked-Etag", etag(state, repo, &path))
            .header("X-Repo-Commit", repo_commit(repo));
        reply.content_length = reply.body.len() as u64;
        return reply;
    }
    serve_file(req, repo, body, state, model, &path).header("X-Repo-Commit", repo_commit(repo))
}

fn repo_commit(repo: &Repo) -> String {
    repo.faults.repo_commit.clone().unwrap_or_else(|| repo.sha.clone())
}

fn cdn(req: &Request, state: &State, repo: &Repo, model: &str, segs: &[String], query: &str) -> Reply {
    // /cdn/{org}/{name}/{sha}/{path...}?signed-range=...
    let path = segs.get(4..).map(|s| s.join("/")).unwrap_or_default();
    let signed = query.strip_prefix("signed-range=").map(percent_decode).unwrap_or_default();
    let asked = req.header("range").unwrap_or("all").replace(' ', "");
    if signed != asked {
        return Reply::new(403, b"signature does not match the requested range".to_vec());
    }
    let Some(body) = repo.files.get(&path) else { return Reply::new(404, b"no such object".to_vec()) };
    serve_file(req, repo, body, state, model, &path)
}

fn serve_file(req: &Request, repo: &Repo, body: &Body, state: &State, model: &str, path: &str) -> Reply {
    let len = body.len();
    let etag = etag(state, repo, path);
    let range = req.header("range").filter(|_| !repo.faults.ignore_range).and_then(|r| parse_range(r, len));
    let mut reply = match range {
        Some(Err(())) => return Reply::new(416, Vec::new()).header("Content-Range", format!("bytes */{len}")),
        Some(Ok((start, end))) => {
            let shown = if repo.faults.wrong_content_range { start + 1 } else { start };
            let data = if req.method == "HEAD" { Vec::new() } else { body.slice(start, end - start + 1) };
            let mut r = Reply::new(206, data).header("Content-Range", format!("bytes {shown}-{end}/{len}"));
            r.content_length = end - start + 1;
            r
        }
        None => {
            let data = if req.method == "HEAD" { Vec::new() } else { body.slice(0, len) };
            let mut r = Reply::new(200, data);
            r.content_length = len;
            r
        }
    };
    reply = reply.header("ETag", etag).header("Accept-Ranges", "bytes");
    if req.method != "HEAD" {
        let mut repos = state.repos.lock().unwrap();
        let f = &mut repos.get_mut(model).expect("repo").faults;
        if f.resets > 0 {
            f.resets -= 1;
            reply.end = End::Reset;
        } else if f.truncations > 0 {
            f.truncations -= 1;
            reply.end = End::Truncate;
        }
    }
    reply
}

/// `bytes=a-b` / `bytes=a-` against a file of `len` bytes; `Err` when unsatisfiable.
fn parse_range(h: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = h.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end: u64 = if b.trim().is_empty() { len.saturating_sub(1) } else { b.trim().parse().ok()? };
    if start >= len || end < start {
        return Some(Err(()));
    }
    Some(Ok((start, end.min(len - 1))))
}
