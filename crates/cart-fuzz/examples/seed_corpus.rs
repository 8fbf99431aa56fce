//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`, from real data:
//! frames made by `wire::encode`, carts saved by `Cart::save`, incremental changes, and the sync
//! messages a client sends while it syncs a cart.
//!
//! `cargo run -p cart-fuzz --example seed_corpus`; then minimize with `cargo fuzz cmin <target>`.

use std::path::{Path, PathBuf};

use automerge::sync::{State as SyncState, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, ObjType, ROOT};
use cart_core::wire::{self, Message};
use cart_core::{schema, Cart, CartId, NewItem};
use cart_fuzz::{fuzz_cart, join_parts};

fn item(sku: &str, quantity: i64) -> NewItem {
    NewItem {
        sku: sku.into(),
        name: format!("product {sku}"),
        unit_price: 1250,
        currency: "EUR".into(),
        quantity,
        image_url: Some("https://shop.example/a.png".into()),
        variant: Some("large".into()),
    }
}

/// A cart with two lines, one of them edited.
fn two_lines() -> Cart {
    let mut cart = Cart::new(fuzz_cart());
    cart.add_item(&item("A-1", 2)).expect("add");
    cart.add_item(&item("B#2", 1)).expect("add");
    cart.set_quantity("A-1", 5).expect("set");
    cart
}

/// A document with the cart's header written by hand, plus whatever `edit` adds.
fn by_hand(edit: impl FnOnce(&mut AutoCommit)) -> Vec<u8> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from([9u8; 16].as_slice()));
    doc.put(ROOT, schema::SCHEMA, schema::SCHEMA_VERSION)
        .expect("put");
    doc.put(ROOT, schema::CART_ID, fuzz_cart().to_string())
        .expect("put");
    edit(&mut doc);
    doc.save()
}

/// The sync messages a client with `cart` sends until a fresh server has everything.
fn client_messages(cart: &mut Cart) -> Vec<Vec<u8>> {
    let mut server = Automerge::new();
    let (mut client_state, mut server_state) = (SyncState::new(), SyncState::new());
    let mut sent = Vec::new();
    for _ in 0..10 {
        let from_client = cart.generate_sync_message(&mut client_state);
        let quiet = from_client.is_none();
        if let Some(message) = from_client {
            sent.push(message.clone().encode());
            server
                .receive_sync_message(&mut server_state, message)
                .expect("server receives");
        }
        match server.generate_sync_message(&mut server_state) {
            Some(reply) => {
                cart.receive_sync_message(&mut client_state, reply)
                    .expect("client receives");
            }
            None if quiet => break,
            None => {}
        }
    }
    sent
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus directory");
    std::fs::write(dir.join(name), bytes).expect("corpus file");
}

