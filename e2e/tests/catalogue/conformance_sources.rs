//! The reference refresher's credential-only subcommands judged by the suite's source-level
//! scenarios (MR, CR, TR): `acr-refresher credential-helper` through the
//! `docker-credential-helper` adapter and `acr-refresher kubelet-credential-provider` through the
//! `kubelet-credential-provider` adapter (mode local). Reports go to
//! `target/conformance/cargo-test/sources-<adapter>/`.
//!
//! Not applicable to a credential source (only a process that writes Secrets can show them):
//! MR5 (domains narrowing is an `acr-registry-info` setting), TR3 (STS rotation observed through
//! one long-running process), TR4 (calls counted across namespaces).
//!
//! Both get the scenario's threshold (`--expiring-threshold {expiring_threshold}`: a credential
//! source cannot read the ConfigMap where the scenarios put it) and the suite's renewal floor
//! (`--min-renewal-interval 2s`, as the suite passes to the reference `run`). The docker helper
//! keeps its tokens in a cache file — docker runs `get` for every pull (one probe every ~0.2 s)
//! and caches nothing — in `--cache-dir {state_dir}`, a directory the suite empties for every
//! scenario, so an earlier scenario's token (signed under its own account secret) is never
//! offered, whatever the fakes' ports and CA (external fakes keep both across scenarios). It
//! also keys entries by the ACR endpoint and a digest of the CA bundle. kubelet's own plugin code
//! caches the plugin's answers (`cacheDuration`). A third test judges a v1beta1-only plugin
//! through the CredentialProviderConfig that names its apiVersion, as kubelet would run it.
//!
//! The tests run side by side (as cargo runs them), each on the parallel runner; the runner keeps
//! the lanes of all of them within what the machine holds (`--jobs`' default).

use acr_conformance::adapter::{AdapterKind, reference_refresher};
use acr_conformance::report::{Report, Verdict};
use acr_conformance::runner::{RunOptions, run};
use acr_conformance::testing::block_on;

/// Every applicable source-level scenario; both adapters must pass all of them.
const APPLICABLE: &[&str] = &[
    "MR1", "MR2", "MR3", "MR4", "CR1", "CR2", "CR3", "TR1", "TR2",
];

const SCENARIOS: &str = "MR,CR,TR";
const NOT_APPLICABLE: &[&str] = &["MR5", "TR3", "TR4"];

/// The command line the suite runs, pointing the subcommand at the scenario's fakes.
async fn command(subcommand: &str, extra: &[&str]) -> Vec<String> {
    let binary = reference_refresher()
        .await
        .expect("the reference refresher builds");
    let mut command = vec![
        binary.to_string_lossy().into_owned(),
        subcommand.to_owned(),
        "--metadata-endpoint".into(),
        "{metadata}".into(),
        "--ca-file".into(),
        "{ca}".into(),
        "--endpoint-template".into(),
        "https://cr.{region}.aliyuncs.com:{acr_port}".into(),
        "--resolve".into(),
        "{acr_resolve}".into(),
        "--expiring-threshold".into(),
        "{expiring_threshold}".into(),
        "--min-renewal-interval".into(),
        "2s".into(),
    ];
    command.extend(extra.iter().map(|s| s.to_string()));
    command
}

async fn judge(implementation: AdapterKind, command: Vec<String>) -> (Report, std::path::PathBuf) {
    let report_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/conformance/cargo-test")
        .join(format!("sources-{}", implementation.name()));
    let options = RunOptions {
        implementation,
        command,
        scenarios: SCENARIOS.into(),
        report_dir: report_dir.clone(),
        quiet: true,
        ..RunOptions::default()
    };
    let report = run(&options)
        .await
        .unwrap_or_else(|e| panic!("{} could not run: {e}", implementation.name()));
    (report, report_dir)
}

fn assert_verdicts(report: &Report, dir: &std::path::Path, passed: &[&str], failed: &[&str]) {
    let context = format!("report in {}:\n{}", dir.display(), report.markdown());
    assert_eq!(
        report.ids_with(Verdict::Passed),
        passed,
        "passed; {context}"
    );
    assert_eq!(
        report.ids_with(Verdict::Failed),
        failed,
        "failed; {context}"
    );
    assert_eq!(
        report.ids_with(Verdict::NotApplicable),
        NOT_APPLICABLE,
        "n/a; {context}"
    );
}

