//! The HTTP API: submit, list, get, cancel and re-prioritise jobs, migrate a domain to the
//! legacy flow, and the health and metrics endpoints.
//!
//! Every job route reads and writes `SparkJob` objects through the Kubernetes API, never the
//! controller's memory, so any replica answers, leader or not, and the controller sees the
//! change through its watch like any other edit. Every route but `/healthz`, `/readyz` and
//! `/metrics` needs `Authorization: Bearer <token>`; the token is compared in constant time
//! and never logged. Errors are JSON: `{"error": "..."}` with the matching status code.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde::Deserialize;
use serde_json::{Value, json};
use sparkq_core::{JobId, Phase};

use crate::crd::{SparkJob, SparkJobSpec, parse_flow, parse_priority};
use crate::metrics::Metrics;
use crate::token::ApiToken;

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub client: Client,
    /// The bearer token; `None` turns authentication off (only with `--no-auth`).
    pub token: Option<Arc<ApiToken>>,
    pub metrics: Arc<Metrics>,
    /// The controller has a complete view (leader) or this replica stands by (follower).
    pub ready: Arc<AtomicBool>,
    /// The namespaces jobs may be submitted to; any when empty.
    pub namespaces: Vec<String>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of every log line.
        f.debug_struct("ApiState").field("namespaces", &self.namespaces).finish_non_exhaustive()
    }
}

/// An API error: a status code and a message for the caller.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(namespace: &str, name: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("job {namespace}/{name} not found"))
    }
}

