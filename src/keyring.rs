//! Which `.dockerconfigjson` entries kubelet tries for an image, and in which order.
//!
//! A faithful port of kubelet's `pkg/credentialprovider/keyring.go` (`BasicDockerKeyring.Add`,
//! `Lookup`, `URLsMatch`, `isDefaultRegistryMatch`) together with the pieces of Go's standard
//! library it leans on (`net/url.Parse` for `https://` + key, `net.SplitHostPort`,
//! `path/filepath.Match`), because kubelet — not us — decides which credentials a pull uses
//! (docs/helper-behaviour.md). Go strings are bytes, so keys are kept as bytes too: a key with
//! `%C3` escapes unescapes to bytes that need not be UTF-8, exactly as in kubelet.

use std::collections::BTreeMap;

use crate::image_ref::ImageRef;

const DEFAULT_REGISTRY_HOST: &[u8] = b"index.docker.io";

/// kubelet's keyring: credentials indexed by normalised registry key, most specific first.
#[derive(Clone)]
pub struct DockerKeyring<C> {
    /// Normalised keys, de-duplicated and reverse-sorted (kubelet's `index`).
    index: Vec<Vec<u8>>,
    /// Credentials per normalised key, in the order they were added.
    creds: BTreeMap<Vec<u8>, Vec<C>>,
    /// Keys kubelet logs and ignores because `url.Parse` refuses them.
    ignored: Vec<(String, UrlError)>,
}

impl<C> std::fmt::Debug for DockerKeyring<C> {
    // Credentials are secrets: only the keys are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerKeyring")
            .field("keys", &self.keys())
            .field("ignored", &self.ignored)
            .finish_non_exhaustive()
    }
}

impl<C> Default for DockerKeyring<C> {
    fn default() -> Self {
        Self {
            index: Vec::new(),
            creds: BTreeMap::new(),
            ignored: Vec::new(),
        }
    }
}

impl<C> DockerKeyring<C> {
    /// Builds a keyring from `auths` entries (key as written in `.dockerconfigjson`, credentials),
    /// in the order kubelet adds them: the pod's secrets in order, each secret's entries in order.
    pub fn from_auths<K: AsRef<str>>(auths: impl IntoIterator<Item = (K, C)>) -> Self {
        let mut keyring = Self::default();
        keyring.add(auths);
        keyring
    }

    /// Adds more entries (kubelet's `BasicDockerKeyring.Add`).
    pub fn add<K: AsRef<str>>(&mut self, auths: impl IntoIterator<Item = (K, C)>) {
        for (location, cred) in auths {
            match normalise_key(location.as_ref()) {
                Ok(key) => {
                    self.creds.entry(key.clone()).or_default().push(cred);
                    self.index.push(key);
                }
                Err(e) => self.ignored.push((location.as_ref().to_owned(), e)),
            }
        }
        self.index.sort();
        self.index.dedup();
        // Reverse-sorted so that more specific keys ("quay.io/coreos") come before "quay.io".
        self.index.reverse();
    }

    /// The credentials kubelet would try for `image` (a normalised repository such as
    /// `docker.io/library/nginx`, kubelet's `repoToPull`), in kubelet's order; empty means an
    /// anonymous pull.
    pub fn lookup(&self, image: &str) -> Vec<&C> {
        let mut found: Vec<&C> = Vec::new();
        for key in &self.index {
            if urls_match_bytes(key, image.as_bytes()) {
                found.extend(self.creds.get(key).into_iter().flatten());
            }
        }
        if found.is_empty()
            && is_default_registry_match(image)
            && let Some(hub) = self.creds.get(DEFAULT_REGISTRY_HOST)
        {
            found.extend(hub);
        }
        found
    }

    /// As [`lookup`](Self::lookup) for a parsed image: looks up its repository name.
    pub fn lookup_image(&self, image: &ImageRef) -> Vec<&C> {
        self.lookup(&image.name())
    }

