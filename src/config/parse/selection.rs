//! Which namespaces and ServiceAccounts are served: `watch-namespace` and `service-account`.

use std::collections::BTreeSet;

use super::context::Parser;
use crate::config::error::ConfigErrorKind as Kind;
use crate::config::names::{LABEL_RULE, SUBDOMAIN_RULE, is_dns1123_label, is_dns1123_subdomain};
use crate::config::{NamespaceSelector, ServiceAccountSelector, keys};

impl Parser {
    pub(super) fn watch_namespace(&mut self, value: &str) -> Option<NamespaceSelector> {
        let names = self.name_list(
            value,
            &NameList {
                key: keys::WATCH_NAMESPACE,
                is_every: |item| item.eq_ignore_ascii_case("all"),
                is_valid: is_dns1123_label,
                what: "namespace name",
                rule: LABEL_RULE,
                every_with_others: "'all' is listed with other names; every namespace is served",
            },
        )?;
        Some(names.map_or(NamespaceSelector::All, NamespaceSelector::Names))
    }

    pub(super) fn service_accounts(&mut self, value: &str) -> Option<ServiceAccountSelector> {
        let names = self.name_list(
            value,
            &NameList {
                key: keys::SERVICE_ACCOUNT,
                is_every: |item| item == "*",
                is_valid: is_dns1123_subdomain,
                what: "ServiceAccount name",
                rule: SUBDOMAIN_RULE,
                every_with_others: "'*' is listed with other names; every ServiceAccount is patched",
            },
        )?;
        Some(names.map_or(ServiceAccountSelector::All, ServiceAccountSelector::Names))
    }

    /// A comma list of names, or the word for "every one": `Some(None)` for every, `Some(names)`
    /// otherwise, `None` when an item is bad (each bad item is reported).
    fn name_list(&mut self, value: &str, rule: &NameList) -> Option<Option<BTreeSet<String>>> {
        let before = self.errors.len();
        let items = self.list(rule.key, None, value, "default")?;
        let mut names = Vec::new();
        let mut every = false;
        for item in &items {
            if (rule.is_every)(item) {
                every = true;
            } else if (rule.is_valid)(item) {
                names.push((*item).to_owned());
            } else {
                self.error(
                    rule.key,
                    Kind::BadName {
                        name: (*item).to_owned(),
                        what: rule.what,
                        rule: rule.rule,
                    },
                );
            }
        }
        if self.errors.len() != before {
            return None;
        }
        if every {
            if items.len() > 1 {
                self.warn(rule.key, None, rule.every_with_others);
            }
            return Some(None);
        }
        let names = self.dedup(rule.key, None, names);
        Some(Some(names.into_iter().collect()))
    }
}

/// How one name-list key (`watch-namespace`, `service-account`) is read.
struct NameList {
    key: &'static str,
    is_every: fn(&str) -> bool,
    is_valid: fn(&str) -> bool,
    what: &'static str,
    rule: &'static str,
    every_with_others: &'static str,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::test_support::ok;
    use crate::config::{NamespaceSelector, ServiceAccountSelector};

    #[test]
    fn tolerated_whitespace_case_duplicates() {
        let (config, warnings) = ok(&[
            ("watch-namespace", " a , b,a\n"),
            ("service-account", "sa1, sa2 ,sa1"),
            ("expiring-threshold", " 10m "),
        ]);
        assert_eq!(
            config.watch_namespace,
            NamespaceSelector::Names(BTreeSet::from(["a".into(), "b".into()]))
        );
        assert_eq!(
            config.service_accounts,
            ServiceAccountSelector::Names(BTreeSet::from(["sa1".into(), "sa2".into()]))
        );
        assert_eq!(warnings.len(), 2);
        for all in ["all", "All", "ALL", " aLL "] {
            assert_eq!(
                ok(&[("watch-namespace", all)]).0.watch_namespace,
                NamespaceSelector::All
            );
        }
        assert_eq!(
            ok(&[("service-account", "*")]).0.service_accounts,
            ServiceAccountSelector::All
        );
        // `all` is not a keyword for ServiceAccounts: it is a valid name.
        assert!(
            ok(&[("service-account", "all")])
                .0
                .service_accounts
                .includes("all")
        );
        assert!(
            !ok(&[("service-account", "all")])
                .0
                .service_accounts
                .includes("x")
        );
    }
}
