//! The pass-rate filter's pieces that are not stage plumbing: exact threshold arithmetic and
//! the 0/n rule ([`rate`]), the on-disk response cache ([`cache`]) and the histogram
//! ([`histogram`]).

pub mod cache;
pub mod histogram;
pub mod rate;
