//! The run's results and how they are written: `junit.xml`, `summary.md`, `summary.json`, the
//! terminal table and the progress lines printed while the suite runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::catalogue::{Level, ScenarioInfo};

/// How one scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every check held.
    Passed,
    /// A check about the implementation's behaviour did not hold.
    Failed,
    /// The suite itself could not set the scenario up (environment fault, not a judgement).
    Error,
    /// The scenario does not apply to this implementation or mode; never counted as passed.
    NotApplicable,
}

impl Verdict {
    /// The word used in tables.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "FAILED",
            Verdict::Error => "ERROR",
            Verdict::NotApplicable => "n/a",
        }
    }
}

/// A measured figure a scenario reports, e.g. `time-to-credentials = 0.41 s`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Figure {
    /// What was measured, in kebab-case.
    pub name: String,
    /// The value with its unit.
    pub value: String,
}

/// The result of one scenario.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioResult {
    /// Catalogue ID.
    pub id: &'static str,
    /// Catalogue title.
    pub title: &'static str,
    /// Catalogue level.
    pub level: Level,
    /// How it ended.
    pub verdict: Verdict,
    /// Why it failed, or why it does not apply; empty when passed.
    pub detail: String,
    /// Wall time of the scenario including its set-up.
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Figures measured on the way.
    pub figures: Vec<Figure>,
}

impl ScenarioResult {
    /// A result for `info` with no figures.
    pub fn new(
        info: &ScenarioInfo,
        verdict: Verdict,
        detail: impl Into<String>,
        duration: Duration,
    ) -> Self {
        Self {
            id: info.id,
            title: info.title,
            level: info.level,
            verdict,
            detail: detail.into(),
            duration,
            figures: Vec::new(),
        }
    }
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// A whole run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The implementation under test, as described by its adapter.
    pub implementation: String,
    /// The environment mode (`local`, `existing`).
    pub mode: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall time of the whole run, set-up included.
    #[serde(serialize_with = "seconds")]
    pub wall_time: Duration,
    /// Scenarios run at the same time (`--jobs`, each on its own lane).
    pub jobs: usize,
    /// One entry per selected scenario, in catalogue order.
    pub results: Vec<ScenarioResult>,
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that failed.
    pub failed: usize,
    /// Scenarios the suite could not set up.
    pub errors: usize,
    /// Scenarios that do not apply.
    pub not_applicable: usize,
}

impl Report {
    /// Counts the verdicts.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for r in &self.results {
            match r.verdict {
                Verdict::Passed => t.passed += 1,
                Verdict::Failed => t.failed += 1,
                Verdict::Error => t.errors += 1,
                Verdict::NotApplicable => t.not_applicable += 1,
            }
        }
        t
    }

    /// True when every applicable scenario passed (and at least one ran).
    pub fn all_applicable_passed(&self) -> bool {
        let t = self.tally();
        t.failed == 0 && t.errors == 0 && t.passed > 0
    }

    /// The scenarios' durations added up (with several jobs, more than the wall time).
    pub fn scenario_time(&self) -> Duration {
        self.results.iter().map(|r| r.duration).sum()
    }

    /// The IDs with a given verdict.
    pub fn ids_with(&self, verdict: Verdict) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|r| r.verdict == verdict)
            .map(|r| r.id)
            .collect()
    }

    /// The summary table in Markdown (also what the terminal shows at the end).
    pub fn markdown(&self) -> String {
        let t = self.tally();
        let mut out = String::new();
        let _ = writeln!(out, "# Conformance report\n");
        let _ = writeln!(
            out,
            "Implementation: `{}` · mode: {} · started {} · wall time {:.1} s · {} job(s), \
             scenario time {:.1} s\n",
            self.implementation,
            self.mode,
            self.started_at,
            self.wall_time.as_secs_f64(),
            self.jobs,
            self.scenario_time().as_secs_f64()
        );
        let _ = writeln!(
            out,
            "| ID | title | result | duration | measured | detail |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for r in &self.results {
            let figures: Vec<String> = r
                .figures
                .iter()
                .map(|f| format!("{} {}", f.name, f.value))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} s | {} | {} |",
                r.id,
                cell(r.title),
                r.verdict.word(),
                r.duration.as_secs_f64(),
                cell(&figures.join("; ")),
                cell(&r.detail)
            );
        }
        let _ = writeln!(
            out,
            "\n{} passed, {} failed, {} errors, {} not applicable",
            t.passed, t.failed, t.errors, t.not_applicable
        );
        out
    }

    /// JUnit XML: one testsuite, one testcase per scenario named `<ID> <title>`.
    pub fn junit(&self) -> String {
        let t = self.tally();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites><testsuite name=\"acr-conformance\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
            self.results.len(),
            t.failed,
            t.errors,
            t.not_applicable,
            self.wall_time.as_secs_f64(),
            xml(&self.started_at)
        );
        let _ = writeln!(
            out,
            "  <properties><property name=\"implementation\" value=\"{}\"/><property name=\"mode\" value=\"{}\"/></properties>",
            xml(&self.implementation),
            xml(&self.mode)
        );
        for r in &self.results {
            let _ = write!(
                out,
                "  <testcase classname=\"acr-conformance.{}\" name=\"{} {}\" time=\"{:.3}\">",
                r.id.trim_end_matches(|c: char| c.is_ascii_digit()),
                r.id,
                xml(r.title),
                r.duration.as_secs_f64()
            );
            match r.verdict {
                Verdict::Passed => {}
                Verdict::Failed => {
                    let _ = write!(out, "<failure message=\"{}\"/>", xml(&r.detail));
                }
                Verdict::Error => {
                    let _ = write!(out, "<error message=\"{}\"/>", xml(&r.detail));
                }
                Verdict::NotApplicable => {
                    let _ = write!(
                        out,
                        "<skipped message=\"not applicable: {}\"/>",
                        xml(&r.detail)
                    );
                }
            }
            if !r.figures.is_empty() {
                let figures: Vec<String> = r
                    .figures
                    .iter()
                    .map(|f| format!("{}={}", f.name, f.value))
                    .collect();
                let _ = write!(out, "<system-out>{}</system-out>", xml(&figures.join("\n")));
            }
            let _ = writeln!(out, "</testcase>");
        }
        out.push_str("</testsuite></testsuites>\n");
        out
    }

    /// Writes `junit.xml`, `summary.md` and `summary.json` into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let json = serde_json::to_string_pretty(self).map_err(ReportError::Json)?;
        let files = [
            ("junit.xml", self.junit()),
            ("summary.md", self.markdown()),
            ("summary.json", json),
        ];
        let mut written = Vec::new();
        for (name, body) in files {
            let path = dir.join(name);
            std::fs::write(&path, body).map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Errors writing the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A report file or its directory could not be written.
    #[error("cannot write report file {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The JSON summary could not be serialised.
    #[error("cannot serialise summary.json: {0}")]
    Json(serde_json::Error),
}

