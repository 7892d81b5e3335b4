//! The conformance suite for ACR credential helpers.
