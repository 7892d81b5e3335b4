//! Registry v2 on every registry host, and the token service on `dockerauth.<region>.aliyuncs.com`.
//!
//! Choices where the real service is unverified (README): EE registries use the same token
//! service as Personal ones, with `service = registry.aliyuncs.com:<region>:<instance id>`
//! (Personal: `registry.aliyuncs.com:<region>:26842`); bearer JWTs are HS256 and live
//! `bearer_lifetime_secs` (default 600 s, the observed value) but never beyond the password.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::json;

use crate::hosts::Target;
use crate::policy;
use crate::server::{App, Outcome, Req, json_response};
use crate::tokens::{Access, BearerClaims, PasswordClaims, TEMP_USERNAME, TokenScope};

const PERSONAL_SERVICE_SUFFIX: &str = "26842";

/// The `service` value of a registry target.
pub fn service_of(target: &Target) -> String {
    match target {
        Target::InstanceRegistry {
            instance_id,
            region,
        } => {
            format!("registry.aliyuncs.com:{region}:{instance_id}")
        }
        Target::PersonalRegistry { region }
        | Target::OpenApi { region }
        | Target::TokenService { region } => {
            format!("registry.aliyuncs.com:{region}:{PERSONAL_SERVICE_SUFFIX}")
        }
    }
}

fn target_of_service(app: &App, service: &str) -> Option<Target> {
    let rest = service.strip_prefix("registry.aliyuncs.com:")?;
    let (region, tail) = rest.split_once(':')?;
    if !app.world.settings.regions.iter().any(|r| r.id == region) {
        return None;
    }
    if tail == PERSONAL_SERVICE_SUFFIX {
        return Some(Target::PersonalRegistry {
            region: region.to_owned(),
        });
    }
    app.world
        .settings
        .instances
        .iter()
        .find(|i| i.id == tail && i.region == region)
        .map(|i| Target::InstanceRegistry {
            instance_id: i.id.clone(),
            region: i.region.clone(),
        })
}

/// The EE instance a registry or token-service request concerns, when it names a known one.
pub(crate) fn instance_of(app: &App, req: &Req, target: &Target) -> Option<String> {
    match target {
        Target::InstanceRegistry { instance_id, .. } => Some(instance_id.clone()),
        Target::TokenService { .. } => {
            let params = if req.method == "POST" {
                acs_wire::sign::encode::parse_query(&String::from_utf8_lossy(&req.body))
            } else {
                acs_wire::sign::encode::parse_query(&req.raw_query)
            };
            let (_, service) = params.iter().find(|(k, _)| k == "service")?;
            match target_of_service(app, service)? {
                Target::InstanceRegistry { instance_id, .. } => Some(instance_id),
                _ => None,
            }
        }
        Target::PersonalRegistry { .. } | Target::OpenApi { .. } => None,
    }
}

fn image_key(target: &Target) -> String {
    match target {
        Target::InstanceRegistry { instance_id, .. } => format!("instance:{instance_id}"),
        other => format!("personal:{}", crate::server::region_of(other)),
    }
}

fn repo_public(app: &App, target: &Target, name: &str) -> Option<bool> {
    match target {
        Target::InstanceRegistry { instance_id, .. } => app
            .world
            .settings
            .instances
            .iter()
            .find(|i| &i.id == instance_id)
            .and_then(|i| i.repositories.iter().find(|r| r.name == name))
            .map(|r| r.public),
        other => {
            let region = crate::server::region_of(other);
            app.world
                .settings
                .regions
                .iter()
                .find(|r| r.id == region)
                .and_then(|r| r.personal_repositories.iter().find(|p| p.name == name))
                .map(|r| r.public)
        }
    }
}

enum Route<'a> {
    Ping,
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Token,
    Unknown,
}

fn route<'a>(req: &'a Req, target: &Target) -> Route<'a> {
    if matches!(target, Target::TokenService { .. }) {
        return if req.path == "/auth" {
            Route::Token
        } else {
            Route::Unknown
        };
    }
    if req.path == "/v2/" || req.path == "/v2" {
        return Route::Ping;
    }
    let Some(rest) = req.path.strip_prefix("/v2/") else {
        return Route::Unknown;
    };
    if let Some((name, r)) = rest.rsplit_once("/manifests/") {
        return Route::Manifest(name, r);
    }
    if let Some((name, d)) = rest.rsplit_once("/blobs/") {
        return Route::Blob(name, d);
    }
    Route::Unknown
}

