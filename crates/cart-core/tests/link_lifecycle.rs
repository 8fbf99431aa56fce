//! The connection lifecycle ([`cart_core::link::Link`]) against a scripted server: a real
//! Automerge replica behind automerge-repo's wire messages that can refuse changes, answer
//! `doc-unavailable`, or fall silent. No socket and no clock: the test plays both.

use automerge::sync;
use cart_core::fixtures::item;
use cart_core::link::{
    Backoff, Blocked, Connection, Effect, Link, WarningCode, HEARTBEAT_IDLE_MS,
    HEARTBEAT_TIMEOUT_MS, JOIN_TIMEOUT_MS,
};
use cart_core::wire::{self, Message};
use cart_core::{Cart, CartId};

/// How the scripted server treats a `sync` that carries changes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Apply them, like a healthy server.
    Accept,
    /// Refuse them with this code, storing nothing.
    Refuse(&'static str),
    /// Answer `doc-unavailable`, as for a key that is not the cart's.
    WrongKey,
    /// Refuse while the cart would have more lines than this (the state after the changes).
    MaxLines(usize),
}

struct Server {
    id: CartId,
    replica: Cart,
    state: sync::State,
    mode: Mode,
    answers_probes: bool,
}

impl Server {
    fn new(id: CartId, mode: Mode) -> Server {
        Server {
            id,
            replica: Cart::new(id),
            state: sync::State::new(),
            mode,
            answers_probes: true,
        }
    }

    /// The server's answers to one client frame.
    fn handle(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        let id = self.id.to_string();
        let reply = |message: Message| wire::encode(&message);
        match wire::decode_any(frame).expect("the client sends valid frames") {
            Message::Join(join) => vec![reply(Message::Peer(wire::Peer {
                sender_id: "server".into(),
                target_id: join.sender_id,
                peer_metadata: Default::default(),
                selected_protocol_version: wire::PROTOCOL_V1.into(),
            }))],
            Message::Sync(message) | Message::Request(message) => {
                let decoded = sync::Message::decode(&message.data).unwrap();
                let has_changes = !decoded.changes.is_empty();
                let refusal = match self.mode {
                    Mode::WrongKey => {
                        return vec![reply(Message::DocUnavailable(wire::DocUnavailable {
                            sender_id: "server".into(),
                            target_id: message.sender_id,
                            document_id: id,
                        }))]
                    }
                    Mode::Refuse(code) if has_changes => Some(code),
                    _ => None,
                };
                let mut fork = Cart::load(self.id, &self.replica.save()).unwrap();
                let mut state = self.state.clone();
                fork.receive_sync_message(&mut state, decoded).unwrap();
                let refusal = refusal.or(match self.mode {
                    Mode::MaxLines(max) if fork.lines().len() > max => Some("too_many_lines"),
                    _ => None,
                });
                if let Some(code) = refusal {
                    return vec![reply(Message::Error(wire::Error {
                        sender_id: "server".into(),
                        target_id: message.sender_id,
                        message: "refused; nothing was stored".into(),
                        code: Some(code.into()),
                        document_id: Some(id),
                    }))];
                }
                self.replica.merge(&mut fork).unwrap();
                self.state = state;
                let mut next = self.replica.generate_sync_message(&mut self.state);
                if next.is_none() && !has_changes && self.answers_probes {
                    self.state.have_responded = false;
                    next = self.replica.generate_sync_message(&mut self.state);
                }
                next.map(|m| {
                    reply(Message::Sync(wire::Sync {
                        sender_id: "server".into(),
                        target_id: message.sender_id,
                        document_id: id,
                        data: m.encode(),
                    }))
                })
                .into_iter()
                .collect()
            }
            _ => Vec::new(),
        }
    }
}

/// A link, its cart, a scripted server and a clock; `connected` is whether a socket is open.
struct World {
    link: Link,
    cart: Cart,
    server: Server,
    now: f64,
    connected: bool,
    /// Frames sent while the server was not listening (a dead socket).
    lost: usize,
    server_silent: bool,
    warnings: Vec<WarningCode>,
    changed: usize,
}

