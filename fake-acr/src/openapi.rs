//! The ACR OpenAPI of one region: signature, credential, clock, replay and RAM checks, then
//! `GetAuthorizationToken` (EE, RPC 2018-12-01), `GET /tokens` (Personal, ROA 2016-06-07),
//! `ListInstance` and `ListInstanceEndpoint`.
//!
//! Error codes whose real names are unverified (docs/wire.md, "Choices where the real behaviour
//! is unknown") — chosen here and documented in the README: `InvalidSecurityToken.Expired`,
//! `InvalidSecurityToken.Malformed`, `InvalidSecurityToken.MismatchWithAccessKey` (all 400),
//! `INSTANCE_NOT_EXIST` (404).

use acs_wire::error::PopError;
use acs_wire::sign::verify::{IncomingRequest, SignedRequest};
use acs_wire::sts::{self, StsError};
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::json;

use crate::policy;
use crate::server::{App, Outcome, Req, json_response};
use crate::tokens::{PasswordClaims, TEMP_USERNAME, TokenScope};

/// Actions this fake implements.
pub const KNOWN_ACTIONS: &[&str] = &[
    "GetAuthorizationToken",
    "ListInstance",
    "ListInstanceEndpoint",
];

const JSON_UTF8: &str = "application/json;charset=utf-8";

/// The action a request names: `Action` (RPC), `x-acs-action`, or `GetAuthorizationToken` for
/// the Personal Edition's `GET /tokens`.
pub(crate) fn action_name(req: &Req) -> String {
    let query = acs_wire::sign::encode::parse_query(&req.raw_query);
    if let Some((_, a)) = query.iter().find(|(k, _)| k == "Action") {
        return a.clone();
    }
    if let Some(a) = req.header("x-acs-action") {
        return a.to_owned();
    }
    if req.path == "/tokens" {
        return "GetAuthorizationToken".into();
    }
    "Unknown".into()
}

/// What the log says about an OpenAPI request before any check: (InstanceId, AccessKeyId),
/// each when the request names one.
pub(crate) fn log_facts(req: &Req) -> (Option<String>, Option<String>) {
    let incoming = IncomingRequest {
        method: &req.method,
        path: &req.path,
        raw_query: &req.raw_query,
        headers: &req.headers,
        body: &req.body,
    };
    match SignedRequest::parse(&incoming) {
        Ok(signed) => (
            signed
                .param("InstanceId")
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            Some(signed.access_key_id.clone()).filter(|v| !v.is_empty()),
        ),
        Err(_) => (None, None),
    }
}

fn is_personal(req: &Req) -> bool {
    req.path == "/tokens"
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_ascii_uppercase()
}

/// An error in the envelope the request's API style uses (lower-case keys for ROA `/tokens`).
pub(crate) fn error_response(
    req: &Req,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    let rid = request_id();
    let e = PopError::new(&rid, &req.host, code, message);
    let body = if is_personal(req) {
        e.to_roa_json()
    } else {
        e.to_json()
    };
    let mut r = json_response(status, body, JSON_UTF8);
    if let Ok(v) = http::HeaderValue::from_str(&rid) {
        r.headers_mut().insert("x-acs-request-id", v);
    }
    r
}

struct Failure {
    status: StatusCode,
    code: String,
    message: String,
}

fn fail(status: u16, code: &str, message: impl Into<String>) -> Failure {
    Failure {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        code: code.to_owned(),
        message: message.into(),
    }
}

/// Handles one OpenAPI request; `action` comes from [`action_name`].
pub(crate) fn handle(app: &App, req: &Req, region: &str, action: String) -> Outcome {
    let mut principal = None;
    if !KNOWN_ACTIONS.contains(&action.as_str()) {
        let f = fail(
            404,
            "InvalidAction.NotFound",
            format!("Specified api is not found, please check your url and method: {action}"),
        );
        return Outcome {
            response: error_response(req, f.status, &f.code, &f.message),
            action,
            principal,
            result: f.code,
        };
    }
    let result = authenticate(app, req, &action, &mut principal).and_then(|signed| {
        dispatch(
            app,
            req,
            region,
            &action,
            &signed,
            principal.as_deref().unwrap_or_default(),
        )
    });
    match result {
        Ok(body) => {
            let rid = request_id();
            let body = with_request_id(body, &rid, is_personal(req));
            let mut r = json_response(StatusCode::OK, body.to_string(), JSON_UTF8);
            if let Ok(v) = http::HeaderValue::from_str(&rid) {
                r.headers_mut().insert("x-acs-request-id", v);
            }
            Outcome {
                response: r,
                action,
                principal,
                result: "Success".into(),
            }
        }
        Err(f) => Outcome {
            response: error_response(req, f.status, &f.code, &f.message),
            action,
            principal,
            result: f.code,
        },
    }
}

