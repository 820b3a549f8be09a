//! The one route, `POST /`: awsJson1.1 requests dispatched on `X-Amz-Target` to the ECS,
//! CloudWatch Logs and Secrets Manager operations, errors answered as the SDK reads them (`__type` and
//! `message`), and the scripted outage and throttling applied first.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::{Fake, logs, secrets, taskdefs, tasks};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";
const LOGS: &str = "Logs_20140328";
const SECRETS: &str = "secretsmanager";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An error as AWS sends it.
#[derive(Debug)]
pub struct AwsError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl AwsError {
    /// 400 with `code`.
    pub fn client(code: &'static str, message: impl Into<String>) -> AwsError {
        AwsError { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }
}

pub type Answer = Result<Value, AwsError>;

pub fn router(fake: Fake) -> Router {
    Router::new().route("/", post(dispatch)).merge(crate::efs::routes()).with_state(fake)
}

async fn dispatch(State(f): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (service, op) = target.split_once('.').unwrap_or(("", ""));
    if let Err(e) = admit(&f, op) {
        return answer(Err(e));
    }
    f.state.lock().unwrap().bodies.push(format!("{target} {}", String::from_utf8_lossy(&body)));
    let input: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return answer(Err(AwsError::client("SerializationException", e.to_string()))),
    };
    let out = match (service, op) {
        (ECS, "RegisterTaskDefinition") => taskdefs::register(&f, &input),
        (ECS, "DescribeTaskDefinition") => taskdefs::describe(&f, &input),
        (ECS, "DeregisterTaskDefinition") => taskdefs::deregister(&f, &input),
        (ECS, "DescribeClusters") => tasks::describe_clusters(&f, &input),
        (ECS, "CreateCluster") => tasks::create_cluster(&f, &input),
        (ECS, "RunTask") => tasks::run(&f, &input),
        (ECS, "DescribeTasks") => tasks::describe(&f, &input),
        (ECS, "StopTask") => tasks::stop_task(&f, &input),
        (ECS, "ListTasks") => tasks::list(&f, &input),
        (ECS, "TagResource") => tasks::tag(&f, &input),
        (ECS, "ListTagsForResource") => tasks::list_tags(&f, &input),
        (LOGS, "GetLogEvents") => logs::get(&f, &input),
        (LOGS, "CreateLogGroup") => Ok(json!({})),
        (LOGS, "CreateLogStream") => logs::create_stream(&f, &input),
        (LOGS, "PutLogEvents") => logs::put(&f, &input),
        (SECRETS, "CreateSecret") => secrets::create(&f, &input),
        (SECRETS, "DeleteSecret") => secrets::delete(&f, &input),
        (SECRETS, "ListSecrets") => secrets::list(&f, &input),
        _ => Err(AwsError::client("UnknownOperationException", format!("unknown operation {target:?}"))),
    };
    answer(out)
}

/// Records the call; the scripted outage and throttling refuse it.
fn admit(f: &Fake, op: &str) -> Result<(), AwsError> {
    let mut state = f.state.lock().unwrap();
    state.requests.push(op.to_string());
    let faults = &mut state.faults;
    if faults.outage_until.is_some_and(|t| std::time::Instant::now() < t) {
        let message = "Service unavailable; please try again later".to_string();
        return Err(AwsError { status: StatusCode::INTERNAL_SERVER_ERROR, code: "ServerException", message });
    }
    if let Some((throttled, n)) = &mut faults.throttle
        && throttled == op
        && *n > 0
    {
        *n -= 1;
        return Err(AwsError::client("ThrottlingException", "Rate exceeded"));
    }
    Ok(())
}

fn answer(out: Answer) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let headers = [("content-type", CONTENT_TYPE.to_string()), ("x-amzn-requestid", request_id)];
    match out {
        Ok(body) => (StatusCode::OK, headers, body.to_string()).into_response(),
        Err(e) => {
            let body = json!({"__type": e.code, "message": e.message});
            (e.status, headers, body.to_string()).into_response()
        }
    }
}

/// A string field of a request, or `None`.
pub fn text<'a>(input: &'a Value, field: &str) -> Option<&'a str> {
    input[field].as_str()
}

/// `cluster` as given (name or ARN), as its name; `default` when absent.
pub fn cluster_name(input: &Value) -> String {
    let c = text(input, "cluster").unwrap_or("default");
    c.rsplit('/').next().unwrap_or(c).to_string()
}
