//! The admin routes both fakes serve alike, built from each fake's in-process operations: the
//! request log (`GET`/`DELETE` at the fake's own path: fake-acr `/log`, fake-metadata
//! `/requests`) and the fault rules (`GET`/`POST`/`DELETE /faults`, and `DELETE /faults/{id}`
//! where a fake numbers its rules). Refusals are 400 `{"error": …, "field"?: …}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Where the fault rules are served.
pub const FAULTS_PATH: &str = "/faults";

/// Why the admin API refused a request: the body of its 400 (or, for a missing rule, its 404).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// What went wrong, never with a secret in it.
    pub error: String,
    /// The field refused (`offset_secs`, `fault.probability`), when the error is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Refusal {
    /// A refusal saying `error`, about `field` if it is given.
    pub fn new(error: impl Into<String>, field: Option<&str>) -> Self {
        Self {
            error: error.into(),
            field: field.map(str::to_owned),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(self)).into_response()
    }
}

/// `GET path`: every logged request, oldest first (`entries`); `DELETE path`: empties the log
/// (`clear`), 204.
pub fn request_log<S, T>(path: &str, entries: fn(&S) -> Vec<T>, clear: fn(&S)) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    T: Serialize + Send + 'static,
{
    Router::new().route(
        path,
        get(move |State(s): State<S>| async move { Json(entries(&s)) }).delete(
            move |State(s): State<S>| async move {
                clear(&s);
                StatusCode::NO_CONTENT
            },
        ),
    )
}

/// A fake's operations on its fault rules, as the routes of [`fault_rules`] call them.
pub struct FaultOperations<S, R, L> {
    /// Names a rule in the 400 for a body that does not parse (`fake-acr fault rule`).
    pub rule_name: &'static str,
    /// The rules as `GET /faults` lists them.
    pub list: fn(&S) -> Vec<L>,
    /// Installs a parsed rule after the fake's checks: its id where the fake numbers rules
    /// (answered as `{"id": N}`), none where it does not (an empty answer).
    pub install: fn(&S, R) -> Result<Option<u64>, Refusal>,
    /// Removes every rule.
    pub clear: fn(&S),
}

/// `GET /faults` (the rules), `POST /faults` (one rule, JSON; 201, or 400 when it does not parse
/// or the fake refuses it, nothing installed then), `DELETE /faults` (every rule; 204).
pub fn fault_rules<S, R, L>(operations: FaultOperations<S, R, L>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    R: DeserializeOwned + Send + 'static,
    L: Serialize + Send + 'static,
{
    let FaultOperations {
        rule_name,
        list,
        install,
        clear,
    } = operations;
    let post = move |State(s): State<S>, body: Bytes| async move {
        let rule: R = match serde_json::from_slice(&body) {
            Ok(rule) => rule,
            Err(e) => return Refusal::new(format!("{rule_name}: {e}"), None).into_response(),
        };
        match install(&s, rule) {
            Ok(Some(id)) => {
                (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response()
            }
            Ok(None) => StatusCode::CREATED.into_response(),
            Err(refusal) => refusal.into_response(),
        }
    };
    Router::new().route(
        FAULTS_PATH,
        get(move |State(s): State<S>| async move { Json(list(&s)) })
            .post(post)
            .delete(move |State(s): State<S>| async move {
                clear(&s);
                StatusCode::NO_CONTENT
            }),
    )
}

/// `DELETE /faults/{id}`, for a fake that numbers its rules: removes rule `id` (`remove` says
/// whether there was one), 204, or 404 `{"error": "no fault rule with id N"}`.
pub fn fault_rule_removal<S>(remove: fn(&S, u64) -> bool) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route(
        "/faults/{id}",
        delete(move |State(s): State<S>, Path(id): Path<u64>| async move {
            if remove(&s, id) {
                StatusCode::NO_CONTENT.into_response()
            } else {
                let missing = Refusal::new(format!("no fault rule with id {id}"), None);
                (StatusCode::NOT_FOUND, Json(missing)).into_response()
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tower::ServiceExt as _;

    use super::*;

    /// Numbered rules and the log of a fake.
    type Rules = (Vec<(u64, String)>, Vec<String>);

    /// A fake with numbered rules (strings; "bad" is refused) and a log of strings.
    #[derive(Clone, Default)]
    struct Fake(Arc<Mutex<Rules>>);

    fn list(f: &Fake) -> Vec<String> {
        f.0.lock()
            .unwrap()
            .0
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn install(f: &Fake, rule: String) -> Result<Option<u64>, Refusal> {
        if rule == "bad" {
            return Err(Refusal::new("fault rule: bad", Some("fault")));
        }
        let mut state = f.0.lock().unwrap();
        let id = state.0.len() as u64 + 1;
        state.0.push((id, rule));
        Ok(Some(id))
    }

    fn router(fake: &Fake) -> Router {
        Router::new()
            .merge(fault_rules(FaultOperations {
                rule_name: "fault rule",
                list,
                install,
                clear: |f: &Fake| f.0.lock().unwrap().0.clear(),
            }))
            .merge(fault_rule_removal(|f: &Fake, id| {
                let rules = &mut f.0.lock().unwrap().0;
                let before = rules.len();
                rules.retain(|(i, _)| *i != id);
                rules.len() != before
            }))
            .merge(request_log(
                "/log",
                |f: &Fake| f.0.lock().unwrap().1.clone(),
                |f: &Fake| f.0.lock().unwrap().1.clear(),
            ))
            .with_state(fake.clone())
    }

    async fn call(fake: &Fake, method: &str, path: &str, body: &str) -> (u16, String) {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap();
        let response = router(fake).oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn fault_rules_and_the_log_answer_as_both_fakes_document() {
        let fake = Fake::default();
        assert_eq!(
            call(&fake, "POST", "/faults", "\"a\"").await,
            (201, r#"{"id":1}"#.into())
        );
        assert_eq!(
            call(&fake, "POST", "/faults", "\"bad\"").await,
            (400, r#"{"error":"fault rule: bad","field":"fault"}"#.into())
        );
        let (status, body) = call(&fake, "POST", "/faults", "{").await;
        assert_eq!(status, 400);
        assert!(
            body.starts_with(r#"{"error":"fault rule: invalid type"#),
            "{body}"
        );
        assert_eq!(
            call(&fake, "GET", "/faults", "").await,
            (200, r#"["a"]"#.into())
        );
        assert_eq!(
            call(&fake, "DELETE", "/faults/7", "").await,
            (404, r#"{"error":"no fault rule with id 7"}"#.into())
        );
        assert_eq!(call(&fake, "DELETE", "/faults/1", "").await.0, 204);
        call(&fake, "POST", "/faults", "\"b\"").await;
        assert_eq!(
            call(&fake, "DELETE", "/faults", "").await,
            (204, String::new())
        );
        assert_eq!(call(&fake, "GET", "/faults", "").await, (200, "[]".into()));
        fake.0.lock().unwrap().1.push("GET /".into());
        assert_eq!(
            call(&fake, "GET", "/log", "").await,
            (200, r#"["GET /"]"#.into())
        );
        assert_eq!(call(&fake, "DELETE", "/log", "").await.0, 204);
        assert!(fake.0.lock().unwrap().1.is_empty());
    }
}
