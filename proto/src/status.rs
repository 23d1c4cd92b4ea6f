//! Status codes carried by every response.

/// The outcome of a request, as a bookie reports it.
///
/// The wire value is a `u16`; values are stable once released. A client must treat
/// any status other than [`Status::Ok`] as "the request did not take effect", except
/// where `docs/protocol.md` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Status {
    /// The request succeeded.
    Ok = 0,
    /// The bookie holds nothing for this ledger (it never saw it, or it was deleted).
    NoSuchLedger = 1,
    /// The bookie knows the ledger and is certain it never stored this entry.
    NoSuchEntry = 2,
    /// The ledger is fenced: normal adds are refused.
    Fenced = 3,
    /// The bookie is read-only (disk full or by configuration): new adds are refused.
    ReadOnly = 4,
    /// The request was malformed or carried an invalid entry (bad digest included).
    BadRequest = 5,
    /// The bookie could not read or write its storage, or found the data corrupt.
    IoError = 6,
    /// The master key does not match the one the ledger was created with.
    Unauthorized = 7,
    /// The connection has too many bytes in flight; retry after earlier responses.
    TooManyRequests = 8,
    /// The bookie cannot tell (for example it is starting or shutting down).
    UnknownState = 9,
}

impl Status {
    /// Every status, in wire order.
    pub const ALL: [Status; 10] = [
        Status::Ok,
        Status::NoSuchLedger,
        Status::NoSuchEntry,
        Status::Fenced,
        Status::ReadOnly,
        Status::BadRequest,
        Status::IoError,
        Status::Unauthorized,
        Status::TooManyRequests,
        Status::UnknownState,
    ];

    /// The wire value.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The status for a wire value, or `None` if unknown.
    pub fn from_code(code: u16) -> Option<Status> {
        Status::ALL.get(usize::from(code)).copied()
    }

    /// True for [`Status::Ok`].
    pub fn is_ok(self) -> bool {
        self == Status::Ok
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
        assert_eq!(Status::from_code(10), None);
    }
}
