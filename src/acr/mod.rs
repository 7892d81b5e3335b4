//! The ACR OpenAPI: token types, typed errors and the signed client.

pub mod client;
pub mod error;
pub mod token;

pub use client::{AcrClient, AcrClientSettings, Instance, SignatureVersion};
pub use error::AcrError;
pub use token::{Edition, RegistryToken, TokenKey, edition_name};
