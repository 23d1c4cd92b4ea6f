//! [`OpId`]: the identity of one logical write, which makes its transaction idempotent.

use serde::{Deserialize, Serialize};

/// A random id that a caller picks once per logical operation, outside the retry
/// loop, and passes to every attempt. Records store the id of the operation that last
/// wrote them; an attempt that finds its own id knows that a previous attempt, whose
/// commit result was unknown, was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpId(pub u64);

impl OpId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(rand::random())
    }
}
