//! The IO at the edges: each shopper is a tokio task with a WebSocket to one of the servers;
//! at the end a fresh client per cart reads it back for the lost-add check.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use automerge::{ChangeHash, ReadDoc, ROOT};
use cart_core::session::{random_key, random_peer_id, ClientSession, Notice};
use cart_core::{Cart, CartId, NewItem};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::ledger::Ledger;
use crate::plan::{Action, Plan};
use crate::report::{add_timeline, count_at, LostAdd, Report};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a connect (TCP and WebSocket handshake) may take.
const CONNECT: Duration = Duration::from_secs(5);
/// How long a connection may stay silent while changes wait for the server before the shopper
/// gives up on it and moves to the next server.
const STALL: Duration = Duration::from_secs(10);
/// How long shoppers wait, after the run, for the acknowledgement of their last changes.
const DRAIN: Duration = Duration::from_secs(5);
/// How long the final read of one cart may take, retries included.
const READ: Duration = Duration::from_secs(15);
/// How many carts are read back at once: the shoppers all come from one address, and servers
/// limit connections per address (cart-server: 64 by default).
const READERS: usize = 32;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// WebSocket URLs of the servers' sync endpoints (`ws://host:port/sync`); each shopper's
    /// cart key is added as `?key=`.
    pub servers: Vec<String>,
    /// How many shoppers.
    pub shoppers: usize,
    /// How long they edit.
    pub duration: Duration,
    /// Seeds what every shopper does.
    pub seed: u64,
    /// The mean think time between two edits of one shopper.
    pub think: Duration,
}

/// `server` with the cart's `key` in its query.
pub fn url_with_key(server: &str, key: &str) -> String {
    let separator = if server.contains('?') { '&' } else { '?' };
    format!("{server}{separator}key={key}")
}

/// Runs the shoppers, reads every cart back from the same servers and reports.
pub async fn run(config: Config) -> Result<Report, String> {
    let shopped = shop(&config).await?;
    check(shopped, &config.servers).await
}

/// What the shoppers did, before their carts are read back.
pub struct Shopped {
    shoppers: Vec<Shopper>,
    elapsed: Duration,
}

fn check_servers(servers: &[String]) -> Result<(), String> {
    if servers.is_empty() {
        return Err("give at least one --server".to_string());
    }
    match servers.iter().find(|s| !s.starts_with("ws://")) {
        Some(bad) => Err(format!(
            "{bad:?} is not a WebSocket URL; give the sync endpoint as ws://HOST:PORT/sync"
        )),
        None => Ok(()),
    }
}

/// Runs the shoppers for `config.duration` and waits for their last acknowledgements.
pub async fn shop(config: &Config) -> Result<Shopped, String> {
    check_servers(&config.servers)?;
    if config.shoppers == 0 {
        return Err("give at least one shopper".to_string());
    }
    let servers = Arc::new(config.servers.clone());
    let start = Instant::now();
    let deadline = start + config.duration;
    let mut tasks = Vec::with_capacity(config.shoppers);
    for index in 0..config.shoppers {
        let shopper = Shopper::new(index, config, start)?;
        let servers = servers.clone();
        tasks.push(tokio::spawn(shopper.shop(servers, deadline)));
    }
    let mut shoppers = Vec::with_capacity(tasks.len());
    for task in tasks {
        shoppers.push(
            task.await
                .map_err(|e| format!("a shopper task failed: {e}"))?,
        );
    }
    Ok(Shopped {
        shoppers,
        elapsed: config.duration,
    })
}

