//! `berth schedule add|ls|show|rm|pause|resume|trigger|next`: cron schedules, through a
//! server (`--server`, for the token's tenant) or straight in the configured store (tenant
//! `local`; a `berth server` on that store fires them). Both paths hand back the API's JSON
//! shape, so `--json` reads the same either way and the tables are drawn from it.

use anyhow::Context;
use berth_core::clock::{Clock, SystemClock, Timestamp};
use berth_core::schedule::{CronExpr, ScheduleConfig, ScheduleRecord};
use berth_core::store::{JobFilter, LOCAL_TENANT};
use berth_engine::submit::SubmitError;
use berth_server::api::schedules::{ScheduleView, preview, schedule_preview};
use berth_server::views::JobView;
use comfy_table::{Table, presets};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{ScheduleAddArgs, ScheduleCommand};
use crate::client::Client;
use crate::config::{Config, env_var};
use crate::{run_flags, ui, wiring};

pub async fn run(config: &Config, command: &ScheduleCommand) -> anyhow::Result<i32> {
    if let ScheduleCommand::Next { schedule: None, cron: Some(cron), timezone, count, json } = command {
        let expr = CronExpr::parse(cron, timezone.as_deref().unwrap_or("UTC")).map_err(|e| anyhow::anyhow!("--{e}"))?;
        print_preview(&serde_json::to_value(preview(&expr, SystemClock.now(), *count))?, *json);
        return Ok(0);
    }
    let target = Target::open(config).await?;
    match command {
        ScheduleCommand::Add(args) => {
            let made = target.create(document(args)?).await?;
            print_one(&made, args.json, "added");
        }
        ScheduleCommand::Ls { json } => {
            let all = target.list().await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                println!("{}", table(&all));
            }
        }
        ScheduleCommand::Show { schedule, json } => {
            let s = target.find(schedule).await?;
            let next = target.next(&s, 5).await?;
            let jobs = target.jobs(&s, 5).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&json!({"schedule": s, "next": next, "jobs": jobs}))?);
            } else {
                show(&s, &next, &jobs);
            }
        }
        ScheduleCommand::Rm { schedules } => {
            for key in schedules {
                let s = target.find(key).await?;
                target.delete(&s).await?;
                println!("{}", text(&s, "name"));
            }
        }
        ScheduleCommand::Pause { schedule, reason } => {
            let s = target.find(schedule).await?;
            print_one(&target.pause(&s, reason.as_deref().unwrap_or("")).await?, false, "paused");
        }
        ScheduleCommand::Resume { schedule } => {
            let s = target.find(schedule).await?;
            print_one(&target.resume(&s).await?, false, "resumed");
        }
        ScheduleCommand::Trigger { schedule, json } => {
            let job = target.trigger(&target.find(schedule).await?).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&job)?);
            } else {
                println!("{}", text(&job, "id"));
            }
        }
        ScheduleCommand::Next { schedule: Some(key), count, json, .. } => {
            let s = target.find(key).await?;
            print_preview(&target.next(&s, *count).await?, *json);
        }
        ScheduleCommand::Next { .. } => anyhow::bail!("give a schedule, or --cron EXPR [--tz ZONE]"),
    }
    Ok(0)
}

/// The schedule document from the flags: the job from `berth run`'s flags (or -f), the rest
/// from the schedule's own; errors name the flag.
fn document(args: &ScheduleAddArgs) -> anyhow::Result<Value> {
    let spec = run_flags::spec_from_args(&args.run, &env_var)?;
    let mut doc = json!({"name": args.schedule, "cron": args.cron, "spec": spec, "paused": args.paused});
    let optional = [
        ("timezone", args.timezone.clone().map(Value::from)),
        ("overlap", args.overlap.clone().map(Value::from)),
        ("missed", args.missed.clone().map(Value::from)),
        ("catch_up_window", args.catch_up_window.clone().map(Value::from)),
        ("catch_up_max", args.catch_up_max.map(Value::from)),
        ("jitter", args.jitter.clone().map(Value::from)),
        ("end_at", args.end_at.clone().map(Value::from)),
        ("pause_after_failures", args.pause_after_failures.map(Value::from)),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            doc[key] = v;
        }
    }
    let config: Result<ScheduleConfig, _> = berth_core::spec_load::from_json_value(doc.clone());
    config.map_err(|e| anyhow::anyhow!("{}: {}", flag(&e.field), e.message))?;
    Ok(doc)
}

