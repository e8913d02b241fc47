//! Compile-time reverse-mode automatic differentiation (docs written below).
#![forbid(unsafe_code)]

extern crate self as autodiff;

pub use autodiff_macros::differentiate;
pub use autodiff_runtime::{check_grad, numeric_grad, GradCheck, GradMismatch, Real};

/// What generated code calls. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use autodiff_runtime::rules::*;
    pub use autodiff_runtime::Real;
}
