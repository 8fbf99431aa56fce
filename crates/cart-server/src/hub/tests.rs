//! The hubs driven directly, without sockets: peers are mailboxes, the store a SQLite file.

use cart_core::fixtures::{item, sync_carrying};
use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use automerge::sync::{State as SyncState, SyncDoc};

use automerge::{Automerge, ChangeHash};

use super::*;
use crate::error::ErrorKind;
use crate::mailbox::{Mailbox, Outbound, OutboxBytes};
use crate::secret::CartKey;
use crate::store::FeedEvent;
use crate::store::SqliteStore;

/// Hubs over a new SQLite file (kept until the returned directory drops), and one peer.
async fn hubs_and_peer() -> (
    tempfile::TempDir,
    Hubs,
    PeerContext,
    mpsc::Receiver<Outbound>,
) {
    hubs_and_peer_within(Limits::default()).await
}

/// [`hubs_and_peer`] enforcing `limits`.
async fn hubs_and_peer_within(
    limits: Limits,
) -> (
    tempfile::TempDir,
    Hubs,
    PeerContext,
    mpsc::Receiver<Outbound>,
) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (hubs, peer, rx) = instance(&dir.path().join("hub.sqlite3"), limits, 1).await;
    (dir, hubs, peer, rx)
}

/// A server instance's hubs over the SQLite file `db` (any number may share one file, as
/// instances share one PostgreSQL database), and one peer with connection id `conn_id`.
async fn instance(
    db: &std::path::Path,
    limits: Limits,
    conn_id: u64,
) -> (Hubs, PeerContext, mpsc::Receiver<Outbound>) {
    let store = SqliteStore::open(db).await.expect("a SQLite store");
    let hubs = Hubs::new(
        Arc::new(store),
        limits,
        Arc::new(Metrics::default()),
        "server".to_string(),
    );
    let (peer, rx) = peer_of(&hubs, conn_id);
    (hubs, peer, rx)
}

/// A peer of `hubs` with connection id `conn_id`, holding the test key, and its mailbox.
fn peer_of(hubs: &Hubs, conn_id: u64) -> (PeerContext, mpsc::Receiver<Outbound>) {
    let (tx, rx) = mpsc::channel(16);
    let peer = PeerContext {
        conn_id,
        peer_id: format!("peer-{conn_id}"),
        storage_id: None,
        key: CartKey::parse(Some("hub-test-key-0123456789")).expect("a valid key"),
        mailbox: Mailbox::new(
            tx,
            Arc::new(OutboxBytes::new(
                hubs.limits.outbox_bytes,
                Arc::clone(&hubs.metrics),
            )),
            CancellationToken::new(),
        ),
    };
    (peer, rx)
}

/// The first sync message of a peer with an empty cart.
fn hello() -> AutomergeSync {
    Automerge::new()
        .generate_sync_message(&mut SyncState::new())
        .expect("a first sync message")
}

#[tokio::test]
async fn a_cart_stays_open_while_a_peer_is_linked_and_closes_when_it_leaves() {
    let (_dir, hubs, peer, mut rx) = hubs_and_peer().await;
    let cart = CartId::from_bytes([7; 16]);
    hubs.receive(&peer, cart, false, hello())
        .await
        .expect("an empty sync message is accepted");
    assert_eq!(hubs.open_carts(), 1, "the linked peer keeps the cart open");
    assert_eq!(rx.try_recv().ok(), Some(Outbound::SyncDue(cart)));
    assert!(hubs.next_sync(peer.conn_id, cart).await.is_some());
    assert_eq!(hubs.open_carts(), 1);
    hubs.leave(peer.conn_id, cart).await;
    assert_eq!(hubs.open_carts(), 0, "the last link out closes the cart");
    assert!(hubs.next_sync(peer.conn_id, cart).await.is_none());
    assert_eq!(
        hubs.open_carts(),
        0,
        "asking about a closed cart opens nothing"
    );
}

