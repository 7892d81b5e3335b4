//! Measures the local control plane: warm start time, apiserver restart time and the resident memory
//! of its three processes. `cargo run --release -p acr-conformance --example bench_control_plane -- [RUNS]`

use std::time::{Duration, Instant};

use acr_conformance::cluster::{ControlPlane, ensure_kubeplane};

/// Resident set size of a process in MiB, from /proc.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let median = samples[samples.len() / 2];
    let (min, max) = (samples[0], samples[samples.len() - 1]);
    println!(
        "{label}: median {median:.2?}, min {min:.2?}, max {max:.2?} ({} runs)",
        samples.len()
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(5)
        .max(1);
    // Build (or find) the binary outside the timed region: that cost is paid once per machine.
    tokio::task::spawn_blocking(ensure_kubeplane).await??;
    let (mut starts, mut restarts) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let started = Instant::now();
        let mut plane = ControlPlane::start().await?;
        starts.push(started.elapsed());
        if run == runs - 1 {
            // Let start-up caches and informers settle before sampling memory.
            tokio::time::sleep(Duration::from_secs(5)).await;
            for (component, pid) in plane.pids() {
                let rss = rss_mib(pid).map_or("?".to_owned(), |m| format!("{m:.0} MiB"));
                println!("RSS {component}: {rss}");
            }
        }
        let restarted = Instant::now();
        plane.restart_apiserver().await?;
        restarts.push(restarted.elapsed());
    }
    summary(
        "start (etcd + apiserver /readyz + default/default SA)",
        starts,
    );
    summary("restart_apiserver (to /readyz)", restarts);
    Ok(())
}