/// `Registry.Ping`, `Registry.GetManifest`, `Registry.HeadManifest`, `Registry.GetBlob`,
/// `Registry.HeadBlob`, `Registry.Token`, `Registry.Unknown`.
pub(crate) fn action_name(req: &Req, target: &Target) -> String {
    let head = req.method == "HEAD";
    match route(req, target) {
        Route::Ping => "Registry.Ping",
        Route::Manifest(..) if head => "Registry.HeadManifest",
        Route::Manifest(..) => "Registry.GetManifest",
        Route::Blob(..) if head => "Registry.HeadBlob",
        Route::Blob(..) => "Registry.GetBlob",
        Route::Token => "Registry.Token",
        Route::Unknown => "Registry.Unknown",
    }
    .to_owned()
}

/// A registry error: `{"errors":[{"code","message","detail"}]}`.
pub(crate) fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    let body = json!({"errors": [{"code": code, "message": message, "detail": null}]});
    let mut r = json_response(status, body.to_string(), "application/json; charset=utf-8");
    r.headers_mut().insert(
        "docker-distribution-api-version",
        http::HeaderValue::from_static("registry/2.0"),
    );
    r
}

/// Who is asking, after checking the credentials against this registry.
enum Caller {
    Anonymous,
    /// Basic with a registry password valid for this registry.
    Password {
        principal: String,
        may_pull: bool,
    },
    Bearer(BearerClaims),
}

