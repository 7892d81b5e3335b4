//! `acr-registry` host patterns: kubelet keys with per-label globs, and what ACR registries a
//! pattern can stand for.

use std::fmt;

use crate::image_ref::ImageRef;
use crate::keyring;
use crate::registry_domain::{Edition, NetworkVariant, RegistryDomain};

/// One `acr-registry` item: `host[:port][/path]`, host labels may hold `*`, `?`, `[...]` globs.
///
/// Written as a `.dockerconfigjson` key, it matches images exactly as kubelet's keyring does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistryPattern(String);

/// Why a text is not a registry host pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern is empty.
    #[error("it is empty")]
    Empty,
    /// `https://` or another scheme in front of the host.
    #[error("write the host without a scheme (acr-registry lists registry hosts)")]
    Scheme,
    /// Upper-case letters never match: kubelet compares case-sensitively and image hosts are
    /// lower-case in practice.
    #[error("it has upper-case letters; kubelet matches case-sensitively, write it in lower case")]
    Uppercase,
    /// A character no host or glob may contain.
    #[error("'{0}' cannot appear in a registry host pattern")]
    BadCharacter(char),
    /// `?` starts a URL query for kubelet, which cuts the key there: the pattern never matches.
    #[error(
        "'?' would start a URL query when kubelet parses the key, cutting the host there; use '*' or '[0-9]'"
    )]
    QuestionMark,
    /// `^` and `\` are refused in URL hosts by kubelet's parser, which then ignores the key.
    #[error(
        "'{0}' is refused in a host by kubelet's URL parser, which would ignore the key (negated classes cannot be used)"
    )]
    RefusedByUrlParser(char),
    /// kubelet's URL parser reads a host starting with `[` as an IPv6 address and ignores the key.
    #[error(
        "a host starting with '[' is read as an IPv6 address by kubelet's URL parser, which would ignore the key"
    )]
    LeadingBracket,
    /// `a..b`, a leading or trailing dot.
    #[error("it has an empty label (a leading, trailing or doubled '.')")]
    EmptyLabel,
    /// A label that Go's filepath.Match refuses (e.g. an unclosed `[`).
    #[error("label '{0}' is not a valid glob (unclosed '[' or a bad range)")]
    BadGlob(String),
    /// A port that is not a number, or a glob in it.
    #[error("port '{0}' is not a number (globs are not allowed in ports)")]
    BadPort(String),
    /// Globs in the path are literal to kubelet; refusing them avoids a silent non-match.
    #[error("path '{0}' has a glob; kubelet matches paths as plain prefixes")]
    GlobInPath(String),
}

/// The glob characters kubelet can honour in a host (see `PatternError` for `?`, `^`, `\\`).
const GLOB_CHARS: &[char] = &['*', '[', ']'];

impl RegistryPattern {
    /// Validates a pattern (already trimmed).
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.contains("://") {
            return Err(PatternError::Scheme);
        }
        if text.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(PatternError::Uppercase);
        }
        let (host_port, path) = match text.find('/') {
            Some(i) => text.split_at(i),
            None => (text, ""),
        };
        let (host, port) = match host_port.rfind(':') {
            Some(i) => (&host_port[..i], Some(&host_port[i + 1..])),
            None => (host_port, None),
        };
        if let Some(port) = port
            && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(PatternError::BadPort(port.to_owned()));
        }
        for c in host.chars() {
            match c {
                '?' => return Err(PatternError::QuestionMark),
                '^' | '\\' => return Err(PatternError::RefusedByUrlParser(c)),
                _ => {}
            }
            let allowed = c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || c == '-'
                || c == '.'
                || GLOB_CHARS.contains(&c);
            if !allowed {
                return Err(PatternError::BadCharacter(c));
            }
        }
        if host.starts_with('[') {
            return Err(PatternError::LeadingBracket);
        }
        for label in host.split('.') {
            if label.is_empty() {
                return Err(PatternError::EmptyLabel);
            }
            if keyring::filepath_match(label, "").is_err() {
                return Err(PatternError::BadGlob(label.to_owned()));
            }
        }
        for c in path.chars() {
            if GLOB_CHARS.contains(&c) {
                return Err(PatternError::GlobInPath(path.to_owned()));
            }
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || "-._/".contains(c)) {
                return Err(PatternError::BadCharacter(c));
            }
        }
        Ok(Self(text.to_owned()))
    }

    /// The pattern as written (and as written into `.dockerconfigjson`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the host part has glob characters.
    pub fn is_glob(&self) -> bool {
        self.host().contains(GLOB_CHARS)
    }

    /// The host part, without port or path.
    pub fn host(&self) -> &str {
        let host_port = self.0.split('/').next().unwrap_or_default();
        host_port.split(':').next().unwrap_or_default()
    }

    /// The port, if the pattern names one.
    pub fn port(&self) -> Option<&str> {
        let host_port = self.0.split('/').next().unwrap_or_default();
        host_port.split_once(':').map(|(_, p)| p)
    }

    /// Whether kubelet would offer this key's credentials for `image`.
    pub fn matches(&self, image: &ImageRef) -> bool {
        keyring::urls_match(&self.0, &image.name())
    }

    /// Whether some image on the registry `domain` (default port) would match this pattern.
    pub fn covers_domain(&self, domain: &RegistryDomain) -> bool {
        self.port().is_none() && keyring::urls_match(self.host(), &domain.host())
    }

    /// Which ACR registries the pattern can stand for, read by the domain grammar with globs
    /// allowed in the instance-name and region labels; `None` when the host is not ACR-shaped
    /// (for example a glob in the network suffix, or a custom domain).
    pub fn scope(&self) -> Option<PatternScope> {
        let domain = RegistryDomain::parse(self.host()).ok()?;
        Some(PatternScope {
            edition: domain.edition,
            instance_name: domain.instance_name.map(LabelGlob::new),
            region: LabelGlob::new(domain.region),
            network: domain.network,
        })
    }
}

