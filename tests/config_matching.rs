//! Property tests of the pieces the configuration is matched with: Go durations, the ACR domain
//! grammar, kubelet's glob matching and keyring order, docker image references.
//! At least 1,000 cases per property, set here so CI runs them too.

use std::time::Duration;

use acr_refresher::duration;
use acr_refresher::image_ref::ImageRef;
use acr_refresher::keyring::{self, DockerKeyring};
use acr_refresher::registry_domain::{Edition, NetworkVariant, RegistryDomain};
use proptest::collection::vec;
use proptest::prelude::*;

const CASES: u32 = 1000;

/// The obviously-correct model of one host label glob over the alphabet the generators use:
/// `*` = any run of characters, `[xy]` = one of x, y; everything else literal. Backtracking
/// over all splits, no cleverness.
fn model_match(pattern: &[Tok], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((Tok::Star, rest)) => (0..=name.len()).any(|i| model_match(rest, &name[i..])),
        Some((Tok::Class(set), rest)) => {
            !name.is_empty() && set.contains(&name[0]) && model_match(rest, &name[1..])
        }
        Some((Tok::Lit(c), rest)) => name.first() == Some(c) && model_match(rest, &name[1..]),
    }
}

#[derive(Debug, Clone)]
enum Tok {
    Star,
    Class(Vec<char>),
    Lit(char),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Star => "*".into(),
            Tok::Class(set) => format!("[{}]", set.iter().collect::<String>()),
            Tok::Lit(c) => c.to_string(),
        }
    }
}

fn tok() -> impl Strategy<Value = Tok> {
    prop_oneof![
        4 => proptest::sample::select(vec!['a', 'b', '-', '1']).prop_map(Tok::Lit),
        2 => Just(Tok::Star),
        1 => proptest::sample::subsequence(vec!['a', 'b', '1'], 1..3).prop_map(Tok::Class),
    ]
}

fn glob_label() -> impl Strategy<Value = Vec<Tok>> {
    vec(tok(), 1..5)
}

fn host_label() -> impl Strategy<Value = String> {
    "[ab1-]{1,5}"
}

