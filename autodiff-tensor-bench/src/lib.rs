//! Two ndarray models written for `#[differentiate]`, each beside the gradient a careful person
//! writes by hand with ndarray, and the deterministic data the tests and benchmarks feed them:
//!
//! - [`mlp`]: the mean softmax cross-entropy of a one-hidden-layer tanh MLP on a batch
//!   (784-128-10 at batch 64 in the benchmark), in `f64` and in `f32`;
//! - [`logreg`]: the mean negative log-likelihood of logistic regression (n = 10 000, d = 100).
//!
//! `benches/mlp.rs` and `benches/logreg.rs` time the generated gradient against the hand-written
//! one and against candle's autograd (`Var` + `backward`), after checking that all of them agree;
//! `tests/gradients.rs` checks generated against hand-written on small shapes.
//!
//! Not here: training loops (see the root crate's `examples/mlp.rs`) or anything that reads real
//! data sets; the inputs are pseudo-random with the shapes and scales of the real ones.
#![forbid(unsafe_code)]

pub mod data;
pub mod logreg;
pub mod mlp;

/// The largest componentwise difference between `got` and `want`, relative to the largest
/// magnitude in `want`: a scale-aware measure that does not blow up on components that happen to
/// be near zero.
///
/// # Panics
///
/// When the slices differ in length.
#[must_use]
pub fn relative_error(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "gradients of different lengths");
    let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
    if scale == 0.0 {
        diff
    } else {
        diff / scale
    }
}
