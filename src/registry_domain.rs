//! The ACR registry domain grammar: host ↔ (edition, instance name, region, network variant).
//!
//! Follows the grammar the open ACR clients use (docs/wire.md, mozillazg `registry.go`):
//! `^(?:(<instanceName>[^.\s]+)-)?registry(?:-intl)?(?:-vpc)?(?:-internal)?(?:\.distributed)?\.(<region>[^.]+)\.(?:cr\.)?aliyuncs\.com`
//! anchored at the end as well, because we parse whole hosts, and with the edition tied to the
//! `cr.` label (Enterprise Edition hosts always have it, Personal Edition hosts never do) so that
//! every accepted host has exactly one spelling and [`RegistryDomain::host`] gives it back.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// Which ACR product serves a registry domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Edition {
    /// Personal Edition: `registry[-…].<region>.aliyuncs.com`, token from `GET /tokens` (2016-06-07).
    Personal,
    /// Enterprise Edition: `<name>-registry[-…].<region>.cr.aliyuncs.com`, token per instance (2018-12-01).
    Enterprise,
}

/// The network variant suffixes of a registry domain, in the order they appear in the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct NetworkVariant {
    /// `-intl`: the international endpoint.
    pub intl: bool,
    /// `-vpc`: reachable from the VPC only.
    pub vpc: bool,
    /// `-internal`: the classic-network internal endpoint.
    pub internal: bool,
    /// `.distributed`: the distributed (P2P/edge) endpoint.
    pub distributed: bool,
}

impl NetworkVariant {
    /// The public internet endpoint (no suffix).
    pub const PUBLIC: Self = Self {
        intl: false,
        vpc: false,
        internal: false,
        distributed: false,
    };
    /// The `-vpc` endpoint.
    pub const VPC: Self = Self {
        intl: false,
        vpc: true,
        internal: false,
        distributed: false,
    };
}

impl fmt::Display for NetworkVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (on, name) in [
            (self.intl, "intl"),
            (self.vpc, "vpc"),
            (self.internal, "internal"),
            (self.distributed, "distributed"),
        ] {
            if on {
                parts.push(name);
            }
        }
        if parts.is_empty() {
            f.write_str("public")
        } else {
            f.write_str(&parts.join("+"))
        }
    }
}

/// A registry host understood as an ACR endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct RegistryDomain {
    /// Personal or Enterprise Edition.
    pub edition: Edition,
    /// The Enterprise Edition instance name (`foo` in `foo-registry.cn-hangzhou.cr.aliyuncs.com`).
    pub instance_name: Option<String>,
    /// The region id, such as `cn-hangzhou`.
    pub region: String,
    /// Which endpoint of the registry the host is.
    pub network: NetworkVariant,
}

/// Why a host is not an ACR registry domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The host does not follow the ACR registry domain grammar.
    #[error(
        "'{0}' is not an ACR registry domain (registry[-vpc].<region>.aliyuncs.com or \
         <instance>-registry[-vpc].<region>.cr.aliyuncs.com)"
    )]
    NotAcr(String),
    /// The parts given cannot form a host (empty or with '.' or whitespace).
    #[error("cannot build a registry domain from {field} '{value}': {reason}")]
    BadPart {
        /// Which part: region or instance name.
        field: &'static str,
        /// The value given.
        value: String,
        /// Why it does not fit.
        reason: &'static str,
    },
}

static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:(?P<name>[^.\s]+)-)?registry(?P<intl>-intl)?(?P<vpc>-vpc)?(?P<internal>-internal)?(?P<dist>\.distributed)?\.(?P<region>[^.]+)\.(?P<cr>cr\.)?aliyuncs\.com$",
    )
    .expect("the registry domain grammar is a valid regex")
});

impl RegistryDomain {
    /// Parses a host (no scheme, port or path) by the ACR grammar.
    pub fn parse(host: &str) -> Result<Self, DomainError> {
        let not_acr = || DomainError::NotAcr(host.to_owned());
        let caps = DOMAIN.captures(host).ok_or_else(not_acr)?;
        let instance_name = caps.name("name").map(|m| m.as_str().to_owned());
        let cr = caps.name("cr").is_some();
        let edition = match (&instance_name, cr) {
            (Some(_), true) => Edition::Enterprise,
            (None, false) => Edition::Personal,
            // Both editions' real hosts tie the instance name to the `cr.` label.
            _ => return Err(not_acr()),
        };
        Ok(Self {
            edition,
            instance_name,
            region: caps["region"].to_owned(),
            network: NetworkVariant {
                intl: caps.name("intl").is_some(),
                vpc: caps.name("vpc").is_some(),
                internal: caps.name("internal").is_some(),
                distributed: caps.name("dist").is_some(),
            },
        })
    }

