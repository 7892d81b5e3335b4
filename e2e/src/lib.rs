//! The conformance suite for ACR credential helpers.
//!
//! Modules:
//! - [`cluster`]: a real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)
//!   started as processes for tests, plus the `cluster up|down` commands of the `acr-conformance` binary.

pub mod cluster;
