//! `io/console.h`: (being filled in).
