//! Runtime support for `autodiff`: the adjoint rules that `#[differentiate]` calls, and gradient
//! checking.
//!
//! The macro knows syntax, not types. Every rule that depends on the operand types (is this a
//! scalar or an ndarray tensor; which shape does an adjoint reduce back to) lives here
//! as a generic function over the traits in [`tangent`] and [`scalar`], so one expansion of `a * b`
//! is right for `f32`, `f64` and a generic `T: Float`, and inlines to plain float arithmetic.
//!
//! Users reach this crate through the `autodiff` facade; [`check_grad`], [`Real`] and the
//! differentiable helpers ([`sigmoid`], [`softmax`], …) are the parts meant for them. The
//! [`ndarray`] crate is re-exported, so tensors are written with the same version the rules
//! are compiled against. The rule functions are public because generated code calls them, and are
//! documented because their math is the specification of the derivatives.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod calls;
pub mod check;
pub mod dual;
pub mod helpers;
pub mod jacobian;
pub mod params;
pub mod rows;
pub mod rules;
pub mod scalar;
pub mod tangent;
pub mod tape;
pub mod tape_stats;
pub mod tensor;
pub mod trace;

pub use ndarray;
pub use num_traits;

pub use check::{check_grad, numeric_grad, GradCheck, GradMismatch};
pub use dual::Dual;
pub use helpers::{relu, sigmoid, softplus};
pub use jacobian::{jacobian, jacobian_rows};
pub use params::Tangent;
pub use scalar::Real;
pub use tangent::{Accumulate, ElementValue, Elementwise, View, ZeroLike};
pub use tape::Tape;
pub use tensor::{cross_entropy, log_softmax, log_sum_exp, mse, softmax};
pub use trace::{Trace, TraceEntry};
