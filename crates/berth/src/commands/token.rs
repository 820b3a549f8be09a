//! `berth token` and `berth tenant`: API tokens (shown once, stored as SHA-256) and tenant
//! settings, written straight to the configured store (`--store`/`BERTH_STORE`, or the
//! embedded one in the data dir): the one the server reads.

use berth_core::clock::{Clock, SystemClock};
use berth_core::secrets::{hash_token, new_token};
use berth_core::store::TokenRecord;
use comfy_table::{Table, presets};

use crate::cli::{TenantCommand, TokenCommand};
use crate::config::Config;
use crate::{ui, wiring};

pub async fn token(config: &Config, command: &TokenCommand) -> anyhow::Result<i32> {
    let local = wiring::open(config).await?;
    let store = &local.store;
    let now = SystemClock.now();
    match command {
        TokenCommand::Create { tenant, admin, name, json } => {
            check_tenant(tenant)?;
            store.ensure_tenant(tenant, now).await?;
            let secret = new_token();
            let id = uuid_short();
            let record = TokenRecord {
                id: id.clone(),
                name: name.clone().unwrap_or_else(|| format!("{tenant}-{id}")),
                tenant: tenant.clone(),
                admin: *admin,
                created_at: now,
                revoked_at: None,
            };
            store.create_token(&record, &hash_token(&secret)).await?;
            show_new_token(&record, &secret, *json);
        }
        TokenCommand::List { json } => {
            let tokens = store.list_tokens().await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                println!("{}", token_table(&tokens));
            }
        }
        TokenCommand::Revoke { id } => {
            store.revoke_token(id, now).await?;
            ui::note(&format!("token {id} revoked: requests with it now get 401"));
        }
    }
    Ok(0)
}

pub async fn tenant(config: &Config, command: &TenantCommand) -> anyhow::Result<i32> {
    let local = wiring::open(config).await?;
    let store = &local.store;
    match command {
        TenantCommand::Show { name, json } => {
            let t = store.get_tenant(name).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                println!("tenant:          {}", t.name);
                println!("webhook secret:  {}", t.webhook_secret);
                let limit = t.max_running.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
                println!("max running:     {limit}");
            }
        }
        TenantCommand::Set { name, max_running, unlimited, policy, clear_policy } => {
            check_tenant(name)?;
            let patch = policy.as_deref().map(crate::commands::policy::read_patch).transpose()?;
            store.ensure_tenant(name, SystemClock.now()).await?;
            if max_running.is_some() || *unlimited {
                store.set_tenant_limit(name, *max_running).await?;
            }
            if patch.is_some() || *clear_policy {
                store.set_tenant_policy(name, patch.as_ref()).await?;
                ui::note(&format!("tenant {name}: policy override {}", if *clear_policy { "removed" } else { "set" }));
            }
        }
    }
    Ok(0)
}

fn show_new_token(t: &TokenRecord, secret: &str, json: bool) {
    if json {
        println!("{}", serde_json::json!({"id": t.id, "tenant": t.tenant, "admin": t.admin, "token": secret}));
        return;
    }
    println!("{secret}");
    let admin = if t.admin { " (admin)" } else { "" };
    ui::note(&format!(
        "token {} for tenant `{}`{admin}: shown once, keep it secret (export BERTH_TOKEN=...)",
        t.id, t.tenant
    ));
}

fn token_table(tokens: &[TokenRecord]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(["ID", "NAME", "TENANT", "ADMIN", "CREATED", "REVOKED"]);
    for k in tokens {
        t.add_row([
            k.id.clone(),
            k.name.clone(),
            k.tenant.clone(),
            if k.admin { "yes" } else { "" }.to_string(),
            k.created_at.rfc3339(),
            k.revoked_at.map(|r| r.rfc3339()).unwrap_or_default(),
        ]);
    }
    t
}

fn check_tenant(name: &str) -> anyhow::Result<()> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !ok {
        anyhow::bail!("--tenant: `{name}` must be 1 to 64 letters, digits, `-`, `_` or `.`");
    }
    // `local` is the CLI's own tenant (and --insecure-no-auth's): it owns the engine, so its
    // jobs' volumes and namespaces are not scoped. No token may act as it.
    if name == berth_core::store::LOCAL_TENANT {
        anyhow::bail!("--tenant: `local` is reserved for the CLI without a server; pick another name");
    }
    Ok(())
}

fn uuid_short() -> String {
    berth_core::ids::JobId::generate().to_string()[..12].to_string()
}
