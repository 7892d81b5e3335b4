//! Alibaba Cloud wire formats shared by the refresher and the fakes.
//!
//! - `sts`: self-validating STS credentials (issue/validate) and the ECS RAM-role credentials document.

pub mod sts;
