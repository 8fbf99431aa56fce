//! How much work Automerge bytes may ask for, judged from their headers before Automerge loads
//! anything.
//!
//! Automerge stores operations in columns whose runs say "repeat this value N times", so a
//! change of a few dozen bytes can expand to billions of operations, and a deflated column or
//! chunk can inflate to gigabytes. Automerge expands all of it when it loads the bytes. This
//! module walks the binary format ([automerge's storage format]) without loading it:
//!
//! ```text
//! chunk     = magic 85 6f 4a 83 | checksum (4) | type (1) | length (uleb) | body
//! type 0    document: actors, heads, change column metadata, op column metadata, their data
//! type 1    change: deps, actor, seq, start op, time, message, other actors, op columns
//! type 2    compressed change: the body of a change, deflated
//! type 3    bundle: deps, actors, change columns, op columns
//! columns   = count (uleb), then per column: spec (uleb: id << 4 | deflate << 3 | type), length
//! ```
//!
//! It reads only the run headers of each column (an RLE run is a signed count followed by one
//! value, or by that many literal values, or a zero and a count of nulls; a boolean column is
//! a list of run lengths) and adds up the run lengths, stopping as soon as a sum passes its cap.
//! The longest column of a chunk is its number of operations (or, for the change columns of a
//! document, of changes). Deflated data is inflated through a reader that stops at its cap. The
//! work is linear in the input bytes plus at most [`MAX_INFLATED_BYTES`] of inflated data per
//! chunk, whatever the counts say.
//!
//! The caps (sized from what an honest cart writes, see the README's "Limits"):
//! [`MAX_OPS_PER_CHANGE`], [`MAX_OPS`], [`MAX_CHANGES`], [`MAX_ENTRIES_PER_BYTE`],
//! [`MAX_INFLATED_BYTES`] and [`MAX_INFLATION_RATIO`]. Bytes over a cap err with
//! [`ErrorCode::ChangeTooLarge`]; bytes that are not shaped like Automerge chunks err with
//! [`ErrorCode::CorruptData`]. Neither ever panics.
//!
//! [automerge's storage format]: https://automerge.org/automerge-binary-format-spec/

use std::io::Read;

use crate::error::{CartError, ErrorCode};

/// The most operations one change chunk may hold. The largest change an honest cart writes is
/// `clear()` (or the checkout's clear change) of a full cart: for 500 lines with 4 adds each it
/// deletes or writes 2,500 keys in 77 KB, about 31 bytes an operation, so even a change that
/// fills the server's 1 MiB frame has fewer than 35,000. An attacker's change reaches this cap
/// in a few dozen bytes and is refused before Automerge expands it.
pub const MAX_OPS_PER_CHANGE: u64 = 50_000;

/// The most operations one input may hold in all its chunks together: a saved document, the
/// chunks of one `merge(bytes)`, or all the changes of one sync message. A saved cart of 500
/// lines with 4 adds each holds 5,500 operations in 34 KB, about 6 bytes each, so a cart at the
/// server's 2 MiB document limit holds about 350,000.
pub const MAX_OPS: u64 = 1_000_000;

/// The most changes a document chunk (or a bundle) may describe; a change takes at least a few
/// bytes of a saved document, so a 2 MiB cart has far fewer.
pub const MAX_CHANGES: u64 = 250_000;

/// The most column entries (operations, or changes in a document) per byte of a chunk, once
/// inflated. Honest carts have far fewer than one (0.03 in a saved cart or a clear change;
/// at most one for JavaScript's text strings, one operation per character): each operation
/// has its own key or value bytes. Only run-length encoding of one value many times gets more,
/// and that is exactly the expansion an attacker uses.
pub const MAX_ENTRIES_PER_BYTE: u64 = 2;

/// The most bytes the deflated parts of one chunk may inflate to: twice the server's 2 MiB
/// document limit.
pub const MAX_INFLATED_BYTES: u64 = 4 * 1024 * 1024;