    /// The normalised keys in match order (non-UTF-8 bytes shown as U+FFFD).
    pub fn keys(&self) -> Vec<String> {
        self.index
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    /// Entries kubelet would ignore (and log), with the reason.
    pub fn ignored(&self) -> &[(String, UrlError)] {
        &self.ignored
    }
}

/// kubelet's key normalisation in `Add`: add `https://` unless a scheme is there, parse, drop a
/// `/v1/` or `/v2/` path prefix, and keep `host` + path (or just `host` for an empty path or `/`).
pub fn normalise_key(location: &str) -> Result<Vec<u8>, UrlError> {
    let value = if location.starts_with("https://") || location.starts_with("http://") {
        location.to_owned()
    } else {
        format!("https://{location}")
    };
    let parsed = GoUrl::parse(value.as_bytes())?;
    let mut path: &[u8] = &parsed.path;
    if path.starts_with(b"/v2/") || path.starts_with(b"/v1/") {
        path = &path[3..];
    }
    let mut key = parsed.host;
    if !path.is_empty() && path != b"/" {
        key.extend_from_slice(path);
    }
    Ok(key)
}

/// kubelet's `URLsMatchStr(glob, target)`: per-label glob on the host, equal label counts and
/// ports, key path a raw prefix of the image path. Parse or pattern errors mean no match.
pub fn urls_match(glob: &str, target: &str) -> bool {
    urls_match_bytes(glob.as_bytes(), target.as_bytes())
}

fn urls_match_bytes(glob: &[u8], target: &[u8]) -> bool {
    let parse = |s: &[u8]| GoUrl::parse(&[b"https://", s].concat());
    let (Ok(glob), Ok(target)) = (parse(glob), parse(target)) else {
        return false;
    };
    let (glob_host, glob_port) = split_url(&glob.host);
    let (target_host, target_port) = split_url(&target.host);
    if glob_port != target_port {
        return false;
    }
    let glob_parts: Vec<&[u8]> = glob_host.split(|&b| b == b'.').collect();
    let target_parts: Vec<&[u8]> = target_host.split(|&b| b == b'.').collect();
    if glob_parts.len() != target_parts.len() {
        return false;
    }
    if !target.path.starts_with(&glob.path) {
        return false;
    }
    glob_parts
        .iter()
        .zip(&target_parts)
        .all(|(g, t)| filepath_match_bytes(g, t) == Ok(true))
}

/// kubelet's `isDefaultRegistryMatch`: would `image` be pulled from Docker Hub?
pub fn is_default_registry_match(image: &str) -> bool {
    let mut parts = image.splitn(2, '/');
    let first = parts.next().unwrap_or_default();
    if first.is_empty() {
        return false;
    }
    if parts.next().is_none() {
        return true;
    }
    if first == "docker.io" || first == "index.docker.io" {
        return true;
    }
    !first.contains(['.', ':'])
}

/// kubelet's `SplitURL`: host labels' text and port, via `net.SplitHostPort` (no port on error).
fn split_url(host: &[u8]) -> (&[u8], &[u8]) {
    split_host_port(host).unwrap_or((host, b""))
}

/// Go's `net.SplitHostPort`; `None` where Go returns an error.
fn split_host_port(hostport: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = hostport.iter().rposition(|&b| b == b':')?;
    let (host, j, k);
    if hostport[0] == b'[' {
        let end = hostport.iter().position(|&b| b == b']')?;
        if end + 1 != i {
            return None;
        }
        host = &hostport[1..end];
        (j, k) = (1, end + 1);
    } else {
        host = &hostport[..i];
        if host.contains(&b':') {
            return None;
        }
        (j, k) = (0, 0);
    }
    if hostport[j..].contains(&b'[') || hostport[k..].contains(&b']') {
        return None;
    }
    Some((host, &hostport[i + 1..]))
}

/// Why Go's `url.Parse` refuses a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// A byte below 0x20 or 0x7f.
    #[error("invalid control character in URL")]
    ControlCharacter,
    /// `%` not followed by two hex digits, or an ASCII byte escaped in the host.
    #[error("invalid URL escape")]
    BadEscape,
    /// A character a host may not contain.
    #[error("invalid character in host name")]
    InvalidHost,
    /// A port that is not all digits.
    #[error("invalid port after host")]
    InvalidPort,
    /// `[` without `]` in the host.
    #[error("missing ']' in host")]
    MissingBracket,
    /// `[` inside a host, or brackets around something other than an IPv6 address.
    #[error("invalid IP-literal")]
    InvalidIpLiteral,
    /// Characters a user-info part may not contain.
    #[error("invalid userinfo")]
    InvalidUserinfo,
}