impl World {
    fn new(mode: Mode) -> World {
        let id = CartId::random().unwrap();
        let now = 1_000.0;
        let (link, effects) = Link::new(&id, "client".into(), 1, 42, now);
        let mut world = World {
            link,
            cart: Cart::new(id),
            server: Server::new(id, mode),
            now,
            connected: false,
            lost: 0,
            server_silent: false,
            warnings: Vec::new(),
            changed: 0,
        };
        world.perform(effects);
        world
    }

    /// Performs effects the way the binding does, delivering the server's answers at once.
    fn perform(&mut self, effects: Vec<Effect>) {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Open { .. } => {
                    self.connected = true;
                    let opened = self.link.opened(self.now);
                    queue.extend(opened);
                }
                Effect::Close => self.connected = false,
                Effect::Send(frame) => {
                    assert!(self.connected, "a frame was sent with no socket");
                    if self.server_silent {
                        self.lost += 1;
                        continue;
                    }
                    for answer in self.server.handle(&frame) {
                        let effects = self.link.received(&mut self.cart, &answer, self.now);
                        queue.extend(effects);
                    }
                }
                Effect::CartChanged => self.changed += 1,
                Effect::Warn { code, .. } => self.warnings.push(code),
            }
        }
    }

    fn edit(&mut self, edit: impl FnOnce(&mut Cart)) {
        edit(&mut self.cart);
        let effects = self.link.local_change(&mut self.cart);
        self.perform(effects);
    }

    /// Advances the clock to `at` and fires the link's timer as often as it comes due.
    fn run_until(&mut self, at: f64) {
        while let Some(deadline) = self.link.next_deadline() {
            if deadline > at {
                break;
            }
            self.now = self.now.max(deadline);
            let effects = self.link.tick(&mut self.cart, self.now);
            self.perform(effects);
        }
        self.now = at;
    }

    fn pending(&mut self) -> usize {
        self.link.pending(&mut self.cart)
    }
}

#[test]
fn a_new_link_joins_and_syncs_local_changes() {
    let mut world = World::new(Mode::Accept);
    assert_eq!(world.link.connection(), Connection::Online);
    world.edit(|cart| cart.add_item(&item("TEE", 1)).unwrap());
    assert_eq!(world.pending(), 0);
    assert_eq!(world.server.replica.quantity("TEE"), 1);
    assert!(world.link.last_synced_at().is_some());
}

#[test]
fn a_transient_refusal_is_resent_after_a_backoff_without_reconnecting() {
    let mut world = World::new(Mode::Refuse("storage"));
    world.edit(|cart| cart.add_item(&item("TEE", 1)).unwrap());
    assert_eq!(world.warnings, [WarningCode::ServerRefused]);
    assert_eq!(world.pending(), 1);
    assert_eq!(
        world.link.blocked(),
        None,
        "a storage hiccup is not the shopper's to fix"
    );

    world.server.mode = Mode::Accept;
    world.run_until(world.now + Backoff::BASE_MS);
    assert_eq!(world.pending(), 0, "resent and confirmed");
    assert_eq!(world.server.replica.quantity("TEE"), 1);
    assert_eq!(world.link.connection(), Connection::Online);
}

