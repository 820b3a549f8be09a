//! Live sessions with a running container: joining its console (`berth attach`, `-i` and
//! `-it` through a server), commands with live input or a TTY (`berth exec -i`, `-it`,
//! `-d`; a plain `berth exec` is one with no input, collected), and the terminal input they share: stdin bytes written through, size changes
//! sent as resizes of the container's or the exec's TTY.

use std::pin::Pin;

use berth_core::backend::{
    BackendError, ExecCommand, ExecOutput, ExitInfo, LiveIo, OutputChunk, OutputStream, OutputStreamOf, Started,
    TerminalInput, TerminalStream, TtySize, UnitHandle,
};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::{AttachContainerOptionsBuilder, ResizeContainerTTYOptions};
use futures::{FutureExt, Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::errors::{engine_error, start_error};

/// The engine's own detach sequence for attaches and execs with stdin. berth's clients
/// catch their detach keys themselves (and never send them), so the engine must never
/// detach on its own: its default, ctrl-p,ctrl-q, would end the attach that records a
/// `-it` job's output, and keys meant for the job would vanish. Eight NULs (ctrl-@) are
/// nothing anyone types.
pub(crate) const ENGINE_DETACH_KEYS: &str = "ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@";

/// Whose TTY a resize is for.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Container(String),
    Exec(String),
}

/// The engine's output items as berth's chunks (a TTY's `Console` output is stdout).
pub(crate) fn chunks(
    output: Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>,
) -> OutputStreamOf {
    output
        .filter_map(|item| async move {
            match item {
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                    Some(Ok(OutputChunk { stream: OutputStream::Stdout, data: message }))
                }
                Ok(LogOutput::StdErr { message }) => {
                    Some(Ok(OutputChunk { stream: OutputStream::Stderr, data: message }))
                }
                Ok(LogOutput::StdIn { .. }) => None,
                Err(e) => Some(Err(engine_error(e))),
            }
        })
        .boxed()
}

/// Writes `input`'s bytes to `writer` and applies its resizes to `target`. At the end of
/// input a stdin that is not a TTY is half-closed (the program reads EOF); a TTY's is kept
/// open (the engine would end the attach, and a shell reads Ctrl-D as a byte anyway) until
/// the task is dropped.
pub(crate) async fn feed(
    docker: Docker,
    target: Target,
    mut writer: Pin<Box<dyn AsyncWrite + Send>>,
    mut input: TerminalStream,
    keep_open: bool,
) {
    while let Some(item) = input.next().await {
        match item {
            TerminalInput::Data(bytes) => {
                if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                    return;
                }
            }
            TerminalInput::Resize(size) => {
                // A resize that fails (the TTY is gone, or not started yet) changes nothing.
                let _ = resize(&docker, &target, size).await;
            }
        }
    }
    if keep_open {
        std::future::pending::<()>().await;
    }
    let _ = writer.shutdown().await;
}

async fn resize(docker: &Docker, target: &Target, size: TtySize) -> Result<(), BackendError> {
    let (h, w) = (size.rows.max(1), size.cols.max(1));
    match target {
        Target::Container(id) => {
            let options = ResizeContainerTTYOptions { h: i32::from(h), w: i32::from(w) };
            docker.resize_container_tty(id, options).await
        }
        Target::Exec(id) => docker.resize_exec(id, ResizeExecOptions { height: h, width: w }).await,
    }
    .map_err(engine_error)
}

/// Joins a running container's console: its output (with `replay`, the engine's log of it
/// first), and with `input` its stdin and TTY size.
pub(crate) async fn join(
    docker: &Docker,
    unit: &UnitHandle,
    io: LiveIo,
    replay: bool,
) -> Result<OutputStreamOf, BackendError> {
    let found = docker.inspect_container(&unit.id, None).await.map_err(engine_error)?;
    let config = found.config.unwrap_or_default();
    let running = found.state.and_then(|s| s.running).unwrap_or(false);
    if !running {
        return Err(BackendError::Gone(format!("{} is not running", unit.name)));
    }
    let with_stdin = io.stdin && io.input.is_some() && config.open_stdin.unwrap_or(false);
    let options = AttachContainerOptionsBuilder::new()
        .stdin(with_stdin)
        .stdout(true)
        .stderr(true)
        .stream(true)
        .logs(replay)
        .detach_keys(ENGINE_DETACH_KEYS)
        .build();
    let attach = docker.attach_container(&unit.id, Some(options)).await.map_err(start_error)?;
    let writer: Pin<Box<dyn AsyncWrite + Send>> = if with_stdin { attach.input } else { Box::pin(tokio::io::sink()) };
    let target = Target::Container(unit.id.clone());
    let feeder = io.input.map(|input| tokio::spawn(feed(docker.clone(), target, writer, input, false)));
    // The feeder goes with the output: a reader that stops reading stops writing too.
    let guard = AbortOnDrop(feeder);
    Ok(chunks(attach.output)
        .map(move |chunk| {
            let _ = &guard;
            chunk
        })
        .boxed())
}

