//! The conformance suite every [`Storage`] backend must pass, natively (memory) and in the
//! browser (IndexedDB, localStorage). Each check works under its own random prefix, so the
//! suite can run against storage that already holds data, such as a browser profile.
//!
//! Checks panic with a message naming the broken guarantee, like `assert!` in a test.

use super::{Storage, StorageKey, StorageOp};

fn key(prefix: &str, parts: &[&str]) -> StorageKey {
    std::iter::once(prefix.to_string())
        .chain(parts.iter().map(|p| p.to_string()))
        .collect()
}

fn unique_prefix(check: &str) -> String {
    let mut bytes = [0u8; 8];
    // A fixed prefix would only make reruns see each other's data; the checks still hold.
    let _ = getrandom::fill(&mut bytes);
    let hex = crate::hex::encode(&bytes);
    format!("conformance-{check}-{hex}")
}

async fn put<S: Storage>(storage: &S, key: StorageKey, value: &[u8]) {
    storage
        .apply(&[StorageOp::Put {
            key,
            value: value.to_vec(),
        }])
        .await
        .expect("put failed");
}

async fn sorted<S: Storage>(storage: &S, prefix: &[String]) -> Vec<(StorageKey, Vec<u8>)> {
    let mut entries = storage.load_range(prefix).await.expect("load_range failed");
    entries.sort();
    entries
}

/// Runs every check against `storage`.
pub async fn run<S: Storage>(storage: &S) {
    an_unknown_prefix_is_empty(storage).await;
    values_round_trip_byte_for_byte(storage).await;
    a_put_replaces_the_old_value(storage).await;
    prefixes_match_whole_components(storage).await;
    components_are_never_confused(storage).await;
    removes_delete_and_tolerate_missing_keys(storage).await;
    a_batch_applies_in_order(storage).await;
    large_values_and_many_keys_survive(storage).await;
}

async fn an_unknown_prefix_is_empty<S: Storage>(storage: &S) {
    let p = unique_prefix("empty");
    assert!(
        sorted(storage, &[p]).await.is_empty(),
        "a fresh prefix returned entries"
    );
}

async fn values_round_trip_byte_for_byte<S: Storage>(storage: &S) {
    let p = unique_prefix("bytes");
    let all_bytes: Vec<u8> = (0..=255).collect();
    put(storage, key(&p, &["all"]), &all_bytes).await;
    put(storage, key(&p, &["empty"]), &[]).await;
    let entries = sorted(storage, std::slice::from_ref(&p)).await;
    assert_eq!(
        entries,
        vec![
            (key(&p, &["all"]), all_bytes),
            (key(&p, &["empty"]), vec![])
        ],
        "values did not round-trip"
    );
}

async fn a_put_replaces_the_old_value<S: Storage>(storage: &S) {
    let p = unique_prefix("replace");
    put(storage, key(&p, &["k"]), b"old").await;
    put(storage, key(&p, &["k"]), b"new").await;
    assert_eq!(
        sorted(storage, std::slice::from_ref(&p)).await,
        vec![(key(&p, &["k"]), b"new".to_vec())]
    );
}

async fn prefixes_match_whole_components<S: Storage>(storage: &S) {
    let p = unique_prefix("prefix");
    put(storage, key(&p, &["a"]), b"1").await;
    put(storage, key(&p, &["a", "x"]), b"2").await;
    put(storage, key(&p, &["ab"]), b"3").await;
    let under_a = sorted(storage, &key(&p, &["a"])).await;
    assert_eq!(
        under_a,
        vec![
            (key(&p, &["a"]), b"1".to_vec()),
            (key(&p, &["a", "x"]), b"2".to_vec())
        ],
        "[\"a\"] must match [\"a\"] and [\"a\", \"x\"] but not [\"ab\"]"
    );
    assert_eq!(sorted(storage, &[p]).await.len(), 3);
}

async fn components_are_never_confused<S: Storage>(storage: &S) {
    let p = unique_prefix("components");
    put(storage, key(&p, &["a/b"]), b"slash").await;
    put(storage, key(&p, &["a", "b"]), b"path").await;
    put(storage, key(&p, &["ä:\"[]\\"]), b"odd").await;
    let entries = sorted(storage, std::slice::from_ref(&p)).await;
    assert_eq!(
        entries.len(),
        3,
        "keys with separators collided: {entries:?}"
    );
    assert_eq!(
        sorted(storage, &key(&p, &["a"])).await,
        vec![(key(&p, &["a", "b"]), b"path".to_vec())]
    );
}

async fn removes_delete_and_tolerate_missing_keys<S: Storage>(storage: &S) {
    let p = unique_prefix("remove");
    put(storage, key(&p, &["k"]), b"v").await;
    storage
        .apply(&[
            StorageOp::Remove {
                key: key(&p, &["k"]),
            },
            StorageOp::Remove {
                key: key(&p, &["never"]),
            },
        ])
        .await
        .expect("remove failed");
    assert!(
        sorted(storage, &[p]).await.is_empty(),
        "a removed key came back"
    );
}

async fn a_batch_applies_in_order<S: Storage>(storage: &S) {
    let p = unique_prefix("batch");
    let k = key(&p, &["k"]);
    let j = key(&p, &["j"]);
    storage
        .apply(&[
            StorageOp::Put {
                key: k.clone(),
                value: b"1".to_vec(),
            },
            StorageOp::Remove { key: k.clone() },
            StorageOp::Remove { key: j.clone() },
            StorageOp::Put {
                key: j.clone(),
                value: b"2".to_vec(),
            },
        ])
        .await
        .expect("batch failed");
    assert_eq!(
        sorted(storage, &[p]).await,
        vec![(j, b"2".to_vec())],
        "batch was not applied in order"
    );
}

async fn large_values_and_many_keys_survive<S: Storage>(storage: &S) {
    let p = unique_prefix("large");
    let big: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut ops = vec![StorageOp::Put {
        key: key(&p, &["big"]),
        value: big.clone(),
    }];
    ops.extend((0..200).map(|i| StorageOp::Put {
        key: key(&p, &["many", &i.to_string()]),
        value: vec![i as u8],
    }));
    storage.apply(&ops).await.expect("large batch failed");
    let entries = sorted(storage, std::slice::from_ref(&p)).await;
    assert_eq!(entries.len(), 201);
    assert_eq!(
        entries[0],
        (key(&p, &["big"]), big),
        "a 256 KiB value did not round-trip"
    );
    assert_eq!(sorted(storage, &key(&p, &["many"])).await.len(), 200);
}
