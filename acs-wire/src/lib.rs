//! Alibaba Cloud wire formats shared by the refresher and the fakes.
//!
//! - `sign`: POP request signing (RPC V1, ROA V1, V3 ACS3-HMAC-SHA256), client side and verifier side.
//! - `error`: the POP error envelope (`Code`/`Message`/`RequestId`) servers send and clients parse.
//! - `sts`: self-validating STS credentials (issue/validate) and the ECS RAM-role credentials document.

pub mod error;
pub mod sign;
pub mod sts;
