//! The caption pipeline's integration tests (one binary): near-duplicate quality on real
//! photos, rank independence, the recaption cache, and bad input through the engine.

mod bad_input;
mod common;
mod near_dups;
mod photos;
mod ranks;
mod recaption;