fn basic_credentials(req: &Req) -> Option<(String, String)> {
    let v = req.header("authorization")?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// Checks a temp user + password for `target`: signature, expiry, region/instance binding.
fn check_password(
    app: &App,
    user: &str,
    password: &str,
    target: &Target,
) -> Result<PasswordClaims, String> {
    if user != TEMP_USERNAME {
        return Err(format!("unknown user {user:?}"));
    }
    let claims = app
        .world
        .keys
        .validate_password(password, app.admin.now().as_millisecond())
        .map_err(|e| e.to_string())?;
    let ok = match (&claims.scope, target) {
        (TokenScope::Personal { region }, Target::PersonalRegistry { region: r }) => region == r,
        (TokenScope::Instance { instance_id }, Target::InstanceRegistry { instance_id: i, .. }) => {
            instance_id == i
        }
        _ => false,
    };
    if ok {
        Ok(claims)
    } else {
        Err(format!(
            "credential issued for {:?} is not valid for {}",
            claims.scope,
            service_of(target)
        ))
    }
}

fn caller(app: &App, req: &Req, target: &Target) -> Result<Caller, String> {
    let Some(auth) = req.header("authorization") else {
        return Ok(Caller::Anonymous);
    };
    if let Some(token) = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
    {
        let claims = app
            .world
            .keys
            .validate_bearer(token.trim(), app.admin.now().as_second())
            .map_err(|e| e.to_string())?;
        if claims.aud != service_of(target) {
            return Err(format!(
                "bearer token is for {} not {}",
                claims.aud,
                service_of(target)
            ));
        }
        return Ok(Caller::Bearer(claims));
    }
    let (user, password) = basic_credentials(req).ok_or("unsupported Authorization scheme")?;
    let claims = check_password(app, &user, &password, target)?;
    let may_pull = policy::allows(
        &app.world.settings.policies,
        &claims.user_id,
        "cr:PullRepository",
    );
    Ok(Caller::Password {
        principal: claims.user_id,
        may_pull,
    })
}

fn challenge(
    app: &App,
    target: &Target,
    scope: Option<&str>,
    message: &str,
) -> Response<Full<Bytes>> {
    let region = crate::server::region_of(target);
    let mut value = format!(
        "Bearer realm=\"{}://dockerauth.{region}.aliyuncs.com{}/auth\",service=\"{}\"",
        app.world.scheme,
        app.world.port_suffix,
        service_of(target)
    );
    if let Some(s) = scope {
        value.push_str(&format!(",scope=\"{s}\""));
    }
    let mut r = error_response(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
    if let Ok(v) = http::HeaderValue::from_str(&value) {
        r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
    }
    r
}

/// Handles one registry or token-service request.
pub(crate) fn handle(app: &App, req: &Req, target: &Target, action: String) -> Outcome {
    let done = |response: Response<Full<Bytes>>, principal: Option<String>, result: &str| Outcome {
        response,
        action: action.clone(),
        principal,
        result: result.to_owned(),
    };
    let r = route(req, target);
    if let Route::Token = r {
        let (response, principal, result) = token(app, req, target);
        return done(response, principal, &result);
    }
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return done(
            error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "only pulls are served",
            ),
            None,
            "UNSUPPORTED",
        );
    }
    let who = caller(app, req, target);
    let principal = match &who {
        Ok(Caller::Password { principal, .. }) => Some(principal.clone()),
        Ok(Caller::Bearer(c)) if !c.sub.is_empty() => Some(c.sub.clone()),
        _ => None,
    };
    let (name, reference, is_manifest) = match r {
        Route::Ping => {
            return match who {
                Ok(Caller::Anonymous) => done(
                    challenge(app, target, None, "authentication required"),
                    None,
                    "UNAUTHORIZED",
                ),
                Ok(_) => {
                    let mut resp = json_response(
                        StatusCode::OK,
                        "{}".into(),
                        "application/json; charset=utf-8",
                    );
                    resp.headers_mut().insert(
                        "docker-distribution-api-version",
                        http::HeaderValue::from_static("registry/2.0"),
                    );
                    done(resp, principal, "Success")
                }
                Err(e) => done(challenge(app, target, None, &e), None, "UNAUTHORIZED"),
            };
        }
        Route::Manifest(n, r) => (n, r, true),
        Route::Blob(n, d) => (n, d, false),
        Route::Token | Route::Unknown => {
            return done(
                error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint"),
                principal,
                "NOT_FOUND",
            );
        }
    };
    let scope = format!("repository:{name}:pull");
    let public = repo_public(app, target, name);
    let allowed = match &who {
        Err(e) => {
            return done(
                challenge(app, target, Some(&scope), e),
                None,
                "UNAUTHORIZED",
            );
        }
        Ok(Caller::Anonymous) => public == Some(true),
        Ok(Caller::Password { may_pull, .. }) => {
            if !may_pull && public != Some(true) {
                return done(
                    error_response(
                        StatusCode::FORBIDDEN,
                        "DENIED",
                        "principal lacks RAM action cr:PullRepository",
                    ),
                    principal,
                    "DENIED",
                );
            }
            true
        }
        Ok(Caller::Bearer(c)) => c.access.iter().any(|a| {
            a.kind == "repository" && a.name == name && a.actions.iter().any(|x| x == "pull")
        }),
    };
    if !allowed {
        return done(
            challenge(app, target, Some(&scope), "authentication required"),
            principal,
            "UNAUTHORIZED",
        );
    }
    let Some(image) = app.world.images.get(&(image_key(target), name.to_owned())) else {
        return done(
            error_response(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                "repository name not known to registry",
            ),
            principal,
            "NAME_UNKNOWN",
        );
    };
    let (digest, media_type, bytes) = if is_manifest {
        // Clients send several Accept headers or one comma-separated list; take them all.
        let accept: Vec<&str> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("accept"))
            .map(|(_, v)| v.as_str())
            .collect();
        let accept = (!accept.is_empty()).then(|| accept.join(","));
        match image.negotiate(reference, accept.as_deref()) {
            Some((d, mt, b)) => (d, mt.to_owned(), b.to_vec()),
            None => {
                return done(
                    error_response(
                        StatusCode::NOT_FOUND,
                        "MANIFEST_UNKNOWN",
                        "manifest unknown",
                    ),
                    principal,
                    "MANIFEST_UNKNOWN",
                );
            }
        }
    } else {
        match image.blobs.get(reference) {
            Some(b) => (
                reference.to_owned(),
                "application/octet-stream".to_owned(),
                b.clone(),
            ),
            None => {
                return done(
                    error_response(
                        StatusCode::NOT_FOUND,
                        "BLOB_UNKNOWN",
                        "blob unknown to registry",
                    ),
                    principal,
                    "BLOB_UNKNOWN",
                );
            }
        }
    };
    let len = bytes.len();
    let body = if req.method == "HEAD" {
        Vec::new()
    } else {
        bytes
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    let h = resp.headers_mut();
    for (k, v) in [
        ("content-type", media_type.as_str()),
        ("docker-content-digest", digest.as_str()),
        ("docker-distribution-api-version", "registry/2.0"),
        ("content-length", &len.to_string()),
    ] {
        if let Ok(v) = http::HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    }
    done(resp, principal, "Success")
}

