//! `berth secret set|ls|rm`: a tenant's secrets, sealed with the node's key into the
//! configured store (or through a server, for the token's tenant). Values are read from stdin
//! or a file, never from the command line (where `ps` and shell history would see them).

use std::io::Read;

use anyhow::Context;
use berth_core::clock::{Clock, SystemClock};
use berth_core::store::{LOCAL_TENANT, SecretRecord};
use berth_core::validate::secret_name;
use berth_core::vault::MAX_SECRET_BYTES;
use comfy_table::{Table, presets};
use reqwest::Method;

use crate::cli::SecretCommand;
use crate::client::Client;
use crate::config::Config;
use crate::{ui, wiring};

pub async fn run(config: &Config, command: &SecretCommand) -> anyhow::Result<i32> {
    match command {
        SecretCommand::Set { name, tenant, file } => {
            secret_name(name).map_err(|e| anyhow::anyhow!("NAME: {e}"))?;
            let value = read_value(file.as_deref())?;
            match &config.server {
                Some(server) => {
                    let text = String::from_utf8(value).map_err(|_| {
                        anyhow::anyhow!("through a server a secret is UTF-8 text; set binary ones on the server host")
                    })?;
                    let client = Client::new(server, config.token.clone())?;
                    let body = serde_json::json!({ "value": text });
                    let _: SecretRecord = client.json_body(Method::PUT, &path(name), &query(tenant), &body).await?;
                }
                None => set_local(config, tenant.as_deref().unwrap_or(LOCAL_TENANT), name, &value).await?,
            }
            ui::note(&format!("secret {name} set: jobs name it with `secrets: [{{name: {name}}}]` or --secret {name}"));
        }
        SecretCommand::Ls { tenant, json } => {
            let found = match &config.server {
                Some(server) => {
                    let client = Client::new(server, config.token.clone())?;
                    client.json_of(Method::GET, "/v1/secrets", &query(tenant)).await?
                }
                None => {
                    wiring::open(config).await?.store.list_secrets(tenant.as_deref().unwrap_or(LOCAL_TENANT)).await?
                }
            };
            if *json {
                println!("{}", serde_json::to_string_pretty(&found)?);
            } else {
                println!("{}", table(&found));
            }
        }
        SecretCommand::Rm { names, tenant } => {
            for name in names {
                match &config.server {
                    Some(server) => {
                        let client = Client::new(server, config.token.clone())?;
                        client.call(Method::DELETE, &path(name), &query(tenant)).await?;
                    }
                    None => {
                        let t = tenant.as_deref().unwrap_or(LOCAL_TENANT);
                        if !wiring::open(config).await?.store.delete_secret(t, name).await? {
                            anyhow::bail!("tenant {t} has no secret `{name}` (berth secret ls)");
                        }
                    }
                }
                println!("{name}");
            }
        }
    }
    Ok(0)
}

async fn set_local(config: &Config, tenant: &str, name: &str, value: &[u8]) -> anyhow::Result<()> {
    let local = wiring::open(config).await?;
    let keys = local.keys.context("no secret key: set BERTH_SECRET_KEY_FILE (the same key on every node)")?;
    let now = SystemClock.now();
    local.store.ensure_tenant(tenant, now).await?;
    local.store.put_secret(tenant, name, &keys.seal(tenant, name, value), now).await?;
    Ok(())
}

/// The value from `file`, else stdin (one trailing newline dropped: `echo v | berth secret set`).
fn read_value(file: Option<&std::path::Path>) -> anyhow::Result<Vec<u8>> {
    let value = match file {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                ui::note("type the value, then Ctrl-D (or pipe it in, or use --file)");
            }
            let mut v = Vec::new();
            std::io::stdin().read_to_end(&mut v).context("reading the value from stdin")?;
            let trimmed = v.strip_suffix(b"\n").map(|t| t.strip_suffix(b"\r").unwrap_or(t)).unwrap_or(&v).len();
            v.truncate(trimmed);
            v
        }
    };
    if value.is_empty() {
        anyhow::bail!("the value is empty: pipe it in on stdin or give --file");
    }
    if value.len() > MAX_SECRET_BYTES {
        anyhow::bail!("a secret holds at most 64 KiB");
    }
    Ok(value)
}

fn path(name: &str) -> String {
    format!("/v1/secrets/{name}")
}

fn query(tenant: &Option<String>) -> Vec<(&str, &str)> {
    tenant.as_deref().map(|t| ("tenant", t)).into_iter().collect()
}

fn table(found: &[SecretRecord]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(["NAME", "TENANT", "CREATED", "UPDATED"]);
    for s in found {
        t.add_row([s.name.clone(), s.tenant.clone(), s.created_at.rfc3339(), s.updated_at.rfc3339()]);
    }
    t
}
