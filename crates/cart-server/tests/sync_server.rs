//! cart-server over loopback: a real server on 127.0.0.1 with a temporary SQLite file, driven
//! by a small automerge-repo protocol client.

mod support;

use std::time::Duration;

use automerge::sync::{Message as AutomergeSync, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ReadDoc, ROOT};
use cart_core::chunk_bounds::crafted;
use cart_core::wire::{self as protocol, Message};
use cart_core::CartId;
use cart_server::error::ErrorKind;
use cart_server::limits::Limits;
use support::*;
use tempfile::TempDir;

async fn server(limits: Limits) -> (TempDir, TestServer) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(&dir.path().join("carts.sqlite3"), limits, None).await;
    (dir, server)
}

/// Creates a cart with `skus` on the server through a new client; returns the replica.
async fn created(server: &TestServer, skus: &[&str]) -> Replica {
    let mut owner = Client::connect(server, KEY, "creator", None).await;
    let mut replica = Replica::with_items(skus);
    owner
        .sync(&mut replica, false)
        .await
        .expect("the cart is created");
    replica
}

/// What a fresh device with `key` gets for `cart`: its lines, or why it got none.
async fn fetch(
    server: &TestServer,
    key: &str,
    cart: CartId,
) -> Result<Vec<(String, i64)>, SyncEnd> {
    let mut client = Client::connect(server, key, "fetcher", None).await;
    let mut replica = Replica::empty(cart);
    client.sync(&mut replica, true).await?;
    Ok(replica.lines())
}

fn assert_refused(error: &protocol::Error, kind: ErrorKind) {
    assert_eq!(
        error.code.as_deref(),
        Some(kind.as_str()),
        "wrong error: {error:?}"
    );
    assert!(!error.message.is_empty());
}

#[tokio::test]
async fn two_clients_diverge_offline_and_converge_after_reconnect() {
    let (_dir, server) = server(Limits::default()).await;
    let mut phone = created(&server, &["TEE"]).await;
    let mut laptop = Replica::empty(phone.cart);
    {
        let mut client = Client::connect(&server, KEY, "laptop", None).await;
        client
            .sync(&mut laptop, true)
            .await
            .expect("laptop gets the cart");
    }
    assert_eq!(laptop.lines(), vec![("TEE".to_string(), 1)]);

    // Both devices are offline now and edit the same cart.
    phone.add("MUG", 2);
    phone.add("TEE", 1);
    laptop.add("CAP", 1);
    laptop.add("TEE", 3);

    let mut phone_client = Client::connect(&server, KEY, "phone", None).await;
    let mut laptop_client = Client::connect(&server, KEY, "laptop", None).await;
    phone.state = automerge::sync::State::new();
    laptop.state = automerge::sync::State::new();
    phone_client
        .sync(&mut phone, false)
        .await
        .expect("phone syncs");
    laptop_client
        .sync(&mut laptop, false)
        .await
        .expect("laptop syncs");
    // The laptop's sync brought the phone's changes; the phone gets the laptop's live.
    while phone.doc.get_heads() != laptop.doc.get_heads() {
        phone_client
            .receive_into(&mut phone)
            .await
            .expect("live changes reach the phone");
    }
    let expected = vec![
        ("TEE".to_string(), 5),
        ("MUG".to_string(), 2),
        ("CAP".to_string(), 1),
    ];
    let mut got = phone.lines();
    got.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(got, want, "every offline add survives the merge");
    let mut laptop_lines = laptop.lines();
    laptop_lines.sort();
    assert_eq!(laptop_lines, want);
    let mut fresh = fetch(&server, KEY, phone.cart).await.expect("fetch");
    fresh.sort();
    assert_eq!(fresh, want, "the server holds the merged cart");
    server.stop().await;
}

