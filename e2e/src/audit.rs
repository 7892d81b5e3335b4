//! The local control plane's audit log: the apiserver records every write request (create,
//! update, patch, delete) with its user, and the suite reads it back to count what an
//! implementation wrote and to tell which Events it created.

use std::path::{Path, PathBuf};

use crate::cluster::Error;

/// The user the local control plane's kubeconfig for implementations authenticates as
/// (group `system:masters`): the audit log tells its requests from the suite's (`admin`).
pub const IMPLEMENTATION_USER: &str = "acr-conformance:implementation";

/// Write verbs recorded.
pub const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

/// Metadata of every write request; the controller-manager's own writes, a node's kubelet's
/// (status, leases, events) and every read are not recorded.
const POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:kube-controller-manager", "system:apiserver"]
  - level: None
    userGroups: ["system:nodes"]
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
"#;

/// Where the control plane in `dir` writes its audit log.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("logs").join("audit.log")
}

/// `apiserver_args` plus the audit policy (written into `dir`) and log.
pub fn with_audit_log(mut apiserver_args: Vec<String>, dir: &Path) -> Result<Vec<String>, Error> {
    let policy = dir.join("audit-policy.yaml");
    std::fs::write(&policy, POLICY).map_err(|source| Error::Io {
        action: format!("writing {}", policy.display()),
        source,
    })?;
    apiserver_args.push(format!("--audit-policy-file={}", policy.display()));
    apiserver_args.push(format!("--audit-log-path={}", log_path(dir).display()));
    apiserver_args.push("--audit-log-format=json".to_owned());
    Ok(apiserver_args)
}

/// One recorded write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// Who sent it.
    pub user: String,
    /// `secrets`, `serviceaccounts`, `events`, …
    pub resource: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    /// The object's name (may be empty, e.g. a create with `generateName`).
    pub name: String,
    /// The HTTP status of the answer.
    pub code: u16,
}

/// The writes recorded in `text` (JSON lines), in order; lines that are not audit events are
/// skipped.
pub fn parse(text: &str) -> Vec<Write> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["stage"] == "ResponseComplete")
        .map(|v| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            Write {
                verb: s(&v["verb"]),
                user: s(&v["user"]["username"]),
                resource: s(&v["objectRef"]["resource"]),
                namespace: s(&v["objectRef"]["namespace"]),
                name: s(&v["objectRef"]["name"]),
                code: v["responseStatus"]["code"].as_u64().unwrap_or_default() as u16,
            }
        })
        .filter(|w| WRITE_VERBS.contains(&w.verb.as_str()))
        .collect()
}

/// A position in the audit log and what was written after it.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// The log at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// The log's length now: a mark for [`AuditLog::writes_since`].
    pub fn mark(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Writes by `user` recorded since `mark` (the apiserver appends; a rotated log is read
    /// from its start).
    pub fn writes_since(&self, mark: u64, user: &str) -> Vec<Write> {
        let Ok(bytes) = std::fs::read(&self.path) else {
            return Vec::new();
        };
        let from = if (mark as usize) <= bytes.len() {
            mark as usize
        } else {
            0
        };
        parse(&String::from_utf8_lossy(&bytes[from..]))
            .into_iter()
            .filter(|w| w.user == user)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_requests_are_read_with_user_and_object() {
        let text = concat!(
            r#"{"kind":"Event","level":"Metadata","stage":"ResponseComplete","verb":"patch","user":{"username":"acr-conformance:implementation"},"objectRef":{"resource":"secrets","namespace":"default","name":"x"},"responseStatus":{"code":200}}"#,
            "\n",
            r#"{"kind":"Event","level":"Metadata","stage":"ResponseStarted","verb":"patch","user":{"username":"admin"},"objectRef":{"resource":"secrets"}}"#,
            "\n",
            r#"{"kind":"Event","level":"Metadata","stage":"ResponseComplete","verb":"get","user":{"username":"admin"},"objectRef":{"resource":"secrets"}}"#,
            "\nnot json\n"
        );
        let writes = parse(text);
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].user, IMPLEMENTATION_USER);
        assert_eq!(
            (writes[0].resource.as_str(), writes[0].name.as_str()),
            ("secrets", "x")
        );
        assert_eq!(writes[0].code, 200);
    }
}
