//! Fuzz target: fake-acr's request handling never panics — any method, Host (OpenAPI, Personal
//! and instance registries, token service, unknown), registry path and scope, Basic and Bearer
//! credentials (garbage, or passwords and JWTs properly signed with fuzzed claims), query, body —
//! and the token validators never panic on any text.
#![no_main]

use std::sync::OnceLock;

use axum::body::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fake_acr::tokens::{Access, BearerClaims, PasswordClaims, TokenKeys, TokenScope};
use fake_acr::{FakeAcr, Running, Settings};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

struct Fake {
    rt: tokio::runtime::Runtime,
    running: Running,
    hosts: Vec<String>,
    keys: TokenKeys,
}

fn fake() -> &'static Fake {
    static FAKE: OnceLock<Fake> = OnceLock::new();
    FAKE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let settings = Settings {
            plain_http: true,
            ..Settings::default()
        };
        let running = rt
            .block_on(FakeAcr::start(settings))
            .expect("fake-acr starts");
        let hosts = running.hosts();
        Fake {
            keys: TokenKeys::new(acs_wire::sts::DEFAULT_ACCOUNT_SECRET),
            rt,
            running,
            hosts,
        }
    })
}

#[derive(Arbitrary, Debug)]
enum Auth {
    None,
    Raw(String),
    Basic(String, String),
    SignedPassword {
        instance: Option<String>,
        region: String,
        time: String,
        kind: String,
        user_id: String,
    },
    SignedBearer {
        aud: String,
        sub: String,
        nbf: i64,
        exp: i64,
        access: Vec<(String, String, Vec<String>)>,
        garbage_after: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    /// Index into the served hosts, or a fuzzed host.
    host: Result<u8, String>,
    port: Option<u16>,
    /// A registry path built from pieces, or any text.
    path: Result<(u8, String, String), String>,
    query: Vec<(String, String)>,
    scopes: Vec<String>,
    headers: Vec<(String, String)>,
    auth: Auth,
    body: Vec<u8>,
}

const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"];

fn path_of(input: &Input) -> String {
    match &input.path {
        Ok((kind, name, reference)) => match kind % 6 {
            0 => "/v2/".into(),
            1 => format!("/v2/{name}/manifests/{reference}"),
            2 => format!("/v2/{name}/blobs/{reference}"),
            3 => "/auth".into(),
            4 => "/tokens".into(),
            _ => "/".into(),
        },
        Err(any) => any.clone(),
    }
}

fn authorization(keys: &TokenKeys, auth: &Auth) -> Option<String> {
    match auth {
        Auth::None => None,
        Auth::Raw(s) => Some(s.clone()),
        Auth::Basic(user, pass) => Some(format!(
            "Basic {}",
            STANDARD.encode(format!("{user}:{pass}"))
        )),
        Auth::SignedPassword {
            instance,
            region,
            time,
            kind,
            user_id,
        } => {
            let scope = match instance {
                Some(i) => TokenScope::Instance {
                    instance_id: i.clone(),
                },
                None => TokenScope::Personal {
                    region: region.clone(),
                },
            };
            let password = keys.issue_password(&PasswordClaims {
                scope,
                time: time.clone(),
                kind: kind.clone(),
                user_id: user_id.clone(),
            });
            Some(format!(
                "Basic {}",
                STANDARD.encode(format!("cr_temp_user:{password}"))
            ))
        }
        Auth::SignedBearer {
            aud,
            sub,
            nbf,
            exp,
            access,
            garbage_after,
        } => {
            let jwt = keys.issue_bearer(&BearerClaims {
                iss: "dockerauth.aliyuncs.com".into(),
                aud: aud.clone(),
                sub: sub.clone(),
                iat: *nbf,
                nbf: *nbf,
                exp: *exp,
                jti: "fuzz".into(),
                access: access
                    .iter()
                    .map(|(kind, name, actions)| Access {
                        kind: kind.clone(),
                        name: name.clone(),
                        actions: actions.clone(),
                    })
                    .collect(),
            });
            Some(if *garbage_after {
                format!("Bearer {jwt}x")
            } else {
                format!("Bearer {jwt}")
            })
        }
    }
}

fuzz_target!(|input: Input| {
    let f = fake();
    let host = match &input.host {
        Ok(i) => f.hosts[usize::from(*i) % f.hosts.len()].clone(),
        Err(h) => h.clone(),
    };
    let host = match input.port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    let mut uri = path_of(&input);
    let mut query: Vec<String> = input
        .query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    query.extend(input.scopes.iter().map(|s| format!("scope={s}")));
    if !query.is_empty() {
        uri = format!("{uri}?{}", query.join("&"));
    }
    let Ok(uri) = uri.parse::<http::Uri>() else {
        return;
    };
    let mut builder = http::Request::builder()
        .method(METHODS[usize::from(input.method) % METHODS.len()])
        .uri(uri);
    if let Ok(v) = http::HeaderValue::from_str(&host) {
        builder = builder.header(http::header::HOST, v);
    }
    if let Some(a) = authorization(&f.keys, &input.auth)
        && let Ok(v) = http::HeaderValue::from_str(&a)
    {
        builder = builder.header(http::header::AUTHORIZATION, v);
    }
    for (n, v) in &input.headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(n.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            builder = builder.header(n, v);
        }
    }
    let Ok(req) = builder.body(Bytes::from(input.body.clone())) else {
        return;
    };
    let _ = f.rt.block_on(f.running.answer(req));
    // The validators on their own, on every text the input carries.
    for text in input
        .headers
        .iter()
        .map(|(_, v)| v.as_str())
        .chain(input.scopes.iter().map(String::as_str))
    {
        let _ = f.keys.validate_password(text, 0);
        let _ = f.keys.validate_bearer(text, i64::MAX);
        let _ = f.keys.validate_bearer(text, i64::MIN);
    }
    f.running.admin().clear_log();
});