/// The most a chunk's deflated parts may grow when inflated, as a multiple of the chunk's
/// bytes. Automerge deflates the columns of a saved cart by about four (a 34 KB save of 500
/// lines inflates to 151 KB); deflate itself reaches a thousand on repeated bytes, which only a
/// crafted chunk has.
pub const MAX_INFLATION_RATIO: u64 = 64;

/// The most probes per hash a bloom filter of a sync message's `have` may ask for. Automerge
/// writes 7; the receiver allocates and computes that many for every change it has, and the
/// wire gives it as any 32-bit number (4 billion probes would ask for 16 GB per change).
pub const MAX_BLOOM_PROBES: u64 = 64;

/// The first four bytes of every Automerge chunk.
pub const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// What a chunk (or a run of chunks) would expand to when loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extent {
    /// Chunks read.
    pub chunks: u64,
    /// Operations: the longest op column of each chunk, summed.
    pub ops: u64,
    /// Changes: one per change chunk, the longest change column of each document or bundle.
    pub changes: u64,
    /// Bytes the deflated parts inflated to.
    pub inflated_bytes: u64,
}

impl Extent {
    fn add(&mut self, other: Extent) {
        self.chunks = self.chunks.saturating_add(other.chunks);
        self.ops = self.ops.saturating_add(other.ops);
        self.changes = self.changes.saturating_add(other.changes);
        self.inflated_bytes = self.inflated_bytes.saturating_add(other.inflated_bytes);
    }
}

/// Checks that `bytes` (Automerge chunks, back to back: a save, incremental saves, a change)
/// stay within every cap of this module, without loading them. Returns what they would expand
/// to. Empty input is no chunks.
///
/// Errs with [`ErrorCode::ChangeTooLarge`] when a chunk holds more operations, changes or
/// inflated bytes than the caps allow, and with [`ErrorCode::CorruptData`] when the bytes are
/// not shaped like Automerge chunks (checksums and the meaning of the operations are left to
/// Automerge).
pub fn check_bounds(bytes: &[u8]) -> Result<Extent, CartError> {
    check_all([bytes])
}

/// [`check_bounds`] for several inputs that are loaded together, such as the change chunks of
/// one sync message: each chunk within its caps, and all of them together within [`MAX_OPS`].
///
/// Errs like [`check_bounds`].
pub fn check_all<'a>(inputs: impl IntoIterator<Item = &'a [u8]>) -> Result<Extent, CartError> {
    let mut total = Extent::default();
    for input in inputs {
        let mut reader = Reader::new(input);
        while !reader.is_empty() {
            let extent = chunk(&mut reader)?;
            total.add(extent);
            if total.ops > MAX_OPS {
                return Err(too_large(format!(
                    "{} chunks hold more than {MAX_OPS} operations together, the most one load accepts",
                    total.chunks
                )));
            }
        }
    }
    Ok(total)
}

/// Checks what a decoded Automerge sync message would ask of the document that receives it,
/// before it is applied or answered: its changes together within [`check_all`], and each bloom
/// filter of its `have` with at most [`MAX_BLOOM_PROBES`] probes and bits to probe (automerge
/// divides by their number).
///
/// Errs like [`check_all`], and with [`ErrorCode::CorruptData`] for a bloom filter automerge
/// would not write.
pub fn check_sync_message(message: &automerge::sync::Message) -> Result<Extent, CartError> {
    for have in &message.have {
        let bytes = have.bloom.to_bytes();
        let mut reader = Reader::new(&bytes);
        if reader.is_empty() {
            continue; // an empty filter: automerge probes nothing
        }
        let entries = reader.uleb("bloom filter entries")?;
        let bits_per_entry = reader.uleb("bloom filter bits per entry")?;
        let probes = reader.uleb("bloom filter probes")?;
        if entries > 0 && (bits_per_entry == 0 || probes > MAX_BLOOM_PROBES) {
            return Err(CartError::new(
                ErrorCode::CorruptData,
                format!(
                    "the sync message has a bloom filter of {entries} entries with {bits_per_entry} bits each and {probes} probes per hash; automerge writes 10 bits and 7 probes, at most {MAX_BLOOM_PROBES} probes are accepted. send sync messages made by automerge"
                ),
            ));
        }
    }
    check_all(message.changes.iter())
}

