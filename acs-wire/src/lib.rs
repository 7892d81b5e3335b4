//! Alibaba Cloud wire formats shared by the refresher and the fakes.
