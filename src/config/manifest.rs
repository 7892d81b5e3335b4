//! Reading ConfigMap data from a file: a Kubernetes manifest (one or many YAML documents, the
//! ConfigMap `acr-configuration` among them) or a plain key/value YAML map.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_norway::Value;

use super::{CONFIGMAP_NAME, CONFIGMAP_NAMESPACE};

/// Why a file does not hold the helper's ConfigMap data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The file is not YAML.
    #[error("document {document} is not valid YAML ({reason})")]
    Yaml {
        /// 1-based document number.
        document: usize,
        /// Where the parser stopped.
        reason: String,
    },
    /// No document at all.
    #[error("the file has no YAML document")]
    Empty,
    /// Kubernetes objects, but no ConfigMap named acr-configuration.
    #[error("no ConfigMap named {CONFIGMAP_NAME} in the manifest (found: {found})")]
    NoConfigMap {
        /// The objects found, `Kind/name`.
        found: String,
    },
    /// The ConfigMap is in another namespace than the helper reads.
    #[error(
        "ConfigMap {CONFIGMAP_NAME} is in namespace '{0}'; the helper reads {CONFIGMAP_NAMESPACE}"
    )]
    WrongNamespace(String),
    /// Neither a manifest nor a single key/value map.
    #[error("expected a ConfigMap manifest or one key/value map, found {0}")]
    Shape(String),
    /// Values of ConfigMap data must be strings (Kubernetes refuses others).
    #[error("key {key}: value must be a string (quote it), found {found}")]
    NotAString {
        /// The data key.
        key: String,
        /// The YAML type found.
        found: &'static str,
    },
}

/// Extracts the ConfigMap data from a manifest or a plain key/value YAML map.
pub fn data_from_yaml(text: &str) -> Result<BTreeMap<String, String>, ManifestError> {
    let mut documents = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| ManifestError::Yaml {
            document: i + 1,
            reason: match e.location() {
                Some(l) => format!("syntax error at line {} column {}", l.line(), l.column()),
                None => "syntax error".to_owned(),
            },
        })?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    if documents.is_empty() {
        return Err(ManifestError::Empty);
    }
    let objects: Vec<&Value> = documents
        .iter()
        .filter(|d| d.get("kind").is_some())
        .collect();
    if objects.is_empty() {
        return match documents.as_slice() {
            [Value::Mapping(_)] => string_map(&documents[0]),
            _ => Err(ManifestError::Shape(format!(
                "{} documents without 'kind'",
                documents.len()
            ))),
        };
    }
    let str_at = |v: &Value, path: &[&str]| {
        let mut v = v;
        for p in path {
            v = v.get(*p)?;
        }
        v.as_str().map(str::to_owned)
    };
    let configmap = objects.iter().find(|o| {
        str_at(o, &["kind"]).as_deref() == Some("ConfigMap")
            && str_at(o, &["metadata", "name"]).as_deref() == Some(CONFIGMAP_NAME)
    });
    let Some(configmap) = configmap else {
        let found: Vec<String> = objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    str_at(o, &["kind"]).unwrap_or_default(),
                    str_at(o, &["metadata", "name"]).unwrap_or_default()
                )
            })
            .collect();
        return Err(ManifestError::NoConfigMap {
            found: found.join(", "),
        });
    };
    if let Some(ns) = str_at(configmap, &["metadata", "namespace"])
        && ns != CONFIGMAP_NAMESPACE
    {
        return Err(ManifestError::WrongNamespace(ns));
    }
    match configmap.get("data") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(data) => string_map(data),
    }
}

fn string_map(value: &Value) -> Result<BTreeMap<String, String>, ManifestError> {
    let Value::Mapping(map) = value else {
        return Err(ManifestError::Shape("data that is not a map".to_owned()));
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let key = match k {
            Value::String(s) => s.clone(),
            other => serde_norway::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        };
        let text = match v {
            Value::String(s) => s.clone(),
            // Kubernetes reads `key:` (null) as an empty string.
            Value::Null => String::new(),
            Value::Bool(_) => {
                return Err(ManifestError::NotAString {
                    key,
                    found: "a boolean",
                });
            }
            Value::Number(_) => {
                return Err(ManifestError::NotAString {
                    key,
                    found: "a number",
                });
            }
            Value::Sequence(_) => {
                return Err(ManifestError::NotAString {
                    key,
                    found: "a list",
                });
            }
            Value::Mapping(_) => {
                return Err(ManifestError::NotAString {
                    key,
                    found: "a map",
                });
            }
            Value::Tagged(_) => {
                return Err(ManifestError::NotAString {
                    key,
                    found: "a tagged value",
                });
            }
        };
        out.insert(key, text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_manifests_and_plain_maps() {
        let manifest = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: acr-configuration\n  namespace: kube-system\ndata:\n  acr-api-version: \"2018-12-01\"\n";
        let data = data_from_yaml(manifest).unwrap();
        assert_eq!(data["acr-api-version"], "2018-12-01");
        assert_eq!(
            data_from_yaml("watch-namespace: all\n").unwrap()["watch-namespace"],
            "all"
        );
        let bare = "kind: ConfigMap\nmetadata:\n  name: acr-configuration\n";
        assert!(data_from_yaml(bare).unwrap().is_empty());
    }

    #[test]
    fn refuses_other_files() {
        assert_eq!(data_from_yaml(""), Err(ManifestError::Empty));
        assert!(matches!(
            data_from_yaml("kind: ConfigMap\nmetadata:\n  name: other\n"),
            Err(ManifestError::NoConfigMap { .. })
        ));
        assert!(matches!(
            data_from_yaml(
                "kind: ConfigMap\nmetadata:\n  name: acr-configuration\n  namespace: default\n"
            ),
            Err(ManifestError::WrongNamespace(_))
        ));
        assert!(matches!(
            data_from_yaml("expiring-threshold: 15\n"),
            Err(ManifestError::NotAString { .. })
        ));
        assert!(matches!(
            data_from_yaml("- a\n"),
            Err(ManifestError::Shape(_))
        ));
        assert!(matches!(
            data_from_yaml("a: [\n"),
            Err(ManifestError::Yaml { .. })
        ));
    }
}
