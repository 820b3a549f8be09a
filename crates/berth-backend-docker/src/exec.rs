//! `docker exec` for a running job: create the exec, attach, collect output up to a cap,
//! then read the exit code from the exec's inspect.

use berth_core::backend::{BackendError, ExecCommand, ExecOutput, OutputStream};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use futures::StreamExt;

use crate::errors::engine_error;

pub(crate) async fn run(
    docker: &Docker,
    container: &str,
    cmd: &ExecCommand,
    cap: usize,
) -> Result<ExecOutput, BackendError> {
    let id = crate::session::create_exec(docker, container, cmd, false, false).await?;
    let start = StartExecOptions { detach: false, tty: false, output_capacity: None };
    let mut out = ExecOutput::default();
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&id, Some(start)).await.map_err(engine_error)?
    {
        while let Some(item) = output.next().await {
            match item.map_err(engine_error)? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    out.push(OutputStream::Stdout, &message, cap)
                }
                LogOutput::StdErr { message } => out.push(OutputStream::Stderr, &message, cap),
                LogOutput::StdIn { .. } => {}
            }
        }
    }
    let inspect = docker.inspect_exec(&id).await.map_err(engine_error)?;
    out.exit_code = inspect.exit_code.unwrap_or(-1);
    Ok(out)
}