#[tokio::test]
async fn a_refused_peer_leaves_no_cart_open() {
    let (_dir, hubs, peer, _rx) = hubs_and_peer().await;
    let cart = CartId::from_bytes([8; 16]);
    let mut shopper = cart_core::Cart::new(cart);
    shopper.add_item(&item("A", 1)).expect("add");
    hubs.receive(&peer, cart, false, changes_since(&mut shopper, &[]))
        .await
        .expect("the cart is stored");
    hubs.leave(peer.conn_id, cart).await;
    // A peer with another key asks for it: `doc-unavailable`, and nothing stays open.
    let (mut stranger, mut stranger_rx) = peer_of(&hubs, 2);
    stranger.key = CartKey::parse(Some("another-key-0123456789")).expect("a valid key");
    hubs.receive(&stranger, cart, true, hello())
        .await
        .expect("a request is answered");
    assert!(matches!(stranger_rx.try_recv(), Ok(Outbound::Frame(_))));
    assert_eq!(hubs.open_carts(), 0);
}

#[tokio::test]
async fn a_peer_that_asks_before_the_cart_is_stored_is_sent_it_once_a_device_creates_it() {
    let (_dir, hubs, laptop, mut laptop_rx) = hubs_and_peer().await;
    let cart = CartId::from_bytes([13; 16]);
    // The laptop opens the shared link first: the server has nothing yet and says so.
    let (mut copy, mut sync) = (Automerge::new(), SyncState::new());
    let request = copy
        .generate_sync_message(&mut sync)
        .expect("a first message");
    hubs.receive(&laptop, cart, true, request)
        .await
        .expect("a request is answered");
    assert!(matches!(laptop_rx.try_recv(), Ok(Outbound::Frame(_))));
    assert_eq!(hubs.open_carts(), 1, "the asking peer stays linked");

    // Then the phone's first change arrives and creates the cart.
    let (phone, _phone_rx) = peer_of(&hubs, 2);
    let mut shopper = cart_core::Cart::new(cart);
    shopper.add_item(&item("A", 1)).expect("add");
    hubs.receive(&phone, cart, false, changes_since(&mut shopper, &[]))
        .await
        .expect("the first line is stored");
    let sent = answer_due(&hubs, &laptop, &mut laptop_rx, &mut copy, &mut sync).await;
    assert!(sent > 0, "the cart was sent to the laptop");
    assert_eq!(copy.get_heads(), shopper.heads(), "the laptop has the cart");
}

#[tokio::test]
async fn a_message_dropped_while_it_waits_for_the_cart_releases_it() {
    let (_dir, hubs, peer, _rx) = hubs_and_peer().await;
    let cart = CartId::from_bytes([9; 16]);
    let busy = hubs.carts.open(cart, CartHub::new);
    let locked = busy.state.lock().await;
    let mut receiving = Box::pin(hubs.receive(&peer, cart, false, hello()));
    assert!(
        (&mut receiving).now_or_never().is_none(),
        "it waits for the lock"
    );
    drop(receiving);
    drop(locked);
    drop(busy);
    assert_eq!(
        hubs.open_carts(),
        0,
        "the dropped message released the cart"
    );
}

/// A sync message carrying the changes of `doc` since `since`.
fn changes_since(doc: &mut cart_core::Cart, since: &[ChangeHash]) -> AutomergeSync {
    sync_carrying(doc.heads(), doc.save_after(since))
}

/// What a refused change must leave as it was: the hub's copy of a cart (its changes, the
/// lines it counts, the chunks it knows of), the sync state of the peer, and the chunks the
/// store holds.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    heads: Vec<ChangeHash>,
    changes: Vec<ChangeHash>,
    lines: usize,
    stored_bytes: usize,
    incrementals: usize,
    sync: Vec<u8>,
    chunks: Vec<crate::store::Chunk>,
}

async fn snapshot(hubs: &Hubs, cart: CartId, peer: &PeerContext) -> Snapshot {
    let hub = hubs.carts.get(cart).expect("the cart is open");
    let state = hub.state.lock().await;
    let mut changes: Vec<ChangeHash> = state
        .cart
        .doc
        .get_changes(&[])
        .iter()
        .map(|c| c.hash())
        .collect();
    changes.sort();
    Snapshot {
        heads: state.cart.doc.get_heads(),
        changes,
        lines: state.cart.line_count(),
        stored_bytes: state.cart.stored_bytes(),
        incrementals: state.cart.incrementals(),
        sync: state.links[&peer.conn_id].sync.encode(),
        chunks: hubs.store.load_chunks(&cart).await.expect("the chunks"),
    }
}

