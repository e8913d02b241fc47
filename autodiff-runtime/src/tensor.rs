//! ndarray tensors: the rules and helpers for values of type `ArrayBase<S, D>` with `T: Real`
//! elements, for every storage (`Array`, `ArrayView`, `ArcArray`, …) and dimension.
//!
//! - the [`ZeroLike`](crate::ZeroLike), [`Accumulate`](crate::Accumulate),
//!   [`View`](crate::View) and [`Elementwise`](crate::Elementwise) impls for arrays that make every scalar rule of [`crate::rules`]
//!   work on arrays (`exp_adjoint(&view(&y), &view(&d))` returns an `Array`);
//! - broadcasting `+ - * /` between arrays and scalars ([`add`], [`mul`], …) with adjoints that
//!   sum a broadcast adjoint back to the operand's shape ([`mul_adjoint_lhs_t`], …);
//! - matrix products ([`dot`]) and their adjoints, also accumulating in place
//!   ([`dot_accumulate_lhs`]);
//! - the adjoints of reductions the user writes with ndarray itself (`a.sum()`, `a.mean_axis(ax)`,
//!   `a.t()`): [`sum_adjoint`], [`mean_axis_adjoint`], [`t_adjoint`], …;
//! - differentiable helpers with their rules: [`log_sum_exp`], [`softmax`], [`log_softmax`],
//!   [`cross_entropy`], [`mse`].
//!
//! Forward values are those of ndarray's own operators, bit for bit: [`add`] is `&a + &b` with a
//! shape check first, [`dot`] is `a.dot(&b)`. Shape errors panic at the caller
//! (`#[track_caller]`) with a message that prints both shapes; an adjoint never silently
//! broadcasts to a shape it was not given.
//!
//! Not here: differentiating through indexing, slicing or reshaping of arrays, and matrix
//! products of more than two dimensions.

mod broadcast;
mod elementwise;
mod helpers;
mod matmul;
mod reduce;
mod shape;

pub use broadcast::{
    add, add_adjoint_lhs_t, add_adjoint_rhs_t, div, div_adjoint_lhs_t, div_adjoint_rhs_t, mul,
    mul_adjoint_lhs_t, mul_adjoint_rhs_t, neg, powf_adjoint_lhs_t, powf_adjoint_rhs_t, reduce_to,
    sub, sub_adjoint_lhs_t, sub_adjoint_rhs_t, Arith, Negate, Operand,
};
pub use helpers::{
    cross_entropy, cross_entropy_adjoint, log_softmax, log_softmax_adjoint, log_softmax_tangent,
    log_sum_exp, log_sum_exp_adjoint, mse, mse_adjoint_lhs, mse_adjoint_rhs, softmax,
    softmax_adjoint, tangent_inner, Elements,
};
pub use matmul::{
    dot, dot_accumulate_lhs, dot_accumulate_rhs, dot_adjoint_lhs, dot_adjoint_rhs, DotOp,
};
pub use reduce::{
    mean_adjoint, mean_axis_adjoint, owned_view, sum_adjoint, sum_axis_adjoint, t_adjoint,
};
