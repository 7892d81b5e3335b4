//! The implementation's write requests as the apiserver's audit log recorded them (mode
//! `local`): marks, writes since a mark, "nothing was written", and who wrote an Event.

use super::{Ctx, Outcome, Stop, fail};

impl Ctx<'_> {
    /// Mode `local`: a mark in the audit log for [`Ctx::writes_since`] (`None` elsewhere).
    pub fn audit_mark(&self) -> Option<u64> {
        self.env.audit_log().map(|log| log.mark())
    }

    /// Mode `local`: the write requests the implementation sent since `mark`, per resource and
    /// verb, e.g. `secrets/patch` (answers refused by the apiserver included).
    pub fn writes_since(&self, mark: u64) -> Vec<crate::audit::Write> {
        self.env.audit_log().map_or_else(Vec::new, |log| {
            log.writes_since(mark, crate::audit::IMPLEMENTATION_USER)
        })
    }

    /// Mode `local`: fails if the implementation wrote a Secret or ServiceAccount since `mark`
    /// (nothing changed, so nothing needs writing); records figure `writes`.
    pub fn check_no_writes_since(&mut self, mark: Option<u64>, what: &str) -> Outcome {
        let Some(mark) = mark else {
            self.figure("writes", "not counted (no audit log in mode existing)");
            return Ok(());
        };
        let writes: Vec<String> = self
            .writes_since(mark)
            .into_iter()
            .filter(|w| w.resource == "secrets" || w.resource == "serviceaccounts")
            .map(|w| format!("{} {}/{}/{}", w.verb, w.resource, w.namespace, w.name))
            .collect();
        self.figure("writes", writes.len().to_string());
        if !writes.is_empty() {
            fail!(
                "{what}, yet the implementation sent {} write request(s): {}",
                writes.len(),
                writes.join(", ")
            );
        }
        Ok(())
    }

    /// Whether the implementation wrote the Event `namespace/name` during this scenario: from
    /// the audit log in mode `local`; elsewhere the suite cannot tell and accepts it.
    pub fn written_by_implementation(&self, namespace: &str, name: &str) -> Result<bool, Stop> {
        let Some(log) = self.env.audit_log() else {
            return Ok(true);
        };
        Ok(log
            .writes_since(self.audit_mark, crate::audit::IMPLEMENTATION_USER)
            .iter()
            .any(|w| {
                w.resource == "events"
                    && w.namespace == namespace
                    && (w.name == name || w.name.is_empty())
            }))
    }
}