fn with_request_id(mut body: serde_json::Value, rid: &str, personal: bool) -> serde_json::Value {
    if personal {
        if let Some(d) = body.get_mut("data").and_then(|d| d.as_object_mut()) {
            d.insert("requestId".into(), json!(rid));
        }
    } else if let Some(o) = body.as_object_mut() {
        o.insert("RequestId".into(), json!(rid));
    }
    body
}

/// Signature, credentials, clock, replay, RAM. Sets `principal` as soon as it is known.
fn authenticate(
    app: &App,
    req: &Req,
    action: &str,
    principal: &mut Option<String>,
) -> Result<SignedRequest, Failure> {
    let incoming = IncomingRequest {
        method: &req.method,
        path: &req.path,
        raw_query: &req.raw_query,
        headers: &req.headers,
        body: &req.body,
    };
    let signed =
        SignedRequest::parse(&incoming).map_err(|e| fail(400, &e.code(), e.to_string()))?;
    let now = app.admin.now();
    let secret = match signed.security_token.as_deref() {
        Some(token) => {
            let (claims, secret) = sts::validate(
                &app.world.settings.account_secret,
                &signed.access_key_id,
                token,
            )
            .map_err(|e| match e {
                StsError::AccessKeyMismatch => fail(
                    400,
                    "InvalidSecurityToken.MismatchWithAccessKey",
                    "The security token does not belong to the specified AccessKeyId.",
                ),
                StsError::Malformed(_) | StsError::BadMac => fail(
                    400,
                    "InvalidSecurityToken.Malformed",
                    format!("The specified SecurityToken is invalid: {e}"),
                ),
            })?;
            *principal = Some(format!("role/{}", claims.role));
            if claims.expires_at <= now.as_second() {
                return Err(fail(
                    400,
                    "InvalidSecurityToken.Expired",
                    format!(
                        "The specified SecurityToken expired at {} (server time {}).",
                        claims.expires_at,
                        now.as_second()
                    ),
                ));
            }
            secret
        }
        None => {
            let key = app
                .world
                .settings
                .access_keys
                .iter()
                .find(|k| k.id == signed.access_key_id)
                .ok_or_else(|| {
                    fail(
                        404,
                        "InvalidAccessKeyId.NotFound",
                        format!(
                            "Specified access key is not found: {}",
                            signed.access_key_id
                        ),
                    )
                })?;
            *principal = Some(key.principal.clone());
            key.secret.clone()
        }
    };
    signed
        .verify(&secret)
        .map_err(|e| fail(400, &e.code(), e.to_string()))?;
    let ts = signed
        .timestamp_utc()
        .map_err(|e| fail(400, &e.code(), e.to_string()))?;
    let skew = (now.as_second() - ts.as_second()).abs();
    if skew > app.world.settings.max_clock_skew_secs {
        return Err(fail(
            400,
            "InvalidTimeStamp.Expired",
            format!(
                "Specified time stamp or date value is expired: {} is {skew} s from server time {}.",
                signed.timestamp,
                now.strftime(acs_wire::sign::ISO8601_FORMAT)
            ),
        ));
    }
    if let Some(nonce) = &signed.nonce {
        let key = format!("{}/{nonce}", signed.access_key_id);
        if !app.admin.remember_nonce(
            key,
            ts.as_second() + 2 * app.world.settings.max_clock_skew_secs,
        ) {
            return Err(fail(
                400,
                "SignatureNonceUsed",
                format!("Specified signature nonce was used already: {nonce}"),
            ));
        }
    }
    let ram_action = format!("cr:{action}");
    let who = principal.clone().unwrap_or_default();
    if !policy::allows(&app.world.settings.policies, &who, &ram_action) {
        return Err(fail(
            403,
            "Forbidden.RAM",
            format!(
                "User not authorized to operate on the specified resource, or this API does not support RAM. Principal {who} lacks action {ram_action}."
            ),
        ));
    }
    Ok(signed)
}

