//! `docker exec` for a running job: create the exec, attach, collect output up to a cap,
//! then read the exit code from the exec's inspect.

use berth_core::backend::{BackendError, ExecCommand, ExecOutput, OutputStream};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures::StreamExt;

use crate::errors::engine_error;

pub(crate) async fn run(
    docker: &Docker,
    container: &str,
    cmd: &ExecCommand,
    cap: usize,
) -> Result<ExecOutput, BackendError> {
    let env: Vec<String> = cmd.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let options = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd.command.clone()),
        env: (!env.is_empty()).then_some(env),
        user: cmd.user.clone(),
        working_dir: cmd.workdir.clone(),
        ..CreateExecOptions::default()
    };
    let created = docker.create_exec(container, options).await.map_err(|e| match e {
        // The container exists but has stopped: it has nothing to exec in.
        bollard::errors::Error::DockerResponseServerError { status_code: 409, message } => BackendError::Gone(message),
        other => engine_error(other),
    })?;
    let start = StartExecOptions { detach: false, tty: false, output_capacity: None };
    let mut out = ExecOutput::default();
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&created.id, Some(start)).await.map_err(engine_error)?
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
    let inspect = docker.inspect_exec(&created.id).await.map_err(engine_error)?;
    out.exit_code = inspect.exit_code.unwrap_or(-1);
    Ok(out)
}