/// The flag a schedule field comes from (`catch_up_max` → `--catch-up-max`).
fn flag(field: &str) -> String {
    match field {
        "timezone" => "--tz".to_string(),
        "name" => "NAME".to_string(),
        f if f.starts_with("spec") => f.to_string(),
        f => format!("--{}", f.replace('_', "-")),
    }
}

enum Target {
    Remote(Client),
    Local(Box<wiring::Local>),
}

impl Target {
    async fn open(config: &Config) -> anyhow::Result<Target> {
        Ok(match &config.server {
            Some(server) => Target::Remote(Client::new(server, config.token.clone())?),
            None => Target::Local(Box::new(wiring::open(config).await?)),
        })
    }

    async fn create(&self, doc: Value) -> anyhow::Result<Value> {
        match self {
            Target::Remote(c) => c.json_body(Method::POST, "/v1/schedules", &[], &doc).await,
            Target::Local(l) => {
                let config: ScheduleConfig = serde_json::from_value(doc)?;
                view(l.runner()?.create_schedule(LOCAL_TENANT, config, &cli_actor()).await.map_err(refused)?)
            }
        }
    }

    async fn list(&self) -> anyhow::Result<Vec<Value>> {
        match self {
            Target::Remote(c) => {
                let page: Value = c.json_of(Method::GET, "/v1/schedules", &[]).await?;
                Ok(page["schedules"].as_array().cloned().unwrap_or_default())
            }
            Target::Local(l) => l.store.list_schedules(None).await?.into_iter().map(view).collect(),
        }
    }

    async fn find(&self, key: &str) -> anyhow::Result<Value> {
        match self {
            Target::Remote(c) => c.json_of(Method::GET, &format!("/v1/schedules/{key}"), &[]).await,
            Target::Local(l) => view(l.store.find_schedule(key, None).await?),
        }
    }

    async fn record(&self, s: &Value) -> anyhow::Result<ScheduleRecord> {
        match self {
            Target::Local(l) => Ok(l.store.get_schedule(&text(s, "id")).await?),
            Target::Remote(_) => anyhow::bail!("a local operation reached the server path (a bug)"),
        }
    }

    async fn delete(&self, s: &Value) -> anyhow::Result<()> {
        match self {
            Target::Remote(c) => c.call(Method::DELETE, &path(s, ""), &[]).await,
            Target::Local(l) => l.store.delete_schedule(&text(s, "id")).await.map(|_| ()).map_err(Into::into),
        }
    }

    async fn pause(&self, s: &Value, reason: &str) -> anyhow::Result<Value> {
        match self {
            Target::Remote(c) => c.json_body(Method::POST, &path(s, "/pause"), &[], &json!({"reason": reason})).await,
            Target::Local(l) => {
                view(l.runner()?.pause_schedule(&self.record(s).await?, &cli_actor(), reason).await.map_err(refused)?)
            }
        }
    }

    async fn resume(&self, s: &Value) -> anyhow::Result<Value> {
        match self {
            Target::Remote(c) => c.json_of(Method::POST, &path(s, "/resume"), &[]).await,
            Target::Local(l) => view(l.runner()?.resume_schedule(&self.record(s).await?).await.map_err(refused)?),
        }
    }

    async fn trigger(&self, s: &Value) -> anyhow::Result<Value> {
        match self {
            Target::Remote(c) => c.json_of(Method::POST, &path(s, "/trigger"), &[]).await,
            Target::Local(l) => {
                let job = l.runner()?.trigger_schedule(&self.record(s).await?).await.map_err(refused)?;
                Ok(serde_json::to_value(JobView::from(job))?)
            }
        }
    }

    async fn next(&self, s: &Value, n: usize) -> anyhow::Result<Value> {
        match self {
            Target::Remote(c) => c.json_of(Method::GET, &path(s, "/next"), &[("count", &n.to_string())]).await,
            Target::Local(_) => {
                let record = self.record(s).await?;
                let p = schedule_preview(&record, SystemClock.now(), n).map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok(serde_json::to_value(p)?)
            }
        }
    }