#[tokio::test]
async fn a_refused_change_leaves_the_cart_and_the_store_as_they_were_and_the_next_is_accepted() {
    let limits = Limits {
        max_lines: 2,
        ..Limits::default()
    };
    let (_dir, hubs, peer, _rx) = hubs_and_peer_within(limits).await;
    let cart = CartId::from_bytes([10; 16]);
    let mut shopper = cart_core::Cart::new(cart);
    shopper.add_item(&item("A", 1)).expect("add");
    hubs.receive(&peer, cart, false, changes_since(&mut shopper, &[]))
        .await
        .expect("a valid first line is accepted");
    let accepted = shopper.heads();
    let before = snapshot(&hubs, cart, &peer).await;
    assert_eq!(before.heads, accepted);
    assert_eq!(before.lines, 1);

    // Two more lines: over the line limit.
    let mut greedy = cart_core::Cart::load(cart, &shopper.save()).expect("load");
    greedy.add_item(&item("B", 1)).expect("add");
    greedy.add_item(&item("C", 1)).expect("add");
    let over_limit = changes_since(&mut greedy, &accepted);

    // A value outside the schema.
    let mut forger = automerge::AutoCommit::load(&shopper.save()).expect("load");
    automerge::transaction::Transactable::put(&mut forger, automerge::ROOT, "add:A#x", 5000)
        .expect("put");
    forger.commit();
    let outside_schema = sync_carrying(forger.get_heads(), forger.save_after(&accepted));

    for (message, kind) in [
        (over_limit, ErrorKind::TooManyLines),
        (outside_schema, ErrorKind::SchemaViolation),
    ] {
        let refused = hubs
            .receive(&peer, cart, false, message)
            .await
            .expect_err("the change is refused");
        assert_eq!(refused.kind(), kind);
        assert_eq!(snapshot(&hubs, cart, &peer).await, before, "after {kind:?}");
        assert!(
            refused.undo_bytes() > 0,
            "the peer is charged for the cart read again"
        );
    }

    // The next valid change: one more line, within the limit only if the refused lines
    // left no trace in the kept line count.
    shopper.add_item(&item("B", 1)).expect("add");
    hubs.receive(&peer, cart, false, changes_since(&mut shopper, &accepted))
        .await
        .expect("a second line is accepted");
    let after = snapshot(&hubs, cart, &peer).await;
    assert_eq!(after.heads, shopper.heads());
    assert_eq!(after.lines, 2);
    assert_eq!(
        after.chunks.len(),
        before.chunks.len() + 1,
        "one more chunk stored"
    );
}

#[tokio::test]
async fn a_change_over_the_size_limit_leaves_the_cart_and_the_store_as_they_were() {
    let mut shopper = cart_core::Cart::new(CartId::from_bytes([11; 16]));
    shopper.add_item(&item("A", 1)).expect("add");
    let first = shopper.save();
    let limits = Limits {
        max_document_bytes: first.len() + 64,
        ..Limits::default()
    };
    let (_dir, hubs, peer, _rx) = hubs_and_peer_within(limits).await;
    let cart = *shopper.id();
    hubs.receive(&peer, cart, false, sync_carrying(shopper.heads(), first))
        .await
        .expect("a cart within the size limit is accepted");
    let accepted = shopper.heads();
    let before = snapshot(&hubs, cart, &peer).await;

    for sku in ["B", "C", "D", "E", "F"] {
        shopper.add_item(&item(sku, 1)).expect("add");
    }
    let refused = hubs
        .receive(&peer, cart, false, changes_since(&mut shopper, &accepted))
        .await
        .expect_err("a cart over the size limit is refused");
    assert_eq!(refused.kind(), ErrorKind::DocumentTooLarge);
    assert_eq!(snapshot(&hubs, cart, &peer).await, before);
}

