//! S3 listing of a bucket's objects: prefix, delimiter, start-after / continuation and
//! max-keys, as one page read in one transaction.
//!
//! The listing is the sorted sequence of *entries*: each key under the prefix, except
//! that keys containing the delimiter after the prefix collapse into one common prefix
//! (the key up to and including the delimiter). A page holds the first `max_keys`
//! entries after the marker: keys greater than it, and common prefixes other than it
//! (a common prefix equal to the marker was the last entry of the previous page).
//!
//! Cost: on meeting a common prefix the reader emits it and seeks past its subtree
//! (the next read starts at the first key after every key with that prefix), so a page
//! reads O(entries on the page) keys, however many keys the common prefixes hold.

use crate::keys::{self, Subspace};
use crate::kv::{KeyRange, RangeOptions, Transaction, strinc};
use crate::{NsError, objects};

/// Most entries one page may hold, as in S3.
pub const MAX_KEYS_LIMIT: usize = 1000;

/// First batch of a range read when a delimiter is given.
const SEEK_BATCH: usize = 16;

/// A listing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListRequest<'a> {
    /// Only keys that start with this.
    pub prefix: &'a str,
    /// Collapse keys at the first occurrence of this after the prefix.
    pub delimiter: Option<&'a str>,
    /// Only entries after this (start-after, marker, or a continuation token's key).
    pub start_after: Option<&'a str>,
    /// Most entries (capped at [`MAX_KEYS_LIMIT`]).
    pub max_keys: usize,
}

/// An object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Its key.
    pub key: String,
    /// Its size.
    pub size_bytes: u64,
    /// Its ETag.
    pub etag: String,
    /// Last modified, milliseconds since the Unix epoch.
    pub mtime_ms: u64,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    /// An object.
    Object(ListedObject),
    /// A common prefix, ending with the delimiter.
    CommonPrefix(String),
}

impl ListEntry {
    /// The key or common prefix.
    pub fn name(&self) -> &str {
        match self {
            ListEntry::Object(o) => &o.key,
            ListEntry::CommonPrefix(p) => p,
        }
    }
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    /// Entries in order.
    pub entries: Vec<ListEntry>,
    /// When more entries follow: the marker of the next page (the last entry's name),
    /// for `NextMarker` or a continuation token.
    pub next_start_after: Option<String>,
}

/// The common prefix of `key` (which starts with `prefix`), if the delimiter occurs
/// after the prefix.
pub fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    let at = rest.find(delimiter)?;
    key.get(..prefix.len() + at + delimiter.len())
}

/// Reads one page of bucket `bucket_id`'s listing.
pub fn list_page(
    tx: &mut dyn Transaction,
    bucket_id: u64,
    req: &ListRequest<'_>,
) -> Result<ListPage, NsError> {
    let max_keys = req.max_keys.min(MAX_KEYS_LIMIT);
    let mut page = ListPage::default();
    if max_keys == 0 {
        return Ok(page);
    }
    let scope = KeyRange::prefix(&keys::object_key_prefix(bucket_id, req.prefix));
    let mut begin = scope.begin.clone();
    if let Some(marker) = req.start_after {
        let mut after = keys::object(bucket_id, marker);
        after.push(0);
        begin = begin.max(after);
    }
    // With a delimiter, any key may start a subtree to skip, so read in small batches
    // that grow while no common prefix turns up; without one, read what the page needs.
    let mut batch = if req.delimiter.is_some() {
        SEEK_BATCH
    } else {
        usize::MAX
    };
    while begin < scope.end {
        let range = KeyRange::new(begin.clone(), scope.end.clone());
        // One more than the page needs, to learn whether the listing goes on.
        let want = (max_keys - page.entries.len() + 1).min(batch);
        let chunk = tx.get_range(&range, RangeOptions::forward(want))?;
        let mut next_begin = None;
        for kv in &chunk.kvs {
            let (_, key): (u64, String) = keys::unpack(Subspace::Object, &kv.key)?;
            let entry = match common_prefix(&key, req.prefix, req.delimiter) {
                Some(cp) => {
                    // Seek past every key under the common prefix.
                    let prefix_key = keys::object_key_prefix(bucket_id, cp);
                    next_begin = Some(strinc(&prefix_key).unwrap_or_else(|| scope.end.clone()));
                    (Some(cp) != req.start_after).then(|| ListEntry::CommonPrefix(cp.to_owned()))
                }
                None => {
                    let record = objects::decode_listed(&kv.value)?;
                    Some(ListEntry::Object(ListedObject {
                        key,
                        size_bytes: record.size_bytes,
                        etag: record.etag,
                        mtime_ms: record.mtime_ms,
                    }))
                }
            };
            if let Some(entry) = entry {
                if page.entries.len() == max_keys {
                    page.next_start_after = page.entries.last().map(|e| e.name().to_owned());
                    return Ok(page);
                }
                page.entries.push(entry);
            }
            if next_begin.is_some() {
                break;
            }
        }
        batch = if next_begin.is_some() {
            SEEK_BATCH
        } else {
            batch.saturating_mul(2)
        };
        begin = match (next_begin, chunk.kvs.last()) {
            (Some(seek), _) => seek,
            (None, Some(last)) if chunk.more => [last.key.as_slice(), &[0]].concat(),
            _ => break,
        };
    }
    Ok(page)
}

#[cfg(test)]
mod tests;
