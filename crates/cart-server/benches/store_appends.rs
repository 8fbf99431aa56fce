//! `cargo bench -p cart-server --bench store_appends`: chunk appends per second on a
//! `SqliteStore` (WAL, `synchronous=FULL`, a real file) with 1, 10, 100 and 500 carts written
//! at once, as many shoppers' changes arrive together. The store commits what is waiting as one
//! transaction (group commit), so the rate should grow with the writers until the CPU, not the
//! fsync, is the limit. Prints figures; asserts nothing about time.

use std::sync::Arc;
use std::time::Instant;

use cart_core::CartId;
use cart_server::secret::SecretHash;
use cart_server::store::{DocStore, SqliteStore, StoreError};

/// Appends per row of the table, spread evenly over its writers.
const APPENDS: usize = 2000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(dir.path().join("appends.sqlite3")).await?);
    let secret = SecretHash::from_bytes([1; 32]);
    println!("| carts written at once | appends | time | appends/s |");
    println!("|---|---|---|---|");
    for (round, writers) in [1u8, 10, 100, 250].into_iter().enumerate() {
        let each = APPENDS / usize::from(writers);
        let start = Instant::now();
        let tasks: Vec<_> = (0..writers)
            .map(|writer| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let mut id = [0u8; 16];
                    id[0] = writer;
                    id[1] = round as u8;
                    let cart = CartId::from_bytes(id);
                    for i in 0..each {
                        // Distinct bytes, so each append is a new chunk.
                        let chunk = [&i.to_le_bytes()[..], &id[..]].concat();
                        store.append_chunk(&cart, &secret, chunk).await?;
                    }
                    Ok::<(), StoreError>(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let elapsed = start.elapsed();
        let appends = each * usize::from(writers);
        println!(
            "| {writers} | {appends} | {:.0} ms | {:.0} |",
            elapsed.as_secs_f64() * 1e3,
            appends as f64 / elapsed.as_secs_f64()
        );
    }
    Ok(())
}
