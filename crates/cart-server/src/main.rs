//! The `cart-server` binary: reads [`Config`], opens the store, serves until SIGTERM or SIGINT,
//! then shuts down gracefully.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use cart_server::config::{Config, Database, LogFormat};
use cart_server::store::{PostgresStore, SqliteStore, Store};
use cart_server::webhook::Webhook;
use cart_server::{serve, AppState, ServerOptions};
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // Parsed first: an unknown LOG_FORMAT (or any bad flag) exits here with clap's message
    // naming the accepted values.
    let config = Config::parse();
    init_logs(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            tracing::error!("{why}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the log subscriber: `RUST_LOG` filters (default `info`), `format` shapes the lines.
fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stdout().is_terminal()).init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
}

async fn run(config: Config) -> Result<(), String> {
    // Checked before anything is opened: a webhook without its secret stops the start.
    let webhook = config.webhook()?;
    let database = Database::parse(&config.database_url)?;
    let described = database.describe();
    match database {
        Database::Sqlite(path) => {
            let store = SqliteStore::open(&path)
                .await
                .map_err(|e| format!("cannot open the database {described}: {e}"))?;
            tracing::info!(database = %described, "store open (SQLite)");
            serve_store(config, store, webhook).await
        }
        Database::Postgres(settings) => {
            let store = PostgresStore::open(*settings)
                .await
                .map_err(|e| format!("cannot open the PostgreSQL store: {e}"))?;
            tracing::info!(database = %described, "store open (PostgreSQL)");
            serve_store(config, store, webhook).await
        }
    }
}

/// Serves on `store` (handing orders to `webhook`, if any) until a stop signal.
async fn serve_store<S: Store>(
    config: Config,
    store: S,
    webhook: Option<Webhook>,
) -> Result<(), String> {
    if !config.static_dir.is_dir() {
        tracing::warn!(
            dir = %config.static_dir.display(),
            "the static directory does not exist; / answers 404 until the storefront is built"
        );
    }
    let options = ServerOptions {
        limits: config.limits(),
        static_dir: Some(config.static_dir.clone()),
        allowed_origins: config.allowed_origins.clone(),
        demo: config.demo,
        admin_token: config.admin_token.clone(),
        claim_secret: config.claim_secret.clone(),
        webhook,
    };
    let state = AppState::new(Arc::new(store), options)
        .await
        .map_err(|e| format!("cannot read the store: {e}"))?;
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", config.host, config.port))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    tracing::info!(
        storage_id = state.storage_id(),
        peer_id = state.server_peer_id(),
        "cart-server listening on http://{address}"
    );
    serve(listener, state, stop_signal(), config.shutdown_grace())
        .await
        .map_err(|e| format!("the server failed: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn stop_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}
