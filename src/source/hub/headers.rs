//! The Hub's response headers, parsed: `Retry-After` and `RateLimit` waits, `Content-Range`, the
//! `Link: rel="next"` of paginated answers, and typed reads of any header.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// Seconds to wait from `Retry-After: N` or `RateLimit: "api";r=0;t=N`.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(secs) = header_str(headers, "retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let rl = header_str(headers, "ratelimit")?;
    rl.split(';').find_map(|p| p.trim().strip_prefix("t=")).and_then(|t| t.trim().parse().ok()).map(Duration::from_secs)
}

/// `bytes a-b/total` (total may be `*`).
pub(super) fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let total = if total == "*" { None } else { Some(total.parse().ok()?) };
    Some((a.parse().ok()?, b.parse().ok()?, total))
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}

pub(super) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

pub(super) fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name).and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
