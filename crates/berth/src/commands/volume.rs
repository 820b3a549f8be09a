//! `berth volume ls|rm`: the named volumes berth made, from the local engine (every tenant's
//! with their tenant) or the server (the token's tenant's).

use berth_core::store::LOCAL_TENANT;
use berth_core::volumes::VolumeInfo;
use comfy_table::{Table, presets};
use reqwest::Method;

use crate::cli::VolumeCommand;
use crate::client::Client;
use crate::config::Config;
use crate::{ui, wiring};

pub async fn run(config: &Config, command: &VolumeCommand) -> anyhow::Result<i32> {
    match command {
        VolumeCommand::Ls { tenant, json } => {
            let found = list(config, tenant.as_deref()).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&found)?);
            } else {
                println!("{}", table(&found));
            }
        }
        VolumeCommand::Rm { names, tenant } => {
            for name in names {
                remove(config, tenant.as_deref(), name).await?;
                println!("{name}");
            }
        }
    }
    Ok(0)
}

async fn list(config: &Config, tenant: Option<&str>) -> anyhow::Result<Vec<VolumeInfo>> {
    if let Some(server) = &config.server {
        let client = Client::new(server, config.token.clone())?;
        let query: Vec<(&str, &str)> = tenant.map(|t| ("tenant", t)).into_iter().collect();
        return client.json_of(Method::GET, "/v1/volumes", &query).await;
    }
    let runner = wiring::open(config).await?.runner?;
    Ok(runner.backend().list_volumes(runner.install_id(), tenant).await?)
}

async fn remove(config: &Config, tenant: Option<&str>, name: &str) -> anyhow::Result<()> {
    if let Some(server) = &config.server {
        let client = Client::new(server, config.token.clone())?;
        let query: Vec<(&str, &str)> = tenant.map(|t| ("tenant", t)).into_iter().collect();
        let path = format!("/v1/volumes/{}", urlencoding(name));
        return client.call(Method::DELETE, &path, &query).await;
    }
    let runner = wiring::open(config).await?.runner?;
    runner.backend().remove_volume(runner.install_id(), tenant.unwrap_or(LOCAL_TENANT), name).await?;
    Ok(())
}

/// Volume names are `[A-Za-z0-9_.-]`: only a stray character needs escaping.
fn urlencoding(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_.-".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

fn table(found: &[VolumeInfo]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(["NAME", "TENANT", "ENGINE NAME", "CREATED"]);
    for v in found {
        t.add_row([&v.name, &v.tenant, &v.engine_name, v.created_at.as_deref().unwrap_or("")]);
    }
    if found.is_empty() {
        ui::note("no volumes: a job's `--volume NAME:/path` makes one");
    }
    t
}
