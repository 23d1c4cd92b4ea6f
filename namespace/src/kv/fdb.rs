//! FoundationDB backend (in progress).
