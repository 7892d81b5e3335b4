//! Percent-encoding shared by the schemes (RFC 3986, as docs/wire.md describes for RPC V1 and V3).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Everything but the RFC 3986 unreserved characters `A-Z a-z 0-9 - _ . ~` is escaped.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// RFC 3986 percent-encoding with upper-case hex: space → `%20`, `*` → `%2A`, `~` kept.
///
/// This is both POP's RPC `percentEncode` and Go's `url.QueryEscape` followed by the
/// `+`→`%20`, `*`→`%2A`, `%7E`→`~` replacements that V3 applies.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// Decodes a query component: `+` is a space (form encoding), `%XX` a byte.
pub fn query_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Splits a raw query string into decoded (key, value) pairs in wire order.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (query_decode(k), query_decode(v)),
            None => (query_decode(pair), String::new()),
        })
        .collect()
}

/// Joins pairs as `k=v&…` with [`percent_encode`] on both sides, keeping their order.
pub fn query_string(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_follows_rfc3986() {
        assert_eq!(percent_encode("a b*c~d/e:f"), "a%20b%2Ac~d%2Fe%3Af");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn parse_query_decodes_and_keeps_empty_values() {
        let q = parse_query("Timestamp=2026-11-28T19%3A03%3A52Z&SignatureType=&a+b=c%2Bd&flag");
        assert_eq!(
            q,
            vec![
                ("Timestamp".into(), "2026-11-28T19:03:52Z".into()),
                ("SignatureType".into(), String::new()),
                ("a b".into(), "c+d".into()),
                ("flag".into(), String::new()),
            ]
        );
    }
}
