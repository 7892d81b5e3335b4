//! The reference refresher for Alibaba Cloud Container Registry pull credentials.