fn main() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let other = CartId::from_bytes([8; 16]);

    // Carts.
    let mut cart = two_lines();
    let saved = cart.save();
    let heads = cart.heads();
    cart.add_item(&item("C", 3)).expect("add");
    cart.remove_item("B#2").expect("remove");
    let incremental = cart.save_after(&heads);
    let mut replica = Cart::load(fuzz_cart(), &saved).expect("load");
    replica.add_item(&item("A-1", 1)).expect("add");
    let concurrent = replica.save();
    let mut cleared = Cart::load(fuzz_cart(), &saved).expect("load");
    cleared.clear().expect("clear");
    let mut foreign = Cart::new(other);
    foreign.add_item(&item("Z", 1)).expect("add");
    let foreign = foreign.save();
    let text_name = by_hand(|doc| {
        let record = doc
            .put_object(ROOT, schema::item_key("T"), ObjType::Map)
            .expect("record");
        let name = doc
            .put_object(&record, schema::NAME, ObjType::Text)
            .expect("text");
        doc.splice_text(&name, 0, 0, "typed in javascript")
            .expect("splice");
        doc.put(&record, schema::UNIT_PRICE, 99.0).expect("put");
        doc.put(&record, schema::CURRENCY, "USD").expect("put");
        doc.put(ROOT, schema::add_key("T", "00ff"), 2u64)
            .expect("put");
    });
    let stranger_key = by_hand(|doc| doc.put(ROOT, "note", "hello").expect("put"));
    let too_many = by_hand(|doc| {
        doc.put(ROOT, schema::add_key("A-1", "01"), 1000)
            .expect("put")
    });

    let schema_dir = corpus.join("schema_check");
    for (name, bytes) in [
        ("two-lines", &saved),
        ("edited", &cart.save()),
        ("concurrent", &concurrent),
        ("cleared", &cleared.save()),
        ("text-name", &text_name),
        ("stranger-key", &stranger_key),
        ("too-many", &too_many),
        ("foreign", &foreign),
    ] {
        write(&schema_dir, name, bytes);
    }

    let merge_dir = corpus.join("merge_bytes");
    for (name, parts) in [
        ("into-empty", vec![&[][..], &saved]),
        ("incremental", vec![&saved, &incremental]),
        ("concurrent", vec![&saved, &concurrent, &incremental]),
        ("cleared", vec![&saved, &cleared.save()]),
        ("foreign", vec![&saved, &foreign]),
        ("not-automerge", vec![&saved, b"not a cart"]),
        ("stranger-key", vec![&saved, &stranger_key]),
    ] {
        write(&merge_dir, name, &join_parts(&parts));
    }

    let sync_dir = corpus.join("server_sync");
    let mut fresh = two_lines();
    let mut session = client_messages(&mut fresh);
    let heads = fresh.heads();
    fresh.add_item(&item("C", 3)).expect("add");
    fresh.clear().expect("clear");
    let mut later_state = SyncState::new();
    if let Some(message) = fresh.generate_sync_message(&mut later_state) {
        session.push(message.encode());
    }
    let later = automerge::sync::Message {
        heads: fresh.heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![fresh.save_after(&heads)].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    session.push(later.encode());
    let refs: Vec<&[u8]> = session.iter().map(Vec::as_slice).collect();
    write(&sync_dir, "session", &join_parts(&refs));
    for (name, doc) in [
        ("stranger-key", &stranger_key),
        ("too-many", &too_many),
        ("foreign", &foreign),
        ("text-name", &text_name),
    ] {
        let message = automerge::sync::Message {
            heads: Vec::new(),
            need: Vec::new(),
            have: Vec::new(),
            changes: vec![doc.clone()].into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        };
        write(&sync_dir, name, &join_parts(&[&message.encode()]));
    }

    let wire_dir = corpus.join("wire_decode");
    let sync = wire::Sync {
        sender_id: "client".into(),
        target_id: "server".into(),
        document_id: fuzz_cart().to_string(),
        data: session.first().cloned().unwrap_or_default(),
    };
    let messages = [
        Message::Join(wire::Join {
            sender_id: "client".into(),
            peer_metadata: Some(wire::PeerMetadata {
                storage_id: Some("storage".into()),
                is_ephemeral: Some(false),
            }),
            supported_protocol_versions: Some(vec!["1".into()]),
        }),
        Message::Join(wire::Join {
            sender_id: "bare".into(),
            peer_metadata: None,
            supported_protocol_versions: None,
        }),
        Message::Peer(wire::Peer {
            sender_id: "server".into(),
            target_id: "client".into(),
            peer_metadata: wire::PeerMetadata::default(),
            selected_protocol_version: "1".into(),
        }),
        Message::Request(sync.clone()),
        Message::Sync(sync),
        Message::DocUnavailable(wire::DocUnavailable {
            sender_id: "server".into(),
            target_id: "client".into(),
            document_id: fuzz_cart().to_string(),
        }),
        Message::Ephemeral(wire::Ephemeral {
            sender_id: "client".into(),
            target_id: "server".into(),
            count: 7,
            session_id: "s".into(),
            document_id: fuzz_cart().to_string(),
            data: vec![0xa1, 0x61, 0x78, 0x01],
        }),
        Message::Error(wire::Error {
            sender_id: "server".into(),
            target_id: "client".into(),
            message: "refused".into(),
            code: Some("schema_violation".into()),
            document_id: Some(fuzz_cart().to_string()),
        }),
    ];
    for (n, message) in messages.iter().enumerate() {
        let name = format!("{}-{n}", message.type_name());
        write(&wire_dir, &name, &wire::encode(message));
    }
    // An ignored type: a `leave` map.
    write(
        &wire_dir,
        "leave",
        &[
            0xa2, 0x64, b't', b'y', b'p', b'e', 0x65, b'l', b'e', b'a', b'v', b'e', 0x61, b'x',
            0x01,
        ],
    );
    println!("seed corpus written to {}", corpus.display());
}
