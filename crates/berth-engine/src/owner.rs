//! Who owns a running job on this host: a token naming the host, the process id and the
//! process's start time (so a reused pid is not mistaken for the owner). The sweep uses it
//! to tell a live `berth run` from one that was killed.

use std::fs;

/// Whether an owner token's process is still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Dead,
    /// Another host's process (or a token berth does not understand): leave it alone.
    Unknown,
}

/// This process's token: `host:pid:starttime`.
pub fn current() -> String {
    let pid = std::process::id();
    format!("{}:{pid}:{}", hostname(), start_time(pid).unwrap_or(0))
}

pub fn liveness(token: &str) -> Liveness {
    let mut parts = token.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return Liveness::Unknown;
    };
    let (Ok(start), Ok(pid)) = (start.parse::<u64>(), pid.parse::<u32>()) else {
        return Liveness::Unknown;
    };
    if host != hostname() {
        return Liveness::Unknown;
    }
    match start_time(pid) {
        Some(t) if t == start => Liveness::Alive,
        _ => Liveness::Dead,
    }
}

pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into())
}

/// Field 22 of /proc/PID/stat (start time in clock ticks since boot). The command name in
/// field 2 may hold spaces and parentheses, so fields are counted after the last `)`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // A zombie has exited: its owner is gone even though the pid still answers.
    let mut fields = after.split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_others_are_not() {
        let me = current();
        assert_eq!(liveness(&me), Liveness::Alive);
        let (host, _) = me.split_once(':').unwrap();
        // pid 0 is never a user process.
        assert_eq!(liveness(&format!("{host}:0:1")), Liveness::Dead);
        let start = me.rsplit(':').next().unwrap().parse::<u64>().unwrap();
        let reused = format!("{host}:{}:{}", std::process::id(), start + 1);
        assert_eq!(liveness(&reused), Liveness::Dead);
        assert_eq!(liveness("elsewhere:1:1"), Liveness::Unknown);
        assert_eq!(liveness("garbage"), Liveness::Unknown);
    }
}
