//! Fuzz target: fake-metadata's request handling never panics — any method and path (known paths
//! with fuzzed suffixes, absolute-form targets, anything), hardened mode optional or required,
//! token headers missing, garbage, real, or real and tampered, any TTL header.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use fake_metadata::service::{TOKEN_HEADER, TOKEN_TTL_HEADER};
use fake_metadata::{FakeMetadata, HardenedMode, Running, Settings};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

struct Fake {
    rt: tokio::runtime::Runtime,
    running: Running,
}

fn fake() -> &'static Fake {
    static FAKE: OnceLock<Fake> = OnceLock::new();
    FAKE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let running = rt
            .block_on(FakeMetadata::start(Settings::default()))
            .expect("fake-metadata starts");
        Fake { rt, running }
    })
}

const PATHS: [&str; 10] = [
    "/latest/meta-data/",
    "/latest/meta-data/ram/security-credentials/",
    "/latest/meta-data/ram/security-credentials/KubernetesWorkerRole-fake",
    "/latest/meta-data/region-id",
    "/latest/meta-data/instance/spot/termination-time",
    "/latest/dynamic/instance-identity/document",
    "/latest/user-data",
    "/latest/api/token",
    "/latest/",
    "http://100.100.100.200/latest/meta-data/",
];

#[derive(Arbitrary, Debug)]
enum Token {
    None,
    Garbage(String),
    /// A token the fake issued for this TTL, optionally with one byte changed.
    Issued {
        ttl: String,
        flip: Option<(u16, u8)>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    required: bool,
    method: u8,
    path: Result<(u8, String), String>,
    token: Token,
    ttl: Option<String>,
    headers: Vec<(String, String)>,
}

const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

fn request(method: &str, uri: &str, headers: &[(String, String)]) -> Option<http::Request<Body>> {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(n.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            b = b.header(n, v);
        }
    }
    b.body(Body::empty()).ok()
}

fn answer(f: &Fake, req: http::Request<Body>) -> Option<(u16, String)> {
    f.rt.block_on(async {
        let r = f.running.answer(req).await?;
        let status = r.status().as_u16();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.ok()?;
        Some((status, String::from_utf8_lossy(&body).into_owned()))
    })
}

fuzz_target!(|input: Input| {
    let f = fake();
    f.running.admin().set_hardened(if input.required {
        HardenedMode::Required
    } else {
        HardenedMode::Optional
    });
    let mut headers = input.headers.clone();
    match &input.token {
        Token::None => {}
        Token::Garbage(t) => headers.push((TOKEN_HEADER.into(), t.clone())),
        Token::Issued { ttl, flip } => {
            let put = request("PUT", PATHS[7], &[(TOKEN_TTL_HEADER.into(), ttl.clone())]);
            if let Some((200, mut token)) = put.and_then(|r| answer(f, r)) {
                if let Some((at, byte)) = flip
                    && !token.is_empty()
                {
                    let at = usize::from(*at) % token.len();
                    if token.is_char_boundary(at) && token.is_char_boundary(at + 1) {
                        token.replace_range(at..at + 1, &char::from(*byte % 128).to_string());
                    }
                }
                headers.push((TOKEN_HEADER.into(), token));
            }
        }
    }
    if let Some(ttl) = &input.ttl {
        headers.push((TOKEN_TTL_HEADER.into(), ttl.clone()));
    }
    let path = match &input.path {
        Ok((i, suffix)) => format!("{}{suffix}", PATHS[usize::from(*i) % PATHS.len()]),
        Err(any) => any.clone(),
    };
    let method = METHODS[usize::from(input.method) % METHODS.len()];
    if let Some(req) = request(method, &path, &headers) {
        let _ = answer(f, req);
    }
});
