//! Running cargo from a program that cargo started (`cargo run`, `cargo test`): without the
//! variables cargo set for that program's own package.
//!
//! Cargo gives the program it runs `CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, … of its package. A
//! child `cargo build` inherits them, and build scripts that watch those names
//! (`cargo:rerun-if-env-changed=CARGO_MANIFEST_DIR`, as ring's does) then see them "changed" since
//! the user's own build: the script runs again and everything above it recompiles (ring, rustls,
//! reqwest, kube, … — minutes on 2 cores, and again in the user's next build).

use std::ffi::OsString;

/// Prefixes and names of the variables cargo sets for one package's build script, binary, test
/// or example (cargo's "Environment variables Cargo sets for crates"); cargo's own configuration
/// (`CARGO_HOME`, `CARGO_TARGET_DIR`, `CARGO_BUILD_*`, …) is not among them.
const PER_PACKAGE: [&str; 10] = [
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_BIN_EXE_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "CARGO_CFG_",
    "OUT_DIR",
];

/// The names of this process's environment that a child cargo must not inherit.
pub fn per_package_variables() -> Vec<OsString> {
    names_to_drop(std::env::vars_os().map(|(name, _)| name))
}

fn names_to_drop(names: impl Iterator<Item = OsString>) -> Vec<OsString> {
    names
        .filter(|name| {
            name.to_str()
                .is_some_and(|n| PER_PACKAGE.iter().any(|p| n.starts_with(p)))
        })
        .collect()
}

/// `cargo` (the one that started this program, else from `PATH`) with no per-package variable.
pub fn command() -> std::process::Command {
    let mut command =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for name in per_package_variables() {
        command.env_remove(name);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_what_cargo_sets_for_a_package_and_keeps_its_configuration() {
        let names = [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_BIN_EXE_acr-refresher",
            "OUT_DIR",
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "CARGO_INCREMENTAL",
            "PATH",
        ];
        let dropped = names_to_drop(names.iter().map(OsString::from));
        assert_eq!(
            dropped,
            names[..6].iter().map(OsString::from).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_test_binary_has_them_and_the_command_drops_them() {
        // cargo test sets CARGO_MANIFEST_DIR (and more) for this very binary.
        assert!(per_package_variables().contains(&OsString::from("CARGO_MANIFEST_DIR")));
        let command = command();
        let removed: Vec<_> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_os_string())
            .collect();
        assert!(
            removed.contains(&OsString::from("CARGO_MANIFEST_DIR")),
            "{removed:?}"
        );
        assert!(
            removed.contains(&OsString::from("CARGO_PKG_NAME")),
            "{removed:?}"
        );
    }
}
