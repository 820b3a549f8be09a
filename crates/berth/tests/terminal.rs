//! Live sessions end to end, in a real terminal: `berth run -it`, `berth exec -it` and
//! `berth attach` run in tmux (send-keys to type, capture-pane to read the screen,
//! resize-window to change its size), locally and through `berth server`; `-i` and
//! `exec -i`/`-d` with piped input. Every test ends with no container left.

#![allow(clippy::unwrap_used)] // a failed call fails the test

mod util;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use util::server::Server;
use util::{IMAGE, TestEnv, code, stderr, stdout};

/// A detached tmux session on its own server socket, running one berth command.
struct Tmux {
    socket: String,
    exit_file: PathBuf,
}

impl Tmux {
    /// Runs `berth ARGS` (with `command`'s environment) in a `cols`x`rows` terminal.
    fn start(command: &Command, args: &[&str], cols: u16, rows: u16) -> Tmux {
        let dir = tempfile::tempdir().unwrap().keep();
        let exit_file = dir.join("exit");
        let mut script = String::from("#!/bin/sh\n");
        for (k, v) in command.get_envs() {
            let k = k.to_string_lossy();
            match v {
                Some(v) => script.push_str(&format!("export {k}='{}'\n", v.to_string_lossy())),
                None => script.push_str(&format!("unset {k}\n")),
            }
        }
        let argv: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        script.push_str(&format!("'{}' {}\n", command.get_program().to_string_lossy(), argv.join(" ")));
        script.push_str(&format!("echo $? > '{}'\nsleep 600\n", exit_file.display()));
        let path = dir.join("run.sh");
        std::fs::write(&path, script).unwrap();
        let socket = format!("berth-test-{}", uuid::Uuid::new_v4().simple());
        let t = Tmux { socket, exit_file };
        let size = (cols.to_string(), rows.to_string());
        t.tmux(&["-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", &size.0, "-y", &size.1, "sh"]);
        t.tmux(&["set-option", "-g", "status", "off"]);
        t.tmux(&["respawn-pane", "-k", "-t", "t", &format!("sh {}", path.display())]);
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().unwrap();
        assert!(out.status.success(), "tmux {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// Types `text` and presses Enter.
    fn line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
        self.tmux(&["send-keys", "-t", "t", "Enter"]);
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t", "-S", "-200"])
    }

    /// The screen once it shows `text` (60 s at most).
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(Instant::now() < deadline, "the terminal never showed {text:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pane's size as `stty size` prints it: "ROWS COLS".
    fn pane_size(&self) -> String {
        self.tmux(&["display-message", "-p", "-t", "t", "#{pane_height} #{pane_width}"]).trim().to_string()
    }

    fn resize(&self, cols: u16, rows: u16) {
        self.tmux(&["resize-window", "-t", "t", "-x", &cols.to_string(), "-y", &rows.to_string()]);
    }

    /// berth's exit code, once it has exited (60 s at most).
    fn exit_code(&self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.exit_file)
                && let Ok(code) = text.trim().parse()
            {
                return code;
            }
            assert!(Instant::now() < deadline, "berth never exited:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
    }
}

/// Asks the shell in the terminal for its size: the answer is the line that starts with
/// the marker (the typed command's line starts with the prompt).
fn stty_size(t: &Tmux, marker: &str) -> String {
    t.line(&format!("echo {marker}=$(stty size)="));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let screen = t.screen();
        let answer = screen.lines().find_map(|l| l.strip_prefix(&format!("{marker}="))?.strip_suffix('='));
        if let Some(size) = answer {
            return size.to_string();
        }
        assert!(Instant::now() < deadline, "no answer to {marker}:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Types `keys` into a `read` in the job's shell and returns the bytes it got, in hex.
fn typed_keys(t: &Tmux, keys: &[&str], marker: &str) -> String {
    t.line(&format!("stty -ixon; read -r x; echo {marker}=$(printf '%s' \"$x\" | od -An -tx1)="));
    std::thread::sleep(Duration::from_millis(300));
    t.keys(keys);
    t.keys(&["Enter"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let screen = t.screen();
        let answer = screen.lines().find_map(|l| l.strip_prefix(&format!("{marker}="))?.strip_suffix('='));
        if let Some(hex) = answer {
            return hex.trim().to_string();
        }
        assert!(Instant::now() < deadline, "no answer to {marker}:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn run_it_is_an_interactive_terminal_with_its_size_keys_and_exit_code() {
    let env = TestEnv::new();
    let t = Tmux::start(&env.command(&[]), &["run", "-it", IMAGE, "sh"], 100, 30);
    t.wait_for("/ #");
    assert_eq!(stty_size(&t, "first"), t.pane_size(), "the job's terminal is as big as ours");
    t.resize(72, 21);
    // The new size reaches the job a moment later: ask until it has (20 s at most).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut asked = 0;
    while stty_size(&t, &format!("resized{asked}")) != "21 72" {
        assert!(Instant::now() < deadline, "the resize never reached the job:\n{}", t.screen());
        asked += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    // ctrl-p,ctrl-q reach the job: without a server there is nothing to detach from, and
    // the engine must not detach its own attach (the one that records the output).
    assert_eq!(typed_keys(&t, &["C-p", "C-q"], "keys"), "10 11");
    // Ctrl-C is a key for the job's shell: it stops the foreground command, not the job.
    t.line("sleep 300");
    std::thread::sleep(Duration::from_millis(500));
    t.keys(&["C-c"]);
    t.line("echo still-$((40+2))");
    t.wait_for("still-42");
    t.line("exit 3");
    assert_eq!(t.exit_code(), 3, "{}", t.screen());
    let id = &env.job_ids()[0];
    let logs = stdout(&env.berth(&["logs", id]));
    assert!(logs.contains("still-42\r\n"), "a TTY job's output is stored, as one stream: {logs:?}");
    env.assert_no_containers();
}

#[test]
fn run_it_through_a_server_detaches_and_attach_comes_back() {
    let server = Server::start(&[]);
    let t = Tmux::start(&server.client(&[]), &["run", "-it", IMAGE, "sh"], 90, 25);
    t.wait_for("/ #");
    assert_eq!(stty_size(&t, "first"), t.pane_size(), "the job's terminal is as big as ours");
    t.line("echo one-$((2+3))");
    t.wait_for("one-5");
    t.keys(&["C-p", "C-q"]);
    assert_eq!(t.exit_code(), 0, "a detach leaves berth with 0");
    t.wait_for("detached from job");
    let id = server.first_running();

    let back = Tmux::start(&server.client(&[]), &["attach", "--detach-keys", "ctrl-a,x", &id], 80, 20);
    // An attach shows what comes next, as docker attach does: Enter asks for a prompt.
    back.line("");
    back.wait_for("/ #");
    assert_eq!(stty_size(&back, "attached"), back.pane_size(), "the size follows the new terminal");
    assert_eq!(typed_keys(&back, &["C-p", "C-q"], "keys"), "10 11", "other keys detach now");
    back.line("exit 4");
    assert_eq!(back.exit_code(), 4, "{}", back.screen());
    let job = server.wait_status(&id, "failed");
    assert_eq!(job["exit_code"], 4);
    server.env.assert_no_containers();
}

#[test]
fn exec_it_gives_a_shell_in_a_running_job_locally_and_through_a_server() {
    let server = Server::start(&[]);
    let out = server.berth(&["run", "-d", IMAGE, "sleep", "300"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    server.wait_status(&id, "running");
    // Through the server, then on the local engine (no BERTH_SERVER, the same data dir).
    for command in [server.client(&[]), server.env.command(&[])] {
        let t = Tmux::start(&command, &["exec", "-it", &id, "sh"], 100, 30);
        t.wait_for("/ #");
        assert_eq!(stty_size(&t, "exec"), t.pane_size());
        t.line("echo in-job-$((3*3))");
        t.wait_for("in-job-9");
        t.line("exit 2");
        assert_eq!(t.exit_code(), 2, "{}", t.screen());
    }
    let piped = server.client(&["exec", "-i", &id, "sh", "-c", "cat; echo err >&2"]).output_with(b"piped\n");
    assert_eq!((code(&piped), stdout(&piped), stderr(&piped)), (0, "piped\n".into(), "err\n".into()));
    // The output directory is the one place any job user may write.
    let detached = server.berth(&["exec", "-d", &id, "sh", "-c", "echo > \"$BERTH_OUTPUT_DIR/detached\""]);
    assert_eq!((code(&detached), stdout(&detached)), (0, String::new()), "{}", stderr(&detached));
    let check = "for i in $(seq 100); do [ -e \"$BERTH_OUTPUT_DIR/detached\" ] && exit 0; sleep 0.05; done; exit 1";
    assert_eq!(code(&server.berth(&["exec", &id, "sh", "-c", check])), 0, "the detached command ran");
    assert_eq!(code(&server.berth(&["cancel", &id])), 0);
    server.wait_status(&id, "cancelled");
    server.env.assert_no_containers();
}

#[test]
fn run_i_through_a_server_forwards_piped_stdin_and_it_needs_a_terminal() {
    let server = Server::start(&[]);
    let script = "read a; read b; echo \"got $a $b\"; cat";
    let out = server.client(&["run", "-i", IMAGE, "sh", "-c", script]).output_with(b"one\ntwo\nthree\n");
    assert_eq!((code(&out), stdout(&out)), (0, "got one two\nthree\n".into()), "{}", stderr(&out));
    // -it with stdin that is not a terminal is refused before anything is submitted...
    let out = server.client(&["run", "-it", IMAGE, "sh"]).output_with(b"");
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("the input device is not a TTY"), "{}", stderr(&out));
    assert_eq!(server.get("/v1/jobs")["jobs"].as_array().map(Vec::len), Some(1), "nothing else was submitted");
    // ...unless it is detached, as with Docker.
    let out = server.client(&["run", "-dit", IMAGE, "sh", "-c", "exit 0"]).output_with(b"");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    server.wait_status(stdout(&out).trim(), "succeeded");
    // -t alone: the job's output on its terminal, and its exit code, however short it is.
    let out = server.berth(&["run", "-t", IMAGE, "sh", "-c", "[ -t 1 ] && echo short; exit 3"]);
    assert_eq!((code(&out), stdout(&out).contains("short\r\n")), (3, true), "{}", stderr(&out));
    server.env.assert_no_containers();
}

/// Runs a command with `input` on its stdin.
trait WithStdin {
    fn output_with(&mut self, input: &[u8]) -> std::process::Output;
}

impl WithStdin for Command {
    fn output_with(&mut self, input: &[u8]) -> std::process::Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }
}
