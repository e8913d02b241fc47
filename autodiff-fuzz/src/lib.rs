//! Differential fuzzing of `#[differentiate]`.
//!
//! - [`gen`] writes random, well-typed, terminating functions of the language the macro supports
//!   (deterministic from a seed), as [`ast::Function`]s;
//! - [`harness`] compiles a batch of them through `#[autodiff::differentiate]` in a scratch
//!   workspace and sorts compile errors and warnings into the generator's and the macro's;
//! - [`oracle`] is what the scratch crate runs: each `_grad` at random points against forward mode
//!   with `num-dual` (exact, through the same generic source) and central differences;
//! - a failing function is shrunk ([`harness::Harness::minimize`]) to a small one that fails the
//!   same way.
//!
//! `tests/fuzz.rs` is the driver: `cargo test -p autodiff-fuzz --test fuzz` checks 300 programs;
//! `AUTODIFF_FUZZ_PROGRAMS=10000 cargo test -p autodiff-fuzz --test fuzz -- --nocapture` checks
//! ten thousand (see the README of this package).
#![forbid(unsafe_code)]

pub mod ast;
pub mod gen;
pub mod harness;
pub mod oracle;
pub mod rng;
