//! Fuzz target: image references never panic the parser, normalising is idempotent, and the
//! keyring lookup kubelet would do with them never panics either.
#![no_main]

use acr_refresher::config::Config;
use acr_refresher::image_ref::ImageRef;
use acr_refresher::keyring::DockerKeyring;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, Vec<&str>)| {
    let (text, keys) = input;
    let keyring = DockerKeyring::from_auths(keys.iter().map(|k| (*k, ())));
    let _ = keyring.lookup(text);
    if let Ok(image) = ImageRef::parse(text) {
        let again = ImageRef::parse(&image.to_string());
        assert_eq!(again.as_ref(), Ok(&image), "normalising is idempotent");
        let _ = keyring.lookup_image(&image);
        let _ = Config::default().matching_patterns(&image);
    }
});
