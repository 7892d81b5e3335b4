//! The conformance suite for ACR credential helpers.
//!
//! Modules:
//! - [`cluster`]: a real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
//!   optionally a node: kubelet and containerd) started as processes for tests, plus the
//!   `cluster up|down` commands of the `acr-conformance` binary.
//! - [`audit`]: the local apiserver's audit log of write requests, read back per user.
//! - [`cargo_env`]: running cargo from a program cargo started, without its per-package variables.
//! - [`catalogue`]: the scenario IDs, titles, groups and levels of docs/conformance.md.
//! - [`host_proxy`]: a loopback CONNECT proxy that routes Alibaba host names to the fakes.
//! - [`adapter`]: how an implementation is run (process, docker credential helper, kubelet plugin).
//! - [`deployment`]: adapter `deployment`: an implementation already deployed in the cluster.
//! - [`clouds`]: one scenario's fakes (fake-metadata, fake-acr), CA bundle and proxy.
//! - [`environment`]: the cluster under test (local or existing) and the reset between scenarios.
//! - [`netns`]: netns mode: the run's network namespace with the fakes at the real addresses.
//! - [`kubelet_keyring`]: kubelet's own credential lookup (`kubeplane keyring-server`) as the judge.
//! - [`pool`]: control planes kept for the next run of the same process (tests), stopped after
//!   the last.
//! - [`probe`]: the pull probe (Pod → admission → Secrets → kubelet's keyring → OCI pull).
//! - [`pull_secret`]: pull secrets read the way kubelet reads them.
//! - [`report`]: results and the junit.xml / summary.md / summary.json writers.
//! - [`runner`]: the `run` / `list` subcommands: scenarios on concurrent lanes, progress, report.
//! - [`scenarios`]: one function per catalogue ID (NS, MR, CR, TR, FT, BI) and their context.
//! - [`schedule`]: lanes (a control plane and network namespace each), `--jobs`, the order.
//! - [`sandbox`]: the `sandbox` subcommand: control plane and fakes kept running for development.
//! - [`sandbox_env`]: the sandbox's env file.
//! - [`sandbox_scenario`]: one scenario's setup, for `sandbox --scenario ID`.
//! - [`spawn`]: starting a program that may have just been written (retried while busy).
//! - [`testing`]: what the test binaries share: one async runtime and a pool session per test.
//! - [`sweep`]: every namespace swept for what the implementation wrote, judged against the
//!   configuration's selection; leftovers removed between scenarios.

pub mod adapter;
pub mod audit;
pub mod cargo_env;
pub mod catalogue;
pub mod clouds;
pub mod cluster;
pub mod deployment;
pub mod environment;
pub mod host_proxy;
pub mod kubelet_keyring;
pub mod netns;
pub mod pool;
pub mod probe;
pub mod pull_secret;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod sandbox_env;
pub mod sandbox_scenario;
pub mod scenarios;
pub mod schedule;
pub mod spawn;
pub mod sweep;
pub mod testing;