/// The parts of Go's `url.URL` kubelet reads, for URLs that start with `http(s)://`.
struct GoUrl {
    host: Vec<u8>,
    path: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Host,
    Path,
    Other,
}

impl GoUrl {
    /// Go's `url.Parse` restricted to inputs with a `scheme://` prefix (kubelet always adds one).
    fn parse(raw: &[u8]) -> Result<Self, UrlError> {
        let (raw, fragment) = split_once(raw, b'#');
        if let Some(f) = fragment {
            unescape(f, Encoding::Other)?;
        }
        if raw.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(UrlError::ControlCharacter);
        }
        let colon = raw.iter().position(|&b| b == b':').unwrap_or(0);
        let rest = &raw[colon + 1..];
        let (rest, _query) = split_once(rest, b'?');
        let Some(authority_and_path) = rest.strip_prefix(b"//") else {
            return Ok(Self {
                host: Vec::new(),
                path: unescape(rest, Encoding::Path)?,
            });
        };
        let slash = authority_and_path
            .iter()
            .position(|&b| b == b'/')
            .unwrap_or(authority_and_path.len());
        let (authority, path) = authority_and_path.split_at(slash);
        let host = match authority.iter().rposition(|&b| b == b'@') {
            None => parse_host(authority)?,
            Some(at) => {
                let userinfo = &authority[..at];
                if !userinfo.iter().all(|&b| valid_userinfo_byte(b)) {
                    return Err(UrlError::InvalidUserinfo);
                }
                unescape(userinfo, Encoding::Other)?;
                parse_host(&authority[at + 1..])?
            }
        };
        Ok(Self {
            host,
            path: unescape(path, Encoding::Path)?,
        })
    }
}

fn split_once(s: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == sep) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

fn valid_userinfo_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b) || b >= 0x80
}

/// Go's `parseHost` (Go 1.26, which kubelet v1.36 is built with): a `[` anywhere but first is
/// refused; a bracketed host must be an IPv6 address; for `http(s)` URLs — every kubelet key —
/// the port starts at the first colon, so a second colon is refused.
fn parse_host(host: &[u8]) -> Result<Vec<u8>, UrlError> {
    match host.iter().rposition(|&b| b == b'[') {
        Some(i) if i > 0 => return Err(UrlError::InvalidIpLiteral),
        Some(_) => {
            let i = host
                .iter()
                .rposition(|&b| b == b']')
                .ok_or(UrlError::MissingBracket)?;
            if !valid_optional_port(&host[i + 1..]) {
                return Err(UrlError::InvalidPort);
            }
            // Only an IPv6 address may be bracketed (a zone after `%25` aside).
            let inner = unescape(&host[1..i], Encoding::Host)?;
            let address = inner.split(|&b| b == b'%').next().unwrap_or_default();
            match std::str::from_utf8(address)
                .ok()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
            {
                Some(std::net::IpAddr::V6(_)) => {}
                _ => return Err(UrlError::InvalidIpLiteral),
            }
        }
        None => {
            if let Some(i) = host.iter().position(|&b| b == b':')
                && !valid_optional_port(&host[i..])
            {
                return Err(UrlError::InvalidPort);
            }
        }
    }
    unescape(host, Encoding::Host)
}

fn valid_optional_port(port: &[u8]) -> bool {
    match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// Go's `shouldEscape` for the host mode, ASCII bytes only.
fn host_byte_needs_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&c))
}

