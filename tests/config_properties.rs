//! Property tests of the configuration: round trips, totality, defaults and tolerance.
//! At least 1,000 cases per property, set here so CI runs them too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use acr_refresher::config::{
    self, AcrApiVersion, Config, FailurePolicy, InstanceId, NamespaceSelector, RegistryInfo,
    RegistryPattern, RrsaConfiguration, SecretString, ServiceAccountSelector, UnsupportedFields,
    WebhookConfiguration, keys,
};
use proptest::collection::{btree_set, vec};
use proptest::option;
use proptest::prelude::*;

const CASES: u32 = 1000;

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

fn namespace() -> impl Strategy<Value = String> {
    label().prop_filter("'all' is the keyword", |n| n != "all")
}

fn service_account() -> impl Strategy<Value = String> {
    vec(label(), 1..3).prop_map(|labels| labels.join("."))
}

fn pattern_label() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => label(),
        1 => Just("*".to_owned()),
        1 => "[a-z]{0,3}\\*[a-z-]{0,3}",
        1 => "[a-z]{1,3}\\[a-c\\][a-z]{0,2}",
    ]
}

fn pattern() -> impl Strategy<Value = RegistryPattern> {
    (
        vec(pattern_label(), 1..5),
        option::of(1u16..),
        option::of("(/[a-z0-9]([a-z0-9._-]{0,5}[a-z0-9])?){1,2}"),
    )
        .prop_map(|(labels, port, path)| {
            let mut text = labels.join(".");
            if let Some(port) = port {
                text.push_str(&format!(":{port}"));
            }
            text.push_str(&path.unwrap_or_default());
            RegistryPattern::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
        })
}

fn region() -> impl Strategy<Value = String> {
    "[a-z]{2,4}(-[a-z0-9]{1,8}){1,3}"
}

fn registry_host() -> impl Strategy<Value = String> {
    (vec(label(), 2..5), option::of(1u16..)).prop_map(|(labels, port)| {
        let host = labels.join(".");
        match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    })
}

fn arn() -> impl Strategy<Value = String> {
    "acs:ram::[0-9]{1,16}:role/[a-z][a-z0-9-]{0,12}"
}

fn unsupported() -> impl Strategy<Value = UnsupportedFields> {
    (
        option::of(arn()),
        option::of(900u32..=43200),
        option::of(arn()),
        option::of(arn()),
        // Any printable text: YAML quoting must carry it through unchanged.
        option::of(("[A-Za-z0-9]{1,24}", "\\PC{1,24}")),
    )
        .prop_map(|(assume, expire, rrsa, oidc, custom)| UnsupportedFields {
            assume_role_arn: assume,
            expire_duration: expire,
            rrsa_role_arn: rrsa,
            rrsa_oidc_provider_role_arn: oidc,
            custom_access_key: custom.as_ref().map(|(k, _)| k.clone()),
            custom_access_key_secret: custom.map(|(_, s)| SecretString::new(s)),
        })
}

fn registry_info() -> impl Strategy<Value = RegistryInfo> {
    (
        option::of("cri-[a-z0-9]{1,16}"),
        option::of(region()),
        btree_set(registry_host(), 0..4),
        unsupported(),
    )
        .prop_map(|(id, region, domains, unsupported)| RegistryInfo {
            instance_id: id.map(|id| InstanceId::parse(&id).expect("generated ids are valid")),
            region_id: region,
            domains: domains.into_iter().collect(),
            unsupported,
        })
}

