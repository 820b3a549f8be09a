//! Policy files and `berth policy show`: the policy of `berth server` and `berth worker`
//! (`--policy`, `node.policy`, else the deny-by-default server policy), and tenant overrides
//! read for `berth tenant set --policy`.

use std::path::Path;

use anyhow::Context;
use berth_core::policy::{Policy, parse_patch, parse_policy};
use berth_core::store::StoreError;

use crate::cli::PolicyCommand;
use crate::config::Config;
use crate::wiring;

/// What a server or worker enforces: `flag` (`--policy`), else `node.policy`, each laid
/// over `Policy::server()`; neither: `Policy::server()` itself.
pub fn node_policy(config: &Config, flag: Option<&Path>) -> anyhow::Result<Policy> {
    match flag.or(config.node.policy.as_deref()) {
        None => Ok(Policy::server()),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading the policy {}", path.display()))?;
            let mut policy = parse_policy(&text, yaml(path), &Policy::server())
                .map_err(|e| anyhow::anyhow!("the policy {} is invalid: {e}", path.display()))?;
            policy.source = format!("the server policy ({})", path.display());
            Ok(policy)
        }
    }
}

/// A tenant override from `path`, checked by laying it over the server policy.
pub fn read_patch(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the policy {}", path.display()))?;
    let invalid = |e: String| anyhow::anyhow!("the policy {} is invalid: {e}", path.display());
    let patch = parse_patch(&text, yaml(path)).map_err(invalid)?;
    Policy::server().patched(&patch, "").map_err(invalid)?;
    Ok(patch)
}

fn yaml(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

pub async fn show(config: &Config, command: &PolicyCommand) -> anyhow::Result<i32> {
    let PolicyCommand::Show { tenant, local, policy, json } = command;
    let base = if *local { config.policy.clone() } else { node_policy(config, policy.as_deref())? };
    let mut note = None;
    let effective = match tenant {
        None => base,
        Some(name) => {
            let store = wiring::open(config).await?.store;
            let t = match store.get_tenant(name).await {
                Err(StoreError::NotFound(_)) => anyhow::bail!("no tenant `{name}` (tokens create tenants)"),
                other => other?,
            };
            note = Some(match t.max_running {
                Some(n) => format!("concurrent jobs: at most {n} (berth tenant set {name} --max-running)"),
                None => format!("concurrent jobs: unlimited (berth tenant set {name} --max-running N)"),
            });
            match t.policy {
                Some(patch) => base
                    .patched(&patch, &format!("tenant {name}'s policy"))
                    .map_err(|e| anyhow::anyhow!("tenant {name}'s policy no longer reads: {e}"))?,
                None => base,
            }
        }
    };
    if *json {
        println!("{}", serde_json::to_string_pretty(&effective)?);
        return Ok(0);
    }
    println!("# {}", effective.source);
    if let Some(n) = note {
        println!("# {n}");
    }
    print!("{}", toml::to_string(&effective).context("showing the policy")?);
    Ok(0)
}
