//! The [`ChangeFeed`] of a [`super::PostgresStore`]: one dedicated connection (not from the
//! pool) that runs `LISTEN cart_changes` and turns each notification into
//! [`FeedEvent::Changed`] with the cart id it carries.
//!
//! When the connection drops (PostgreSQL restarted, the backend was terminated, the network
//! failed) the task connects again after a backoff that doubles from `FIRST_RETRY` to
//! `LAST_RETRY`, and reports [`FeedEvent::Resumed`] once it listens again, because the notices
//! sent in between are lost. The connection's `application_name` is [`APPLICATION_NAME`], so an
//! operator (or a test) finds it in `pg_stat_activity`.

use std::time::Duration;

use cart_core::CartId;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Config, NoTls};
use tokio_util::sync::CancellationToken;

use super::{ChangeFeed, FeedEvent};

/// The channel every instance notifies and listens on.
pub(super) const CHANNEL: &str = "cart_changes";

/// The `application_name` of the listening connection.
pub const APPLICATION_NAME: &str = "cart-server change feed";

/// The wait before the first reconnection attempt.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// The longest wait between reconnection attempts.
const LAST_RETRY: Duration = Duration::from_secs(5);

/// Events waiting for the hubs; a full buffer makes the listener wait (PostgreSQL queues the
/// notices meanwhile).
const BUFFER: usize = 1024;

/// Starts the listening task on `config` (a clone of the store's settings); it ends when `stop`
/// is cancelled or the returned feed is dropped.
pub(super) fn spawn(mut config: Config, stop: CancellationToken) -> ChangeFeed {
    config.application_name(APPLICATION_NAME);
    let (events, feed) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = events.closed() => {}
            () = run(&config, &events) => {}
        }
    });
    feed
}

/// Listens, and listens again after every failure, until the feed is dropped.
async fn run(config: &Config, events: &mpsc::Sender<FeedEvent>) {
    let mut retry = FIRST_RETRY;
    loop {
        let why = match listen(config, events, &mut retry).await {
            Ok(()) => return,
            Err(why) => why,
        };
        tracing::warn!(error = %why, ?retry, "the change feed is not listening; reconnecting");
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Connects, listens and forwards notifications until the connection fails (`Err`, with why)
/// or the feed is dropped (`Ok`). Resets `retry` once listening.
async fn listen(
    config: &Config,
    events: &mpsc::Sender<FeedEvent>,
    retry: &mut Duration,
) -> Result<(), String> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
    // The connection delivers notifications only to whoever polls it, so it is polled here
    // rather than spawned; the client is kept alive (dropping it closes the connection).
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {CHANNEL}");
    let listening = client.batch_execute(&statement);
    tokio::pin!(listening);
    loop {
        tokio::select! {
            done = &mut listening => {
                done.map_err(|e| e.to_string())?;
                break;
            }
            message = messages.next() => match message {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the connection closed".to_string()),
            },
        }
    }
    tracing::info!("the change feed listens on {CHANNEL}");
    *retry = FIRST_RETRY;
    if events.send(FeedEvent::Resumed).await.is_err() {
        return Ok(());
    }
    while let Some(message) = messages.next().await {
        let notification = match message {
            Ok(AsyncMessage::Notification(n)) => n,
            Ok(_) => continue,
            Err(e) => return Err(e.to_string()),
        };
        match notification.payload().parse::<CartId>() {
            Ok(cart) => {
                if events.send(FeedEvent::Changed(cart)).await.is_err() {
                    return Ok(());
                }
            }
            Err(e) => tracing::warn!(
                payload = notification.payload(),
                error = %e,
                "a {CHANNEL} notice without a cart id; ignored"
            ),
        }
    }
    Err("the connection closed".to_string())
}
