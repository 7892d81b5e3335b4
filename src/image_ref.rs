//! Image references parsed and normalised as docker and kubelet do.
//!
//! Port of `github.com/distribution/reference` (`ParseNormalizedNamed`, the grammar in
//! `regexp.go`) plus kubelet's `parsers.ParseImageName`: `nginx` is
//! `docker.io/library/nginx:latest`; `index.docker.io` becomes `docker.io`; a first path component
//! is a registry only if it has a `.` or `:` or is `localhost`.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// Docker Hub's canonical registry name.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ImageRef {
    /// Registry host with optional port, e.g. `registry.cn-hangzhou.aliyuncs.com` or `localhost:5000`.
    pub domain: String,
    /// Repository path inside the registry, e.g. `library/nginx`.
    pub path: String,
    /// The tag as written, if any.
    pub tag: Option<String>,
    /// The digest as written (`sha256:…`), if any.
    pub digest: Option<String>,
}

/// Why a string is not an image reference (distribution/reference's errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// A bare 64-hex identifier is an image id, not a name.
    #[error("invalid repository name '{0}': cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
    /// Repository names are lower-case.
    #[error("invalid image reference '{0}': repository name must be lowercase")]
    Uppercase(String),
    /// The text does not follow the reference grammar.
    #[error("invalid image reference format '{0}'")]
    InvalidFormat(String),
    /// Domain plus path is longer than 255 characters.
    #[error("invalid image reference '{0}': repository name must not be more than 255 characters")]
    NameTooLong(String),
    /// The digest algorithm is not sha256, sha384 or sha512, or its length is wrong.
    #[error(
        "invalid image reference '{reference}': digest '{digest}' is not a valid sha256/sha384/sha512 digest"
    )]
    BadDigest {
        /// The whole reference.
        reference: String,
        /// The digest as written.
        digest: String,
    },
}

// The grammar of distribution/reference regexp.go. `\w` is spelled out: Go's is ASCII-only.
const ALPHANUMERIC: &str = "[a-z0-9]+";
const SEPARATOR: &str = "(?:[._]|__|[-]+)";
const DOMAIN_NAME_COMPONENT: &str = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const OPTIONAL_PORT: &str = "(?::[0-9]+)?";
const TAG: &str = "[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}";
const DIGEST: &str = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";
const IPV6_ADDRESS: &str = r"\[(?:[a-fA-F0-9:]+)\]";

fn domain_and_port() -> String {
    let domain_name = format!(r"{DOMAIN_NAME_COMPONENT}(?:\.{DOMAIN_NAME_COMPONENT})*");
    format!("(?:{domain_name}|{IPV6_ADDRESS}){OPTIONAL_PORT}")
}

fn remote_name() -> String {
    let path_component = format!("{ALPHANUMERIC}(?:{SEPARATOR}{ALPHANUMERIC})*");
    format!("{path_component}(?:/{path_component})*")
}

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let name = format!("(?:{}/)?{}", domain_and_port(), remote_name());
    Regex::new(&format!("^({name})(?::({TAG}))?(?:@({DIGEST}))?$"))
        .expect("the docker reference grammar is a valid regex")
});

static ANCHORED_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^(?:({})/)?({})$",
        domain_and_port(),
        remote_name()
    ))
    .expect("the docker name grammar is a valid regex")
});

static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new("^[a-f0-9]{64}$").expect("the identifier grammar is a valid regex")
});

impl ImageRef {
    /// Parses and normalises as `reference.ParseNormalizedNamed` does.
    pub fn parse(image: &str) -> Result<Self, ImageRefError> {
        if IDENTIFIER.is_match(image) {
            return Err(ImageRefError::HexIdentifier(image.to_owned()));
        }
        let (domain, remainder) = split_docker_domain(image);
        let remote = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(r, _)| r);
        if remote.to_lowercase() != remote {
            return Err(ImageRefError::Uppercase(image.to_owned()));
        }
        let full = format!("{domain}/{remainder}");
        let Some(caps) = REFERENCE.captures(&full) else {
            if REFERENCE.is_match(&full.to_lowercase()) {
                return Err(ImageRefError::Uppercase(image.to_owned()));
            }
            return Err(ImageRefError::InvalidFormat(image.to_owned()));
        };
        let name = &caps[1];
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ImageRefError::NameTooLong(image.to_owned()));
        }
        let name_caps = ANCHORED_NAME
            .captures(name)
            .ok_or_else(|| ImageRefError::InvalidFormat(image.to_owned()))?;
        let digest = caps.get(3).map(|m| m.as_str().to_owned());
        if let Some(d) = &digest
            && !digest_is_valid(d)
        {
            return Err(ImageRefError::BadDigest {
                reference: image.to_owned(),
                digest: d.clone(),
            });
        }
        Ok(Self {
            domain: name_caps.get(1).map_or("", |m| m.as_str()).to_owned(),
            path: name_caps[2].to_owned(),
            tag: caps.get(2).map(|m| m.as_str().to_owned()),
            digest,
        })
    }

    /// The repository without tag or digest (`docker.io/library/nginx`): what kubelet looks up
    /// in its keyring (`repoToPull`).
    pub fn name(&self) -> String {
        // As the Go library: a reference whose first component only looks like a host (e.g.
        // `a_b.c/d`, not a valid domain) has no domain, and its name is the path alone.
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The registry host without the port.
    pub fn host(&self) -> &str {
        split_port(&self.domain).0
    }

    /// The port, if the reference names one.
    pub fn port(&self) -> Option<&str> {
        split_port(&self.domain).1
    }

    /// The tag kubelet pulls: the one written, else `latest` when there is no digest either.
    pub fn kubelet_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Splits `host:port` (or `[v6]:port`) at the port colon, if there is one.
fn split_port(domain: &str) -> (&str, Option<&str>) {
    let after_host = domain.rfind(']').map_or(0, |i| i + 1);
    match domain[after_host..].rfind(':') {
        Some(i) => (
            &domain[..after_host + i],
            Some(&domain[after_host + i + 1..]),
        ),
        None => (domain, None),
    }
}

/// distribution/reference `splitDockerDomain`.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_owned();
    }
    let remainder = if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{remainder}")
    } else {
        remainder
    };
    (domain, remainder)
}