/// The kind of an Automerge chunk, from its type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkKind {
    /// A whole document (type 0), as `save()` writes it.
    Document,
    /// One change (type 1), as incremental saves write them.
    Change,
    /// One deflated change (type 2).
    CompressedChange,
    /// Several changes in one chunk (type 3).
    Bundle,
}

/// One chunk of Automerge bytes, framed but not read.
pub(crate) struct Chunk<'a> {
    /// What the body holds.
    pub kind: ChunkKind,
    /// The checksum the chunk states: the first four bytes of the SHA-256 of its type, length
    /// and body (for a compressed change, of the change before it was deflated).
    pub checksum: [u8; 4],
    /// The whole chunk, header included.
    pub bytes: &'a [u8],
}

impl Chunk<'_> {
    /// The part of the chunk its checksum covers: type, length and body.
    pub fn hashed(&self) -> &[u8] {
        &self.bytes[8..]
    }
}

/// Splits `bytes` into their chunks by reading only the headers: O(chunks). Call it on bytes
/// [`check_bounds`] has passed; it checks the framing again, nothing else.
///
/// Errs with [`ErrorCode::CorruptData`] when a chunk's header is not Automerge's.
pub(crate) fn split(bytes: &[u8]) -> Result<Vec<Chunk<'_>>, CartError> {
    let mut reader = Reader::new(bytes);
    let mut chunks = Vec::new();
    while !reader.is_empty() {
        let start = reader.pos;
        if reader.take(4, "chunk header")? != MAGIC {
            return Err(corrupt("a chunk without automerge's magic bytes", start));
        }
        let mut checksum = [0u8; 4];
        checksum.copy_from_slice(reader.take(4, "chunk checksum")?);
        let kind = match reader.take(1, "chunk type")?[0] {
            0 => ChunkKind::Document,
            1 => ChunkKind::Change,
            2 => ChunkKind::CompressedChange,
            3 => ChunkKind::Bundle,
            other => return Err(corrupt(&format!("unknown chunk type {other}"), start + 8)),
        };
        let len = reader.uleb("chunk length")?;
        reader.take(len, "chunk body")?;
        chunks.push(Chunk {
            kind,
            checksum,
            bytes: &bytes[start..reader.pos],
        });
    }
    Ok(chunks)
}

fn too_large(what: String) -> CartError {
    CartError::new(
        ErrorCode::ChangeTooLarge,
        format!(
            "{what}; refused before loading anything and nothing was changed. send smaller changes (an honest cart change has a handful of operations)"
        ),
    )
}

fn corrupt(what: &str, at: usize) -> CartError {
    CartError::new(
        ErrorCode::CorruptData,
        format!(
            "the bytes are not automerge data ({what} at byte {at}); pass the output of save() or changes made by automerge"
        ),
    )
}

