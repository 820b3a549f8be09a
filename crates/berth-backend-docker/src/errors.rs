//! Mapping bollard's errors to `BackendError` by what the caller does next: a missing
//! object is "gone", an unreachable socket is "unavailable", the rest are engine errors.

use berth_core::backend::BackendError;
use bollard::errors::Error;

pub(crate) fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::DockerResponseServerError { status_code: 404, .. })
}

fn is_connection(e: &Error) -> bool {
    matches!(
        e,
        Error::IOError { .. }
            | Error::HyperResponseError { .. }
            | Error::RequestTimeoutError
            | Error::SocketNotFoundError(_)
    )
}

fn message(e: &Error) -> String {
    match e {
        Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn engine_error(e: Error) -> BackendError {
    if is_not_found(&e) {
        BackendError::Gone(message(&e))
    } else if is_connection(&e) {
        BackendError::Unavailable(message(&e))
    } else {
        BackendError::Engine(message(&e))
    }
}

pub(crate) fn create_error(e: Error, image: &str) -> BackendError {
    if is_not_found(&e) {
        return BackendError::ImageNotFound(image.to_string());
    }
    if is_connection(&e) {
        return BackendError::Unavailable(message(&e));
    }
    BackendError::Create(message(&e))
}

pub(crate) fn start_error(e: Error) -> BackendError {
    let text = message(&e);
    // Engines without the NVIDIA toolkit accept device requests at create and fail at start.
    if text.contains("could not select device driver") {
        return BackendError::GpuUnavailable(format!(
            "{text} (install the NVIDIA container toolkit on this node, or drop resources.gpus)"
        ));
    }
    if is_connection(&e) {
        return BackendError::Unavailable(text);
    }
    BackendError::Start(text)
}