fn network() -> impl Strategy<Value = NetworkVariant> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(intl, vpc, internal, distributed)| NetworkVariant {
            intl,
            vpc,
            internal,
            distributed,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn durations_round_trip(nanos in 0u64..=i64::MAX as u64) {
        let d = Duration::from_nanos(nanos);
        prop_assert_eq!(duration::parse(&duration::format(d)), Ok(d));
    }

    #[test]
    fn durations_add_up(h in 0u64..1000, m in 0u64..1000, s in 0u64..1000, ms in 0u64..1000) {
        let text = format!("{h}h{m}m{s}s{ms}ms");
        let want = Duration::from_secs(h * 3600 + m * 60 + s) + Duration::from_millis(ms);
        prop_assert_eq!(duration::parse(&text), Ok(want));
    }

    #[test]
    fn duration_parsing_never_panics(text in "\\PC{0,20}|[0-9.+-]{0,8}(h|m|s|ms|µs|ns|us){0,3}") {
        let _ = duration::parse(&text);
    }

    #[test]
    fn domain_grammar_round_trips(
        ee in any::<bool>(),
        name in "[a-z0-9][a-z0-9-]{0,20}[a-z0-9]",
        region in "[a-z]{2}(-[a-z0-9]{1,10}){1,2}",
        network in network(),
    ) {
        let domain = if ee {
            RegistryDomain::enterprise(&name, &region, network)
        } else {
            RegistryDomain::personal(&region, network)
        }.unwrap();
        let parsed = RegistryDomain::parse(&domain.host()).unwrap();
        prop_assert_eq!(parsed.edition, if ee { Edition::Enterprise } else { Edition::Personal });
        prop_assert_eq!(&parsed, &domain);
        prop_assert_eq!(parsed.host(), domain.host());
    }

    #[test]
    fn domain_parsing_never_panics(host in "\\PC{0,40}|[a-z-]{0,10}registry[a-z.-]{0,30}aliyuncs\\.com") {
        if let Ok(d) = RegistryDomain::parse(&host) {
            prop_assert_eq!(d.host(), host);
        }
    }

    #[test]
    fn globs_agree_with_the_model(pattern in vec(glob_label(), 1..4), host in vec(host_label(), 1..4)) {
        let pattern_text: Vec<String> = pattern.iter().map(|l| l.iter().map(Tok::text).collect()).collect();
        let key = pattern_text.join(".");
        let image = format!("{}/repo", host.join("."));
        // Go's url.Parse refuses a host with '[' anywhere but as an IPv6 literal ("[::1]"), which
        // these labels never are: such a key fails to parse and kubelet ignores it.
        let unparsable = key.contains('[');
        let expected = !unparsable
            && pattern.len() == host.len()
            && pattern.iter().zip(&host).all(|(p, h)| model_match(p, &h.chars().collect::<Vec<_>>()));
        prop_assert_eq!(keyring::urls_match(&key, &image), expected, "key {} image {}", key, image);
        for ((tokens, text), h) in pattern.iter().zip(&pattern_text).zip(&host) {
            let label_model = model_match(tokens, &h.chars().collect::<Vec<_>>());
            prop_assert_eq!(keyring::filepath_match(text, h), Ok(label_model), "{} vs {}", text, h);
        }
    }

    #[test]
    fn keyring_tries_more_specific_keys_first(keys in vec("[ab]{1,2}\\.io(/[ab]{1,3}){0,2}", 1..8), path in "[ab]{1,3}(/[ab]{1,3}){0,2}") {
        let keyring = DockerKeyring::from_auths(keys.iter().map(|k| (k.as_str(), k.clone())));
        for host in ["a.io", "b.io", "ab.io"] {
            let image = format!("{host}/{path}");
            let found: Vec<&String> = keyring.lookup(&image);
            // Every match is a key whose host is the image's and whose path is a prefix.
            for k in &found {
                prop_assert!(image.starts_with(k.as_str()), "{} for {}", k, image);
            }
            // Reverse-sorted order, as kubelet's index.
            let mut sorted = found.clone();
            sorted.sort();
            sorted.dedup();
            sorted.reverse();
            let mut deduped = found.clone();
            deduped.dedup();
            prop_assert_eq!(deduped, sorted);
            // And nothing that matches is left out.
            let all: usize = keys.iter().filter(|k| image.starts_with(k.as_str())).count();
            prop_assert_eq!(found.len(), all);
        }
    }

    #[test]
    fn keyring_never_panics(keys in vec(any::<String>(), 0..6), image in any::<String>()) {
        let keyring = DockerKeyring::from_auths(keys.iter().map(|k| (k.as_str(), ())));
        let _ = keyring.lookup(&image);
    }

    #[test]
    fn image_references_parse_into_their_parts(
        domain in proptest::option::of("[a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){1,2}(:[0-9]{1,5})?"),
        path in "[a-z0-9]{1,8}([._-][a-z0-9]{1,4})?(/[a-z0-9]{1,8}){0,2}",
        tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        digest in proptest::option::of("[a-f0-9]{64}"),
    ) {
        let mut text = match &domain { Some(d) => format!("{d}/{path}"), None => path.clone() };
        if let Some(t) = &tag { text.push_str(&format!(":{t}")); }
        if let Some(d) = &digest { text.push_str(&format!("@sha256:{d}")); }
        let image = ImageRef::parse(&text).unwrap();
        let (want_domain, want_path) = match &domain {
            Some(d) => (d.clone(), path.clone()),
            // A first component with a '.' is a registry to docker, even unasked.
            None if path.split_once('/').is_some_and(|(first, _)| first.contains('.')) => {
                let (first, rest) = path.split_once('/').unwrap();
                (first.to_owned(), rest.to_owned())
            }
            None if path.contains('/') => ("docker.io".to_owned(), path.clone()),
            None => ("docker.io".to_owned(), format!("library/{path}")),
        };
        prop_assert_eq!(&image.domain, &want_domain);
        prop_assert_eq!(&image.path, &want_path);
        prop_assert_eq!(image.tag.as_deref(), tag.as_deref());
        prop_assert_eq!(image.digest.clone(), digest.map(|d| format!("sha256:{d}")));
        // Normalising is idempotent.
        prop_assert_eq!(ImageRef::parse(&image.to_string()).unwrap(), image);
    }

    #[test]
    fn image_parsing_never_panics(text in any::<String>()) {
        let _ = ImageRef::parse(&text);
    }
}