/// A cursor over bytes whose reads err with [`ErrorCode::CorruptData`] past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], CartError> {
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => {
                let start = self.pos;
                self.pos += n;
                Ok(&self.bytes[start..self.pos])
            }
            _ => Err(corrupt(&format!("{what} runs past the end"), self.pos)),
        }
    }

    /// An unsigned LEB128 of at most 64 bits.
    fn uleb(&mut self, what: &str) -> Result<u64, CartError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = *self
                .bytes
                .get(self.pos)
                .ok_or_else(|| corrupt(&format!("{what} runs past the end"), start))?;
            self.pos += 1;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt(&format!("{what} is more than 64 bits"), start))
    }

    /// A signed LEB128 of at most 64 bits.
    fn sleb(&mut self, what: &str) -> Result<i64, CartError> {
        let start = self.pos;
        let mut value: i64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = *self
                .bytes
                .get(self.pos)
                .ok_or_else(|| corrupt(&format!("{what} runs past the end"), start))?;
            self.pos += 1;
            if shift == 63 && byte != 0 && byte != 0x7f {
                break;
            }
            value |= i64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                if shift < 57 && byte & 0x40 != 0 {
                    value |= -1 << (shift + 7);
                }
                return Ok(value);
            }
        }
        Err(corrupt(&format!("{what} is more than 64 bits"), start))
    }

    /// A count followed by that many items of `size` bytes each.
    fn skip_list(&mut self, size: u64, what: &str) -> Result<(), CartError> {
        let count = self.uleb(what)?;
        let bytes = count
            .checked_mul(size)
            .ok_or_else(|| corrupt(&format!("{what} runs past the end"), self.pos))?;
        self.take(bytes, what).map(|_| ())
    }

    /// A count followed by that many length-prefixed byte strings (actor ids).
    fn skip_byte_strings(&mut self, what: &str) -> Result<(), CartError> {
        let count = self.uleb(what)?;
        for _ in 0..count {
            // Each string takes at least its length byte, so the loop ends with the input.
            let len = self.uleb(what)?;
            self.take(len, what)?;
        }
        Ok(())
    }
}

/// One chunk: its header, then its body by type. Returns its extent.
fn chunk(reader: &mut Reader<'_>) -> Result<Extent, CartError> {
    let start = reader.pos;
    if reader.take(4, "chunk header")? != MAGIC {
        return Err(corrupt("a chunk without automerge's magic bytes", start));
    }
    reader.take(4, "chunk checksum")?;
    let chunk_type = reader.take(1, "chunk type")?[0];
    let len = reader.uleb("chunk length")?;
    let body_at = reader.pos;
    let body = reader.take(len, "chunk body")?;
    let chunk_bytes = (reader.pos - start) as u64;
    let mut body = Reader {
        bytes: &reader.bytes[..body_at + body.len()],
        pos: body_at,
    };
    let mut inflater = Inflater::new(chunk_bytes);
    let extent = match chunk_type {
        0 => document(&mut body, &mut inflater)?,
        1 => change(&mut body)?,
        2 => {
            let inflated = inflater.inflate(body.take(len, "chunk body")?, "compressed change")?;
            change(&mut Reader::new(&inflated))?
        }
        3 => bundle(&mut body, &mut inflater)?,
        other => {
            return Err(corrupt(
                &format!("unknown chunk type {other}"),
                body_at.saturating_sub(2),
            ))
        }
    };
    let extent = Extent {
        chunks: 1,
        inflated_bytes: inflater.used,
        ..extent
    };
    let expanded = chunk_bytes.saturating_add(inflater.used);
    let allowed = expanded.saturating_mul(MAX_ENTRIES_PER_BYTE);
    let entries = extent.ops.max(extent.changes);
    if entries > allowed {
        return Err(too_large(format!(
            "a chunk of {chunk_bytes} bytes asks for {} operations and {} changes, more than {MAX_ENTRIES_PER_BYTE} per byte",
            extent.ops, extent.changes
        )));
    }
    Ok(extent)
}

/// A change body (type 1, or type 2 once inflated): its header, then its op columns.
fn change(reader: &mut Reader<'_>) -> Result<Extent, CartError> {
    reader.skip_list(32, "change dependencies")?;
    let actor = reader.uleb("change actor")?;
    reader.take(actor, "change actor")?;
    reader.uleb("change sequence number")?;
    reader.uleb("change start op")?;
    reader.sleb("change time")?;
    let message = reader.uleb("change message")?;
    reader.take(message, "change message")?;
    reader.skip_byte_strings("change actors")?;
    let columns = column_specs(reader, "change op columns")?;
    if columns.iter().any(|c| c.deflated()) {
        return Err(corrupt("a change with deflated columns", reader.pos));
    }
    // Automerge refuses deflated columns in a change, so nothing inflates here.
    let mut none = Inflater::new(0);
    let ops = count_columns(reader, &columns, MAX_OPS_PER_CHANGE, &mut none, "change")?;
    Ok(Extent {
        ops,
        changes: 1,
        ..Extent::default()
    })
}