impl From<kube::Error> for ApiError {
    fn from(error: kube::Error) -> ApiError {
        match error {
            kube::Error::Api(status) => {
                let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::BAD_GATEWAY);
                ApiError::new(code, format!("kubernetes: {}", status.message))
            }
            other => ApiError::new(StatusCode::BAD_GATEWAY, format!("kubernetes: {other}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"error": self.message}))).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// The API's router.
pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/api/v1/jobs", post(submit).get(list))
        .route("/api/v1/jobs/{namespace}/{name}", get(get_job).delete(delete_job).patch(update))
        .route("/api/v1/jobs/{namespace}/{name}/cancel", post(cancel))
        .route("/api/v1/domains/{domain}/spark/jobs/migrate-to-legacy", post(migrate_to_legacy))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .merge(protected)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .with_state(state)
}

async fn authenticate(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let valid = presented.is_some_and(|p| token.accepts(p.as_bytes()));
    if !valid {
        let mut response =
            ApiError::new(StatusCode::UNAUTHORIZED, "missing or invalid bearer token")
                .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return response;
    }
    next.run(request).await
}

async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

async fn readyz(State(state): State<ApiState>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, axum::Json(json!({"status": "ready"}))).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the cluster view is not complete yet")
            .into_response()
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.encode(),
    )
        .into_response()
}

/// A job as the API shows it.
fn view(job: &SparkJob) -> Value {
    json!({
        "namespace": job.namespace().unwrap_or_default(),
        "name": job.name_any(),
        "spec": job.spec,
        "status": job.status.clone().unwrap_or_default(),
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// `POST /api/v1/jobs`: the SparkJob spec plus its name and namespace.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubmitRequest {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(flatten)]
    spec: SparkJobSpec,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

async fn submit(State(state): State<ApiState>, body: Bytes) -> ApiResult {
    let request: SubmitRequest = parse_json(&body)?;
    let namespace = request
        .namespace
        .clone()
        .or_else(|| state.namespaces.first().cloned())
        .unwrap_or_else(|| "default".to_owned());
    if !valid_name(&request.name) {
        return Err(ApiError::bad_request(format!(
            "name `{}` is not a valid Kubernetes name (lower-case letters, digits, '-' and '.')",
            request.name
        )));
    }
    if !state.namespaces.is_empty() && !state.namespaces.contains(&namespace) {
        return Err(ApiError::bad_request(format!(
            "namespace `{namespace}` is not managed by sparkq"
        )));
    }
    request
        .spec
        .to_job_spec(JobId(0), &namespace, &request.name)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let job = SparkJob::new(&request.name, request.spec);
    let api: Api<SparkJob> = Api::namespaced(state.client.clone(), &namespace);
    let created = match api.create(&PostParams::default(), &job).await {
        Ok(created) => created,
        Err(kube::Error::Api(status)) if status.code == 409 => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("job {namespace}/{} already exists", request.name),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    tracing::info!(job = %request.name, %namespace, "submitted through the API");
    Ok((StatusCode::CREATED, axum::Json(view(&created))).into_response())
}

fn job_apis(state: &ApiState) -> Vec<Api<SparkJob>> {
    if state.namespaces.is_empty() {
        vec![Api::all(state.client.clone())]
    } else {
        state.namespaces.iter().map(|ns| Api::namespaced(state.client.clone(), ns)).collect()
    }
}

async fn all_jobs(state: &ApiState, namespace: Option<&str>) -> Result<Vec<SparkJob>, ApiError> {
    let apis = match namespace {
        Some(ns) => vec![Api::namespaced(state.client.clone(), ns)],
        None => job_apis(state),
    };
    let mut jobs = Vec::new();
    for api in apis {
        jobs.extend(api.list(&ListParams::default()).await?.items);
    }
    Ok(jobs)
}

async fn list(
    State(state): State<ApiState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult {
    let jobs = all_jobs(&state, query.get("namespace").map(String::as_str)).await?;
    let wanted = |job: &SparkJob| {
        let status = job.status.clone().unwrap_or_default();
        query.get("phase").is_none_or(|p| status.phase.as_deref() == Some(p.as_str()))
            && query.get("domain").is_none_or(|d| job.spec.domain() == d)
            && query
                .get("priority")
                .is_none_or(|p| job.spec.priority.as_deref().unwrap_or("normal") == p)
    };
    let views: Vec<Value> = jobs.iter().filter(|j| wanted(j)).map(view).collect();
    Ok(axum::Json(json!({"jobs": views})).into_response())
}

async fn get_job(
    State(state): State<ApiState>,
    Path((namespace, name)): Path<(String, String)>,
) -> ApiResult {
    let api: Api<SparkJob> = Api::namespaced(state.client.clone(), &namespace);
    match api.get_opt(&name).await? {
        Some(job) => Ok(axum::Json(view(&job)).into_response()),
        None => Err(ApiError::not_found(&namespace, &name)),
    }
}

/// `DELETE`: deletes the job's SparkJob, and with it what it launched, whatever its phase.
async fn delete_job(
    State(state): State<ApiState>,
    Path((namespace, name)): Path<(String, String)>,
) -> ApiResult {
    let api: Api<SparkJob> = Api::namespaced(state.client.clone(), &namespace);
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {
            tracing::info!(job = %name, %namespace, "deleted through the API");
            Ok(axum::Json(json!({"namespace": namespace, "name": name, "deleted": true}))
                .into_response())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {
            Err(ApiError::not_found(&namespace, &name))
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST .../cancel`: cancels a job that has not been admitted. The controller takes it out of
/// its queue and records it `cancelled`; the SparkJob stays. A job admitted, running or ended
/// already gets 409: only deleting it (`DELETE`) stops it.
async fn cancel(
    State(state): State<ApiState>,
    Path((namespace, name)): Path<(String, String)>,
) -> ApiResult {
    let api: Api<SparkJob> = Api::namespaced(state.client.clone(), &namespace);
    let Some(job) = api.get_opt(&name).await? else {
        return Err(ApiError::not_found(&namespace, &name));
    };
    let phase = job.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    if !matches!(phase.as_str(), "" | "queued") {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "job {namespace}/{name} is {phase}: only a job that waits can be cancelled; \
                 delete it to stop it"
            ),
        ));
    }
    let patch = Patch::Merge(json!({"spec": {"cancel": true}}));
    let job = api.patch(&name, &PatchParams::default(), &patch).await?;
    tracing::info!(job = %name, %namespace, "cancel requested through the API");
    Ok((StatusCode::ACCEPTED, axum::Json(view(&job))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    flow: Option<String>,
}

/// `PATCH`: `{"priority": "high"}` and/or `{"flow": "legacy"}`.
async fn update(
    State(state): State<ApiState>,
    Path((namespace, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let request: UpdateRequest = parse_json(&body)?;
    if request.priority.is_none() && request.flow.is_none() {
        return Err(ApiError::bad_request("nothing to change: give `priority` and/or `flow`"));
    }
    if let Some(priority) = &request.priority {
        parse_priority(priority).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    if let Some(flow) = &request.flow {
        parse_flow(flow).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let api: Api<SparkJob> = Api::namespaced(state.client.clone(), &namespace);
    let Some(job) = api.get_opt(&name).await? else {
        return Err(ApiError::not_found(&namespace, &name));
    };
    let phase = job.status.as_ref().and_then(|s| s.phase.as_deref());
    if Phase::ALL.iter().any(|p| p.is_final() && Some(p.as_str()) == phase) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("job {namespace}/{name} has already ended"),
        ));
    }
    let mut spec = json!({});
    if let Some(priority) = request.priority {
        spec["priority"] = json!(priority);
    }
    if let Some(flow) = request.flow {
        spec["flow"] = json!(flow);
    }
    let updated =
        api.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"spec": spec}))).await?;
    tracing::info!(job = %name, %namespace, "updated through the API");
    Ok(axum::Json(view(&updated)).into_response())
}

/// Moves every job of the domain that has not been launched yet to the legacy flow; the
/// controller launches each at once.
async fn migrate_to_legacy(State(state): State<ApiState>, Path(domain): Path<String>) -> ApiResult {
    let jobs = all_jobs(&state, None).await?;
    let mut migrated = Vec::new();
    for job in jobs {
        let phase = job.status.as_ref().and_then(|s| s.phase.as_deref());
        let waiting = matches!(phase, None | Some("queued"));
        let orchestrated = job.spec.flow.as_deref().unwrap_or("orchestrated") != "legacy";
        if job.spec.domain() != domain || !waiting || !orchestrated {
            continue;
        }
        let namespace = job.namespace().unwrap_or_default();
        let api: Api<SparkJob> = Api::namespaced(state.client.clone(), &namespace);
        let patch = Patch::Merge(json!({"spec": {"flow": "legacy"}}));
        match api.patch(&job.name_any(), &PatchParams::default(), &patch).await {
            Ok(_) => migrated.push(json!({"namespace": namespace, "name": job.name_any()})),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
    }
    tracing::info!(%domain, jobs = migrated.len(), "domain migrated to the legacy flow");
    Ok(axum::Json(json!({"domain": domain, "migrated": migrated})).into_response())
}