    /// A Personal Edition domain in `region`.
    pub fn personal(region: &str, network: NetworkVariant) -> Result<Self, DomainError> {
        check_part("region", region)?;
        Ok(Self {
            edition: Edition::Personal,
            instance_name: None,
            region: region.to_owned(),
            network,
        })
    }

    /// An Enterprise Edition domain of instance `instance_name` in `region`.
    pub fn enterprise(
        instance_name: &str,
        region: &str,
        network: NetworkVariant,
    ) -> Result<Self, DomainError> {
        check_part("instance name", instance_name)?;
        check_part("region", region)?;
        Ok(Self {
            edition: Edition::Enterprise,
            instance_name: Some(instance_name.to_owned()),
            region: region.to_owned(),
            network,
        })
    }

    /// The host name, e.g. `foo-registry-vpc.cn-hangzhou.cr.aliyuncs.com`.
    pub fn host(&self) -> String {
        let mut host = String::new();
        if let Some(name) = &self.instance_name {
            host.push_str(name);
            host.push('-');
        }
        host.push_str("registry");
        let n = self.network;
        for (on, suffix) in [
            (n.intl, "-intl"),
            (n.vpc, "-vpc"),
            (n.internal, "-internal"),
            (n.distributed, ".distributed"),
        ] {
            if on {
                host.push_str(suffix);
            }
        }
        host.push('.');
        host.push_str(&self.region);
        if self.edition == Edition::Enterprise {
            host.push_str(".cr");
        }
        host.push_str(".aliyuncs.com");
        host
    }
}

impl fmt::Display for RegistryDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host())
    }
}

fn check_part(field: &'static str, value: &str) -> Result<(), DomainError> {
    let bad = |reason| DomainError::BadPart {
        field,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(bad("it is empty"));
    }
    if value.contains('.') || value.chars().any(char::is_whitespace) {
        return Err(bad("it contains '.' or whitespace"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ee(name: &str, region: &str, network: NetworkVariant) -> RegistryDomain {
        RegistryDomain::enterprise(name, region, network).unwrap()
    }

    #[test]
    fn personal_edition_hosts() {
        let d = RegistryDomain::parse("registry.cn-hangzhou.aliyuncs.com").unwrap();
        assert_eq!(d.edition, Edition::Personal);
        assert_eq!(d.region, "cn-hangzhou");
        assert_eq!(d.network, NetworkVariant::PUBLIC);
        let d = RegistryDomain::parse("registry-vpc.cn-shanghai.aliyuncs.com").unwrap();
        assert_eq!(d.network, NetworkVariant::VPC);
        let d = RegistryDomain::parse("registry-intl-vpc.ap-southeast-1.aliyuncs.com").unwrap();
        assert!(d.network.intl && d.network.vpc);
        let d = RegistryDomain::parse("registry-internal.cn-beijing.aliyuncs.com").unwrap();
        assert!(d.network.internal);
    }

    #[test]
    fn enterprise_edition_hosts() {
        let d = RegistryDomain::parse("foo-registry.cn-beijing.cr.aliyuncs.com").unwrap();
        assert_eq!(d, ee("foo", "cn-beijing", NetworkVariant::PUBLIC));
        let d = RegistryDomain::parse("my-team-registry-vpc.cn-hangzhou.cr.aliyuncs.com").unwrap();
        assert_eq!(d, ee("my-team", "cn-hangzhou", NetworkVariant::VPC));
        let d = RegistryDomain::parse("foo-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com")
            .unwrap();
        assert!(d.network.vpc && d.network.distributed);
        assert_eq!(
            d.host(),
            "foo-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com"
        );
    }

    #[test]
    fn refuses_other_hosts() {
        for host in [
            "docker.io",
            "registry.cn-hangzhou.aliyuncs.com.evil.example",
            "registry.cn-hangzhou.cr.aliyuncs.com",
            "foo-registry.cn-hangzhou.aliyuncs.com",
            "cr.cn-hangzhou.aliyuncs.com",
            "registry.aliyuncs.com",
            "foo-registry.cn-hangzhou.cr.aliyuncs.com:443",
        ] {
            assert!(
                RegistryDomain::parse(host).is_err(),
                "{host} must not parse"
            );
        }
    }

    #[test]
    fn builds_back_what_it_parsed() {
        for host in [
            "registry.cn-hangzhou.aliyuncs.com",
            "registry-intl-vpc-internal.distributed.us-west-1.aliyuncs.com",
            "x-registry-intl.eu-central-1.cr.aliyuncs.com",
        ] {
            assert_eq!(RegistryDomain::parse(host).unwrap().host(), host);
        }
        assert!(RegistryDomain::personal("", NetworkVariant::PUBLIC).is_err());
        assert!(RegistryDomain::enterprise("a.b", "cn-hangzhou", NetworkVariant::PUBLIC).is_err());
    }
}
