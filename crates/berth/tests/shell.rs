//! The commands that need no store: `berth version` (with the commit), `berth completion`
//! for each shell, and `berth man` writing a page per command.

mod util;

use util::{TestEnv, code, stdout};

#[test]
fn version_names_the_commit() {
    let env = TestEnv::new();
    let out = env.berth(&["version"]);
    let line = stdout(&out);
    assert_eq!(code(&out), 0);
    assert!(line.starts_with(&format!("berth {} (commit ", env!("CARGO_PKG_VERSION"))), "{line}");
    let commit = line.trim_end().trim_end_matches(')').rsplit(' ').next().unwrap_or_default().to_string();
    assert!(commit == "unknown" || commit.trim_end_matches("-dirty").len() == 12, "{commit}");
    assert!(stdout(&env.berth(&["--version"])).contains(&commit), "--version says the same");
}

#[test]
fn completions_cover_every_shell_and_the_commands() {
    let env = TestEnv::new();
    for (shell, marker) in [("bash", "_berth()"), ("zsh", "#compdef berth"), ("fish", "complete -c berth")] {
        let out = env.berth(&["completion", shell]);
        let script = stdout(&out);
        assert_eq!(code(&out), 0, "{shell}");
        assert!(script.contains(marker), "{shell}: {}", &script[..script.len().min(300)]);
        assert!(script.contains("schedule") && script.contains("event-key"), "{shell} knows the commands and flags");
    }
    let bad = env.berth(&["completion", "tcsh"]);
    assert_eq!(code(&bad), 2, "an unknown shell is a usage error");
}

#[test]
fn man_writes_a_page_for_berth_and_each_command() {
    let env = TestEnv::new();
    let dir = env.data_dir().join("man1");
    let out = env.berth(&["man", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{out:?}");
    for page in ["berth.1", "berth-run.1", "berth-schedule-add.1", "berth-server.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is a man page");
    }
    let run = std::fs::read_to_string(dir.join("berth-run.1")).unwrap();
    assert!(run.contains("event\\-key"), "flags are in it");
}
