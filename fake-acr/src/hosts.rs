//! Host names fake-acr answers for, and what each one is (docs/wire.md).

use crate::settings::Settings;

/// What a Host header designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `cr[-vpc].<region>.aliyuncs.com`: the ACR OpenAPI of a region.
    OpenApi {
        /// Region id.
        region: String,
    },
    /// `registry[-vpc|-internal|-intl|-intl-vpc].<region>.aliyuncs.com`: Personal Edition registry.
    PersonalRegistry {
        /// Region id.
        region: String,
    },
    /// `<name>-registry[-vpc].<region>.cr.aliyuncs.com`: an Enterprise Edition registry.
    InstanceRegistry {
        /// Instance id (`cri-…`).
        instance_id: String,
        /// Region id.
        region: String,
    },
    /// `dockerauth.<region>.aliyuncs.com`: the Registry v2 token service of a region.
    TokenService {
        /// Region id.
        region: String,
    },
}

const PERSONAL_PREFIXES: &[&str] = &[
    "registry",
    "registry-vpc",
    "registry-internal",
    "registry-intl",
    "registry-intl-vpc",
];

/// Every host name with its target, in a stable order.
pub fn all(settings: &Settings) -> Vec<(String, Target)> {
    let mut out = Vec::new();
    for r in &settings.regions {
        let region = r.id.clone();
        for p in ["cr", "cr-vpc"] {
            out.push((
                format!("{p}.{region}.aliyuncs.com"),
                Target::OpenApi {
                    region: region.clone(),
                },
            ));
        }
        for p in PERSONAL_PREFIXES {
            out.push((
                format!("{p}.{region}.aliyuncs.com"),
                Target::PersonalRegistry {
                    region: region.clone(),
                },
            ));
        }
        out.push((
            format!("dockerauth.{region}.aliyuncs.com"),
            Target::TokenService {
                region: region.clone(),
            },
        ));
    }
    for i in &settings.instances {
        for suffix in ["registry", "registry-vpc"] {
            out.push((
                format!("{}-{suffix}.{}.cr.aliyuncs.com", i.name, i.region),
                Target::InstanceRegistry {
                    instance_id: i.id.clone(),
                    region: i.region.clone(),
                },
            ));
        }
    }
    out
}

/// Resolves a Host header (port and case ignored) to its target.
pub fn resolve(settings: &Settings, host_header: &str) -> Option<Target> {
    let host = strip_port(host_header).to_ascii_lowercase();
    all(settings)
        .into_iter()
        .find(|(h, _)| *h == host)
        .map(|(_, t)| t)
}

/// `host:port` → `host` (IPv6 literals are not registry names, so no bracket handling).
pub fn strip_port(host: &str) -> &str {
    host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    })
}

/// The public domains of an instance, as `ListInstanceEndpoint` reports them.
pub fn instance_domains(name: &str, region: &str) -> (String, String) {
    (
        format!("{name}-registry.{region}.cr.aliyuncs.com"),
        format!("{name}-registry-vpc.{region}.cr.aliyuncs.com"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_hosts_resolve() {
        let s = Settings::default();
        assert_eq!(
            resolve(&s, "CR.cn-hangzhou.aliyuncs.com:443"),
            Some(Target::OpenApi {
                region: "cn-hangzhou".into()
            })
        );
        assert_eq!(
            resolve(&s, "registry-intl-vpc.cn-beijing.aliyuncs.com"),
            Some(Target::PersonalRegistry {
                region: "cn-beijing".into()
            })
        );
        assert_eq!(
            resolve(&s, "demo-bj-registry-vpc.cn-beijing.cr.aliyuncs.com"),
            Some(Target::InstanceRegistry {
                instance_id: "cri-bjdemo0000000001".into(),
                region: "cn-beijing".into()
            })
        );
        assert_eq!(resolve(&s, "cr.us-west-1.aliyuncs.com"), None);
        assert_eq!(all(&s).len(), 2 * 8 + 2 * 2);
    }
}