#[test]
fn docker_credential_helper_passes_every_source_scenario() {
    block_on(async {
        let command = command("credential-helper", &["--cache-dir", "{state_dir}"]).await;
        let (report, dir) = judge(AdapterKind::DockerCredentialHelper, command).await;
        assert_verdicts(&report, &dir, APPLICABLE, &[]);
    })
}

#[test]
fn kubelet_credential_provider_passes_every_source_scenario() {
    block_on(async {
        let command = command("kubelet-credential-provider", &[]).await;
        let (report, dir) = judge(AdapterKind::KubeletCredentialProvider, command).await;
        assert_verdicts(&report, &dir, APPLICABLE, &[]);
    })
}

/// A plugin that speaks only `credentialprovider.kubelet.k8s.io/v1beta1` (the reference plugin
/// behind a gate that refuses any other request), judged as kubelet runs it: through a
/// CredentialProviderConfig naming that apiVersion. The same plugin configured as v1 gets
/// kubelet's v1 request, refuses it, and gives no credentials.
#[test]
fn v1beta1_plugin_is_judged_through_its_credential_provider_config() {
    block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let reference = reference_refresher()
            .await
            .expect("the reference refresher builds");
        let plugin = dir.path().join("beta-only-plugin");
        acr_conformance::spawn::write_executable(
            &plugin,
            &format!(
                "#!/bin/sh\nrequest=$(cat)\ncase \"$request\" in *'\"credentialprovider.kubelet.k8s.io/v1beta1\"'*) ;; *) echo 'only credentialprovider.kubelet.k8s.io/v1beta1 is spoken here' >&2; exit 1;; esac\nprintf '%s' \"$request\" | exec '{}' kubelet-credential-provider \"$@\"\n",
                reference.display()
            ),
        )
        .expect("write the plugin");
        let config_for = |api: &str| {
            let config = dir.path().join(format!("config-{api}.yaml"));
            std::fs::write(
                &config,
                format!(
                    r#"apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: beta-only-plugin
    apiVersion: credentialprovider.kubelet.k8s.io/{api}
    matchImages: ["*.*.aliyuncs.com", "*.*.cr.aliyuncs.com"]
    defaultCacheDuration: 10m
    args: [--metadata-endpoint, "{{metadata}}", --ca-file, "{{ca}}",
           --endpoint-template, "https://cr.{{region}}.aliyuncs.com:{{acr_port}}",
           --resolve, "{{acr_resolve}}", --expiring-threshold, "{{expiring_threshold}}",
           --min-renewal-interval, 2s]
"#
                ),
            )
            .expect("write the config");
            config
        };
        let judge = |api: &'static str, scenarios: &'static str| {
            let config = config_for(api);
            let bin_dir = dir.path().to_path_buf();
            async move {
                let report_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/conformance/cargo-test")
                    .join(format!("sources-beta-only-plugin-as-{api}"));
                let options = RunOptions {
                    implementation: AdapterKind::KubeletCredentialProvider,
                    credential_provider_config: Some(config),
                    image_credential_provider_bin_dir: Some(bin_dir),
                    scenarios: scenarios.into(),
                    report_dir: report_dir.clone(),
                    quiet: true,
                    ..RunOptions::default()
                };
                let report = run(&options).await.expect("the suite runs");
                (report, report_dir)
            }
        };
        let (report, dir_beta) = judge("v1beta1", "MR,CR").await;
        let context = format!("report in {}:\n{}", dir_beta.display(), report.markdown());
        assert_eq!(
            report.ids_with(Verdict::Passed),
            ["MR1", "MR2", "MR3", "MR4", "CR1", "CR2", "CR3"],
            "{context}"
        );
        let (report, dir_v1) = judge("v1", "MR1").await;
        let context = format!("report in {}:\n{}", dir_v1.display(), report.markdown());
        assert_eq!(report.ids_with(Verdict::Failed), ["MR1"], "{context}");
        let log = std::fs::read_to_string(dir_v1.join("logs/MR1.implementation.log"))
            .expect("MR1's implementation log");
        assert!(
            log.contains("only credentialprovider.kubelet.k8s.io/v1beta1 is spoken here"),
            "kubelet's log line quotes the plugin's refusal: {log}"
        );
    })
}
