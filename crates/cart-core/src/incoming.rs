//! Automerge bytes from outside the cart (another device's save, another tab's changes, a
//! stored chunk), parsed once into the changes they hold.
//!
//! Automerge's own incremental load skips a corrupt trailing chunk with no more than a log
//! line, and its strict load refuses changes whose dependencies are elsewhere. The cart needs
//! neither: it parses each chunk itself, refuses the bytes if any chunk is not Automerge data
//! with a valid checksum, and applies the changes it got without parsing them again.

use automerge::{Automerge, Bundle, Change, LoadOptions, OnPartialLoad};
use sha2::{Digest, Sha256};

use crate::chunk_bounds::{self, ChunkKind};
use crate::error::{CartError, ErrorCode};

fn corrupt(what: impl std::fmt::Display) -> CartError {
    CartError::new(
        ErrorCode::CorruptData,
        format!("the bytes are not an automerge cart document ({what}); pass the output of save()"),
    )
}

/// The changes `bytes` hold, in order: every change of a document chunk, each change chunk,
/// every change of a bundle. Call it only on bytes [`chunk_bounds::check_bounds`] has passed:
/// parsing expands them. Changes that build on changes found elsewhere are returned like any.
///
/// Errs with [`ErrorCode::CorruptData`] when a chunk does not parse or its checksum is wrong.
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<Change>, CartError> {
    let mut changes = Vec::new();
    for (n, chunk) in chunk_bounds::split(bytes)?.into_iter().enumerate() {
        let at = |e: &dyn std::fmt::Display| corrupt(format!("chunk {n}: {e}"));
        match chunk.kind {
            ChunkKind::Document => {
                let strict = LoadOptions::new().on_partial_load(OnPartialLoad::Error);
                let doc = Automerge::load_with_options(chunk.bytes, strict).map_err(|e| at(&e))?;
                changes.extend(doc.get_changes(&[]));
            }
            ChunkKind::Change | ChunkKind::CompressedChange => {
                let change = Change::try_from(chunk.bytes).map_err(|e| at(&e))?;
                // A change's hash covers the change before it was deflated, so does the checksum.
                if change.hash().0[..4] != chunk.checksum {
                    return Err(at(&"its checksum does not match"));
                }
                changes.push(change);
            }
            ChunkKind::Bundle => {
                if Sha256::digest(chunk.hashed())[..4] != chunk.checksum {
                    return Err(at(&"its checksum does not match"));
                }
                let bundle = Bundle::try_from(chunk.bytes).map_err(|e| at(&e))?;
                changes.extend(bundle.to_changes().map_err(|e| at(&e))?);
            }
        }
    }
    Ok(changes)
}