fn valid_config() -> impl Strategy<Value = Config> {
    (
        prop_oneof![
            Just(AcrApiVersion::V2018_12_01),
            Just(AcrApiVersion::V2016_06_07)
        ],
        btree_set(pattern(), 1..5),
        prop_oneof![
            1 => Just(NamespaceSelector::All),
            3 => btree_set(namespace(), 1..5).prop_map(NamespaceSelector::Names),
        ],
        (1u64..=i64::MAX as u64).prop_map(Duration::from_nanos),
        prop_oneof![
            1 => Just(ServiceAccountSelector::All),
            3 => btree_set(service_account(), 1..5).prop_map(ServiceAccountSelector::Names),
        ],
        vec(registry_info(), 0..4),
        (any::<bool>(), any::<bool>(), 1u32..=30, any::<bool>()),
        option::of("[a-z0-9.]{1,10}@[a-z]{1,10}\\.com"),
    )
        .prop_map(
            |(
                version,
                patterns,
                watch,
                threshold,
                accounts,
                info,
                (on, fail, timeout, rrsa),
                email,
            )| {
                Config {
                    acr_api_version: version,
                    registry_patterns: patterns.into_iter().collect(),
                    watch_namespace: watch,
                    expiring_threshold: threshold,
                    service_accounts: accounts,
                    registry_info: info,
                    webhook: WebhookConfiguration {
                        enable: on,
                        failure_policy: if fail {
                            FailurePolicy::Fail
                        } else {
                            FailurePolicy::Ignore
                        },
                        timeout_seconds: timeout,
                    },
                    rrsa: RrsaConfiguration { enable: rrsa },
                    notify_email: email,
                }
            },
        )
}

/// Text that looks like what people put in ConfigMaps, plus arbitrary noise.
fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ ,a-zA-Z0-9*.:/_-]{0,40}",
        "[0-9.]{0,6}(ns|us|µs|ms|s|m|h|d|min){0,2}[0-9.]{0,4}",
        "(- )?[a-zA-Z]{0,12}: [\\[\\]{}\"'a-z0-9,:-]{0,20}\n( +[a-zA-Z]{0,12}: [a-z0-9\"]{0,10}\n){0,3}",
    ]
}

