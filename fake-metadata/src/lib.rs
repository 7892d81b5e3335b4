//! fake-metadata