fn dispatch(
    app: &App,
    req: &Req,
    region: &str,
    action: &str,
    signed: &SignedRequest,
    principal: &str,
) -> Result<serde_json::Value, Failure> {
    let now = app.admin.now();
    let sts_expiry_ms = signed.security_token.as_deref().and_then(|t| {
        sts::validate(&app.world.settings.account_secret, &signed.access_key_id, t)
            .ok()
            .map(|(c, _)| c.expires_at.saturating_mul(1000))
    });
    let expiry_ms = |now_ms: i64| {
        let lifetime = app.admin.token_lifetime_secs() as i64 * 1000;
        sts_expiry_ms.map_or(now_ms + lifetime, |s| s.min(now_ms + lifetime))
    };
    let instance_in_region = |id: &str| {
        app.world
            .settings
            .instances
            .iter()
            .find(|i| i.id == id && i.region == region)
            .ok_or_else(|| {
                fail(
                    404,
                    "INSTANCE_NOT_EXIST",
                    format!("Instance {id} does not exist in region {region}."),
                )
            })
    };
    match action {
        "GetAuthorizationToken" if is_personal(req) => {
            let exp = expiry_ms(now.as_millisecond());
            let password = app.world.keys.issue_password(&PasswordClaims {
                scope: TokenScope::Personal {
                    region: region.to_owned(),
                },
                time: exp.to_string(),
                kind: "sub".into(),
                user_id: principal.to_owned(),
            });
            Ok(
                json!({"data": {"authorizationToken": password, "expireDate": exp, "tempUserName": TEMP_USERNAME}}),
            )
        }
        "GetAuthorizationToken" => {
            let id = signed
                .param("InstanceId")
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    fail(
                        400,
                        "MissingInstanceId",
                        "InstanceId is mandatory for this action.",
                    )
                })?;
            let instance = instance_in_region(id)?;
            let exp = expiry_ms(now.as_millisecond());
            let password = app.world.keys.issue_password(&PasswordClaims {
                scope: TokenScope::Instance {
                    instance_id: instance.id.clone(),
                },
                time: exp.to_string(),
                kind: "sub".into(),
                user_id: principal.to_owned(),
            });
            Ok(json!({
                "AuthorizationToken": password,
                "TempUsername": TEMP_USERNAME,
                "ExpireTime": exp,
                "Code": "success",
                "IsSuccess": true,
            }))
        }
        "ListInstance" => {
            let page_no: usize = signed
                .param("PageNo")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
                .max(1);
            let page_size: usize = signed
                .param("PageSize")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30)
                .max(1);
            let name = signed.param("InstanceName").filter(|v| !v.is_empty());
            let all: Vec<_> = app
                .world
                .settings
                .instances
                .iter()
                .filter(|i| i.region == region && name.is_none_or(|n| n == i.name))
                .collect();
            let page: Vec<_> = all
                .iter()
                .skip((page_no - 1) * page_size)
                .take(page_size)
                .map(|i| {
                    json!({
                        "CreateTime": "1700000000000",
                        "InstanceId": i.id,
                        "InstanceIssue": "",
                        "InstanceName": i.name,
                        "InstanceSpecification": "Enterprise_Basic",
                        "InstanceStatus": "RUNNING",
                        "ModifiedTime": "1700000000000",
                        "RegionId": i.region,
                        "ResourceGroupId": "rg-fakeacr",
                        "Tags": [],
                    })
                })
                .collect();
            Ok(json!({
                "Code": "success",
                "IsSuccess": true,
                "PageNo": page_no,
                "PageSize": page_size,
                "TotalCount": all.len(),
                "Instances": page,
            }))
        }
        "ListInstanceEndpoint" => {
            let id = signed
                .param("InstanceId")
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    fail(
                        400,
                        "MissingInstanceId",
                        "InstanceId is mandatory for this action.",
                    )
                })?;
            let instance = instance_in_region(id)?;
            let (public, vpc) = crate::hosts::instance_domains(&instance.name, &instance.region);
            let endpoint = |kind: &str, domain: &str| {
                json!({
                    "AclEnable": false,
                    "AclEntries": [],
                    "Domains": [{"Domain": domain, "Type": "SYSTEM"}],
                    "Enable": true,
                    "EndpointType": kind,
                    "LinkedVpcs": [],
                    "Status": "RUNNING",
                })
            };
            Ok(json!({
                "Code": "success",
                "IsSuccess": true,
                "Endpoints": [endpoint("internet", &public), endpoint("vpc", &vpc)],
            }))
        }
        other => Err(fail(
            404,
            "InvalidAction.NotFound",
            format!("Specified api is not found, please check your url and method: {other}"),
        )),
    }
}
