//! What a Hub source is built from: the endpoint, the access token (redacted in every `Debug`
//! form, and sent over plain `http://` only to a loopback host unless allowed explicitly), the per-host limit, the retry policy and the timeouts. The CLI resolves them from flags
//! and the environment; the library reads no environment variables.

use std::time::Duration;

use super::retry::RetryPolicy;

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

/// Settings of a Hub source. The CLI resolves them from flags and the environment.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Base URL, e.g. `https://huggingface.co`.
    pub endpoint: String,
    pub token: Option<Token>,
    /// Requests in flight per host (default 32: on the shard-heavy benchmark 1.3x faster than 16
    /// at 20 and 100 ms a request, with the same requests; the Hub's rate limits count requests
    /// per five minutes, whatever their concurrency, and 429s wait what they ask).
    pub max_in_flight: usize,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    /// Longest time one request may take, from connecting to the end of its body.
    pub request_timeout: Duration,
    /// Send the token over plain `http://` to a host that is not loopback (refused otherwise:
    /// anyone on the path could read it).
    pub allow_insecure_token: bool,
    /// Speak HTTP/2 from the first byte over plain `http://` (h2c with prior knowledge), for a
    /// front that serves it. Over `https://` HTTP/2 is negotiated (ALPN) whatever this says.
    pub http2_prior_knowledge: bool,
}

impl HubSettings {
    pub fn new(endpoint: impl Into<String>) -> HubSettings {
        HubSettings {
            endpoint: endpoint.into(),
            token: None,
            max_in_flight: 32,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            allow_insecure_token: false,
            http2_prior_knowledge: false,
        }
    }
}

/// Whether a token may go to `endpoint`: over https, or to a loopback host.
pub(super) fn token_safe_at(endpoint: &reqwest::Url) -> bool {
    let host = endpoint.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
    endpoint.scheme() == "https"
        || host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        let t = Token::new("hf_secretsecret");
        assert!(!format!("{t:?}").contains("secret"));
        let s = HubSettings { token: Some(t), ..HubSettings::new("http://127.0.0.1:1") };
        assert!(!format!("{s:?}").contains("secret"));
    }
}
