//! `berth ps`: jobs as a table, ids, JSON, or Docker's `--format`.

use berth_core::JobStatus;
use berth_core::clock::{Clock, SystemClock, age};
use berth_core::store::{JobFilter, JobRecord};
use comfy_table::{Table, presets};

use crate::cli::PsArgs;
use crate::client::record;
use crate::config::Config;
use crate::template::{self, Template};
use crate::{jobs, ui};

pub async fn run(config: &Config, args: &PsArgs) -> anyhow::Result<i32> {
    let mut wanted = Wanted::from_args(args)?;
    let format =
        args.format.as_deref().map(Template::parse).transpose().map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let jobs = jobs::open(config).await?;
    wanted.resolve(jobs.as_ref()).await?;
    let mut views = jobs.list(&wanted).await?;
    if let Some(n) = wanted.limit {
        views.truncate(n as usize);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(0);
    }
    if let Some(t) = &format {
        let rows = views.into_iter().map(|v| row(v, args.no_trunc)).collect::<anyhow::Result<Vec<_>>>()?;
        print!("{}", formatted(t, &rows));
        return Ok(0);
    }
    let jobs = views.into_iter().map(record).collect::<anyhow::Result<Vec<_>>>()?;
    if args.quiet {
        for j in &jobs {
            println!("{}", if args.no_trunc { j.id.as_str() } else { j.id.short() });
        }
    } else {
        println!("{}", table(&jobs, args.no_trunc));
    }
    Ok(0)
}

/// What `ps` shows, from its flags: Docker's `-a`, `-n`, `-l` and `--filter` keys mapped onto
/// berth's job filter (the name is matched here; the rest by the store or the API).
pub struct Wanted {
    pub statuses: Vec<JobStatus>,
    pub labels: Vec<(String, Option<String>)>,
    pub image: Option<String>,
    pub queue: Option<String>,
    pub name: Option<String>,
    pub limit: Option<u32>,
    /// `since=JOB`: only jobs created after it (Docker's `since`).
    pub since: Option<Around>,
    /// `before=JOB`: only jobs created before it.
    pub before: Option<Around>,
}

/// A job `since=`/`before=` names, and once resolved where it is in the listing order
/// (created time, then id).
#[derive(Debug, Clone)]
pub struct Around {
    pub job: String,
    pub at: Option<(i64, String)>,
}

impl Wanted {
    pub fn from_args(args: &PsArgs) -> anyhow::Result<Wanted> {
        // Docker: -n and -l include every state.
        let all = args.all || args.last.is_some() || args.latest;
        let mut w = Wanted {
            statuses: if all { Vec::new() } else { vec![JobStatus::Queued, JobStatus::Starting, JobStatus::Running] },
            labels: Vec::new(),
            image: None,
            queue: None,
            name: None,
            limit: if args.latest { Some(1) } else { args.last },
            since: None,
            before: None,
        };
        let mut named = Vec::new();
        for f in &args.filter {
            let (key, value) = f.split_once('=').ok_or_else(|| anyhow::anyhow!("--filter: `{f}` is not KEY=VALUE"))?;
            match key {
                "status" => {
                    named.push(value.parse::<JobStatus>().map_err(|e| anyhow::anyhow!("--filter status: {e}"))?)
                }
                "label" => w.labels.push(
                    value
                        .split_once('=')
                        .map_or((value.to_string(), None), |(k, v)| (k.to_string(), Some(v.to_string()))),
                ),
                "image" | "ancestor" => w.image = Some(value.to_string()),
                "queue" => w.queue = Some(value.to_string()),
                "name" => w.name = Some(value.to_string()),
                "since" => w.since = Some(Around { job: value.to_string(), at: None }),
                "before" => w.before = Some(Around { job: value.to_string(), at: None }),
                other => anyhow::bail!(
                    "--filter: `{other}` is not a filter: status, label, image (ancestor), queue, name, since or before"
                ),
            }
        }
        if !named.is_empty() {
            w.statuses = named;
        }
        Ok(w)
    }