/// Plays a peer's part for `replica` with its sync `state` until `hubs` has nothing more
/// to send it: takes each due sync message, applies it and answers it. Returns how many
/// sync messages the hubs sent.
async fn answer_due(
    hubs: &Hubs,
    peer: &PeerContext,
    rx: &mut mpsc::Receiver<Outbound>,
    replica: &mut Automerge,
    state: &mut SyncState,
) -> usize {
    let mut sent = 0;
    while let Ok(outbound) = rx.try_recv() {
        let Outbound::SyncDue(cart) = outbound else {
            panic!("only sync messages are due, got {outbound:?}");
        };
        let Some(Message::Sync(sync)) = hubs.next_sync(peer.conn_id, cart).await else {
            continue;
        };
        sent += 1;
        let message = AutomergeSync::decode(&sync.data).expect("a valid sync message");
        replica
            .receive_sync_message(state, message)
            .expect("the hub's changes apply");
        if let Some(answer) = replica.generate_sync_message(state) {
            hubs.receive(peer, cart, false, answer)
                .await
                .expect("the answer is accepted");
        }
    }
    sent
}

#[tokio::test]
async fn a_change_stored_by_another_instance_reaches_this_instances_peers_once_reported() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("shared.sqlite3");
    let (here, phone, mut phone_rx) = instance(&db, Limits::default(), 1).await;
    let (there, laptop, mut laptop_rx) = instance(&db, Limits::default(), 2).await;
    let cart = CartId::from_bytes([12; 16]);
    let mut shopper = cart_core::Cart::new(cart);
    shopper.add_item(&item("A", 1)).expect("add");
    here.receive(&phone, cart, false, changes_since(&mut shopper, &[]))
        .await
        .expect("the first line is stored");

    // The laptop joins the cart on the other instance and gets the first line.
    let (mut copy, mut sync) = (Automerge::new(), SyncState::new());
    let hello = copy
        .generate_sync_message(&mut sync)
        .expect("a first message");
    there
        .receive(&laptop, cart, true, hello)
        .await
        .expect("the request is answered");
    answer_due(&there, &laptop, &mut laptop_rx, &mut copy, &mut sync).await;
    assert_eq!(copy.get_heads(), shopper.heads());

    // A second line on the phone's instance: the laptop hears nothing until it is reported.
    let before = shopper.heads();
    shopper.add_item(&item("B", 1)).expect("add");
    here.receive(&phone, cart, false, changes_since(&mut shopper, &before))
        .await
        .expect("the second line is stored");
    assert!(laptop_rx.try_recv().is_err(), "no report yet, nothing due");

    // The report of the phone's instance's own change finds nothing new there, so its
    // peer is sent nothing more.
    while phone_rx.try_recv().is_ok() {}
    here.follow(FeedEvent::Changed(cart)).await;
    assert!(phone_rx.try_recv().is_err(), "nothing new, nothing due");

    there.follow(FeedEvent::Changed(cart)).await;
    let sent = answer_due(&there, &laptop, &mut laptop_rx, &mut copy, &mut sync).await;
    assert!(sent > 0, "the change was sent to the laptop");
    assert_eq!(
        copy.get_heads(),
        shopper.heads(),
        "the laptop has both lines"
    );
    assert_eq!(
        cart_core::schema::quantities(&copy).len(),
        2,
        "and reads them as two lines"
    );

    // Reported again (the instance's own change, or a duplicate): nothing more is sent.
    there.follow(FeedEvent::Changed(cart)).await;
    assert!(laptop_rx.try_recv().is_err(), "nothing new, nothing due");

    // After the feed reconnects every open cart is read again: a change whose report was
    // lost still arrives.
    let before = shopper.heads();
    shopper.add_item(&item("C", 1)).expect("add");
    here.receive(&phone, cart, false, changes_since(&mut shopper, &before))
        .await
        .expect("the third line is stored");
    there.follow(FeedEvent::Resumed).await;
    answer_due(&there, &laptop, &mut laptop_rx, &mut copy, &mut sync).await;
    assert_eq!(
        copy.get_heads(),
        shopper.heads(),
        "the laptop has all three lines"
    );
}

#[tokio::test]
async fn a_report_about_a_cart_that_is_not_open_opens_nothing() {
    let (_dir, hubs, _peer, _rx) = hubs_and_peer().await;
    hubs.follow(FeedEvent::Changed(CartId::from_bytes([13; 16])))
        .await;
    hubs.follow(FeedEvent::Resumed).await;
    assert_eq!(hubs.open_carts(), 0);
}
