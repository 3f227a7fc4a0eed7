//! `io/xenbus.h`: (being filled in).
