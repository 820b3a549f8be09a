//! berth's store benchmarks live in `benches/` (run by `scripts/bench`); this library only
//! holds what they share.
