//! Documents for tests that need a cart of a given shape without building it edit by edit
//! (behind the `conformance` feature, like the storage suite).

use automerge::sync::{Message as SyncMessage, MessageVersion};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ObjType, ROOT};

use crate::cart::NewItem;
use crate::cart_id::CartId;
use crate::schema;

/// A valid item for tests: `quantity` units of `sku`, named "Product {sku}", at 19.99 EUR.
pub fn item(sku: &str, quantity: i64) -> NewItem {
    priced(sku, quantity, 1999)
}

/// [`item`] at `unit_price` minor units: a test that checks prices says which.
pub fn priced(sku: &str, quantity: i64, unit_price: i64) -> NewItem {
    NewItem {
        sku: sku.to_string(),
        name: format!("Product {sku}"),
        unit_price,
        currency: "EUR".to_string(),
        quantity,
        image_url: None,
        variant: None,
    }
}

/// A sync message that carries `changes` (saved bytes, or an incremental save) of a document
/// whose heads are then `heads`, and claims nothing else: a peer pushing its changes at once.
pub fn sync_carrying(heads: Vec<ChangeHash>, changes: Vec<u8>) -> SyncMessage {
    SyncMessage {
        heads,
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![changes].into(),
        flags: None,
        version: MessageVersion::V1,
    }
}

/// The saved bytes of cart `id` with `lines` lines (`SKU-0`, `SKU-1`, …, one unit each), written
/// as one change: a cart at the line limit in milliseconds, where one `add_item` per line takes
/// a minute in a debug build.
pub fn cart_with_lines(id: &CartId, lines: usize) -> Vec<u8> {
    let mut doc = AutoCommit::new();
    write(&mut doc, id, lines).expect("writing a fresh in-memory document cannot fail");
    doc.save()
}

fn write(doc: &mut AutoCommit, id: &CartId, lines: usize) -> Result<(), automerge::AutomergeError> {
    doc.put(ROOT, schema::SCHEMA, schema::SCHEMA_VERSION)?;
    doc.put(ROOT, schema::CART_ID, id.to_string())?;
    for n in 0..lines {
        let sku = format!("SKU-{n}");
        let record = doc.put_object(ROOT, schema::item_key(&sku), ObjType::Map)?;
        doc.put(&record, schema::NAME, "a product")?;
        doc.put(&record, schema::UNIT_PRICE, 100)?;
        doc.put(&record, schema::CURRENCY, "EUR")?;
        doc.put(&record, schema::ADDED_AT, n as i64)?;
        doc.put(ROOT, schema::add_key(&sku, "fixture"), 1)?;
    }
    Ok(())
}