/// Reads every cart of `shopped` back from `servers` through fresh clients, checks that no
/// acknowledged add was lost, and reports.
pub async fn check(shopped: Shopped, servers: &[String]) -> Result<Report, String> {
    check_servers(servers)?;
    let Shopped { shoppers, elapsed } = shopped;
    let servers = Arc::new(servers.to_vec());
    let mut report = Report {
        shoppers: shoppers.len(),
        ..Report::default()
    };
    let mut latencies = Vec::new();
    let mut reads = Vec::with_capacity(shoppers.len());
    let readers = Arc::new(Semaphore::new(READERS));
    for shopper in shoppers {
        report.changes += shopper.ledger.changes();
        report.acknowledged += shopper.ledger.acknowledged();
        report.connections += shopper.connections;
        report.offline_periods += shopper.offline_periods;
        for (kind, count) in &shopper.errors {
            report.errors += count;
            *report.error_kinds.entry(kind.clone()).or_default() += count;
        }
        latencies.extend_from_slice(&shopper.latencies);
        add_timeline(&mut report.acknowledged_per_second, &shopper.timeline);
        let servers = servers.clone();
        let readers = readers.clone();
        reads.push(tokio::spawn(async move {
            let read = read_back(&servers, &shopper, &readers).await;
            (shopper, read)
        }));
    }
    for read in reads {
        let (shopper, read) = read
            .await
            .map_err(|e| format!("a read-back task failed: {e}"))?;
        let must_survive = shopper.ledger.must_survive().count();
        let cart = match read {
            Read::Complete(cart) => cart,
            Read::Incomplete(cart, error) => {
                eprintln!(
                    "cart-load: shopper {} (cart {}, {} changes acknowledged, {must_survive} adds to check): {error}",
                    shopper.index,
                    shopper.cart.id(),
                    shopper.ledger.acknowledged()
                );
                report.incomplete_carts += 1;
                cart
            }
            Read::Unreachable(error) => {
                eprintln!(
                    "cart-load: shopper {} (cart {}, {} changes acknowledged, {must_survive} adds to check): {error}",
                    shopper.index,
                    shopper.cart.id(),
                    shopper.ledger.acknowledged()
                );
                report.unreachable_carts += 1;
                report.unverified_adds += must_survive;
                continue;
            }
        };
        report.adds_checked += must_survive;
        let id = shopper.cart.id().to_string();
        report.lost.extend(
            shopper
                .ledger
                .lost(|key| cart.doc().get(ROOT, key).ok().flatten().is_some())
                .into_iter()
                .map(|add| LostAdd::new(shopper.index, &id, add)),
        );
    }
    report.measure(latencies, elapsed);
    Ok(report)
}

/// One simulated shopper: a cart on one device, its session with the server and its record.
struct Shopper {
    index: usize,
    key: String,
    cart: Cart,
    session: ClientSession,
    plan: Plan,
    ledger: Ledger,
    latencies: Vec<Duration>,
    /// Acknowledgements per second from the start.
    timeline: Vec<usize>,
    connections: usize,
    /// Errors by kind.
    errors: BTreeMap<String, usize>,
    offline_periods: usize,
    start: Instant,
}

impl Shopper {
    fn new(index: usize, config: &Config, start: Instant) -> Result<Shopper, String> {
        let id = CartId::random().map_err(|e| e.to_string())?;
        Ok(Shopper {
            index,
            key: random_key().map_err(|e| e.to_string())?,
            cart: Cart::new(id),
            session: ClientSession::new(&id, random_peer_id(), None),
            plan: Plan::new(config.seed, index, config.think),
            ledger: Ledger::default(),
            latencies: Vec::new(),
            timeline: Vec::new(),
            connections: 0,
            errors: BTreeMap::new(),
            offline_periods: 0,
            start,
        })
    }

