//! `io/netif.h`: (being filled in).
