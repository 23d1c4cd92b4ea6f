//! Namespace benchmark (written below).

fn main() {}