    /// Edits and syncs until `deadline`, reconnecting to the next server when a connection
    /// fails; then waits a little for the last acknowledgements.
    ///
    /// The shopper arrives with its first add made (offline, as the browser allows), so its
    /// first message is a `sync` that creates the cart. A cart still empty at `join` would send
    /// a `request`, and an add made before the server's `doc-unavailable` answer to it arrives
    /// makes `ClientSession` report [`Notice::WrongKey`] for a cart that merely did not exist yet.
    async fn shop(mut self, servers: Arc<Vec<String>>, deadline: Instant) -> Shopper {
        self.edit();
        let mut next_edit = Instant::now() + self.plan.think();
        let mut server = self.index;
        let mut backoff = Duration::from_millis(100);
        while Instant::now() < deadline {
            let url = url_with_key(&servers[server % servers.len()], &self.key);
            let connected = timeout(CONNECT, tokio_tungstenite::connect_async(url.as_str())).await;
            let result = match connected {
                Ok(Ok((mut socket, _))) => {
                    self.connections += 1;
                    self.ledger.reconnected(self.start.elapsed());
                    let result = self.online(&mut socket, deadline, &mut next_edit).await;
                    if result == Ok(Ended::Deadline) {
                        self.drain(&mut socket).await;
                    }
                    let _ = socket.close(None).await;
                    self.session.disconnected();
                    if let Ok(Ended::Offline(period)) = result {
                        self.offline(Instant::now() + period, deadline, &mut next_edit)
                            .await;
                    }
                    result.map(|_| backoff = Duration::from_millis(100))
                }
                Ok(Err(e)) => Err(format!("cannot connect: {e}")),
                Err(_) => Err(format!("cannot connect within {CONNECT:?}")),
            };
            if let Err(e) = result {
                self.error(e);
                server += 1;
                sleep(backoff.min(deadline.saturating_duration_since(Instant::now()))).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        self
    }

    /// One connection until `deadline` or until the plan takes the shopper offline: joins,
    /// makes each edit when due, handles frames. Errs when the connection fails or stays silent
    /// while changes wait.
    async fn online(
        &mut self,
        socket: &mut Socket,
        deadline: Instant,
        next_edit: &mut Instant,
    ) -> Result<Ended, String> {
        send(socket, vec![self.session.join()]).await?;
        let mut last_heard = Instant::now();
        loop {
            let waiting = self.ledger.pending() > 0 || !self.session.is_connected();
            tokio::select! {
                _ = sleep_until(deadline) => return Ok(Ended::Deadline),
                _ = sleep_until(last_heard + STALL), if waiting => {
                    return Err("the server stopped answering".to_string());
                }
                _ = sleep_until(*next_edit) => {
                    if self.ledger.pending() == 0 {
                        last_heard = Instant::now();
                    }
                    self.edit();
                    *next_edit = Instant::now() + self.plan.think();
                    if let Some(period) = self.plan.offline() {
                        // The edit stays pending, as on a device that lost its network.
                        self.offline_periods += 1;
                        return Ok(Ended::Offline(period));
                    }
                    let frames = self.session.local_change(&mut self.cart);
                    send(socket, frames).await?;
                }
                frame = socket.next() => {
                    last_heard = Instant::now();
                    self.receive(socket, frame).await?;
                }
            }
        }
    }

    /// Offline until `until` (or `deadline`): edits go on, their changes wait for the next
    /// connection.
    async fn offline(&mut self, until: Instant, deadline: Instant, next_edit: &mut Instant) {
        let until = until.min(deadline);
        while *next_edit < until {
            sleep_until(*next_edit).await;
            self.edit();
            *next_edit = Instant::now() + self.plan.think();
        }
        sleep_until(until).await;
    }

    /// After the run: handles frames until every change is acknowledged or [`DRAIN`] passes.
    async fn drain(&mut self, socket: &mut Socket) {
        let until = Instant::now() + DRAIN;
        while self.ledger.pending() > 0 {
            match timeout(
                until.saturating_duration_since(Instant::now()),
                socket.next(),
            )
            .await
            {
                Ok(frame) => {
                    if let Err(e) = self.receive(socket, frame).await {
                        self.error(e);
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// Handles one frame (or the end of the socket) and records what the server confirmed.
    async fn receive(
        &mut self,
        socket: &mut Socket,
        frame: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<(), String> {
        let bytes = match frame {
            None => return Err("the server closed the connection".to_string()),
            Some(Err(e)) => return Err(format!("the connection failed: {e}")),
            Some(Ok(WsMessage::Binary(bytes))) => bytes,
            Some(Ok(WsMessage::Close(_))) => {
                return Err("the server closed the connection".to_string())
            }
            Some(Ok(_)) => return Ok(()),
        };
        match self.session.receive(&mut self.cart, &bytes) {
            Ok(received) => {
                match received.notice {
                    Some(Notice::Refused { code, .. }) => self.error(format!(
                        "refused by the server ({})",
                        code.unwrap_or_default()
                    )),
                    Some(Notice::WrongKey) => {
                        self.error("the server has the cart under another key")
                    }
                    Some(Notice::Unavailable) | None => {}
                }
                send(socket, received.replies).await?;
            }
            Err(e) => self.error(format!("a bad frame: {e}")),
        }
        let unconfirmed = self.session.unconfirmed(&mut self.cart);
        let now = self.start.elapsed();
        let confirmed = self.ledger.confirmed(unconfirmed, now);
        count_at(&mut self.timeline, now, confirmed.len());
        self.latencies.extend(confirmed);
        Ok(())
    }

    /// Counts an error of kind `kind`.
    fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    /// Makes the plan's next edit and records it.
    fn edit(&mut self) {
        let lines: Vec<(String, i64)> = self
            .cart
            .lines()
            .into_iter()
            .map(|l| (l.sku, l.quantity))
            .collect();
        let action = self.plan.next(&lines);
        let made = match &action {
            Action::Add { sku, quantity, tag } => self
                .cart
                .add_item_tagged(&item(sku, *quantity), tag)
                .map(|_| ()),
            Action::SetQuantity { sku, quantity } => self.cart.set_quantity(sku, *quantity),
            Action::Remove { sku } => self.cart.remove_item(sku).map(|_| ()),
        };
        if let Err(e) = made {
            self.error(format!("an edit failed: {e}"));
            return;
        }
        let Some(hash) = self.cart.heads().last().copied() else {
            return;
        };
        let at = self.start.elapsed();
        match action {
            Action::Add { sku, tag, .. } => self.ledger.added(&sku, &tag, at, hash),
            Action::SetQuantity { sku, .. } | Action::Remove { sku } => {
                self.ledger.changed(&sku, at, hash)
            }
        }
    }
}

/// Why a connection that did not fail ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The run is over.
    Deadline,
    /// The shopper goes offline for this long.
    Offline(Duration),
}

/// The product a shopper adds for `sku`.
fn item(sku: &str, quantity: i64) -> NewItem {
    NewItem {
        sku: sku.to_string(),
        name: format!("Product {sku}"),
        unit_price: 1999,
        currency: "EUR".to_string(),
        quantity,
        image_url: None,
        variant: None,
    }
}

async fn send(socket: &mut Socket, frames: Vec<Vec<u8>>) -> Result<(), String> {
    for frame in frames {
        socket
            .send(WsMessage::Binary(frame.into()))
            .await
            .map_err(|e| format!("sending failed: {e}"))?;
    }
    Ok(())
}

/// What the final read of one cart found.
enum Read {
    /// Every acknowledged change arrived.
    Complete(Cart),
    /// A server answered but did not deliver every acknowledged change in time (or said it
    /// has no such cart): what did arrive is checked, so the missing adds count as lost.
    Incomplete(Cart, String),
    /// No server could be reached (refused, or too many connections): nothing can be checked.
    Unreachable(String),
}

/// Reads `shopper`'s cart through a fresh client until it has the last acknowledged change,
/// retrying every server in turn for up to [`READ`]; at most [`READERS`] at once.
async fn read_back(servers: &[String], shopper: &Shopper, readers: &Semaphore) -> Read {
    let id = *shopper.cart.id();
    let mut cart = Cart::new(id);
    let Some(last) = shopper.ledger.last_acknowledged() else {
        return Read::Complete(cart);
    };
    let Ok(_permit) = readers.acquire().await else {
        return Read::Unreachable("the read-back was stopped".to_string());
    };
    let until = Instant::now() + READ;
    let mut reached = false;
    let mut failure = String::new();
    let mut attempt = shopper.index;
    while Instant::now() < until {
        let server = &servers[attempt % servers.len()];
        attempt += 1;
        let mut session = ClientSession::new(&id, random_peer_id(), None);
        let url = url_with_key(server, &shopper.key);
        let left = until.saturating_duration_since(Instant::now());
        match timeout(left, read_until(&url, &mut cart, &mut session, last)).await {
            Ok(Ok(())) => return Read::Complete(cart),
            // The server's answer about the cart is final: asking again changes nothing.
            Ok(Err(ReadFailure::Answered(e))) => {
                return Read::Incomplete(cart, format!("reading {server}: {e}"))
            }
            Ok(Err(ReadFailure::Connection(e))) => failure = format!("reading {server}: {e}"),
            Err(_) => {
                failure = format!("reading {server}: not every acknowledged change in {READ:?}")
            }
        }
        // The session keeps the server's peer id once it answered `join`.
        reached |= session.is_connected();
        sleep(Duration::from_millis(200).min(until.saturating_duration_since(Instant::now())))
            .await;
    }
    if reached {
        Read::Incomplete(cart, failure)
    } else {
        Read::Unreachable(failure)
    }
}

/// Why one connection of the final read ended without every acknowledged change.
enum ReadFailure {
    /// The connection failed or closed: worth another try.
    Connection(String),
    /// The server answered about the cart (no such cart, a refusal, a bad frame).
    Answered(String),
}

/// One connection of the final read: syncs `cart` until it has the change `last`.
async fn read_until(
    url: &str,
    cart: &mut Cart,
    session: &mut ClientSession,
    last: ChangeHash,
) -> Result<(), ReadFailure> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| ReadFailure::Connection(format!("cannot connect: {e}")))?;
    send(&mut socket, vec![session.join()])
        .await
        .map_err(ReadFailure::Connection)?;
    while cart.at(&[last]).is_none() {
        let frame = match socket.next().await {
            Some(Ok(WsMessage::Binary(bytes))) => bytes,
            Some(Ok(WsMessage::Close(_))) | None => {
                return Err(ReadFailure::Connection("the server closed".to_string()))
            }
            Some(Err(e)) => {
                return Err(ReadFailure::Connection(format!(
                    "the connection failed: {e}"
                )))
            }
            Some(Ok(_)) => continue,
        };
        let received = session
            .receive(cart, &frame)
            .map_err(|e| ReadFailure::Answered(format!("a bad frame: {e}")))?;
        if let Some(notice) = received.notice {
            return Err(ReadFailure::Answered(format!("the server said {notice:?}")));
        }
        send(&mut socket, received.replies)
            .await
            .map_err(ReadFailure::Connection)?;
    }
    let _ = socket.close(None).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_goes_into_the_query() {
        assert_eq!(
            url_with_key("ws://127.0.0.1:8080/sync", "k1"),
            "ws://127.0.0.1:8080/sync?key=k1"
        );
        assert_eq!(
            url_with_key("ws://127.0.0.1:8080/sync?x=1", "k1"),
            "ws://127.0.0.1:8080/sync?x=1&key=k1"
        );
    }
}
