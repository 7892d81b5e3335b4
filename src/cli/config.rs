//! `acr-refresher config check FILE` and `acr-refresher config match --config FILE IMAGE`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::config::{self, Config, ConfigWarning};
use crate::image_ref::ImageRef;
use crate::keyring::DockerKeyring;
use crate::registry_domain::{Edition, RegistryDomain};

/// Exit status: the configuration is valid / the image is served.
pub const EXIT_OK: u8 = 0;
/// Exit status: `check` found errors, or `match` found no entry serving the image.
pub const EXIT_INVALID: u8 = 1;
/// Exit status: `match` could not read the configuration or the image.
pub const EXIT_MATCH_ERROR: u8 = 2;

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a ConfigMap manifest or key/value YAML file; print the effective configuration
    /// as JSON (exit 0) or every error, one per line (exit 1).
    Check {
        /// A manifest holding ConfigMap kube-system/acr-configuration, or a plain key/value map.
        file: PathBuf,
    },
    /// Print which configured registry entries would serve IMAGE (exit 0), or that none would
    /// (exit 1); exit 2 when the configuration or image is invalid.
    Match {
        /// The configuration file (as for `config check`).
        #[arg(long)]
        config: PathBuf,
        /// The image reference, e.g. registry.cn-hangzhou.aliyuncs.com/ns/app:v1.
        image: String,
    },
}

impl ConfigCommand {
    /// Runs the subcommand; returns the exit status.
    pub fn run(self, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
        // Output errors (a closed pipe) cannot be reported anywhere better; the status stands.
        match self {
            Self::Check { file } => match load(&file) {
                Ok((config, warnings)) => {
                    let report = config::check_report(&config, &warnings);
                    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
                    let _ = writeln!(out, "{text}");
                    EXIT_OK
                }
                Err(lines) => {
                    for line in lines {
                        let _ = writeln!(err, "{line}");
                    }
                    EXIT_INVALID
                }
            },
            Self::Match { config, image } => {
                let (config, warnings) = match load(&config) {
                    Ok(loaded) => loaded,
                    Err(lines) => {
                        for line in lines {
                            let _ = writeln!(err, "{line}");
                        }
                        return EXIT_MATCH_ERROR;
                    }
                };
                for w in &warnings {
                    let _ = writeln!(err, "warning: {w}");
                }
                let image = match ImageRef::parse(&image) {
                    Ok(image) => image,
                    Err(e) => {
                        let _ = writeln!(err, "{e}");
                        return EXIT_MATCH_ERROR;
                    }
                };
                let lines = explain_match(&config, &image);
                let _ = writeln!(out, "image {} (kubelet looks up {})", image, image.name());
                if lines.is_empty() {
                    let _ = writeln!(
                        out,
                        "no configured registry entry serves it: kubelet would pull anonymously"
                    );
                    return EXIT_INVALID;
                }
                for line in lines {
                    let _ = writeln!(out, "{line}");
                }
                EXIT_OK
            }
        }
    }
}

/// Reads and parses a configuration file; `Err` holds every message, one per line.
fn load(path: &Path) -> Result<(Config, Vec<ConfigWarning>), Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
    let data =
        config::data_from_yaml(&text).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    config::parse(&data).map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
}

/// One line per configured entry that would serve `image`: `acr-registry` patterns in kubelet's
/// order, then `acr-registry-info` items (by listed domain, or by the domain grammar when the
/// item lists none and so serves all its instance's domains).
pub fn explain_match(config: &Config, image: &ImageRef) -> Vec<String> {
    let mut lines: Vec<String> = config
        .matching_patterns(image)
        .into_iter()
        .map(|p| format!("acr-registry pattern {p}"))
        .collect();
    let domain = RegistryDomain::parse(image.host())
        .ok()
        .filter(|_| image.port().is_none());
    for (i, item) in config.registry_info.iter().enumerate() {
        let what = match &item.instance_id {
            Some(id) => format!("acr-registry-info item {} (Enterprise Edition {id}", i + 1),
            None => format!("acr-registry-info item {} (Personal Edition", i + 1),
        };
        let region = item.region_id.as_deref().unwrap_or("the cluster's region");
        if !item.domains.is_empty() {
            let keyring = DockerKeyring::from_auths(item.domains.iter().map(|d| (d.as_str(), d)));
            for d in keyring.lookup_image(image) {
                lines.push(format!("{what}, region {region}): domain {d}"));
            }
            continue;
        }
        let Some(domain) = &domain else { continue };
        let region_fits = item.region_id.as_deref().is_none_or(|r| r == domain.region);
        match (item.instance_id.is_some(), domain.edition) {
            (false, Edition::Personal) if region_fits => lines.push(format!(
                "{what}, region {region}): Personal Edition domain {domain}"
            )),
            (true, Edition::Enterprise) if region_fits => lines.push(format!(
                "{what}, region {region}): if the instance's endpoints include {domain} \
                 (its domains are not listed, so all of them are served)"
            )),
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let data: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        config::parse(&data).unwrap().0
    }

    fn explain(config: &Config, image: &str) -> Vec<String> {
        explain_match(config, &ImageRef::parse(image).unwrap())
    }

    #[test]
    fn seed_defaults_serve_personal_edition_hosts() {
        let c = Config::default();
        assert_eq!(
            explain(&c, "registry.cn-hangzhou.aliyuncs.com/ns/app:v1"),
            ["acr-registry pattern registry.*.aliyuncs.com"]
        );
        assert!(explain(&c, "registry-intl.ap-southeast-1.aliyuncs.com/x").is_empty());
        assert!(explain(&c, "nginx").is_empty());
    }

    #[test]
    fn registry_info_by_domain_and_by_grammar() {
        let c = config(&[(
            "acr-registry-info",
            "- instanceId: cri-a\n  regionId: cn-beijing\n  domains: a-registry.cn-beijing.cr.aliyuncs.com\n- instanceId: cri-b\n  regionId: cn-hangzhou\n- regionId: cn-hangzhou\n",
        )]);
        let a = explain(&c, "a-registry.cn-beijing.cr.aliyuncs.com/x/y");
        assert_eq!(a.len(), 1, "{a:?}");
        assert!(a[0].contains("cri-a"));
        let b = explain(&c, "b-registry-vpc.cn-hangzhou.cr.aliyuncs.com/x/y");
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(b[0].contains("cri-b"));
        let p = explain(&c, "registry.cn-hangzhou.aliyuncs.com/x/y");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[1].contains("item 3 (Personal Edition"));
    }
}
