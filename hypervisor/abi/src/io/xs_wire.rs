//! `io/xs_wire.h`: (being filled in).
