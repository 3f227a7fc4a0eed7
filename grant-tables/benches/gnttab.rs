//! Criterion benchmarks of map/unmap and a 4 KiB grant copy.
fn main() {}
