//! `io/blkif.h`: (being filled in).
