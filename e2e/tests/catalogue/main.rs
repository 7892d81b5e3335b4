//! The suite's heavy tiers in one test binary: the whole catalogue against the reference
//! refresher (`conformance`), the credential-only subcommands and a v1beta1 plugin
//! (`conformance_sources`), the mutation catalogue (`suite_can_fail`), fakes driven only through
//! their admin APIs (`external_fakes`) or as containers (`container_fakes`), and an
//! implementation written elsewhere (`third_party`). One binary, so they share one link, one
//! async runtime and one pool of local control planes (`acr_conformance::testing`): a run gives
//! its lanes' planes back, reset, and the next run takes them instead of starting its own; the
//! last test to end stops them.

mod conformance;
mod conformance_sources;
mod container_fakes;
mod external_fakes;
mod suite_can_fail;
mod third_party;