impl fmt::Display for RegistryPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ACR registries an `acr-registry` pattern can stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternScope {
    /// Personal or Enterprise Edition (fixed by the `cr.` label and the instance-name prefix).
    pub edition: Edition,
    /// The Enterprise Edition instance name (possibly a glob such as `*` or the seed's `xxx`).
    pub instance_name: Option<LabelGlob>,
    /// The region (often the glob `*`).
    pub region: LabelGlob,
    /// The endpoint variant.
    pub network: NetworkVariant,
}

/// A label of a pattern: literal text, or a glob in Go's filepath.Match syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelGlob {
    /// No glob characters: matches only itself.
    Exact(String),
    /// A glob such as `*` or `cn-*`.
    Glob(String),
}

impl LabelGlob {
    fn new(text: String) -> Self {
        if text.contains(GLOB_CHARS) {
            Self::Glob(text)
        } else {
            Self::Exact(text)
        }
    }

    /// Whether `value` (a region or an instance name) fits.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(text) => text == value,
            Self::Glob(glob) => keyring::filepath_match(glob, value) == Ok(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> RegistryPattern {
        RegistryPattern::parse(text).unwrap()
    }

    #[test]
    fn accepts_seed_patterns_and_keys() {
        for text in [
            "registry.*.aliyuncs.com",
            "xxx-registry-vpc.*.cr.aliyuncs.com",
            "example.com:5000/team",
            "registry[0-9].example.com",
            "localhost",
        ] {
            assert_eq!(pattern(text).as_str(), text);
        }
    }

    #[test]
    fn refuses_what_kubelet_would_not_match() {
        use PatternError::*;
        let err = |text| RegistryPattern::parse(text).unwrap_err();
        assert_eq!(err(""), Empty);
        assert_eq!(err("https://registry.*.aliyuncs.com"), Scheme);
        assert_eq!(err("Registry.*.aliyuncs.com"), Uppercase);
        assert_eq!(err("registry..aliyuncs.com"), EmptyLabel);
        assert_eq!(err("registry.[a.aliyuncs.com"), BadGlob("[a".into()));
        assert_eq!(err("example.com:*"), BadPort("*".into()));
        assert_eq!(err("example.com/*"), GlobInPath("/*".into()));
        assert_eq!(err("exa mple.com"), BadCharacter(' '));
        assert_eq!(err("registry?.example.com"), QuestionMark);
        assert_eq!(err("[ab]-registry.example.com"), LeadingBracket);
        assert_eq!(err("registry[^0-9].example.com"), RefusedByUrlParser('^'));
    }

    #[test]
    fn scope_by_domain_grammar() {
        let scope = pattern("registry-vpc.*.aliyuncs.com").scope().unwrap();
        assert_eq!(scope.edition, Edition::Personal);
        assert_eq!(scope.network, NetworkVariant::VPC);
        assert!(scope.region.matches("cn-hangzhou"));
        let scope = pattern("xxx-registry.cn-*.cr.aliyuncs.com")
            .scope()
            .unwrap();
        assert_eq!(scope.edition, Edition::Enterprise);
        assert_eq!(scope.instance_name, Some(LabelGlob::Exact("xxx".into())));
        assert!(scope.region.matches("cn-beijing"));
        assert!(!scope.region.matches("ap-southeast-1"));
        assert!(pattern("*.aliyuncs.com").scope().is_none());
    }

    #[test]
    fn covers_domains_like_kubelet() {
        let hangzhou = RegistryDomain::personal("cn-hangzhou", NetworkVariant::PUBLIC).unwrap();
        let vpc = RegistryDomain::personal("cn-hangzhou", NetworkVariant::VPC).unwrap();
        assert!(pattern("registry.*.aliyuncs.com").covers_domain(&hangzhou));
        assert!(!pattern("registry.*.aliyuncs.com").covers_domain(&vpc));
        assert!(pattern("registry.cn-hangzhou.aliyuncs.com/ns").covers_domain(&hangzhou));
    }
}
