# The project's verbs. `just` lists them.

default:
    @just --list

# Build everything (debug).
build:
    cargo build --workspace

# The README's test command: every unit, property, integration, interop and conformance test.
test:
    cargo test --workspace

# Format and lint as CI does.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# What CI runs, from this checkout.
ci:
    bash .ci/run
