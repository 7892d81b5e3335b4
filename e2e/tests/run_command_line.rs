//! `acr-conformance run`'s command line as a user types it: the implementation's command never
//! swallows later options, an ambiguous line is refused, a missing program is one clear error
//! before anything starts, and in netns mode Ctrl-C leaves no network namespace behind.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_metadata::testing::privileged_or_skip;

fn conformance() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acr-conformance"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = conformance()
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("acr-conformance runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn command_does_not_swallow_later_options() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let missing = dir.path().join("no-such-helper");
    let (code, _, stderr) = run(&[
        "--implementation",
        "docker-credential-helper",
        "--command",
        &format!("{} --its-own-flag 'a b'", missing.display()),
        "--report-dir",
        &report.to_string_lossy(),
    ]);
    // The program is named (not `… --report-dir …`), and the run stops before any scenario.
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot run '{}'", missing.display())),
        "{stderr}"
    );
    assert!(stderr.contains("No such file"), "{stderr}");
    assert!(
        !stderr.contains("[ 1/") && !stderr.contains("running…"),
        "no scenario may start: {stderr}"
    );
}

#[test]
fn ambiguous_command_lines_are_refused() {
    // A second word after --command '…' is not an option of the run.
    let (code, _, stderr) = run(&[
        "--implementation",
        "docker-credential-helper",
        "--command",
        "helper",
        "get",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unexpected argument 'get'"), "{stderr}");
    // The command twice.
    let (code, _, stderr) = run(&["--command", "helper-a", "--", "helper-b"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the command is given twice"), "{stderr}");
    // Quotes that do not close.
    let (code, _, stderr) = run(&["--command", "helper 'unclosed"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unbalanced quotes"), "{stderr}");
}

fn namespaces_of(pid: u32) -> Vec<String> {
    std::fs::read_dir("/var/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("acr-conformance-{pid}-")))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn ctrl_c_leaves_no_network_namespace() {
    if !privileged_or_skip("netns mode creates a network namespace") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let helper = dir.path().join("helper");
    acr_conformance::spawn::write_executable(
        &helper,
        "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n",
    )
    .unwrap();
    let mut child = conformance()
        .args([
            "run",
            "--implementation",
            "docker-credential-helper",
            "--scenarios",
            "TR1",
        ])
        .args(["--network", "netns", "--report-dir"])
        .arg(dir.path().join("report"))
        .arg("--command")
        .arg(&helper)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // The namespace exists while the scenario runs (the control plane starts first); it is set
    // up once its hosts file is written too (the namespace itself appears a moment before).
    let deadline = Instant::now() + Duration::from_secs(120);
    let name = loop {
        if let Some(name) = namespaces_of(pid)
            .into_iter()
            .find(|name| Path::new("/etc/netns").join(name).join("hosts").exists())
        {
            break name;
        }
        assert!(
            Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "no network namespace acr-conformance-{pid}-… with its hosts file appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit within 30 s of Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("interrupted (Ctrl-C)"), "{stderr}");
    assert!(namespaces_of(pid).is_empty(), "{name} outlived the run");
    assert!(
        !std::path::Path::new("/etc/netns").join(&name).exists(),
        "/etc/netns/{name} outlived the run"
    );
}

#[test]
fn jobs_are_refused_where_scenarios_share_one_cluster_or_one_pair_of_fakes() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let (code, _, stderr) = run(&[
        "--kubeconfig",
        &kubeconfig.to_string_lossy(),
        "--jobs",
        "2",
        "--command",
        "helper",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "--jobs 2: scenarios run one at a time here (one cluster given with --kubeconfig"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["--jobs", "0"]);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("\"0\" is not a number of jobs from 1 to 64"),
        "{stderr}"
    );
}

#[test]
fn an_implementation_that_exits_at_once_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(&[
        "--scenarios",
        "NS1,NS2",
        "--network",
        "override",
        "--report-dir",
        &dir.path().join("report").to_string_lossy(),
        "--command",
        "sh -c 'echo \"flag provided but not defined: -kubeconfig\" >&2; exit 2'",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the implementation cannot be judged")
            && stderr.contains("flag provided but not defined: -kubeconfig")
            && stderr.contains("exit status: 2"),
        "{stderr}"
    );
    // The run stopped with that one error instead of failing each scenario (on several lanes
    // both may have started; neither got a verdict).
    assert_eq!(
        stderr
            .matches("the implementation cannot be judged")
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        !stderr.contains("/2] NS"),
        "no scenario may get a verdict: {stderr}"
    );
}
