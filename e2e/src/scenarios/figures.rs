//! Figures a scenario measures for the report (latencies, counts), and how they are written.

use std::time::Duration;

use super::Ctx;
use crate::report::Figure;

impl Ctx<'_> {
    /// The figures measured so far (plus, in probe mode `kubelet`, how many real pulls
    /// confirmed the verdicts).
    pub fn take_figures(&mut self) -> Vec<Figure> {
        if self.kubelet_pulls > 0 {
            let n = self.kubelet_pulls;
            self.figure("confirmed-by-kubelet", format!("{n} pull(s)"));
            self.kubelet_pulls = 0;
        }
        std::mem::take(&mut self.figures)
    }

    /// Records a measured figure.
    pub fn figure(&mut self, name: &str, value: impl Into<String>) {
        self.figures.push(Figure {
            name: name.into(),
            value: value.into(),
        });
    }
}

/// Seconds with two decimals, for figures.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