    /// Finds the jobs `since=` and `before=` name (a missing one is an error, as in Docker).
    pub async fn resolve(&mut self, jobs: &dyn crate::jobs::Jobs) -> anyhow::Result<()> {
        for (key, around) in [("since", &mut self.since), ("before", &mut self.before)] {
            if let Some(a) = around {
                let job = jobs.detail(&a.job).await.map_err(|e| anyhow::anyhow!("--filter {key}={}: {e:#}", a.job))?;
                a.at = Some((job.job.created_at, job.job.id));
            }
        }
        Ok(())
    }

    /// Whether some filters are matched here, after the listing (so it must not be cut short).
    pub fn matched_here(&self) -> bool {
        self.name.is_some() || self.since.is_some() || self.before.is_some()
    }

    pub fn filter(&self, tenant: Option<String>) -> JobFilter {
        JobFilter {
            statuses: self.statuses.clone(),
            labels: self.labels.clone(),
            image: self.image.clone(),
            queue: self.queue.clone(),
            limit: if self.matched_here() { None } else { self.limit },
            tenant,
            ..JobFilter::default()
        }
    }

    pub fn keeps(&self, job: &JobRecord) -> bool {
        self.keeps_job(job.spec.name.as_deref(), job.created_at.0, job.id.as_str())
    }

    /// Docker's `name=` matches a part of the name; `since=`/`before=` compare places in
    /// the listing order.
    pub fn keeps_job(&self, name: Option<&str>, created_at: i64, id: &str) -> bool {
        let place = (created_at, id);
        let after =
            |a: &Option<Around>| a.as_ref().and_then(|a| a.at.as_ref()).is_none_or(|(t, i)| place > (*t, i.as_str()));
        let before =
            |a: &Option<Around>| a.as_ref().and_then(|a| a.at.as_ref()).is_none_or(|(t, i)| place < (*t, i.as_str()));
        self.name.as_ref().is_none_or(|n| name.is_some_and(|jn| jn.contains(n.as_str())))
            && after(&self.since)
            && before(&self.before)
    }
}

pub fn table(jobs: &[JobRecord], whole: bool) -> Table {
    let now = SystemClock.now();
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(["JOB ID", "IMAGE", "COMMAND", "STATUS", "CREATED", "NAME"]);
    for j in jobs {
        let command = j.spec.cmd().map(|c| c.join(" ")).unwrap_or_default();
        t.add_row([
            if whole { j.id.to_string() } else { j.id.short().to_string() },
            j.spec.image.clone(),
            if whole { format!("\"{command}\"") } else { shorten(&command, 30) },
            ui::status_text(j),
            age(now, j.created_at),
            j.spec.name.clone().unwrap_or_default(),
        ]);
    }
    t
}

/// A job as `--format` sees it: the API's view, with Docker's `ps` field names beside.
fn row(view: berth_server::views::JobView, whole: bool) -> anyhow::Result<serde_json::Value> {
    let mut doc = serde_json::to_value(&view)?;
    let job = record(view)?;
    let command = job.spec.cmd().map(|c| c.join(" ")).unwrap_or_default();
    let labels: Vec<String> = job.spec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let docker = serde_json::json!({
        "ID": if whole { job.id.to_string() } else { job.id.short().to_string() },
        "Image": job.spec.image,
        "Command": if whole { format!("\"{command}\"") } else { shorten(&command, 30) },
        "CreatedAt": job.created_at.to_string(),
        "RunningFor": age(SystemClock.now(), job.created_at),
        "Status": ui::status_text(&job),
        "State": job.status.to_string(),
        "Names": job.spec.name.clone().unwrap_or_default(),
        "Labels": labels.join(","),
        "Queue": job.spec.queue_name(),
    });
    if let (Some(doc), serde_json::Value::Object(extra)) = (doc.as_object_mut(), docker) {
        doc.extend(extra);
    }
    Ok(doc)
}

/// Rows printed with `t`: `json` one object a line, `table` with a header and aligned columns.
fn formatted(t: &Template, rows: &[serde_json::Value]) -> String {
    let lines: Vec<String> = rows.iter().map(|r| t.render(r)).collect();
    if t.table {
        let mut all = vec![t.header()];
        all.extend(lines);
        return template::align(&all);
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return format!("\"{s}\"");
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("\"{cut}…\"")
}