#[test]
fn a_line_over_the_limit_blocks_until_it_is_removed_then_everything_syncs() {
    let mut world = World::new(Mode::MaxLines(3));
    for sku in ["A", "B", "C"] {
        world.edit(|cart| cart.add_item(&item(sku, 1)).unwrap());
    }
    assert_eq!(world.pending(), 0);

    world.edit(|cart| cart.add_item(&item("D", 1)).unwrap());
    assert_eq!(world.warnings, [WarningCode::SyncBlocked]);
    assert_eq!(
        world.link.blocked(),
        Some(&Blocked::Refused {
            code: "too_many_lines"
        })
    );
    // Every resend is refused again while the cart is over the limit, with no new warning.
    world.run_until(world.now + 60_000.0);
    assert_eq!(world.warnings, [WarningCode::SyncBlocked]);
    assert!(world.pending() > 0);

    world.edit(|cart| {
        cart.remove_item("D").unwrap();
    });
    world.run_until(world.now + 60_000.0);
    assert_eq!(
        world.pending(),
        0,
        "the add and its removal synced together"
    );
    assert_eq!(world.link.blocked(), None);
    let skus: Vec<String> = world
        .server
        .replica
        .lines()
        .into_iter()
        .map(|l| l.sku)
        .collect();
    assert_eq!(skus, ["A", "B", "C"]);
    assert_eq!(world.link.connection(), Connection::Online, "no reconnect");
}

#[test]
fn a_wrong_key_is_told_apart_from_a_cart_not_created_yet() {
    let mut world = World::new(Mode::WrongKey);
    // An empty cart asks with `request`: the answer cannot tell a wrong key from a new cart.
    assert_eq!(world.warnings, [WarningCode::CartUnavailable]);
    assert_eq!(world.link.blocked(), None);

    world.edit(|cart| cart.add_item(&item("TEE", 1)).unwrap());
    assert_eq!(
        world.warnings,
        [WarningCode::CartUnavailable, WarningCode::WrongKey]
    );
    assert_eq!(world.link.blocked(), Some(&Blocked::WrongKey));

    // Further edits stay local, without a message per edit or a warning per message.
    world.server.mode = Mode::Accept;
    world.edit(|cart| cart.add_item(&item("MUG", 1)).unwrap());
    world.run_until(world.now + 5_000.0);
    assert_eq!(world.server.replica.lines().len(), 0);
    assert_eq!(world.warnings.len(), 2);
}

#[test]
fn a_join_that_never_comes_is_given_up_and_retried() {
    let mut world = World::new(Mode::Accept);
    world.server_silent = true;
    world.link.network(false, world.now);
    world.perform(vec![Effect::Close]);
    assert_eq!(world.link.connection(), Connection::Offline);

    // The retry opens a socket whose server never answers `join`.
    let retry_at = world.link.next_deadline().unwrap();
    world.run_until(retry_at);
    assert_eq!(world.link.connection(), Connection::Connecting);
    world.run_until(world.now + JOIN_TIMEOUT_MS);
    assert_eq!(world.link.connection(), Connection::Offline);
    assert!(!world.connected, "the socket was dropped");

    world.server_silent = false;
    world.run_until(world.now + Backoff::CAP_MS);
    assert_eq!(world.link.connection(), Connection::Online);
}

#[test]
fn a_first_socket_that_never_opens_is_given_up_after_the_join_timeout() {
    let id = CartId::random().unwrap();
    let (mut link, effects) = Link::new(&id, "client".into(), 1, 1, 0.0);
    assert_eq!(effects, [Effect::Open { server: 0 }]);
    // The socket neither opens nor fails (a black-holed network).
    assert_eq!(link.next_deadline(), Some(JOIN_TIMEOUT_MS));
    let mut cart = Cart::new(id);
    assert_eq!(link.tick(&mut cart, JOIN_TIMEOUT_MS), [Effect::Close]);
    assert_eq!(link.connection(), Connection::Offline);
}

