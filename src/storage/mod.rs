//! The browser's storage backends and the fallback chain between them:
//! IndexedDB, then localStorage when IndexedDB cannot be opened, then page memory when both
//! fail or storage is full. Engine differences stay inside the backends; the cart only sees
//! [`cart_core::storage::Storage`]. Opening a cart reads its backend and every backend after it
//! in this chain, and moves what those hold back ([`cart_core::persist::migrate`]).

mod indexed_db;
mod local;

use cart_core::storage::{
    MemoryStorage, Storage, StorageError, StorageErrorKind, StorageKey, StorageOp,
};

pub use indexed_db::IndexedDbStorage;
pub use local::LocalStorage;

/// Which backend a cart uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// IndexedDB, the default.
    IndexedDb,
    /// localStorage.
    LocalStorage,
    /// Page memory: lost on reload; the last resort so that adds are still accepted.
    Memory,
}

impl StorageKind {
    /// The name JavaScript uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageKind::IndexedDb => "indexeddb",
            StorageKind::LocalStorage => "localstorage",
            StorageKind::Memory => "memory",
        }
    }

    /// The kind named `name` in JavaScript.
    pub fn parse(name: &str) -> Option<StorageKind> {
        match name {
            "indexeddb" => Some(StorageKind::IndexedDb),
            "localstorage" => Some(StorageKind::LocalStorage),
            "memory" => Some(StorageKind::Memory),
            _ => None,
        }
    }

    /// The lasting kinds a cart of this kind falls back to: where chunks of it may have been
    /// written when this one failed, and so where opening looks for them too. Not memory: what
    /// a cart wrote there is still in that cart's own document, and is gone with the page; a
    /// cart opened on memory is this page's alone (tests use it as another device).
    pub fn fallbacks(self) -> &'static [StorageKind] {
        match self {
            StorageKind::IndexedDb => &[StorageKind::LocalStorage],
            StorageKind::LocalStorage | StorageKind::Memory => &[],
        }
    }

    /// Where to go when this backend failed with `error`: a full medium goes straight to
    /// memory (the other medium shares the origin's quota); anything else tries the next one.
    fn fallback(self, error: &StorageError) -> StorageKind {
        match (self, error.kind) {
            (_, StorageErrorKind::QuotaExceeded) => StorageKind::Memory,
            (StorageKind::IndexedDb, _) => StorageKind::LocalStorage,
            _ => StorageKind::Memory,
        }
    }
}

/// Whether a `DOMException` named `name` means the medium is full. Every current engine says
/// `QuotaExceededError` (Firefox ESR 153 and Chromium, for IndexedDB and localStorage alike);
/// older Firefox releases named localStorage's `NS_ERROR_DOM_QUOTA_REACHED`, which would
/// otherwise count as an ordinary failure and send the cart from one full medium to another.
pub(crate) fn is_quota_error(name: &str) -> bool {
    matches!(name, "QuotaExceededError" | "NS_ERROR_DOM_QUOTA_REACHED")
}

thread_local! {
    /// Page memory shared by every cart of this page, as IndexedDB is shared by every tab.
    static PAGE_MEMORY: MemoryStorage = MemoryStorage::new();
}

/// An open storage backend.
#[derive(Clone)]
pub enum Backend {
    /// An open IndexedDB database.
    IndexedDb(IndexedDbStorage),
    /// localStorage.
    LocalStorage(LocalStorage),
    /// Page memory.
    Memory(MemoryStorage),
}

/// Why the cart moved to another backend, for the page's `warning` event.
pub struct Fallback {
    /// The backend that failed.
    pub from: StorageKind,
    /// What went wrong.
    pub error: StorageError,
}

impl Fallback {
    /// The warning message for people.
    pub fn message(&self, to: StorageKind) -> String {
        format!(
            "{} failed ({}); the cart now uses {}{}",
            self.from.as_str(),
            self.error.message,
            to.as_str(),
            if to == StorageKind::Memory {
                ", so changes are kept only until this page is closed"
            } else {
                ""
            }
        )
    }
}

impl Backend {
    /// The kind of this backend.
    pub fn kind(&self) -> StorageKind {
        match self {
            Backend::IndexedDb(_) => StorageKind::IndexedDb,
            Backend::LocalStorage(_) => StorageKind::LocalStorage,
            Backend::Memory(_) => StorageKind::Memory,
        }
    }

    /// Opens the backend of `kind`, and only that one.
    async fn open_kind(kind: StorageKind) -> Result<Backend, StorageError> {
        match kind {
            StorageKind::IndexedDb => IndexedDbStorage::open().await.map(Backend::IndexedDb),
            StorageKind::LocalStorage => LocalStorage::open().map(Backend::LocalStorage),
            StorageKind::Memory => Ok(Backend::memory()),
        }
    }

    /// Opens `preferred`, or the first backend after it that opens. Memory always opens.
    pub async fn open(preferred: StorageKind) -> (Backend, Vec<Fallback>) {
        let mut fallbacks = Vec::new();
        let mut kind = preferred;
        loop {
            match Backend::open_kind(kind).await {
                Ok(backend) => return (backend, fallbacks),
                Err(error) => {
                    let next = kind.fallback(&error);
                    fallbacks.push(Fallback { from: kind, error });
                    kind = next;
                }
            }
        }
    }

    /// Every backend this one falls back to that opens: where a cart on this backend may
    /// have written chunks after a failure ([`StorageKind::fallbacks`]).
    pub async fn fallbacks(&self) -> Vec<Backend> {
        let mut opened = Vec::new();
        for &kind in self.kind().fallbacks() {
            if let Ok(backend) = Backend::open_kind(kind).await {
                opened.push(backend);
            }
        }
        opened
    }

    /// The page's memory backend.
    pub fn memory() -> Backend {
        Backend::Memory(PAGE_MEMORY.with(Clone::clone))
    }

    /// The backend to use after this one failed with `error`.
    pub async fn after_failure(&self, error: StorageError) -> (Backend, Vec<Fallback>) {
        let from = self.kind();
        let next = from.fallback(&error);
        let (backend, mut more) = Backend::open(next).await;
        more.insert(0, Fallback { from, error });
        (backend, more)
    }

    /// Releases the backend's connection (IndexedDB); the others hold none.
    pub fn close(&self) {
        if let Backend::IndexedDb(db) = self {
            db.close();
        }
    }
}

impl Storage for Backend {
    async fn load_range(
        &self,
        prefix: &[String],
    ) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        match self {
            Backend::IndexedDb(s) => s.load_range(prefix).await,
            Backend::LocalStorage(s) => s.load_range(prefix).await,
            Backend::Memory(s) => s.load_range(prefix).await,
        }
    }

    async fn apply(&self, ops: &[StorageOp]) -> Result<(), StorageError> {
        match self {
            Backend::IndexedDb(s) => s.apply(ops).await,
            Backend::LocalStorage(s) => s.apply(ops).await,
            Backend::Memory(s) => s.apply(ops).await,
        }
    }
}
