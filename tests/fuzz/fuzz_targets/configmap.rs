//! Fuzz target: ConfigMap data (as a map, and as a YAML manifest) never panics the parser, and
//! whatever parses survives a render/parse round trip unchanged.
#![no_main]

use std::collections::BTreeMap;

use acr_refresher::config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (BTreeMap<String, String>, String)| {
    let (data, manifest) = input;
    for data in [Some(data), config::data_from_yaml(&manifest).ok()]
        .into_iter()
        .flatten()
    {
        match config::parse(&data) {
            Ok((parsed, warnings)) => {
                for w in &warnings {
                    let _ = w.to_string();
                }
                let again = config::parse(&config::render(&parsed)).map(|(c, _)| c);
                assert_eq!(again, Ok(parsed), "parse(render(c)) != c");
            }
            Err(errors) => assert!(!errors.0.is_empty(), "an error result lists its errors"),
        }
    }
});
