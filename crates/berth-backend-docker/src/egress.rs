//! The egress guard of `berth-isolated`: host firewall rules so that a job on it reaches
//! neither the Docker host itself (any of its addresses: berth's API, a database on
//! `0.0.0.0`, the engine's TCP port) nor link-local addresses (cloud metadata at
//! 169.254.169.254), while the internet and other hosts stay reachable. They are iptables
//! rules on the network's bridge interface, applied when that interface is on this host
//! (a local engine) and berth may change the firewall (root); otherwise berth says the guard
//! is missing, once.
//!
//! - `INPUT -i IFACE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT` then
//!   `INPUT -i IFACE -j DROP`: replies to what the host opened still come back;
//! - `DOCKER-USER -i IFACE -d 169.254.0.0/16 -j DROP`: forwarded traffic to link-local.

use tokio::process::Command;

/// The rules, in the order they must end up in their chain (first listed = first checked).
fn rules(iface: &str) -> [(&'static str, Vec<String>); 3] {
    let owned = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    [
        ("INPUT", owned(&["-i", iface, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"])),
        ("INPUT", owned(&["-i", iface, "-j", "DROP"])),
        ("DOCKER-USER", owned(&["-i", iface, "-d", "169.254.0.0/16", "-j", "DROP"])),
    ]
}

/// The bridge interface Docker gives a bridge network made without a name option.
pub(crate) fn bridge_interface(network_id: &str) -> String {
    format!("br-{}", &network_id[..network_id.len().min(12)])
}

/// Makes sure the guard's rules are in place for `network_id`'s bridge; an error says why
/// they could not be (the caller warns).
pub(crate) async fn guard(network_id: &str) -> Result<(), String> {
    let iface = bridge_interface(network_id);
    if !std::path::Path::new("/sys/class/net").join(&iface).exists() {
        return Err(format!("the bridge {iface} is not on this host (a remote engine): firewall it there"));
    }
    forget_gone_bridges().await;
    let wanted = rules(&iface);
    let mut present = Vec::new();
    for (chain, rule) in &wanted {
        present.push(iptables(&["-C", chain], rule).await?);
    }
    if present.iter().all(|p| *p) {
        return Ok(());
    }
    // Some missing: put each chain's rules back in order (the ACCEPT above the DROP).
    for (chain, rule) in &wanted {
        while iptables(&["-D", chain], rule).await? {}
    }
    for (chain, rule) in wanted.iter().rev() {
        if !iptables(&["-I", chain, "1"], rule).await? {
            return Err(format!("iptables -I {chain} {} failed", rule.join(" ")));
        }
    }
    Ok(())
}

/// Drops the guard's rules of bridges that no longer exist (a network removed and made
/// again gets a new bridge): only rules of exactly the guard's shapes are touched.
async fn forget_gone_bridges() {
    for chain in ["INPUT", "DOCKER-USER"] {
        let Ok(out) = Command::new("iptables").args(["-w", "-S", chain]).output().await else { return };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(iface) = words.windows(2).find(|w| w[0] == "-i").map(|w| w[1]) else { continue };
            let ours =
                iface.starts_with("br-") && rules(iface).iter().any(|(c, r)| *c == chain && same_rule(&words[2..], r));
            if ours && !std::path::Path::new("/sys/class/net").join(iface).exists() {
                let _ = iptables(&["-D", chain], &words[2..].iter().map(|w| w.to_string()).collect::<Vec<_>>()).await;
            }
        }
    }
}

/// Whether a rule as `iptables -S` prints it is `rule` (which iptables may reorder).
fn same_rule(printed: &[&str], rule: &[String]) -> bool {
    let mut a: Vec<&str> = printed.iter().map(|w| normal(w)).collect();
    let mut b: Vec<&str> = rule.iter().map(|w| normal(w)).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// `-S` prints conntrack states in its own order.
fn normal(word: &str) -> &str {
    if word == "RELATED,ESTABLISHED" { "ESTABLISHED,RELATED" } else { word }
}

/// Runs `iptables -w <op> <rule>`: Ok(true) when it exited 0, Ok(false) when it said no
/// (a check that did not match), Err when iptables cannot run at all.
async fn iptables(op: &[&str], rule: &[String]) -> Result<bool, String> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(op)
        .args(rule)
        .output()
        .await
        .map_err(|e| format!("iptables cannot run here ({e})"))?;
    let said = String::from_utf8_lossy(&out.stderr);
    if said.contains("Permission denied") || said.contains("you must be root") {
        return Err("changing the firewall needs root".into());
    }
    Ok(out.status.success())
}
