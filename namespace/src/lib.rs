//! The metadata layer: a transactional ordered key-value trait, its backends, and the
//! typed schemas stored on it (ledgers, bookies, buckets, objects, multipart uploads,
//! access keys, GC and under-replication queues).