/// The token endpoint: GET (distribution spec, Basic auth) and POST (containerd OAuth form).
fn token(
    app: &App,
    req: &Req,
    host_target: &Target,
) -> (Response<Full<Bytes>>, Option<String>, String) {
    let host_region = crate::server::region_of(host_target).to_owned();
    let (params, credentials, is_post) = match req.method.as_str() {
        "GET" => (
            acs_wire::sign::encode::parse_query(&req.raw_query),
            basic_credentials(req),
            false,
        ),
        "POST" => {
            let form = acs_wire::sign::encode::parse_query(&String::from_utf8_lossy(&req.body));
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if get("grant_type").as_deref() != Some("password") {
                let body = json!({"error": "unsupported_grant_type"}).to_string();
                return (
                    json_response(StatusCode::BAD_REQUEST, body, "application/json"),
                    None,
                    "unsupported_grant_type".into(),
                );
            }
            let creds = get("username").zip(get("password"));
            let mut params: Vec<(String, String)> = form
                .iter()
                .filter(|(k, _)| k == "service")
                .cloned()
                .collect();
            for s in get("scope")
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
            {
                params.push(("scope".into(), s.to_owned()));
            }
            (params, creds, true)
        }
        _ => {
            return (
                error_response(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "GET or POST"),
                None,
                "UNSUPPORTED".into(),
            );
        }
    };
    let service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let Some(target) =
        target_of_service(app, &service).filter(|t| crate::server::region_of(t) == host_region)
    else {
        return (
            error_response(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                &format!("unknown service {service:?} for this token endpoint"),
            ),
            None,
            "UNSUPPORTED".into(),
        );
    };
    let (principal, may_pull, password_exp) = match &credentials {
        None => (None, false, None),
        Some((user, password)) => match check_password(app, user, password, &target) {
            Ok(c) => {
                let may = policy::allows(
                    &app.world.settings.policies,
                    &c.user_id,
                    "cr:PullRepository",
                );
                (Some(c.user_id.clone()), may, Some(c.expires_at_ms() / 1000))
            }
            Err(e) => {
                return (
                    error_response(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", &e),
                    None,
                    "UNAUTHORIZED".into(),
                );
            }
        },
    };
    let mut access = Vec::new();
    for (_, scope) in params.iter().filter(|(k, _)| k == "scope") {
        let mut parts = scope.splitn(3, ':');
        let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if kind != "repository" || !actions.split(',').any(|a| a == "pull") {
            continue;
        }
        let public = repo_public(app, &target, name);
        let grant = public.is_some() && (public == Some(true) || may_pull);
        if grant {
            access.push(Access {
                kind: "repository".into(),
                name: name.to_owned(),
                actions: vec!["pull".into()],
            });
        }
    }
    let now = app.admin.now().as_second();
    let mut exp = now + app.world.settings.bearer_lifetime_secs as i64;
    if let Some(p) = password_exp {
        exp = exp.min(p);
    }
    let claims = BearerClaims {
        iss: "dockerauth.aliyuncs.com".into(),
        aud: service.clone(),
        sub: principal.clone().unwrap_or_default(),
        iat: now,
        nbf: now - 300,
        exp,
        jti: uuid::Uuid::new_v4().to_string(),
        access,
    };
    let jwt = app.world.keys.issue_bearer(&claims);
    let issued_at = app.admin.now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut body = json!({"token": jwt, "access_token": jwt, "expires_in": (exp - now).max(1), "issued_at": issued_at});
    if is_post {
        let scopes: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str())
            .collect();
        body["scope"] = json!(scopes.join(" "));
    }
    (
        json_response(StatusCode::OK, body.to_string(), "application/json"),
        principal,
        "Success".into(),
    )
}
