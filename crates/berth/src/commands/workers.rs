//! `berth workers` and `berth queue`: the worker registry as a table (or JSON), from the
//! store or a server, and the per-queue running limits.

use berth_core::clock::Timestamp;
use berth_core::clock::{Clock, SystemClock, age};
use berth_server::views::WorkerView;
use comfy_table::{Table, presets};

use crate::cli::{QueueCommand, WorkersArgs};
use crate::client::Client;
use crate::config::Config;
use crate::wiring;

pub async fn run(config: &Config, args: &WorkersArgs) -> anyhow::Result<i32> {
    let views: Vec<WorkerView> = match &config.server {
        Some(server) => {
            let client = Client::new(server, config.token.clone())?;
            serde_json::from_value(client.get_json("/v1/workers").await?)?
        }
        None => {
            let local = wiring::open(config).await?;
            let now = SystemClock.now();
            local.store.list_workers().await?.into_iter().map(|w| WorkerView::new(w, now)).collect()
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&views)?);
    } else if views.is_empty() {
        println!("no workers have registered yet (start `berth worker` or `berth server`)");
    } else {
        println!("{}", table(&views));
    }
    Ok(0)
}

fn table(workers: &[WorkerView]) -> Table {
    let now = SystemClock.now();
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(["WORKER", "HOST", "BACKEND", "STATE", "BUSY", "QUEUES", "TAGS", "CIRCUIT", "HEARTBEAT", "VERSION"]);
    for w in workers {
        let tags: Vec<String> = w.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        t.add_row([
            w.id.clone(),
            w.host.clone(),
            w.backend.clone(),
            w.state.clone(),
            format!("{}/{}", w.busy, w.slots),
            w.queues.join(","),
            tags.join(","),
            w.breaker.clone(),
            age(now, Timestamp(w.heartbeat_at)),
            w.version.clone(),
        ]);
    }
    t
}

pub async fn queue(config: &Config, command: &QueueCommand) -> anyhow::Result<i32> {
    match command {
        QueueCommand::Set { name, max_running, unlimited: _ } => {
            berth_core::validate::routing_name(name).map_err(|e| anyhow::anyhow!("queue name: {e}"))?;
            let local = wiring::open(config).await?;
            local.store.set_queue_limit(name, *max_running).await?;
            match max_running {
                Some(n) => println!("queue {name}: at most {n} job(s) running at once, across all workers"),
                None => println!("queue {name}: no running limit"),
            }
        }
        QueueCommand::Limits => {
            let local = wiring::open(config).await?;
            let limits = local.store.queue_limits().await?;
            if limits.is_empty() {
                println!("no queue has a running limit");
            }
            for (name, n) in limits {
                println!("{name}\t{n}");
            }
        }
    }
    Ok(0)
}
