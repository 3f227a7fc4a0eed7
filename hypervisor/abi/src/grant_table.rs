//! `grant_table.h`: grant entries (v1, v2), `GTF_*`, `GNTMAP_*`, `GNTST_*` and every `GNTTABOP_*` struct.