/// The progress line printed when a scenario ends.
pub fn progress_line(index: usize, total: usize, r: &ScenarioResult) -> String {
    let mut line = format!(
        "[{:>2}/{}] {:<4} {:<7} {:>6.1} s  {}",
        index,
        total,
        r.id,
        r.verdict.word(),
        r.duration.as_secs_f64(),
        r.title
    );
    if !r.figures.is_empty() {
        let figures: Vec<String> = r
            .figures
            .iter()
            .map(|f| format!("{} {}", f.name, f.value))
            .collect();
        let _ = write!(line, "  [{}]", figures.join("; "));
    }
    if !r.detail.is_empty() && r.verdict != Verdict::Passed {
        let _ = write!(line, "\n          {}", r.detail);
    }
    line
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::find;

    fn sample() -> Report {
        let mut passed = ScenarioResult::new(
            find("NS4").unwrap(),
            Verdict::Passed,
            "",
            Duration::from_millis(1500),
        );
        passed.figures.push(Figure {
            name: "time-to-credentials".into(),
            value: "0.41 s".into(),
        });
        Report {
            implementation: "process: acr-refresher".into(),
            mode: "local".into(),
            started_at: "2026-11-28T20:00:00Z".into(),
            wall_time: Duration::from_secs(3),
            jobs: 2,
            results: vec![
                passed,
                ScenarioResult::new(
                    find("FT6").unwrap(),
                    Verdict::Failed,
                    "a <b> & \"c\"",
                    Duration::from_secs(1),
                ),
                ScenarioResult::new(
                    find("NS1").unwrap(),
                    Verdict::NotApplicable,
                    "credential-only",
                    Duration::ZERO,
                ),
            ],
        }
    }

    #[test]
    fn junit_names_start_with_the_id_and_escape_details() {
        let x = sample().junit();
        assert!(x.contains("name=\"NS4 a namespace created after start"));
        assert!(x.contains("<failure message=\"a &lt;b&gt; &amp; &quot;c&quot;\"/>"));
        assert!(x.contains("<skipped message=\"not applicable: credential-only\"/>"));
        assert!(x.contains("failures=\"1\"") && x.contains("skipped=\"1\""));
    }

    #[test]
    fn not_applicable_is_never_counted_as_passed() {
        let r = sample();
        assert_eq!(
            r.tally(),
            Tally {
                passed: 1,
                failed: 1,
                errors: 0,
                not_applicable: 1
            }
        );
        assert!(!r.all_applicable_passed());
        let only_na = Report {
            results: vec![r.results[2].clone()],
            ..r
        };
        assert!(!only_na.all_applicable_passed());
    }

    #[test]
    fn markdown_table_has_figures_and_totals() {
        let md = sample().markdown();
        assert!(md.contains("| NS4 |"));
        assert!(md.contains("time-to-credentials 0.41 s"));
        assert!(md.contains("1 passed, 1 failed, 0 errors, 1 not applicable"));
        assert!(
            md.contains("wall time 3.0 s · 2 job(s), scenario time 2.5 s"),
            "{md}"
        );
    }
}