/// Runs `cmd` in a running container, on a TTY with `io.tty`, with `io`'s input on its
/// stdin with `io.stdin`; the exit is the command's code.
pub(crate) async fn exec_live(
    docker: &Docker,
    container: &str,
    cmd: &ExecCommand,
    io: LiveIo,
) -> Result<Started, BackendError> {
    let stdin = io.stdin && io.input.is_some();
    let id = create_exec(docker, container, cmd, io.tty, stdin).await?;
    let start = StartExecOptions { detach: false, tty: io.tty, output_capacity: None };
    let StartExecResults::Attached { output, input: writer } =
        docker.start_exec(&id, Some(start)).await.map_err(engine_error)?
    else {
        return Err(BackendError::Engine("the engine started the exec detached".into()));
    };
    let writer: Pin<Box<dyn AsyncWrite + Send>> = if stdin { writer } else { Box::pin(tokio::io::sink()) };
    let target = Target::Exec(id.clone());
    let feeder = io.input.map(|input| tokio::spawn(feed(docker.clone(), target, writer, input, false)));
    let guard = AbortOnDrop(feeder);
    let docker = docker.clone();
    let exit = async move {
        let _guard = guard;
        exec_exit(&docker, &id).await
    };
    Ok(Started { output: chunks(output), exit: exit.boxed() })
}

/// `cmd` run to its end with no input (`berth exec`): its output, at most `cap` bytes a
/// stream, and its exit code.
pub(crate) async fn exec_collected(
    docker: &Docker,
    container: &str,
    cmd: &ExecCommand,
    cap: usize,
) -> Result<ExecOutput, BackendError> {
    let io = LiveIo { input: None, stdin: false, tty: false };
    let Started { mut output, exit } = exec_live(docker, container, cmd, io).await?;
    let mut out = ExecOutput::default();
    while let Some(chunk) = output.next().await {
        let chunk = chunk?;
        out.push(chunk.stream, &chunk.data, cap);
    }
    out.exit_code = exit.await?.code;
    Ok(out)
}

/// Starts `cmd` in a running container and returns once the engine has started it.
pub(crate) async fn exec_detached(docker: &Docker, container: &str, cmd: &ExecCommand) -> Result<(), BackendError> {
    let id = create_exec(docker, container, cmd, false, false).await?;
    let start = StartExecOptions { detach: true, tty: false, output_capacity: None };
    docker.start_exec(&id, Some(start)).await.map_err(engine_error)?;
    Ok(())
}

async fn create_exec(
    docker: &Docker,
    container: &str,
    cmd: &ExecCommand,
    tty: bool,
    stdin: bool,
) -> Result<String, BackendError> {
    let env: Vec<String> = cmd.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let options = CreateExecOptions {
        attach_stdin: Some(stdin),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(tty),
        detach_keys: Some(ENGINE_DETACH_KEYS.to_string()),
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
    Ok(created.id)
}

/// The exec's exit code, once the engine has one (its output may close a moment before).
async fn exec_exit(docker: &Docker, id: &str) -> Result<ExitInfo, BackendError> {
    for _ in 0..50 {
        let inspect = docker.inspect_exec(id).await.map_err(engine_error)?;
        if inspect.running != Some(true)
            && let Some(code) = inspect.exit_code
        {
            return Ok(ExitInfo { code, ..ExitInfo::default() });
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(BackendError::Engine(format!("exec {id} gave no exit code")))
}

/// Aborts a background task when dropped.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}
