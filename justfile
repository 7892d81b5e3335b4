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

# Run tests RUNS times in a row and count failures (flake hunting; best with another build loading the machine). ARGS go to cargo test, e.g. `just stress 200 -p acr-conformance --lib adapter::`.
stress RUNS *ARGS:
    #!/usr/bin/env bash
    set -uo pipefail
    cargo test --quiet --no-run {{ARGS}} || exit 1
    failed=0
    for i in $(seq 1 {{RUNS}}); do
      if ! out=$(cargo test --quiet {{ARGS}} 2>&1); then
        failed=$((failed + 1))
        echo "run $i FAILED:" >&2
        printf '%s\n' "$out" | grep -E 'panicked|FAILED|failures:' | head -20 >&2
      fi
      printf '\rrun %d/%d, %d failed' "$i" {{RUNS}} "$failed" >&2
    done
    echo >&2
    [ "$failed" -eq 0 ]

# What CI runs, from this checkout.
ci:
    bash .ci/run

# The conformance suite against the reference refresher (local control plane + fakes); report in target/conformance/. ARGS: e.g. --scenarios NS,TR1.
# One cargo build makes both binaries with the same features, so the suite's own `cargo build` of the reference is a no-op.
e2e *ARGS:
    cargo build --release -q -p acr-conformance -p acr-refresher
    cargo run --release -q -p acr-conformance -- run --report-dir target/conformance {{ARGS}}

# Control plane + both fakes for developing an implementation; env file in target/sandbox.env; Ctrl-C removes everything. ARGS: --with-reference, --scenario ID, --network override.
sandbox *ARGS:
    cargo run -q -p acr-conformance -- sandbox {{ARGS}}

# Start a local control plane (etcd, kube-apiserver, kube-controller-manager on 127.0.0.1) in the background.
cluster-up *ARGS:
    cargo run -q -p acr-conformance -- cluster up {{ARGS}}

# Stop the control plane started by cluster-up and remove its directory.
cluster-down *ARGS:
    cargo run -q -p acr-conformance -- cluster down {{ARGS}}

# Measure the local control plane: warm start, apiserver restart, RSS of etcd/apiserver/controller-manager.
bench-cluster RUNS="5":
    cargo run --release -q -p acr-conformance --example bench_control_plane -- {{RUNS}}

# Benchmark the refresher at N namespaces (release binary, local control plane, both fakes): initial sync, 120 s idle, one renewal, a no-op ConfigMap edit.
bench-scale N="10000":
    cargo build --release -q -p acr-refresher --bin acr-refresher
    cargo run --release -q -p acr-refresher --example bench_scale -- {{N}}

# Benchmark: requests/s on fake-metadata's credentials path from a loopback load generator (SECONDS, CONNECTIONS).
bench-metadata SECONDS="5" CONNECTIONS="4":
    cargo run --release -q -p fake-metadata --example bench_metadata -- {{SECONDS}} {{CONNECTIONS}}

# Benchmark fake-acr on loopback: signed GetAuthorizationToken/s and manifest GET/s.
bench-acr SECONDS="5" CONNECTIONS="4":
    cargo run --release -q -p fake-acr --example bench_acr -- {{SECONDS}} {{CONNECTIONS}}

# Run every fuzz target for SECONDS each (cargo-fuzz on the stable toolchain via RUSTC_BOOTSTRAP=1): the ConfigMap parser, image references, acs-wire's signed-request verification, both fakes' requests and admin bodies, the refresher's answer readers.
fuzz SECONDS="60":
    #!/usr/bin/env bash
    set -euo pipefail
    if ! cargo fuzz --version >/dev/null 2>&1; then
      echo "== installing cargo-fuzz" >&2
      cargo install cargo-fuzz --locked
    fi
    for target in configmap image_ref signed_request acr_request metadata_request admin_bodies refresher_readers; do
      echo "== fuzz $target for {{SECONDS}} s" >&2
      RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz -s none "$target" -- -max_total_time={{SECONDS}}
    done

# Run the reference refresher (outside the cluster: pass --kubeconfig FILE; `run --help` lists every setting).
run *ARGS:
    cargo run -q -p acr-refresher -- run {{ARGS}}

# Build the container images (acr-refresher, fake-metadata, fake-acr) with docker or podman; installs podman + runc if neither exists.
images *NAMES:
    bash e2e/kind/images.sh {{NAMES}}

# Conformance in a kind cluster with real kubelet pulls (needs docker + kind + kubectl): `just e2e-kind --image REF` judges another implementation.
e2e-kind *ARGS:
    bash e2e/kind/run.sh {{ARGS}}
