//! What goes through the API server's streaming endpoints: stdin attached to the job's
//! container, `exec` in it, and the outputs read by `tar` in the `berth-output` helper.

use berth_core::backend::{BackendError, ExecOutput, OutputEntry, OutputPicker, OutputStream, StdinSource};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, AttachedProcess};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::translate::{MAIN, OUTPUT_HELPER};

/// Tries to attach this many times (a pause apart) before the attempt fails: a job made
/// with stdin waits for it, and would sit until its timeout.
const ATTACH_TRIES: u32 = 5;
const ATTACH_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// Attaches to the job's stdin.
pub(crate) async fn attach_stdin(pods: &Api<Pod>, pod: &str) -> Result<AttachedProcess, BackendError> {
    let params = AttachParams::default().container(MAIN).stdin(true).stdout(false).stderr(false);
    let mut tries = 0;
    loop {
        match pods.attach(pod, &params).await {
            Ok(a) => return Ok(a),
            Err(e) if tries + 1 >= ATTACH_TRIES => {
                return Err(BackendError::Start(format!("attaching to the job's stdin: {e}")));
            }
            Err(_) => tries += 1,
        }
        tokio::time::sleep(ATTACH_PAUSE).await;
    }
}

/// Writes `source` to the attached stdin and closes it (the container was made with
/// `stdinOnce`, so closing the attach closes its stdin).
pub(crate) async fn feed_stdin(mut attached: AttachedProcess, source: StdinSource) {
    if let Some(mut writer) = attached.stdin() {
        match source {
            StdinSource::None | StdinSource::Terminal { .. } => {}
            StdinSource::Bytes(b) => {
                let _ = writer.write_all(&b).await;
            }
            StdinSource::Stream(mut s) => {
                while let Some(Ok(chunk)) = s.next().await {
                    if writer.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = writer.shutdown().await;
    }
    let _ = attached.join().await;
}

/// Runs `cmd` in `container` of `pod`: its output (at most `cap` bytes a stream) and exit code.
pub(crate) async fn exec(
    pods: &Api<Pod>,
    pod: &str,
    container: &str,
    cmd: &[String],
    cap: usize,
) -> Result<ExecOutput, BackendError> {
    let params = AttachParams::default().container(container).stdin(false).stdout(true).stderr(true);
    let mut attached = pods.exec(pod, cmd.to_vec(), &params).await.map_err(exec_error)?;
    let status = attached.take_status();
    let (stdout, stderr) = (attached.stdout(), attached.stderr());
    let mut out = ExecOutput::default();
    let (a, b) = tokio::join!(read_capped(stdout, cap), read_capped(stderr, cap));
    for (stream, (data, cut)) in [(OutputStream::Stdout, a), (OutputStream::Stderr, b)] {
        out.push(stream, &data, cap);
        out.truncated |= cut;
    }
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    out.exit_code = status.as_ref().map_or(-1, exit_code);
    let _ = attached.join().await;
    Ok(out)
}

async fn read_capped(reader: Option<impl AsyncRead + Unpin>, cap: usize) -> (Vec<u8>, bool) {
    let Some(mut reader) = reader else { return (Vec::new(), false) };
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut cut = false;
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = cap.saturating_sub(data.len());
        cut |= n > room;
        data.extend_from_slice(&buf[..n.min(room)]);
    }
    (data, cut)
}

/// The exit code in an exec's `Status`: 0 on success, else the `ExitCode` cause.
fn exit_code(s: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Status) -> i64 {
    if s.status.as_deref() == Some("Success") {
        return 0;
    }
    let causes = s.details.as_ref().and_then(|d| d.causes.as_ref());
    causes
        .into_iter()
        .flatten()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref()?.parse().ok())
        .unwrap_or(-1)
}

fn exec_error(e: kube::Error) -> BackendError {
    match e {
        kube::Error::Api(s) if s.code == 404 || s.code == 400 => BackendError::Gone(s.message),
        other => BackendError::Engine(other.to_string()),
    }
}

/// The output directory, read by `tar` in the helper that outlives the job's container,
/// streamed through the picker (nothing it does not want is held).
pub(crate) async fn collect(
    pods: &Api<Pod>,
    pod: &str,
    picker: OutputPicker,
) -> Result<Vec<OutputEntry>, BackendError> {
    let cmd = ["tar", "-C", "/berth", "-cf", "-", "output"].map(String::from);
    let params = AttachParams::default().container(OUTPUT_HELPER).stdin(false).stdout(true).stderr(false);
    let mut attached = pods.exec(pod, cmd.to_vec(), &params).await.map_err(|e| BackendError::Files(e.to_string()))?;
    let stdout = attached.stdout().ok_or_else(|| BackendError::Files("the exec gave no stdout".into()))?;
    let reader = tokio_util::io::SyncIoBridge::new(stdout);
    let read = tokio::task::spawn_blocking(move || berth_core::output_tar::read(reader, picker)).await;
    let _ = attached.join().await;
    match read {
        Ok(Ok(entries)) => Ok(entries),
        Ok(Err(e)) => Err(BackendError::Files(format!("reading the outputs' tar: {e}"))),
        Err(e) => Err(BackendError::Files(e.to_string())),
    }
}
