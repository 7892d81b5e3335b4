//! Settings precedence, the same for both fakes: command-line flag > environment variable >
//! config file > built-in default. Flags and variables are one clap argument each (`env = …`),
//! so clap settles the first two; [`read`] gives the file over the defaults and [`overlay`] puts
//! what the command line gave on top.

use std::path::Path;

use serde::de::DeserializeOwned;

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("config file {path}: cannot read: {source}")]
    Read {
        /// Path of the config file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is neither valid YAML nor valid JSON for these settings.
    #[error("config file {path}: {reason}")]
    Parse {
        /// Path of the config file.
        path: String,
        /// What the parser said.
        reason: String,
    },
}

/// Reads a YAML or JSON config file (JSON is YAML, so one parser reads both); the settings
/// type's serde defaults fill what the file leaves out.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, FileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: shown.clone(),
        source,
    })?;
    serde_norway::from_str(&text).map_err(|e| FileError::Parse {
        path: shown,
        reason: e.to_string(),
    })
}

/// Puts a value the command line (flag or environment) gave over the file's or default one.
pub fn overlay<T>(setting: &mut T, given: Option<T>) {
    if let Some(value) = given {
        *setting = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Knobs {
        a: u32,
        b: String,
    }

    #[test]
    fn file_over_default_and_command_line_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "a: 3\n").unwrap();
        let mut k: Knobs = read(&path).unwrap();
        assert_eq!(
            k,
            Knobs {
                a: 3,
                b: String::new()
            }
        );
        overlay(&mut k.a, Some(4));
        overlay(&mut k.b, None);
        assert_eq!(
            k,
            Knobs {
                a: 4,
                b: String::new()
            }
        );
        std::fs::write(&path, "{\"a\": 1, \"c\": 2}").unwrap();
        let err = read::<Knobs>(&path).unwrap_err().to_string();
        assert!(
            err.contains("c.yaml") && err.contains("unknown field `c`"),
            "{err}"
        );
        let err = read::<Knobs>(&dir.path().join("missing.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing.yaml") && err.contains("cannot read"),
            "{err}"
        );
    }
}