/// go-digest `Digest.Validate` for the algorithms kubelet links: sha256, sha384, sha512.
fn digest_is_valid(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    encoded.len() == len
        && encoded
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(image: &str) -> String {
        ImageRef::parse(image).unwrap().name()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(name("nginx"), "docker.io/library/nginx");
        assert_eq!(name("nginx:1.25"), "docker.io/library/nginx");
        assert_eq!(name("foo/bar"), "docker.io/foo/bar");
        assert_eq!(name("index.docker.io/nginx"), "docker.io/library/nginx");
        assert_eq!(name("docker.io/nginx"), "docker.io/library/nginx");
        assert_eq!(name("localhost/foo"), "localhost/foo");
        assert_eq!(name("localhost:5000/foo/bar:v1"), "localhost:5000/foo/bar");
        assert_eq!(
            name("registry.cn-hangzhou.aliyuncs.com/ns/app:v1"),
            "registry.cn-hangzhou.aliyuncs.com/ns/app"
        );
        assert_eq!(name("[::1]:5000/foo"), "[::1]:5000/foo");
        assert_eq!(name("Example.com/foo"), "Example.com/foo");
    }

    #[test]
    fn a_first_component_that_is_no_domain_leaves_the_name_without_one() {
        let r = ImageRef::parse("zaak_l.8/8").unwrap();
        assert_eq!((r.domain.as_str(), r.name()), ("", "zaak_l.8/8".to_owned()));
        assert_eq!(
            ImageRef::parse(&r.to_string()),
            Ok(r),
            "normalising is idempotent"
        );
    }

    #[test]
    fn tags_digests_ports() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!(
            "foo-registry.cn-beijing.cr.aliyuncs.com:8443/a/b:v2@{digest}"
        ))
        .unwrap();
        assert_eq!(r.host(), "foo-registry.cn-beijing.cr.aliyuncs.com");
        assert_eq!(r.port(), Some("8443"));
        assert_eq!(r.path, "a/b");
        assert_eq!(r.tag.as_deref(), Some("v2"));
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(
            ImageRef::parse("nginx").unwrap().kubelet_tag(),
            Some("latest")
        );
        let by_digest = ImageRef::parse(&format!("nginx@{digest}")).unwrap();
        assert_eq!(by_digest.kubelet_tag(), None);
        assert_eq!(
            by_digest.to_string(),
            format!("docker.io/library/nginx@{digest}")
        );
        assert_eq!(
            ImageRef::parse("[::1]:5000/foo").unwrap().port(),
            Some("5000")
        );
    }

    #[test]
    fn refuses_what_docker_refuses() {
        assert_eq!(
            ImageRef::parse(""),
            Err(ImageRefError::InvalidFormat(String::new()))
        );
        assert!(matches!(
            ImageRef::parse(&"a".repeat(64)),
            Err(ImageRefError::HexIdentifier(_))
        ));
        assert!(matches!(
            ImageRef::parse("Nginx"),
            Err(ImageRefError::Uppercase(_))
        ));
        assert!(matches!(
            ImageRef::parse("example.com/Foo"),
            Err(ImageRefError::Uppercase(_))
        ));
        for bad in [
            "nginx:",
            "a//b",
            "-a/b",
            "a/b:tag with space",
            "http://example.com/a",
            "a:b:c",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} must not parse");
        }
        assert!(matches!(
            ImageRef::parse(&format!("nginx@sha256:{}", "a".repeat(63))),
            Err(ImageRefError::BadDigest { .. })
        ));
        assert!(matches!(
            ImageRef::parse(&format!("nginx@md5:{}", "a".repeat(32))),
            Err(ImageRefError::BadDigest { .. })
        ));
        let long = format!("example.com/{}", "a".repeat(250));
        assert!(matches!(
            ImageRef::parse(&long),
            Err(ImageRefError::NameTooLong(_))
        ));
    }
}
