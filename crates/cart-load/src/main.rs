//! `cart-load --server URL [--server URL ...] --shoppers N --duration 40s [--json FILE] [--seed N]`
//!
//! Exit status 1 when an acknowledged add was lost, 2 when the run could not be made or the
//! servers acknowledged nothing, or some carts could not be read back to check them.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cart_load::plan::parse_duration;
use cart_load::{run, Config};
use clap::Parser;

/// Simulated shoppers against cart-server sync endpoints; checks that no acknowledged add is lost.
#[derive(Debug, Parser)]
#[command(name = "cart-load")]
struct Args {
    /// A server's sync endpoint, such as ws://127.0.0.1:8080/sync; repeat for several servers.
    /// Shoppers are spread over them and move to the next when a connection fails.
    #[arg(long = "server", required = true)]
    servers: Vec<String>,
    /// How many shoppers.
    #[arg(long, default_value_t = 10)]
    shoppers: usize,
    /// How long they shop, such as 40s or 2m.
    #[arg(long, value_parser = parse_duration, default_value = "40s")]
    duration: Duration,
    /// The mean think time between two edits of one shopper.
    #[arg(long, value_parser = parse_duration, default_value = "500ms")]
    think: Duration,
    /// Writes the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Seeds what the shoppers do (random when not given; printed either way).
    #[arg(long)]
    seed: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    println!(
        "cart-load: {} shoppers for {:?} over {} server(s), seed {seed}",
        args.shoppers,
        args.duration,
        args.servers.len()
    );
    let config = Config {
        servers: args.servers,
        shoppers: args.shoppers,
        duration: args.duration,
        seed,
        think: args.think,
    };
    let report = match run(config).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("cart-load: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &args.json {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(path, json).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("cart-load: cannot write {}: {e}", path.display());
        }
    }
    // Why the status is not 0, on stderr before the report: the summary stays the last line.
    let status = if !report.lost.is_empty() {
        eprintln!("cart-load: acknowledged adds were lost (listed as LOST)");
        1
    } else if report.acknowledged == 0 {
        eprintln!("cart-load: the servers acknowledged nothing; are they up at these URLs?");
        2
    } else if report.unverified_adds > 0 {
        eprintln!("cart-load: some carts could not be read back, so not every add was checked");
        2
    } else {
        0
    };
    println!("{report}");
    ExitCode::from(status)
}
