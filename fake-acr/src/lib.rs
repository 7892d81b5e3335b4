//! fake-acr