fn key_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(keys::ALL.to_vec()).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn parse_of_render_is_identity(config in valid_config()) {
        let data = config::render(&config);
        let parsed = config::parse(&data).map(|(c, _)| c);
        prop_assert_eq!(parsed, Ok(config));
    }

    #[test]
    fn parsing_never_panics(data in proptest::collection::btree_map(key_text(), value_text(), 0..8)) {
        // Whatever the outcome, errors and warnings must render and name the ConfigMap.
        match config::parse(&data) {
            Ok((config, warnings)) => {
                for w in warnings {
                    prop_assert!(w.to_string().starts_with("ConfigMap kube-system/acr-configuration key "));
                }
                // A configuration that parsed renders to one that parses to the same thing.
                let again = config::parse(&config::render(&config)).map(|(c, _)| c);
                prop_assert_eq!(again, Ok(config));
            }
            Err(errors) => {
                prop_assert!(!errors.0.is_empty());
                for e in errors.0 {
                    prop_assert!(e.to_string().starts_with("ConfigMap kube-system/acr-configuration key "));
                }
            }
        }
    }

    #[test]
    fn absent_keys_give_the_seed_defaults(config in valid_config(), drop in vec(any::<bool>(), keys::ALL.len())) {
        let mut data = config::render(&config);
        let dropped: BTreeSet<&str> = keys::ALL.iter().zip(&drop).filter(|(_, d)| **d).map(|(k, _)| *k).collect();
        data.retain(|k, _| !dropped.contains(k.as_str()));
        let (parsed, _) = config::parse(&data).unwrap();
        let default = Config::default();
        let pick = |key: &str| if dropped.contains(key) { &default } else { &config };
        prop_assert_eq!(parsed.acr_api_version, pick(keys::ACR_API_VERSION).acr_api_version);
        prop_assert_eq!(&parsed.registry_patterns, &pick(keys::ACR_REGISTRY).registry_patterns);
        prop_assert_eq!(&parsed.watch_namespace, &pick(keys::WATCH_NAMESPACE).watch_namespace);
        prop_assert_eq!(parsed.expiring_threshold, pick(keys::EXPIRING_THRESHOLD).expiring_threshold);
        prop_assert_eq!(&parsed.service_accounts, &pick(keys::SERVICE_ACCOUNT).service_accounts);
        prop_assert_eq!(&parsed.registry_info, &pick(keys::ACR_REGISTRY_INFO).registry_info);
        prop_assert_eq!(&parsed.webhook, &pick(keys::WEBHOOK_CONFIGURATION).webhook);
        prop_assert_eq!(&parsed.rrsa, &pick(keys::RRSA).rrsa);
        prop_assert_eq!(&parsed.notify_email, &pick(keys::NOTIFY_EMAIL).notify_email);
    }

    #[test]
    fn whitespace_and_duplicates_in_lists_are_tolerated(
        config in valid_config(),
        pads in vec("[ \t\n]{0,3}", 64),
        repeat in any::<proptest::sample::Index>(),
    ) {
        let mut data = config::render(&config);
        let mut pad = pads.iter().cycle();
        for key in [keys::ACR_REGISTRY, keys::WATCH_NAMESPACE, keys::SERVICE_ACCOUNT] {
            let items: Vec<String> = data[key].split(',').map(str::to_owned).collect();
            // Repeat one item, then pad every item on both sides.
            let mut with_dup = items.clone();
            with_dup.push(items[repeat.index(items.len())].clone());
            let padded: Vec<String> = with_dup
                .iter()
                .map(|i| format!("{}{i}{}", pad.next().unwrap(), pad.next().unwrap()))
                .collect();
            data.insert(key.to_owned(), padded.join(","));
        }
        for key in [keys::ACR_API_VERSION, keys::EXPIRING_THRESHOLD] {
            let v = format!("{}{}{}", pad.next().unwrap(), data[key], pad.next().unwrap());
            data.insert(key.to_owned(), v);
        }
        let parsed = config::parse(&data).map(|(c, _)| c);
        prop_assert_eq!(parsed, Ok(config));
    }

    #[test]
    fn all_in_any_case_means_every_namespace(upper in vec(any::<bool>(), 3), others in btree_set(namespace(), 0..3)) {
        let all: String = "all".chars().zip(&upper).map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c }).collect();
        let mut items: Vec<String> = others.into_iter().collect();
        items.push(all);
        let data = BTreeMap::from([(keys::WATCH_NAMESPACE.to_owned(), items.join(","))]);
        prop_assert_eq!(config::parse(&data).unwrap().0.watch_namespace, NamespaceSelector::All);
    }

    #[test]
    fn case_is_not_tolerated_in_names(name in namespace(), at in any::<proptest::sample::Index>()) {
        prop_assume!(name.bytes().any(|b| b.is_ascii_lowercase()));
        let letters: Vec<usize> = name.char_indices().filter(|(_, c)| c.is_ascii_lowercase()).map(|(i, _)| i).collect();
        let i = letters[at.index(letters.len())];
        let shouted = format!("{}{}{}", &name[..i], name[i..=i].to_uppercase(), &name[i + 1..]);
        for key in [keys::WATCH_NAMESPACE, keys::SERVICE_ACCOUNT] {
            let data = BTreeMap::from([(key.to_owned(), shouted.clone())]);
            prop_assert!(config::parse(&data).is_err(), "{} accepted {}", key, shouted);
        }
    }

    #[test]
    fn empty_items_are_not_tolerated(names in vec(namespace(), 1..4), at in any::<proptest::sample::Index>()) {
        let mut items = names.clone();
        items.insert(at.index(items.len() + 1), String::new());
        for key in [keys::WATCH_NAMESPACE, keys::SERVICE_ACCOUNT, keys::ACR_REGISTRY] {
            let data = BTreeMap::from([(key.to_owned(), items.join(","))]);
            let errors = config::parse(&data).unwrap_err();
            prop_assert!(errors.to_string().contains("empty item"), "{}", errors);
        }
    }

    #[test]
    fn secrets_never_reach_messages(secret in "[a-zA-Z0-9]{12,24}", bad_type in any::<bool>()) {
        let value = if bad_type { format!("[{secret}]") } else { secret.clone() };
        let info = format!("- customAccessKeySecret: {value}\n  Bogus: x\n");
        let data = BTreeMap::from([(keys::ACR_REGISTRY_INFO.to_owned(), info)]);
        let text = match config::parse(&data) {
            Ok((c, w)) => format!("{c:?}{w:?}{}", c.to_json()),
            Err(e) => format!("{e}{e:?}"),
        };
        prop_assert!(!text.contains(&secret), "{}", text);
    }
}