/// A document body: actors, heads, both column metadata lists, then both data blocks.
fn document(reader: &mut Reader<'_>, inflater: &mut Inflater) -> Result<Extent, CartError> {
    reader.skip_byte_strings("document actors")?;
    reader.skip_list(32, "document heads")?;
    let change_columns = column_specs(reader, "document change columns")?;
    let op_columns = column_specs(reader, "document op columns")?;
    let changes = count_columns(reader, &change_columns, MAX_CHANGES, inflater, "document")?;
    let ops = count_columns(reader, &op_columns, MAX_OPS, inflater, "document")?;
    Ok(Extent {
        ops,
        changes,
        ..Extent::default()
    })
}

/// A bundle body: deps, actors, change columns with their data, op columns with theirs.
fn bundle(reader: &mut Reader<'_>, inflater: &mut Inflater) -> Result<Extent, CartError> {
    reader.skip_list(32, "bundle dependencies")?;
    reader.skip_byte_strings("bundle actors")?;
    let change_columns = column_specs(reader, "bundle change columns")?;
    let changes = count_columns(reader, &change_columns, MAX_CHANGES, inflater, "bundle")?;
    let op_columns = column_specs(reader, "bundle op columns")?;
    let ops = count_columns(reader, &op_columns, MAX_OPS, inflater, "bundle")?;
    Ok(Extent {
        ops,
        changes,
        ..Extent::default()
    })
}

/// One column's metadata: its specification and the length of its data.
#[derive(Debug, Clone, Copy)]
struct ColumnSpec {
    spec: u64,
    len: u64,
}

impl ColumnSpec {
    fn deflated(self) -> bool {
        self.spec & 0b1000 != 0
    }

    fn encoding(self) -> Encoding {
        match self.spec & 0b111 {
            4 => Encoding::Boolean,
            5 => Encoding::Rle(Value::String),
            7 => Encoding::Raw,
            // group (0), actor (1), integer (2), delta (3), value metadata (6): LEB128 values.
            _ => Encoding::Rle(Value::Leb),
        }
    }
}

/// How a column type stores its entries.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    /// Run-length encoded values.
    Rle(Value),
    /// Alternating run lengths of false and true.
    Boolean,
    /// Raw bytes that other columns describe (values); no entries of its own.
    Raw,
}

/// The kind of value an RLE column stores.
#[derive(Debug, Clone, Copy)]
enum Value {
    /// A signed or unsigned LEB128.
    Leb,
    /// A LEB128 length and that many bytes.
    String,
}

fn column_specs(reader: &mut Reader<'_>, what: &str) -> Result<Vec<ColumnSpec>, CartError> {
    let count = reader.uleb(what)?;
    let mut columns = Vec::new();
    for _ in 0..count {
        // Each column takes at least two bytes, so the loop ends with the input.
        let spec = reader.uleb(what)?;
        let len = reader.uleb(what)?;
        columns.push(ColumnSpec { spec, len });
    }
    Ok(columns)
}

/// Reads the data of `columns` and returns the number of entries of the longest one, stopping
/// with [`ErrorCode::ChangeTooLarge`] as soon as one passes `cap`.
fn count_columns(
    reader: &mut Reader<'_>,
    columns: &[ColumnSpec],
    cap: u64,
    inflater: &mut Inflater,
    what: &str,
) -> Result<u64, CartError> {
    let mut longest = 0;
    for column in columns {
        let at = reader.pos;
        let data = reader.take(column.len, "column data")?;
        let entries = if column.deflated() {
            let inflated = inflater.inflate(data, "deflated column")?;
            count_entries(&inflated, column.encoding(), cap)
        } else {
            count_entries(data, column.encoding(), cap)
        }
        .map_err(|(problem, offset)| corrupt(problem, at + offset))?;
        if entries > cap {
            return Err(too_large(format!(
                "a {what} column holds more than {cap} entries, the most accepted"
            )));
        }
        longest = longest.max(entries);
    }
    Ok(longest)
}

