//! The egress guard of `berth-isolated`: host firewall rules so that a job on it reaches
//! neither the Docker host itself (any of its addresses: berth's API, a database on
//! `0.0.0.0` or `::`, the engine's TCP port) nor link-local and cloud metadata addresses
//! (169.254.0.0/16, 100.100.100.200), while the internet and other hosts stay reachable.
//! They are iptables (and ip6tables) rules on the network's bridge interface, applied when
//! that interface is on this host (a local engine) and berth may change the firewall (root);
//! otherwise berth says the guard is missing. `networks` checks them again every minute, so
//! a firewall reload that drops them is repaired.
//!
//! - `INPUT -i IFACE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`, then below it
//!   `INPUT -i IFACE -j DROP` (both for IPv4 and IPv6): replies to what the host opened still
//!   come back; the DROP goes in only after its ACCEPT is in;
//! - `DOCKER-USER -i IFACE -d <metadata> -j DROP`: forwarded traffic to metadata addresses.

use tokio::process::Command;

/// Metadata and link-local ranges no job may reach through the host.
const METADATA: [&str; 2] = ["169.254.0.0/16", "100.100.100.200/32"];

struct Rule {
    tool: &'static str,
    chain: &'static str,
    args: Vec<String>,
}

fn input_rules(tool: &'static str, iface: &str) -> [Rule; 2] {
    let owned = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    [
        Rule {
            tool,
            chain: "INPUT",
            args: owned(&["-i", iface, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]),
        },
        Rule { tool, chain: "INPUT", args: owned(&["-i", iface, "-j", "DROP"]) },
    ]
}

fn metadata_rules(iface: &str) -> Vec<Rule> {
    METADATA
        .iter()
        .map(|net| Rule {
            tool: "iptables",
            chain: "DOCKER-USER",
            args: ["-i", iface, "-d", net, "-j", "DROP"].iter().map(|p| p.to_string()).collect(),
        })
        .collect()
}

/// The bridge interface Docker gives a bridge network made without a name option.
pub(crate) fn bridge_interface(network_id: &str) -> String {
    format!("br-{}", &network_id[..network_id.len().min(12)])
}

/// Makes sure the guard's rules are in place for `network_id`'s bridge; each error says
/// which part could not be put in place (the caller warns).
pub(crate) async fn guard(network_id: &str) -> Vec<String> {
    let iface = bridge_interface(network_id);
    if !std::path::Path::new("/sys/class/net").join(&iface).exists() {
        return vec![format!("the bridge {iface} is not on this host (a remote engine): firewall it there")];
    }
    forget_gone_bridges().await;
    let mut errors = Vec::new();
    if let Err(e) = ensure_input(&input_rules("iptables", &iface)).await {
        errors.push(format!("the host: {e}"));
    }
    // No IPv6 on the host, or no ip6tables: nothing to reach over IPv6 either way.
    if has_ipv6(&iface)
        && let Err(e) = ensure_input(&input_rules("ip6tables", &iface)).await
    {
        errors.push(format!("the host over IPv6: {e}"));
    }
    for rule in metadata_rules(&iface) {
        match run(&rule, &["-C"]).await {
            Ok(true) => {}
            Ok(false) => {
                if !run(&rule, &["-I", rule.chain, "1"]).await.unwrap_or(false) {
                    errors.push(format!(
                        "metadata: iptables -I DOCKER-USER {} failed (is Docker's DOCKER-USER chain there?)",
                        rule.args.join(" ")
                    ));
                }
            }
            Err(e) => errors.push(format!("metadata: {e}")),
        }
    }
    errors
}

/// The ACCEPT above the DROP, or neither: a DROP alone would cut replies to the host's own
/// connections (published ports), so it goes in only after its ACCEPT.
async fn ensure_input(rules: &[Rule; 2]) -> Result<(), String> {
    let [accept, drop] = rules;
    if run(accept, &["-C"]).await? && run(drop, &["-C"]).await? {
        return Ok(());
    }
    for rule in rules {
        while run(rule, &["-D"]).await? {}
    }
    if !run(accept, &["-I", "INPUT", "1"]).await? {
        return Err(format!("{} -I INPUT {} failed (conntrack missing?)", accept.tool, accept.args.join(" ")));
    }
    if !run(drop, &["-I", "INPUT", "2"]).await? {
        return Err(format!("{} -I INPUT {} failed", drop.tool, drop.args.join(" ")));
    }
    Ok(())
}

fn has_ipv6(iface: &str) -> bool {
    let disabled = std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{iface}/disable_ipv6"));
    disabled.is_ok_and(|v| v.trim() == "0")
}

/// Drops the guard's rules of bridges that no longer exist (a network removed and made
/// again gets a new bridge): only rules of exactly the guard's shapes are touched.
async fn forget_gone_bridges() {
    for (tool, chain) in [("iptables", "INPUT"), ("ip6tables", "INPUT"), ("iptables", "DOCKER-USER")] {
        let Ok(out) = Command::new(tool).args(["-w", "-S", chain]).output().await else { continue };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(iface) = words.windows(2).find(|w| w[0] == "-i").map(|w| w[1]) else { continue };
            let mut shapes: Vec<Rule> = input_rules(tool, iface).into_iter().collect();
            shapes.extend(metadata_rules(iface));
            let ours = iface.starts_with("br-")
                && shapes.iter().any(|r| r.tool == tool && r.chain == chain && same_rule(&words[2..], &r.args));
            if ours && !std::path::Path::new("/sys/class/net").join(iface).exists() {
                let rule = Rule { tool, chain, args: words[2..].iter().map(|w| w.to_string()).collect() };
                let _ = run(&rule, &["-D"]).await;
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

/// Runs `<tool> -w <op> <chain if op is -C/-D> <rule>`: Ok(true) when it exited 0, Ok(false)
/// when it said no (a check that did not match), Err when the tool cannot run at all.
async fn run(rule: &Rule, op: &[&str]) -> Result<bool, String> {
    let mut c = Command::new(rule.tool);
    c.arg("-w").args(op);
    if matches!(op, ["-C"] | ["-D"]) {
        c.arg(rule.chain);
    }
    let out = c.args(&rule.args).output().await.map_err(|e| format!("{} cannot run here ({e})", rule.tool))?;
    let said = String::from_utf8_lossy(&out.stderr);
    if said.contains("Permission denied") || said.contains("you must be root") {
        return Err("changing the firewall needs root".into());
    }
    Ok(out.status.success())
}