#[tokio::test]
async fn a_change_reaches_every_other_connected_peer_live() {
    let (_dir, server) = server(Limits::default()).await;
    let mut a = created(&server, &["TEE"]).await;
    let mut b = Replica::empty(a.cart);
    let mut c = Replica::empty(a.cart);
    let mut a_client = Client::connect(&server, KEY, "a", None).await;
    let mut b_client = Client::connect(&server, KEY, "b", None).await;
    let mut c_client = Client::connect(&server, KEY, "c", None).await;
    a.state = automerge::sync::State::new();
    a_client.sync(&mut a, false).await.expect("a");
    b_client.sync(&mut b, true).await.expect("b");
    c_client.sync(&mut c, true).await.expect("c");

    a.add("MUG", 1);
    a_client
        .sync(&mut a, false)
        .await
        .expect("a sends its change");
    for (client, replica) in [(&mut b_client, &mut b), (&mut c_client, &mut c)] {
        // No message from b or c: the change arrives unasked (after the answer to their last
        // sync message, which carries no changes).
        while replica.doc.get_heads() != a.doc.get_heads() {
            client.receive_into(replica).await.expect("live change");
        }
        assert_eq!(replica.doc.get_heads(), a.doc.get_heads());
        assert!(replica.lines().contains(&("MUG".to_string(), 1)));
    }
    server.stop().await;
}

