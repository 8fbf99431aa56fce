//! [`MemoryStorage`]: storage that lives as long as the process (or page). The last fallback
//! of the browser binding, and the reference backend of the conformance suite.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{has_prefix, Storage, StorageError, StorageKey, StorageOp};

/// An in-memory [`Storage`]. Clones share the same entries, like two tabs sharing IndexedDB.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    entries: Arc<Mutex<BTreeMap<StorageKey, Vec<u8>>>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<StorageKey, Vec<u8>>) -> R) -> R {
        // A panic elsewhere cannot leave a half-written map behind: every write is one insert
        // or remove, so a poisoned lock still guards consistent data.
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut entries)
    }
}

impl Storage for MemoryStorage {
    async fn load_range(
        &self,
        prefix: &[String],
    ) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        Ok(self.with(|entries| {
            entries
                .range(prefix.to_vec()..)
                .take_while(|(key, _)| has_prefix(key, prefix))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        }))
    }

    async fn apply(&self, ops: &[StorageOp]) -> Result<(), StorageError> {
        self.with(|entries| {
            for op in ops {
                match op {
                    StorageOp::Put { key, value } => {
                        entries.insert(key.clone(), value.clone());
                    }
                    StorageOp::Remove { key } => {
                        entries.remove(key);
                    }
                }
            }
        });
        Ok(())
    }
}