/// Go's `unescape`: checks `%XX` escapes (and, for hosts, the characters), then decodes them.
fn unescape(s: &[u8], mode: Encoding) -> Result<Vec<u8>, UrlError> {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                if i + 2 >= s.len()
                    || !s[i + 1].is_ascii_hexdigit()
                    || !s[i + 2].is_ascii_hexdigit()
                {
                    return Err(UrlError::BadEscape);
                }
                // In a host, %-encoding is only for non-ASCII bytes (and %25 for IPv6 zones).
                if mode == Encoding::Host && hex(s[i + 1]) < 8 && &s[i..i + 3] != b"%25" {
                    return Err(UrlError::BadEscape);
                }
                i += 3;
            }
            c => {
                if mode == Encoding::Host && c < 0x80 && host_byte_needs_escape(c) {
                    return Err(UrlError::InvalidHost);
                }
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            out.push(hex(s[i + 1]) << 4 | hex(s[i + 2]));
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Go's `filepath.ErrBadPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Go's `path/filepath.Match` on Unix: `*` (not across `/`), `?`, `[...]`, `[^...]`, `\` escapes.
pub fn filepath_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    filepath_match_bytes(pattern.as_bytes(), name.as_bytes())
}

const SEPARATOR: u8 = b'/';
const RUNE_ERROR: u32 = 0xFFFD;

fn filepath_match_bytes(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, BadPattern> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing * matches the rest of the name unless it has a separator.
            return Ok(!name.contains(&SEPARATOR));
        }
        let (t, ok, err) = match_chunk(chunk, name);
        // The last chunk must use up the name, else a later star might still match.
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if err {
            return Err(BadPattern);
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != SEPARATOR {
                let (t, ok, err) = match_chunk(chunk, &name[i + 1..]);
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if err {
                    return Err(BadPattern);
                }
                i += 1;
            }
        }
        // Before answering false, check that the rest of the pattern is well-formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if match_chunk(chunk, b"").2 {
                return Err(BadPattern);
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Go's `scanChunk`: an optional run of stars, then the chunk up to the next unbracketed star.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while pattern.first() == Some(&b'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// Go's `matchChunk`: (rest of name, matched, pattern error).
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> (&'a [u8], bool, bool) {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match chunk[0] {
            b'[' => {
                let mut r = 0;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let mut negated = false;
                if chunk.first() == Some(&b'^') {
                    negated = true;
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let Ok((lo, rest)) = get_esc(chunk) else {
                        return (b"", false, true);
                    };
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        let Ok((h, rest)) = get_esc(&chunk[1..]) else {
                            return (b"", false, true);
                        };
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == SEPARATOR {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            c => {
                let c = if c == b'\\' {
                    chunk = &chunk[1..];
                    match chunk.first() {
                        Some(&c) => c,
                        None => return (b"", false, true),
                    }
                } else {
                    c
                };
                if !failed {
                    if c != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed {
        (b"", false, false)
    } else {
        (s, true, false)
    }
}

/// Go's `getEsc`: a possibly escaped character of a class; `Err` for a bad pattern. The rest
/// is never empty on success, so callers may look at its first byte.
fn get_esc(mut chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
        return Err(BadPattern);
    }
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BadPattern);
        }
    }
    let (r, n) = decode_rune(chunk);
    let rest = &chunk[n..];
    if (r == RUNE_ERROR && n == 1) || rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// Go's `utf8.DecodeRune`: the first rune and its length; (U+FFFD, 1) for invalid UTF-8 and
/// (U+FFFD, 0) for empty input.
fn decode_rune(s: &[u8]) -> (u32, usize) {
    if s.is_empty() {
        return (RUNE_ERROR, 0);
    }
    for n in 1..=s.len().min(4) {
        if let Ok(text) = std::str::from_utf8(&s[..n])
            && let Some(c) = text.chars().next()
        {
            return (u32::from(c), n);
        }
    }
    (RUNE_ERROR, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(keys: &[&str]) -> DockerKeyring<String> {
        DockerKeyring::from_auths(keys.iter().map(|k| (*k, (*k).to_owned())))
    }

    fn found(keys: &[&str], image: &str) -> Vec<String> {
        keyring(keys).lookup(image).into_iter().cloned().collect()
    }

    fn matches(key: &str, image: &str) -> bool {
        !found(&[key], image).is_empty()
    }

    #[test]
    fn keys_are_normalised() {
        assert_eq!(normalise_key("https://quay.io/v1/").unwrap(), b"quay.io");
        assert_eq!(
            normalise_key("http://quay.io/v2/foo").unwrap(),
            b"quay.io/foo"
        );
        assert_eq!(normalise_key("quay.io/").unwrap(), b"quay.io");
        assert_eq!(normalise_key("quay.io:5000/a").unwrap(), b"quay.io:5000/a");
        assert_eq!(
            normalise_key("index.docker.io/v1/").unwrap(),
            b"index.docker.io"
        );
        assert!(normalise_key("quay.io:port").is_err());
        assert!(normalise_key("bad host.io").is_err());
        let k = keyring(&["https://quay.io/v1/", "quay.io", "bad host"]);
        assert_eq!(k.keys(), ["quay.io"]);
        assert_eq!(k.ignored().len(), 1);
    }

    // The vectors of kubelet's keyring_test.go.
    #[test]
    fn per_label_globs_never_span_a_dot() {
        assert!(!matches("*.kubernetes.io", "kubernetes.io/foo"));
        assert!(!matches("*.*.kubernetes.io", "prefix.kubernetes.io/foo"));
        assert!(matches("prefix.*.io", "prefix.kubernetes.io/foo"));
        assert!(matches(
            "*-good.kubernetes.io",
            "prefix-good.kubernetes.io/foo"
        ));
        assert!(!matches("k*.io", "quay.io/foo"));
        assert!(matches("*.kubernetes.io", "prefix.kubernetes.io/foo"));
        assert!(matches("*.*.kubernetes.io", "prefix.sub.kubernetes.io/foo"));
        // Go's url.Parse (since 1.25.2) refuses '[' inside a host: kubelet ignores such keys,
        // so character classes never match a host.
        assert!(!matches(
            "registry[0-9].example.com",
            "registry7.example.com/foo"
        ));
        assert_eq!(
            normalise_key("registry[0-9].example.com"),
            Err(UrlError::InvalidIpLiteral)
        );
        assert_eq!(
            normalise_key("[10.0.0.1]:5000"),
            Err(UrlError::InvalidIpLiteral)
        );
        assert_eq!(normalise_key("[::1]:5000").unwrap(), b"[::1]:5000");
        // The port starts at the first colon of an http(s) host.
        assert_eq!(normalise_key("a:b:5000"), Err(UrlError::InvalidPort));
        // Go's url.Parse reads '?' as the start of a query: the host is just "registry".
        assert!(!matches(
            "registry?.example.com",
            "registry1.example.com/foo"
        ));
        assert_eq!(normalise_key("registry?.example.com").unwrap(), b"registry");
        // '^' and '\\' are not allowed in a URL host: kubelet ignores such keys.
        assert!(normalise_key("registry[^0-9].example.com").is_err());
    }

    #[test]
    fn ports_must_be_equal() {
        assert!(!matches("example.com", "example.com:5000/foo"));
        assert!(!matches("example.com:5000", "example.com/foo"));
        assert!(matches("example.com:5000", "example.com:5000/foo"));
        assert!(!matches("example.com:5000", "example.com:5001/foo"));
    }

    #[test]
    fn paths_are_raw_string_prefixes() {
        assert!(matches("bar.example.com/pong", "bar.example.com/pongz"));
        assert!(matches("bar.example.com/pong", "bar.example.com/pong/pang"));
        assert!(!matches("bar.example.com/pong", "bar.example.com/ping"));
        assert!(matches(
            "https://bar.example.com/v2/pong",
            "bar.example.com/pong/x"
        ));
    }

    #[test]
    fn most_specific_first() {
        let keys = ["quay.io", "quay.io/coreos", "quay.io/coreos/etcd", "*.io"];
        assert_eq!(
            found(&keys, "quay.io/coreos/etcd"),
            ["quay.io/coreos/etcd", "quay.io/coreos", "quay.io", "*.io"]
        );
        // Duplicate keys keep both credentials, in the order they were added.
        let k = DockerKeyring::from_auths([("quay.io", 1), ("https://quay.io/v1/", 2)]);
        assert_eq!(k.lookup("quay.io/x"), [&1, &2]);
    }

    #[test]
    fn docker_hub_fallback() {
        let keys = ["https://index.docker.io/v1/"];
        assert_eq!(found(&keys, "docker.io/library/nginx").len(), 1);
        assert_eq!(found(&keys, "foo/bar").len(), 1);
        assert_eq!(found(&keys, "index.docker.io/foo/bar").len(), 1);
        assert!(found(&keys, "quay.io/foo").is_empty());
        assert!(found(&keys, "localhost:5000/foo").is_empty());
        // The fallback only applies when nothing else matched.
        assert_eq!(
            found(
                &["https://index.docker.io/v1/", "docker.io"],
                "docker.io/library/nginx"
            ),
            ["docker.io"]
        );
        assert!(!is_default_registry_match("/foo"));
    }

    // The derived vectors for the gen-1 default `acr-registry` (docs/helper-behaviour.md).
    #[test]
    fn seed_default_vectors() {
        let seed = [
            "registry.*.aliyuncs.com",
            "registry-vpc.*.aliyuncs.com",
            "xxx-registry.*.cr.aliyuncs.com",
            "xxx-registry-vpc.*.cr.aliyuncs.com",
        ];
        assert_eq!(
            found(&seed, "registry.cn-hangzhou.aliyuncs.com/ns/app"),
            ["registry.*.aliyuncs.com"]
        );
        assert_eq!(
            found(&seed, "registry-vpc.cn-shanghai.aliyuncs.com/x"),
            ["registry-vpc.*.aliyuncs.com"]
        );
        assert!(found(&seed, "registry-intl.ap-southeast-1.aliyuncs.com/x").is_empty());
        assert!(found(&seed, "foo-registry.cn-beijing.cr.aliyuncs.com/x").is_empty());
        assert_eq!(
            found(
                &["foo-registry.*.cr.aliyuncs.com"],
                "foo-registry.cn-beijing.cr.aliyuncs.com/x"
            )
            .len(),
            1
        );
        assert!(
            found(
                &seed,
                "foo-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001/x"
            )
            .is_empty()
        );
        assert!(
            found(
                &["foo-registry-vpc.*.cn-hangzhou.cr.aliyuncs.com"],
                "foo-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001/x"
            )
            .is_empty()
        );
    }

    #[test]
    fn go_filepath_match() {
        let ok = |p: &str, n: &str| filepath_match(p, n);
        assert_eq!(ok("abc", "abc"), Ok(true));
        assert_eq!(ok("*", "abc"), Ok(true));
        assert_eq!(ok("*c", "abc"), Ok(true));
        assert_eq!(ok("a*/b", "abc/b"), Ok(true));
        assert_eq!(ok("a*", "ab/c"), Ok(false));
        assert_eq!(ok("a*b*c*d*e*/f", "axbxcxdxe/f"), Ok(true));
        assert_eq!(ok("a*b?c*x", "abxbbxdbxebxczzx"), Ok(true));
        assert_eq!(ok("a*b?c*x", "abxbbxdbxebxczzy"), Ok(false));
        assert_eq!(ok("ab[c]", "abc"), Ok(true));
        assert_eq!(ok("ab[b-d]", "abc"), Ok(true));
        assert_eq!(ok("ab[^c]", "abc"), Ok(false));
        assert_eq!(ok("a\\*b", "a*b"), Ok(true));
        assert_eq!(ok("a\\*b", "ab"), Ok(false));
        assert_eq!(ok("a?b", "a☺b"), Ok(true));
        assert_eq!(ok("a[^a]b", "a☺b"), Ok(true));
        assert_eq!(ok("[\\-]", "-"), Ok(true));
        assert_eq!(ok("[x\\-]", "z"), Ok(false));
        assert_eq!(ok("[", "a"), Err(BadPattern));
        assert_eq!(ok("[^", "a"), Err(BadPattern));
        assert_eq!(ok("[^bc", "a"), Err(BadPattern));
        assert_eq!(ok("a[", "a"), Err(BadPattern));
        assert_eq!(ok("a[", "ab"), Err(BadPattern));
        assert_eq!(ok("a[", "x"), Err(BadPattern));
        assert_eq!(ok("a/b[", "x"), Err(BadPattern));
        assert_eq!(ok("*x", "xxx"), Ok(true));
        assert_eq!(ok("[]a]", "]"), Err(BadPattern));
        assert_eq!(ok("[-]", "-"), Err(BadPattern));
        assert_eq!(ok("\\", "a"), Err(BadPattern));
        assert_eq!(ok("[a-b-c]", "a"), Err(BadPattern));
        assert_eq!(ok("[x-]", "x"), Err(BadPattern));
        assert_eq!(ok("[-x]", "a"), Err(BadPattern));
        assert_eq!(ok("[\\-x]", "-"), Ok(true));
        assert_eq!(ok("[x\\-]", "x"), Ok(true));
    }
}
