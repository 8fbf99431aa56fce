//! Where carts are kept: a tiny byte key/value store with prefix scans, the shape of
//! automerge-repo's storage adapters.
//!
//! Keys are paths (`["<cartId>", "incremental", "<hash>"]`). Backends: [`MemoryStorage`] here;
//! IndexedDB and localStorage in the browser binding. Every backend passes the same
//! `conformance` suite (behind the `conformance` feature).

#[cfg(feature = "conformance")]
pub mod conformance;
mod memory;

pub use memory::MemoryStorage;

use std::fmt;

/// A storage key: a path of components. A key `k` is under prefix `p` when `p` is a leading
/// part of `k` (component by component, so `["a"]` is not a prefix of `["ab"]`).
pub type StorageKey = Vec<String>;

/// One write in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageOp {
    /// Store `value` at `key`, replacing what was there.
    Put {
        /// Where.
        key: StorageKey,
        /// The bytes.
        value: Vec<u8>,
    },
    /// Delete `key`; deleting a key that is not there is not an error.
    Remove {
        /// Which.
        key: StorageKey,
    },
}

/// Why a storage operation failed; the binding picks a fallback backend from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The medium cannot be used at all (blocked by the browser, private mode, closed).
    Unavailable,
    /// The medium is full.
    QuotaExceeded,
    /// Anything else; the write may succeed if tried again.
    Failed,
}

/// A storage failure with its kind and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// What kind of failure.
    pub kind: StorageErrorKind,
    /// What happened, lowercase.
    pub message: String,
}

impl StorageError {
    /// A new error of `kind`.
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        StorageError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StorageError {}

/// A byte key/value store with prefix scans.
///
/// Guarantees every backend gives (and the `conformance` suite checks):
/// - [`Storage::apply`] performs its operations in order; when it returns `Ok`, they are durable
///   as far as the medium allows. Where the medium has transactions (IndexedDB) the batch is
///   atomic; elsewhere each operation is whole (no torn values) but a failed batch may be
///   partly applied.
/// - No exclusive access is assumed: two carts (two tabs) may use one storage at once. Each
///   writes its own keys, so nothing one writes is lost to the other.
///
/// The futures are not `Send`: browser storage lives on one thread.
#[allow(async_fn_in_trait)]
pub trait Storage {
    /// Every entry whose key is under `prefix`, in no particular order.
    async fn load_range(
        &self,
        prefix: &[String],
    ) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError>;

    /// Applies `ops` in order.
    async fn apply(&self, ops: &[StorageOp]) -> Result<(), StorageError>;
}

/// Whether `key` is under `prefix`.
pub fn has_prefix(key: &[String], prefix: &[String]) -> bool {
    key.len() >= prefix.len() && key[..prefix.len()] == *prefix
}
