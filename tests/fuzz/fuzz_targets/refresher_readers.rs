//! Fuzz target: the refresher's readers of metadata and ACR answers (credentials document and
//! its times, GetAuthorizationToken of both editions, ListInstanceEndpoint, ListInstance, POP
//! error bodies) never panic, and what they accept is usable: token expiries leave room for
//! renewal arithmetic, credentials documents re-read the same after rendering.
#![no_main]

use acr_refresher::acr::client::{
    parse_endpoint_domains, parse_enterprise_token, parse_instances, parse_personal_token,
};
use acs_wire::error::PopError;
use acs_wire::sts::{EcsRamRoleCredentials, parse_ecs_time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, &[u8], &str)| {
    let (status, bytes, text) = input;
    let _ = PopError::parse(status, bytes);
    if let Ok(doc) = EcsRamRoleCredentials::parse(text) {
        let _ = parse_ecs_time(&doc.expiration);
        let again = EcsRamRoleCredentials::parse(&doc.render());
        assert_eq!(again.as_ref().ok(), Some(&doc), "render/parse round trip");
    }
    let _ = parse_ecs_time(text);
    for body in [
        serde_json::from_slice::<serde_json::Value>(bytes).ok(),
        serde_json::from_str::<serde_json::Value>(text).ok(),
    ]
    .into_iter()
    .flatten()
    {
        for token in [parse_enterprise_token(&body), parse_personal_token(&body)]
            .into_iter()
            .flatten()
        {
            let room = jiff::SignedDuration::from_hours(24 * 3650);
            assert!(
                token.expires_at.checked_sub(room).is_ok()
                    && token.expires_at.checked_add(room).is_ok(),
                "an accepted expiry leaves room for renewal arithmetic"
            );
        }
        let _ = parse_endpoint_domains(&body);
        let _ = parse_instances(&body, text);
    }
});
