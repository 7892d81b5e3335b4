//! External fakes: the suite drives fakes it did not start only through their admin HTTP APIs,
//! as it drives the Deployments of kind mode (`--metadata-admin`, `--acr-admin`,
//! `--acr-address`). Here the fakes run in this test process but the suite gets nothing except
//! their URLs; the implementation is the reference refresher as a process pointed at them.
//!
//! The scenarios chosen use every admin operation the catalogue needs: settings replaced per
//! scenario (lifetimes, EE instances, faults at start-up), fault rules added and removed at run
//! time on both fakes, credential rotation, the clock offset, and both request logs.

use acr_conformance::report::Verdict;
use acr_conformance::runner::{RunOptions, run};
use acr_conformance::testing::block_on;

#[test]
fn scenarios_pass_against_fakes_driven_only_through_their_admin_apis() {
    block_on(async {
        // Settings the suite must replace: a region the scenarios do not use, a long lifetime.
        let mut metadata_settings = fake_metadata::Settings::default();
        metadata_settings.instance.region_id = "eu-central-1".into();
        let metadata = fake_metadata::FakeMetadata::start(metadata_settings)
            .await
            .expect("fake-metadata starts");
        let acr_settings = fake_acr::Settings {
            token_lifetime_secs: 7200,
            ..Default::default()
        };
        let acr = fake_acr::FakeAcr::start(acr_settings)
            .await
            .expect("fake-acr starts");

        let ids = ["NS1", "MR2", "TR3", "FT1", "FT2", "FT4", "BI3"];
        let report_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/conformance/cargo-test/external-fakes");
        let options = RunOptions {
            scenarios: ids.join(","),
            report_dir: report_dir.clone(),
            metadata_admin: Some(metadata.admin_url()),
            acr_admin: Some(acr.admin_url()),
            acr_address: Some(acr.addr()),
            metadata_url: Some(metadata.base_url()),
            ..RunOptions::default()
        };
        let report = run(&options).await.expect("the suite runs");
        assert_eq!(
            report.ids_with(Verdict::Passed),
            ids.to_vec(),
            "not every scenario passed with external fakes (report in {}):\n{}",
            report_dir.display(),
            report.markdown()
        );

        // The suite really drove these fakes: their settings are the last scenario's, and the
        // implementation's traffic is in their request logs.
        let m = metadata.admin().state();
        assert_eq!(
            m.region_id, "cn-hangzhou",
            "fake-metadata still serves the region it was started with"
        );
        let token_calls = acr.admin().count("GetAuthorizationToken");
        assert!(
            token_calls > 0,
            "fake-acr logged no GetAuthorizationToken after the last scenario"
        );
        assert_ne!(
            acr.admin().token_lifetime_secs(),
            7200,
            "fake-acr kept the token lifetime it was started with"
        );
    })
}
