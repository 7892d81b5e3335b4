//! The fakes as containers, judged the way kind mode judges them: the images `just images`
//! builds (the ones `kind load` puts on the node) run with the kind manifests' listeners and
//! fake-acr's `advertised_port: 443`, published on 127.0.0.1 only; the suite reaches them solely
//! through their published ports and admin APIs (`--metadata-admin`, `--acr-admin`,
//! `--acr-address`) and replaces their settings per scenario. The implementation is the reference
//! refresher as a host process. Without a container engine: `SKIPPED` (a failure in CI).

#[path = "../../../fake-metadata/tests/support/containers.rs"]
mod containers;

use std::net::SocketAddr;
use std::time::Duration;

use acr_conformance::report::Verdict;
use acr_conformance::runner::{RunOptions, run};
use acr_conformance::testing::block_on;
use containers::{Container, engine_or_skip, image};

#[test]
fn scenarios_pass_against_the_fake_images_driven_through_published_ports() {
    block_on(async {
        let Some(engine) = engine_or_skip("conformance against the fake images") else {
            return;
        };
        let metadata_image = image(engine, "fake-metadata");
        let acr_image = image(engine, "fake-acr");

        // fake-acr's config as e2e/kind/manifests/20-fake-acr.yaml gives it.
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, "advertised_port: 443\n").expect("write config");
        let mount = format!("{}:/etc/fake-acr/config.yaml:ro", config.display());
        let acr = Container::start(
            engine,
            &[
                "-p",
                "127.0.0.1::8443",
                "-p",
                "127.0.0.1::8444",
                "-v",
                &mount,
                "-e",
                "FAKE_ACR_CONFIG=/etc/fake-acr/config.yaml",
                &acr_image,
            ],
        );
        let metadata = Container::start(
            engine,
            &[
                "-p",
                "127.0.0.1::8080",
                "-p",
                "127.0.0.1::8081",
                &metadata_image,
            ],
        );
        let acr_address = SocketAddr::from(([127, 0, 0, 1], acr.port("8443/tcp")));
        let options = RunOptions {
            scenarios: "NS1,MR2,TR3,FT2".into(),
            report_dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/conformance/cargo-test/container-fakes"),
            metadata_admin: Some(format!("http://127.0.0.1:{}", metadata.port("8081/tcp"))),
            acr_admin: Some(format!("http://127.0.0.1:{}", acr.port("8444/tcp"))),
            acr_address: Some(acr_address),
            metadata_url: Some(format!("http://127.0.0.1:{}", metadata.port("8080/tcp"))),
            ..RunOptions::default()
        };
        // The suite waits for both admin APIs itself (30 s), so no readiness poll here.
        let report = tokio::time::timeout(Duration::from_secs(600), run(&options))
            .await
            .expect("the run finishes")
            .expect("the suite runs");
        let passed = report.ids_with(Verdict::Passed);
        if passed != ["NS1", "MR2", "TR3", "FT2"] {
            panic!(
                "not every scenario passed against the fake images:\n{}\nfake-acr log tail:\n{}\nfake-metadata log tail:\n{}",
                report.markdown(),
                acr.logs(),
                metadata.logs()
            );
        }
    })
}