#[tokio::test]
async fn acknowledged_changes_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("carts.sqlite3");
    let server = TestServer::start(&db, Limits::default(), None).await;
    let mut replica = Replica::with_items(&["TEE"]);
    let mut client = Client::connect(&server, KEY, "phone", Some("phone-storage")).await;
    let storage_id = client.server_storage_id.clone();
    for n in 0..40 {
        replica.add(&format!("SKU-{n}"), 1);
        // sync() returns once the server's heads include ours: the change is acknowledged.
        client.sync(&mut replica, false).await.expect("sync");
    }
    let (chunks, heads) = stored(&db, &replica.cart).await;
    assert_eq!(
        heads,
        replica.doc.get_heads(),
        "every acknowledged change is on disk"
    );
    assert!(
        chunks < 40,
        "compaction replaced chunks with a snapshot ({chunks} chunks)"
    );
    drop(client);
    server.stop().await;

    let server = TestServer::start(&db, Limits::default(), None).await;
    let lines = fetch(&server, KEY, replica.cart)
        .await
        .expect("fetch after restart");
    assert_eq!(lines.len(), 41);
    let client = Client::connect(&server, KEY, "phone", None).await;
    assert_eq!(
        client.server_storage_id, storage_id,
        "the storage id is stable"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_returning_device_with_a_storage_id_resumes_from_the_shared_heads() {
    let (_dir, server) = server(Limits::default()).await;
    let mut replica = created(&server, &["TEE"]).await;
    replica.state = automerge::sync::State::new();
    {
        let mut client = Client::connect(&server, KEY, "phone", Some("phone-storage")).await;
        client
            .sync(&mut replica, false)
            .await
            .expect("first session");
    }
    // The device comes back with its sync state and one new change.
    let mut returning = replica.restarted();
    returning.add("MUG", 1);
    let mut client = Client::connect(&server, KEY, "phone-2", Some("phone-storage")).await;
    let first = returning
        .doc
        .generate_sync_message(&mut returning.state)
        .expect("a first message");
    client
        .send(&client.sync_message(&returning.cart, first.encode(), false))
        .await;
    let Message::Sync(reply) = client.recv().await else {
        panic!("expected a sync reply")
    };
    let reply = AutomergeSync::decode(&reply.data).expect("valid reply");
    let remembered = &reply.have.first().expect("a have").last_sync;
    assert_eq!(
        remembered,
        &replica.doc.get_heads(),
        "the server resumes from the heads it shared with this storage"
    );
    returning
        .doc
        .receive_sync_message(&mut returning.state, reply)
        .expect("apply");
    client.sync(&mut returning, false).await.expect("finish");
    assert!(fetch(&server, KEY, replica.cart)
        .await
        .expect("fetch")
        .contains(&("MUG".to_string(), 1)));

    // A device without a storage id starts from nothing.
    let mut stranger = Client::connect(&server, KEY, "tablet", None).await;
    let mut empty = Replica::empty(replica.cart);
    let first = empty
        .doc
        .generate_sync_message(&mut empty.state)
        .expect("first");
    stranger
        .send(&stranger.sync_message(&empty.cart, first.encode(), true))
        .await;
    let Message::Sync(reply) = stranger.recv().await else {
        panic!("expected a sync reply")
    };
    let reply = AutomergeSync::decode(&reply.data).expect("valid reply");
    assert!(reply.have.first().is_none_or(|h| h.last_sync.is_empty()));
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_key_gets_doc_unavailable_like_a_cart_that_does_not_exist() {
    let (_dir, server) = server(Limits::default()).await;
    let owner = created(&server, &["TEE"]).await;
    let before = stored(&server.db, &owner.cart).await;

    assert_eq!(
        fetch(&server, OTHER_KEY, owner.cart).await,
        Err(SyncEnd::Unavailable)
    );
    let unknown = CartId::random().expect("id");
    assert_eq!(
        fetch(&server, KEY, unknown).await,
        Err(SyncEnd::Unavailable)
    );

    // Pushing changes with the wrong key is refused the same way and stores nothing.
    let mut intruder = Client::connect(&server, OTHER_KEY, "intruder", None).await;
    let mut forged = Replica::empty(owner.cart);
    forged.add("EVIL", 1);
    assert_eq!(
        intruder.sync(&mut forged, false).await,
        Err(SyncEnd::Unavailable)
    );
    assert_eq!(stored(&server.db, &owner.cart).await, before);
    assert_eq!(
        fetch(&server, KEY, owner.cart)
            .await
            .expect("owner still gets it"),
        vec![("TEE".to_string(), 1)]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_request_for_an_unknown_cart_creates_nothing() {
    let (_dir, server) = server(Limits::default()).await;
    let cart = CartId::random().expect("id");
    assert_eq!(fetch(&server, KEY, cart).await, Err(SyncEnd::Unavailable));
    assert_eq!(stored(&server.db, &cart).await.0, 0);
    // The first key to store changes owns the cart.
    let mut replica = Replica::empty(cart);
    replica.add("TEE", 1);
    let mut client = Client::connect(&server, OTHER_KEY, "creator", None).await;
    client.sync(&mut replica, false).await.expect("created");
    assert_eq!(fetch(&server, KEY, cart).await, Err(SyncEnd::Unavailable));
    assert!(fetch(&server, OTHER_KEY, cart).await.is_ok());
    server.stop().await;
}

/// Runs `bad` on a joined client next to a stored cart, and checks that the server answers with
/// an error of `kind`, stores nothing, and still serves the same connection afterwards.
async fn refused_without_change(
    limits: Limits,
    kind: ErrorKind,
    bad: impl AsyncFnOnce(&mut Client, &Replica),
) {
    let (_dir, server) = server(limits).await;
    let mut owner = created(&server, &["TEE"]).await;
    let before = stored(&server.db, &owner.cart).await;
    let mut client = Client::connect(&server, KEY, "tester", None).await;
    bad(&mut client, &owner).await;
    let error = client.expect_error().await;
    assert_refused(&error, kind);
    assert_eq!(error.target_id, "tester");
    assert_eq!(
        stored(&server.db, &owner.cart).await,
        before,
        "the store changed"
    );
    assert_eq!(server.state.metrics().errors_of(kind), 1);
    // The connection keeps working for valid messages.
    owner.add("MUG", 1);
    owner.state = automerge::sync::State::new();
    client
        .sync(&mut owner, false)
        .await
        .expect("a valid sync after the refusal");
    assert_eq!(
        stored(&server.db, &owner.cart).await.1,
        owner.doc.get_heads()
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_cbor_gets_an_error_and_changes_nothing() {
    refused_without_change(
        Limits::default(),
        ErrorKind::MalformedCbor,
        async |client, _| {
            client.send_raw(vec![0xa2, 0x64, b't', b'y', 0xff]).await;
        },
    )
    .await;
}

#[tokio::test]
async fn unknown_message_types_get_an_error_and_change_nothing() {
    refused_without_change(
        Limits::default(),
        ErrorKind::UnknownMessageType,
        async |client, r| {
            let map: std::collections::BTreeMap<&str, String> = [
                ("type", "delete-everything".to_string()),
                ("senderId", "tester".to_string()),
                ("documentId", r.cart.to_string()),
            ]
            .into_iter()
            .collect();
            let mut frame = Vec::new();
            ciborium::into_writer(&map, &mut frame).expect("encode");
            client.send_raw(frame).await;
        },
    )
    .await;
}

#[tokio::test]
async fn bytes_that_are_not_an_automerge_sync_message_get_an_error() {
    refused_without_change(
        Limits::default(),
        ErrorKind::InvalidAutomerge,
        async |client, r| {
            let m = client.sync_message(&r.cart, b"definitely not automerge".to_vec(), false);
            client.send(&m).await;
        },
    )
    .await;
}

#[tokio::test]
async fn a_sync_message_with_corrupt_changes_gets_an_error() {
    refused_without_change(
        Limits::default(),
        ErrorKind::InvalidAutomerge,
        async |client, r| {
            let message = AutomergeSync {
                heads: r.doc.get_heads(),
                need: Vec::new(),
                have: Vec::new(),
                changes: vec![vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 5, 6, 7, 8]].into(),
                flags: None,
                version: automerge::sync::MessageVersion::V1,
            };
            let m = client.sync_message(&r.cart, message.encode(), false);
            client.send(&m).await;
        },
    )
    .await;
}

#[tokio::test]
async fn a_change_of_a_billion_operations_is_refused_before_loading() {
    let started = std::time::Instant::now();
    refused_without_change(
        Limits::default(),
        ErrorKind::ChangeTooLarge,
        async |client, r| {
            let change = crafted::repeated_put_change(1_000_000_000);
            let message = AutomergeSync {
                heads: r.doc.get_heads(),
                need: Vec::new(),
                have: Vec::new(),
                changes: vec![change].into(),
                flags: None,
                version: automerge::sync::MessageVersion::V1,
            };
            let m = client.sync_message(&r.cart, message.encode(), false);
            client.send(&m).await;
        },
    )
    .await;
    println!(
        "server started, a change of a billion operations refused, a valid change synced: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_bloom_filter_asking_for_billions_of_probes_is_refused() {
    refused_without_change(
        Limits::default(),
        ErrorKind::InvalidAutomerge,
        async |client, r| {
            // A sync message whose one bloom filter asks for 2^32 - 1 probes per hash (automerge
            // writes 7): answering it would allocate 16 GB per change of the cart.
            let bloom = [1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
            let mut data = vec![0x42, 0, 0, 1, 0, bloom.len() as u8];
            data.extend(bloom);
            data.push(0);
            let m = client.sync_message(&r.cart, data, false);
            client.send(&m).await;
        },
    )
    .await;
}

/// Sends, as one sync message, every change of `edited` that `replica` (what the server has)
/// lacks.
async fn send_changes(client: &mut Client, replica: &Replica, edited: &Automerge) {
    let message = AutomergeSync {
        heads: edited.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![edited.save_after(&replica.doc.get_heads())].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    let message = client.sync_message(&replica.cart, message.encode(), false);
    client.send(&message).await;
}

#[tokio::test]
async fn a_schema_breaking_change_is_refused_and_nothing_of_it_is_stored() {
    refused_without_change(
        Limits::default(),
        ErrorKind::SchemaViolation,
        async |client, r| {
            let mut bad = AutoCommit::load(&r.doc.save()).expect("load");
            bad.put(ROOT, "add:TEE#forged", 5000).expect("put"); // quantity above 999
            bad.put(ROOT, "item:FREE", "not a map").expect("put");
            bad.commit();
            send_changes(client, r, bad.document()).await;
        },
    )
    .await;
}

#[tokio::test]
async fn a_negative_price_is_refused() {
    refused_without_change(
        Limits::default(),
        ErrorKind::SchemaViolation,
        async |client, r| {
            let mut bad = AutoCommit::load(&r.doc.save()).expect("load");
            let (_, item) = automerge::ReadDoc::get(&bad, ROOT, "item:TEE")
                .expect("get")
                .expect("the TEE line");
            bad.put(&item, "unitPrice", -100).expect("put");
            bad.commit();
            send_changes(client, r, bad.document()).await;
        },
    )
    .await;
}

#[tokio::test]
async fn oversized_frames_get_an_error_and_change_nothing() {
    let limits = Limits::default();
    let size = limits.max_frame_bytes + 1;
    refused_without_change(limits, ErrorKind::FrameTooLarge, async move |client, r| {
        let m = client.sync_message(&r.cart, vec![0x42; size], false);
        client.send(&m).await;
    })
    .await;
}

#[tokio::test]
async fn a_cart_may_not_grow_past_its_line_limit() {
    let limits = Limits {
        max_lines: 2,
        ..Limits::default()
    };
    refused_without_change(limits, ErrorKind::TooManyLines, async |client, r| {
        let mut grown = Replica::empty(r.cart);
        grown.doc = Automerge::load(&r.doc.save()).expect("load");
        grown.add("A", 1);
        grown.add("B", 1);
        send_changes(client, r, &grown.doc).await;
    })
    .await;
}

#[tokio::test]
async fn a_cart_may_not_grow_past_its_size_limit() {
    let limits = Limits {
        max_document_bytes: 4096,
        ..Limits::default()
    };
    refused_without_change(limits, ErrorKind::DocumentTooLarge, async |client, r| {
        let mut grown = AutoCommit::load(&r.doc.save()).expect("load");
        let (_, item) = automerge::ReadDoc::get(&grown, ROOT, "item:TEE")
            .expect("get")
            .expect("the TEE line");
        // Random bytes do not compress: 300 names of 50 random hex characters.
        for i in 0..300 {
            let noise: String = (0..25)
                .map(|_| format!("{:02x}", CartId::random().expect("random").as_bytes()[0]))
                .collect();
            grown
                .put(&item, "name", format!("{i}{noise}"))
                .expect("put");
            grown.commit();
        }
        send_changes(client, r, grown.document()).await;
    })
    .await;
}

#[tokio::test]
async fn text_frames_get_an_error() {
    refused_without_change(
        Limits::default(),
        ErrorKind::TextFrame,
        async |client, _| {
            client.send_text("{\"type\":\"sync\"}").await;
        },
    )
    .await;
}

#[tokio::test]
async fn a_flood_of_messages_is_rate_limited() {
    let (_dir, server) = server(Limits {
        messages_per_second: 0.5,
        message_burst: 3.0,
        ..Limits::default()
    })
    .await;
    let replica = created(&server, &["TEE"]).await;
    let before = stored(&server.db, &replica.cart).await;
    let mut client = Client::connect(&server, KEY, "flood", None).await; // join took 1 token
    let unknown = CartId::random().expect("id");
    let empty = Automerge::new()
        .generate_sync_message(&mut automerge::sync::State::new())
        .expect("a first message")
        .encode();
    for _ in 0..3 {
        let m = client.sync_message(&unknown, empty.clone(), true);
        client.send(&m).await;
    }
    let mut codes = Vec::new();
    for _ in 0..3 {
        match client.recv().await {
            Message::Error(e) => codes.push(e.code.unwrap_or_default()),
            Message::DocUnavailable(_) => codes.push("doc-unavailable".to_string()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        codes.iter().filter(|c| *c == "rate_limited").count(),
        1,
        "{codes:?}"
    );
    assert_eq!(stored(&server.db, &replica.cart).await, before);
    server.stop().await;
}

#[tokio::test]
async fn messages_before_join_are_refused_and_a_missing_key_closes_the_connection() {
    let (_dir, server) = server(Limits::default()).await;
    let mut client = Client::open(&server.url(KEY)).await;
    let sync = Message::Sync(protocol::Sync {
        sender_id: "early".into(),
        target_id: "server".into(),
        document_id: CartId::random().expect("id").to_string(),
        data: vec![0x42],
    });
    client.send(&sync).await;
    assert_refused(&client.expect_error().await, ErrorKind::NotJoined);

    let mut keyless = Client::open(&format!("ws://{}/sync", server.addr)).await;
    keyless
        .send(&Message::Join(protocol::Join {
            sender_id: "keyless".into(),
            peer_metadata: None,
            supported_protocol_versions: Some(vec!["1".into()]),
        }))
        .await;
    let error = keyless.expect_error().await;
    assert_refused(&error, ErrorKind::MissingKey);
    assert!(error.message.contains("key"));
    match keyless.next_frame().await {
        Some(tokio_tungstenite::tungstenite::Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 1008)
        }
        other => panic!("expected a close frame, got {other:?}"),
    }

    let mut old = Client::open(&server.url(KEY)).await;
    old.send(&Message::Join(protocol::Join {
        sender_id: "old".into(),
        peer_metadata: None,
        supported_protocol_versions: Some(vec!["0".into()]),
    }))
    .await;
    assert_refused(&old.expect_error().await, ErrorKind::UnsupportedProtocol);
    server.stop().await;
}

#[tokio::test]
async fn spoofed_senders_and_bad_document_ids_are_refused() {
    let (_dir, server) = server(Limits::default()).await;
    let replica = created(&server, &["TEE"]).await;
    let mut client = Client::connect(&server, KEY, "honest", None).await;
    let mut spoofed = client.sync_message(&replica.cart, vec![0x42, 0, 0, 0], false);
    if let Message::Sync(s) = &mut spoofed {
        s.sender_id = "someone-else".into();
    }
    client.send(&spoofed).await;
    assert_refused(&client.expect_error().await, ErrorKind::WrongSender);
    let mut bad_id = client.sync_message(&replica.cart, vec![0x42, 0, 0, 0], false);
    if let Message::Sync(s) = &mut bad_id {
        s.document_id = "not-a-cart".into();
    }
    client.send(&bad_id).await;
    assert_refused(&client.expect_error().await, ErrorKind::InvalidDocumentId);
    server.stop().await;
}

#[tokio::test]
async fn ephemeral_messages_are_relayed_to_the_other_peers_of_the_cart() {
    let (_dir, server) = server(Limits::default()).await;
    let replica = created(&server, &["TEE"]).await;
    let mut a = Client::connect(&server, KEY, "a", None).await;
    let mut b = Client::connect(&server, KEY, "b", None).await;
    let mut stranger = Client::connect(&server, OTHER_KEY, "stranger", None).await;
    let mut ra = Replica::empty(replica.cart);
    let mut rb = Replica::empty(replica.cart);
    a.sync(&mut ra, true).await.expect("a");
    b.sync(&mut rb, true).await.expect("b");
    let ephemeral = |client: &Client, count: u64| {
        Message::Ephemeral(protocol::Ephemeral {
            sender_id: client.peer_id.clone(),
            target_id: client.server_peer_id.clone(),
            count,
            session_id: "session-1".into(),
            document_id: replica.cart.to_string(),
            data: vec![0xa1, 0x61, 0x78, 0x01],
        })
    };
    // The stranger is not linked to the cart: its message goes nowhere.
    stranger.send(&ephemeral(&stranger, 1)).await;
    a.send(&ephemeral(&a, 1)).await;
    match b.recv_skipping_sync().await {
        Message::Ephemeral(e) => {
            assert_eq!(e.sender_id, "a");
            assert_eq!(e.target_id, "b");
            assert_eq!(e.count, 1);
            assert_eq!(e.data, vec![0xa1, 0x61, 0x78, 0x01]);
        }
        other => panic!("expected the relayed ephemeral message, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn readiness_follows_the_store_while_liveness_stays_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("c.sqlite3");
    let server = TestServer::start(&db, Limits::default(), None).await;
    let (status, _, body) = http_get(&server, "/readyz").await;
    assert_eq!((status, body.as_slice()), (200, b"ready\n".as_slice()));

    // The store stops answering: the table readiness reads is gone, as after a broken
    // migration or a restored backup without it.
    let sqlite = rusqlite::Connection::open(&db).expect("open the sqlite file");
    sqlite
        .execute_batch("ALTER TABLE carts RENAME TO carts_away;")
        .expect("rename the table");
    let (status, headers, body) = http_get(&server, "/readyz").await;
    assert_eq!(status, 503);
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/json"));
    let error: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(error["code"], "not_ready");
    assert!(
        !String::from_utf8_lossy(&body).contains("no such table"),
        "no internal detail in the body"
    );
    let (status, _, _) = http_get(&server, "/healthz").await;
    assert_eq!(status, 200, "liveness does not depend on the store");

    sqlite
        .execute_batch("ALTER TABLE carts_away RENAME TO carts;")
        .expect("rename the table back");
    let (status, _, _) = http_get(&server, "/readyz").await;
    assert_eq!(status, 200, "ready again once the store answers");
    server.stop().await;
}

#[tokio::test]
async fn health_metrics_and_static_files_are_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let site = dir.path().join("dist");
    std::fs::create_dir_all(&site).expect("mkdir");
    std::fs::write(site.join("index.html"), "<h1>shop</h1>").expect("write");
    std::fs::write(site.join("cart_bg.wasm"), b"\0asm\x01\0\0\0").expect("write");
    let server =
        TestServer::start(&dir.path().join("c.sqlite3"), Limits::default(), Some(site)).await;
    created(&server, &["TEE"]).await;

    let (status, _, body) = http_get(&server, "/healthz").await;
    assert_eq!((status, body.as_slice()), (200, b"ok\n".as_slice()));
    let (status, headers, body) = http_get(&server, "/metrics").await;
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.starts_with("application/openmetrics-text")));
    let text = String::from_utf8(body).expect("utf-8");
    for line in [
        "cart_server_carts_stored 1",
        "cart_server_connections_total 1",
        "cart_server_changes_stored_total 1",
        "cart_server_errors_total{kind=\"malformed_cbor\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("cart_server_sync_messages_in_total"));
    assert!(text.contains("cart_server_bytes_out_total"));
    assert!(text.contains("cart_server_sync_apply_seconds_count "));
    assert!(text.contains("process_resident_memory_bytes "));
    assert!(
        text.ends_with("# EOF\n"),
        "a complete OpenMetrics exposition"
    );
    let (status, headers, _) = http_get(&server, "/cart_bg.wasm").await;
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-type".to_string(), "application/wasm".to_string())));
    let (status, _, body) = http_get(&server, "/").await;
    assert_eq!(
        (status, body.as_slice()),
        (200, b"<h1>shop</h1>".as_slice())
    );
    assert_eq!(http_get(&server, "/missing.js").await.0, 404);
    server.stop().await;
}

#[tokio::test]
async fn static_files_are_sent_precompressed_and_hashed_names_are_immutable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let site = dir.path().join("dist");
    std::fs::create_dir_all(&site).expect("mkdir");
    let wasm = "app.0123456789abcdef.wasm";
    // Distinct bytes per variant, so the body tells which file was sent.
    std::fs::write(site.join(wasm), b"\0asm\x01\0\0\0plain").expect("write");
    std::fs::write(site.join(format!("{wasm}.br")), b"brotli bytes").expect("write");
    std::fs::write(site.join(format!("{wasm}.gz")), b"gzip bytes").expect("write");
    std::fs::write(site.join("index.html"), "<h1>shop</h1>").expect("write");
    let server =
        TestServer::start(&dir.path().join("c.sqlite3"), Limits::default(), Some(site)).await;
    let header = |headers: &[(String, String)], name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let path = format!("/{wasm}");

    for (accept, encoding, body) in [
        ("gzip, deflate, br", Some("br"), b"brotli bytes".as_slice()),
        ("gzip", Some("gzip"), b"gzip bytes".as_slice()),
        ("identity", None, b"\0asm\x01\0\0\0plain".as_slice()),
    ] {
        let (status, headers, got) =
            http_request(&server, "GET", &path, &[("Accept-Encoding", accept)], b"").await;
        assert_eq!(status, 200, "Accept-Encoding: {accept}");
        assert_eq!(header(&headers, "content-encoding").as_deref(), encoding);
        assert_eq!(got, body, "Accept-Encoding: {accept}");
        assert_eq!(
            header(&headers, "content-type").as_deref(),
            Some("application/wasm")
        );
        assert_eq!(
            header(&headers, "cache-control").as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(header(&headers, "vary").as_deref(), Some("accept-encoding"));
    }
    let (status, headers, body) = http_get(&server, &path).await;
    assert_eq!(
        (status, body.as_slice()),
        (200, b"\0asm\x01\0\0\0plain".as_slice())
    );
    assert_eq!(header(&headers, "content-encoding"), None);

    let (status, headers, _) = http_get(&server, "/").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "cache-control").as_deref(),
        Some("no-cache")
    );
    let (status, headers, _) = http_get(&server, "/index.html").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "cache-control").as_deref(),
        Some("no-cache")
    );
    let (status, headers, _) = http_get(&server, "/missing.0123456789abcdef.js").await;
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "cache-control"), None);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_connections_with_going_away() {
    let (_dir, server) = server(Limits::default()).await;
    let mut client = Client::connect(&server, KEY, "idle", None).await;
    let stopping = tokio::spawn(server.stop());
    match client.next_frame().await {
        Some(tokio_tungstenite::tungstenite::Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 1001)
        }
        other => panic!("expected a going-away close, got {other:?}"),
    }
    drop(client);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("stops in time")
        .expect("no panic");
}

#[tokio::test]
async fn one_address_may_open_only_so_many_sync_connections() {
    let (_dir, server) = server(Limits {
        max_connections_per_address: 2,
        ..Limits::default()
    })
    .await;
    let first = Client::connect(&server, KEY, "a", None).await;
    let _second = Client::connect(&server, KEY, "b", None).await;
    match tokio_tungstenite::connect_async(server.url(KEY)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429)
        }
        other => panic!("expected 429, got {:?}", other.map(|_| ())),
    }
    assert_eq!(
        server
            .state
            .metrics()
            .errors_of(ErrorKind::TooManyConnections),
        1
    );
    drop(first);
    // The slot is given back when the connection ends.
    let loopback = server.addr.ip();
    while server.state.addresses().count(loopback) > 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Client::connect(&server, KEY, "c", None).await;
    server.stop().await;
}

#[tokio::test]
async fn compaction_keeps_a_stored_chunk_whose_changes_wait_on_a_missing_one() {
    use cart_core::chunks::{ChunkKey, ChunkKind, COMPACT_AFTER};
    use cart_server::secret::CartKey;
    let (_dir, server) = server(Limits::default()).await;
    let mut replica = Replica::with_items(&["TEE"]);
    let base = replica.doc.get_heads();
    let store = server.state.hubs().store();
    let secret = CartKey::parse(Some(KEY))
        .expect("key")
        .hash_for(&replica.cart);
    store
        .append_chunk(&replica.cart, &secret, replica.doc.save())
        .await
        .expect("stored");
    // MUG is added, then CAP on top of it; the store gets CAP's change but never MUG's.
    replica.add("MUG", 1);
    let with_mug = replica.doc.get_heads();
    replica.add("CAP", 1);
    let orphan = replica.doc.save_after(&with_mug);
    let orphan_key = ChunkKey::of(ChunkKind::Incremental, &orphan);
    store
        .append_chunk(&replica.cart, &secret, orphan)
        .await
        .expect("stored");
    // Enough changes from a device that never saw MUG or CAP to compact (each change one
    // incremental chunk).
    let mut editor = Replica {
        cart: replica.cart,
        doc: replica.doc.fork_at(&base).expect("fork"),
        state: automerge::sync::State::new(),
    };
    let mut client = Client::connect(&server, KEY, "editor", None).await;
    for n in 0..COMPACT_AFTER {
        editor.edit(|cart| cart.set_quantity("TEE", (n % 9 + 1) as i64).expect("set"));
        client.sync(&mut editor, false).await.expect("synced");
    }
    let chunks = store.load_chunks(&replica.cart).await.expect("chunks");
    assert!(
        chunks.iter().any(|c| c.key.kind() == ChunkKind::Snapshot),
        "the cart was compacted"
    );
    assert!(
        chunks.iter().any(|c| c.key == orphan_key),
        "the waiting chunk is still stored"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_change_whose_dependency_is_missing_is_asked_for_not_acknowledged() {
    let (_dir, server) = server(Limits::default()).await;
    let mut replica = created(&server, &["TEE"]).await;
    let base = stored(&server.db, &replica.cart).await;
    let mut client = Client::connect(&server, KEY, "phone", None).await;
    replica.add("MUG", 1);
    let first = replica.doc.get_heads();
    replica.add("CAP", 1);
    let second = replica.doc.get_heads();
    let change = |hash: &automerge::ChangeHash| {
        replica
            .doc
            .get_change_by_hash(hash)
            .expect("a change of the replica")
            .raw_bytes()
            .to_vec()
    };
    let carrying = |bytes: Vec<u8>| AutomergeSync {
        heads: second.clone(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![bytes].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    // The second change alone: it waits; nothing is stored and the answer asks for the first.
    let only_second = carrying(change(&second[0]));
    client
        .send(&client.sync_message(&replica.cart, only_second.encode(), false))
        .await;
    let Message::Sync(answer) = client.recv().await else {
        panic!("expected the server's answer")
    };
    let answer = AutomergeSync::decode(&answer.data).expect("sync data");
    assert_eq!(answer.need, first, "the server asks for the missing change");
    assert_eq!(answer.heads, base.1, "and does not claim the waiting one");
    assert_eq!(stored(&server.db, &replica.cart).await, base);
    // The first change arrives: both are stored.
    let only_first = carrying(change(&first[0]));
    client
        .send(&client.sync_message(&replica.cart, only_first.encode(), false))
        .await;
    let Message::Sync(answer) = client.recv().await else {
        panic!("expected the server's answer")
    };
    let answer = AutomergeSync::decode(&answer.data).expect("sync data");
    assert_eq!(answer.heads, second);
    assert_eq!(stored(&server.db, &replica.cart).await.1, second);
    server.stop().await;
}