#[test]
fn with_several_servers_each_attempt_after_a_failure_goes_to_the_next_round_robin() {
    let id = CartId::random().unwrap();
    let mut cart = Cart::new(id);
    let (mut link, effects) = Link::new(&id, "client".into(), 3, 1, 0.0);
    assert_eq!(effects, [Effect::Open { server: 0 }]);
    // Server 0 refuses the connection: the retry goes to server 1.
    assert!(link.closed(10.0).is_empty());
    let retry = link.next_deadline().expect("a retry is scheduled");
    assert_eq!(link.tick(&mut cart, retry), [Effect::Open { server: 1 }]);
    // Server 1 accepts the socket but never answers `join`: given up, then server 2.
    assert!(!link.opened(retry).is_empty(), "join is sent");
    let given_up = link.next_deadline().expect("a join deadline");
    assert_eq!(link.tick(&mut cart, given_up), [Effect::Close]);
    let retry = link.next_deadline().expect("a retry is scheduled");
    assert_eq!(link.tick(&mut cart, retry), [Effect::Open { server: 2 }]);
    // And round again to the first, also when a `sync()` hurries the retry.
    assert!(link.closed(retry + 1.0).is_empty());
    assert_eq!(link.hurry(retry + 2.0), [Effect::Open { server: 0 }]);
}

#[test]
fn a_dead_socket_is_noticed_within_twenty_seconds_once_the_server_answered_a_probe() {
    let mut world = World::new(Mode::Accept);
    world.edit(|cart| cart.add_item(&item("TEE", 1)).unwrap());
    // A quiet but healthy connection is probed and answers.
    world.run_until(world.now + HEARTBEAT_IDLE_MS + 1.0);
    assert_eq!(world.link.connection(), Connection::Online);

    world.server_silent = true;
    let died_at = world.now;
    world.run_until(died_at + HEARTBEAT_IDLE_MS + HEARTBEAT_TIMEOUT_MS);
    assert_eq!(world.link.connection(), Connection::Offline);
    assert!(world.lost >= 1, "a probe went out on the dead socket");
}

#[test]
fn a_server_that_never_answers_probes_is_not_dropped_for_silence() {
    let mut world = World::new(Mode::Accept);
    world.server.answers_probes = false;
    world.edit(|cart| cart.add_item(&item("TEE", 1)).unwrap());
    world.run_until(world.now + 10.0 * (HEARTBEAT_IDLE_MS + HEARTBEAT_TIMEOUT_MS));
    assert_eq!(world.link.connection(), Connection::Online);
}

#[test]
fn the_offline_event_drops_the_socket_and_online_reconnects_at_once() {
    let mut world = World::new(Mode::Accept);
    let effects = world.link.network(false, world.now);
    assert_eq!(effects, [Effect::Close]);
    world.perform(effects);
    assert_eq!(world.link.connection(), Connection::Offline);

    world.edit(|cart| cart.add_item(&item("TEE", 1)).unwrap());
    assert_eq!(world.pending(), 1, "nothing goes out while offline");

    let effects = world.link.network(true, world.now);
    assert_eq!(effects, [Effect::Open { server: 0 }]);
    world.perform(effects);
    assert_eq!(world.link.connection(), Connection::Online);
    assert_eq!(world.pending(), 0);
}

#[test]
fn changes_from_the_server_are_reported() {
    let mut world = World::new(Mode::Accept);
    let mut other = Cart::load(*world.cart.id(), &world.cart.save()).unwrap();
    other.add_item(&item("MUG", 1)).unwrap();
    world.server.replica.merge(&mut other).unwrap();
    // The next probe carries our heads; the server answers with what we lack.
    world.run_until(world.now + HEARTBEAT_IDLE_MS);
    assert!(world.changed >= 1);
    assert_eq!(world.cart.quantity("MUG"), 1);
}

#[test]
fn backoff_doubles_up_to_the_cap_with_jitter_and_resets() {
    let mut backoff = Backoff::new(7);
    let first = backoff.next_delay_ms();
    assert!((250.0..500.0).contains(&first), "{first}");
    let second = backoff.next_delay_ms();
    assert!((500.0..1000.0).contains(&second), "{second}");
    for _ in 0..20 {
        backoff.next_delay_ms();
    }
    let capped = backoff.next_delay_ms();
    assert!(
        (Backoff::CAP_MS / 2.0..Backoff::CAP_MS).contains(&capped),
        "{capped}"
    );
    backoff.reset();
    assert!(backoff.next_delay_ms() < 500.0);
}