/// The number of entries `data` encodes, or a number above `cap` as soon as it passes it.
/// Reads run headers only; repeated values are never expanded.
fn count_entries(data: &[u8], encoding: Encoding, cap: u64) -> Result<u64, (&'static str, usize)> {
    let mut reader = Reader::new(data);
    let mut entries: u64 = 0;
    let malformed = |reader: &Reader<'_>| ("a malformed column run", reader.pos);
    match encoding {
        Encoding::Raw => {}
        Encoding::Boolean => {
            while !reader.is_empty() && entries <= cap {
                let run = reader.uleb("").map_err(|_| malformed(&reader))?;
                entries = entries.saturating_add(run);
            }
        }
        Encoding::Rle(value) => {
            while !reader.is_empty() && entries <= cap {
                let run = reader.sleb("").map_err(|_| malformed(&reader))?;
                let values = match run {
                    0 => {
                        let nulls = reader.uleb("").map_err(|_| malformed(&reader))?;
                        entries = entries.saturating_add(nulls);
                        0
                    }
                    repeat if repeat > 0 => {
                        entries = entries.saturating_add(repeat.unsigned_abs());
                        1
                    }
                    literal => {
                        let count = literal.unsigned_abs();
                        entries = entries.saturating_add(count);
                        count
                    }
                };
                if values > reader.remaining() as u64 {
                    // Every value takes at least one byte.
                    return Err(malformed(&reader));
                }
                for _ in 0..values {
                    skip_value(&mut reader, value).map_err(|_| malformed(&reader))?;
                }
            }
        }
    }
    Ok(entries)
}

fn skip_value(reader: &mut Reader<'_>, value: Value) -> Result<(), CartError> {
    match value {
        Value::Leb => reader.uleb("").map(|_| ()),
        Value::String => {
            let len = reader.uleb("")?;
            reader.take(len, "").map(|_| ())
        }
    }
}

/// Inflates the deflated parts of one chunk within its budget: [`MAX_INFLATED_BYTES`] and
/// [`MAX_INFLATION_RATIO`] times the chunk's bytes, whichever is smaller.
struct Inflater {
    budget: u64,
    used: u64,
}

impl Inflater {
    fn new(chunk_bytes: u64) -> Inflater {
        Inflater {
            budget: MAX_INFLATED_BYTES.min(chunk_bytes.saturating_mul(MAX_INFLATION_RATIO)),
            used: 0,
        }
    }

    fn inflate(&mut self, data: &[u8], what: &str) -> Result<Vec<u8>, CartError> {
        let left = self.budget.saturating_sub(self.used);
        let mut out = Vec::new();
        let mut decoder = flate2::read::DeflateDecoder::new(data).take(left.saturating_add(1));
        decoder
            .read_to_end(&mut out)
            .map_err(|_| corrupt(&format!("a {what} that does not inflate"), 0))?;
        let len = out.len() as u64;
        if len > left {
            return Err(too_large(format!(
                "a {what} of {} bytes inflates to more than {} bytes, the most its chunk may ({MAX_INFLATED_BYTES} bytes at most, {MAX_INFLATION_RATIO} times the chunk)",
                data.len(),
                self.budget
            )));
        }
        self.used += len;
        Ok(out)
    }
}

/// Automerge chunks crafted byte by byte, for the tests of every layer that must refuse them.
#[cfg(feature = "conformance")]
pub mod crafted {
    use std::io::Write;

    use sha2::{Digest, Sha256};

    use super::MAGIC;