    async fn jobs(&self, s: &Value, n: u32) -> anyhow::Result<Vec<Value>> {
        match self {
            Target::Remote(c) => {
                let page: Value = c.json_of(Method::GET, &path(s, "/jobs"), &[("limit", &n.to_string())]).await?;
                Ok(page["jobs"].as_array().cloned().unwrap_or_default())
            }
            Target::Local(l) => {
                let filter = JobFilter { schedule: Some(text(s, "id")), limit: Some(n), ..JobFilter::default() };
                let jobs = l.store.list_jobs(&filter).await?;
                jobs.into_iter().map(|j| serde_json::to_value(JobView::from(j)).context("a job as JSON")).collect()
            }
        }
    }
}

/// Who a local command acts as, in pauses and audit-like fields.
fn cli_actor() -> String {
    format!("cli:{}", berth_engine::owner::hostname())
}

fn view(s: ScheduleRecord) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(ScheduleView::new(s))?)
}

/// A refused schedule says "invalid schedule", not "invalid job spec".
fn refused(e: SubmitError) -> anyhow::Error {
    match e {
        SubmitError::Invalid(errors) => {
            let lines: Vec<String> = errors.0.iter().map(|e| format!("{}: {}", flag(&e.field), e.message)).collect();
            anyhow::anyhow!("invalid schedule:\n  {}", lines.join("\n  "))
        }
        other => other.into(),
    }
}

fn path(s: &Value, tail: &str) -> String {
    format!("/v1/schedules/{}{tail}", text(s, "id"))
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn print_one(s: &Value, as_json: bool, what: &str) {
    if as_json {
        println!("{}", serde_json::to_string_pretty(s).unwrap_or_default());
        return;
    }
    let next = s["next_due_local"].as_str().unwrap_or("none");
    println!("{}", text(s, "id"));
    ui::note(&format!("schedule {} {what} ({}): next due {next}", text(s, "name"), text(s, "state")));
}

fn table(all: &[Value]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(["NAME", "CRON", "ZONE", "STATE", "NEXT DUE", "OVERLAP", "MISSED", "TENANT", "ID"]);
    for s in all {
        let id = text(s, "id");
        t.add_row([
            text(s, "name"),
            text(s, "cron"),
            text(s, "timezone"),
            text(s, "state"),
            if s["state"] == "active" { s["next_due_local"].as_str().unwrap_or("-").to_string() } else { "-".into() },
            text(s, "overlap"),
            text(s, "missed"),
            text(s, "tenant"),
            id[..id.len().min(12)].to_string(),
        ]);
    }
    if all.is_empty() {
        ui::note("no schedules: add one with `berth schedule add NAME --cron EXPR -- IMAGE CMD...`");
    }
    t
}

fn show(s: &Value, next: &Value, jobs: &[Value]) {
    println!("{} ({}, {})", text(s, "name"), text(s, "id"), text(s, "tenant"));
    println!("  cron      {} in {} ({})", text(s, "cron"), text(s, "timezone"), text(s, "describe"));
    println!("  state     {}", text(s, "state"));
    if let Some(p) = s.get("paused").filter(|p| !p.is_null()) {
        let at = p["at"].as_i64().map(|t| Timestamp(t).rfc3339()).unwrap_or_default();
        println!("  paused    since {at} by {}: {}", text(p, "by"), text(p, "reason"));
    }
    println!("  overlap   {}   missed {}", text(s, "overlap"), text(s, "missed"));
    println!("  image     {}", text(&s["spec"], "image"));
    println!("next due:");
    for t in next["local"].as_array().into_iter().flatten() {
        println!("  {}", t.as_str().unwrap_or_default());
    }
    println!("latest jobs:");
    if jobs.is_empty() {
        println!("  none yet");
    }
    for j in jobs {
        let due = j["scheduled_at"].as_i64().map(|t| Timestamp(t).rfc3339()).unwrap_or_default();
        let id = text(j, "id");
        let how = j["reason_text"].as_str().map(str::to_string).unwrap_or_else(|| text(j, "status"));
        println!("  {}  {due}  {how}", &id[..id.len().min(12)]);
    }
}

fn print_preview(p: &Value, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string_pretty(p).unwrap_or_default());
        return;
    }
    ui::note(&text(p, "describe"));
    for t in p["local"].as_array().into_iter().flatten() {
        println!("{}", t.as_str().unwrap_or_default());
    }
}
