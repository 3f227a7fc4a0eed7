//! Architecture support. Only x86-64 exists; this is the only place that knows registers,
//! instructions, descriptor tables and paging formats.

pub mod x86_64;