    fn uleb(out: &mut Vec<u8>, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// The first four bytes of SHA-256 over the chunk type, the body's LEB128 length and the
    /// body: the checksum Automerge writes in a chunk header.
    fn checksum(chunk_type: u8, body: &[u8]) -> [u8; 4] {
        let mut prefix = vec![chunk_type];
        uleb(&mut prefix, body.len() as u64);
        let mut hasher = Sha256::new();
        hasher.update(&prefix);
        hasher.update(body);
        let digest = hasher.finalize();
        [digest[0], digest[1], digest[2], digest[3]]
    }

    fn framed(checksum: [u8; 4], chunk_type: u8, body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(checksum);
        out.push(chunk_type);
        uleb(&mut out, body.len() as u64);
        out.extend(body);
        out
    }

    /// A chunk of `chunk_type` (0 document, 1 change) around `body`, with a valid checksum.
    pub fn chunk(chunk_type: u8, body: &[u8]) -> Vec<u8> {
        framed(checksum(chunk_type, body), chunk_type, body)
    }

    /// A change chunk of `n` operations `put "k" = true` on the document root, by actor
    /// `0x01 × 16`, seq 1, no dependencies, in about seventy bytes whatever `n` is: every column
    /// is one RLE run "repeat this `n` times". For `n` of 1 to a few it is a valid change that
    /// Automerge loads.
    pub fn repeated_put_change(n: u64) -> Vec<u8> {
        let mut body = Vec::new();
        uleb(&mut body, 0); // dependencies
        uleb(&mut body, 16); // actor
        body.extend([1u8; 16]);
        uleb(&mut body, 1); // seq
        uleb(&mut body, 1); // start op
        uleb(&mut body, 0); // time (signed, 0 is the same byte)
        uleb(&mut body, 0); // message
        uleb(&mut body, 0); // other actors
        let run = |value: &[u8]| repeat_run(n, value);
        let mut insert = Vec::new();
        uleb(&mut insert, n); // n times false
        let columns: [(u64, Vec<u8>); 5] = [
            ((1 << 4) | 5, run(&[1, b'k'])), // key, string: "k"
            ((3 << 4) | 4, insert),          // insert, boolean
            ((4 << 4) | 2, run(&[1])),       // action, integer: 1 (put)
            ((5 << 4) | 6, run(&[2])),       // value metadata: true (type 2, length 0)
            ((7 << 4), run(&[0])),           // pred, group: no predecessors
        ];
        uleb(&mut body, columns.len() as u64);
        for (spec, data) in &columns {
            uleb(&mut body, *spec);
            uleb(&mut body, data.len() as u64);
        }
        for (_, data) in &columns {
            body.extend(data);
        }
        chunk(1, &body)
    }

    /// An RLE run that repeats `value` (already encoded) `n` times: `n` as a signed LEB128,
    /// then `value` once. `n` is at most `i64::MAX`.
    pub fn repeat_run(n: u64, value: &[u8]) -> Vec<u8> {
        let mut run = Vec::new();
        let mut count = i128::from(n);
        loop {
            let byte = (count & 0x7f) as u8;
            count >>= 7;
            if count == 0 && byte & 0x40 == 0 {
                run.push(byte);
                break;
            }
            run.push(byte | 0x80);
        }
        run.extend(value);
        run
    }

    /// `change`, a change chunk, as a compressed change chunk (type 2): the same checksum, the
    /// body deflated.
    pub fn compress_change(change: &[u8]) -> Vec<u8> {
        let checksum = [change[4], change[5], change[6], change[7]];
        let mut at = 9;
        while change[at] & 0x80 != 0 {
            at += 1;
        }
        framed(checksum, 2, &deflate(&change[at + 1..]))
    }

    /// A compressed change chunk whose body inflates to `inflated` zero bytes.
    pub fn deflate_bomb(inflated: usize) -> Vec<u8> {
        framed([0; 4], 2, &deflate(&vec![0; inflated]))
    }

    fn deflate(bytes: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).expect("deflating into memory");
        encoder.finish().expect("deflating into memory")
    }
}
