//! Matrix products `l.dot(&r)` of matrices and vectors, and their adjoints.
//!
//! With `C = A B`: `dA = dC Bᵀ` and `dB = Aᵀ dC`; a vector operand makes one of the two an outer
//! product. The forward value is ndarray's `a.dot(&b)`. A fresh adjoint is computed by ndarray's
//! `dot` (into uninitialised memory, the cheapest way); the accumulating variants add into an
//! existing adjoint with `general_mat_mul` / `general_mat_vec_mul` and `beta = 1`, so a second
//! contribution costs no allocation.

use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
use ndarray::{Array1, Array2, ArrayBase, ArrayView2, Axis, Data, Ix1, Ix2};

use super::shape::{dot_adjoint_error, dot_error};
use crate::scalar::Real;

/// A matrix product `self.dot(r)` and its adjoints, for the four shapes ndarray multiplies:
/// matrix·matrix, matrix·vector, vector·matrix and vector·vector.
///
/// Call it through [`dot`], [`dot_adjoint_lhs`], [`dot_adjoint_rhs`], [`dot_accumulate_lhs`]
/// and [`dot_accumulate_rhs`].
#[diagnostic::on_unimplemented(
    message = "`dot` of `{Self}` and `{R}` is not supported",
    note = "both operands must be 1- or 2-dimensional ndarray arrays (`Ix1`/`Ix2`) of one element type `T: Real`"
)]
pub trait DotOp<R> {
    /// The product: `Array2`, `Array1`, or the scalar for two vectors.
    type Output;
    /// The left operand's gradient: an owned array of its shape.
    type LhsTangent;
    /// The right operand's gradient: an owned array of its shape.
    type RhsTangent;
    /// `self.dot(r)`.
    fn dot_forward(&self, r: &R) -> Self::Output;
    /// The left operand's adjoint, given the product's adjoint `d`.
    fn dot_adjoint_lhs(&self, r: &R, d: &Self::Output) -> Self::LhsTangent;
    /// The right operand's adjoint, given the product's adjoint `d`.
    fn dot_adjoint_rhs(&self, r: &R, d: &Self::Output) -> Self::RhsTangent;
    /// `acc += ` the left operand's adjoint, in place.
    fn dot_accumulate_lhs(&self, acc: &mut Self::LhsTangent, r: &R, d: &Self::Output);
    /// `acc += ` the right operand's adjoint, in place.
    fn dot_accumulate_rhs(&self, acc: &mut Self::RhsTangent, r: &R, d: &Self::Output);
}

/// Panics unless the inner dimensions of `a` and `b` agree.
#[inline]
#[track_caller]
fn check_inner(a: &[usize], b: &[usize], inner_a: usize, inner_b: usize) {
    if inner_a != inner_b {
        dot_error(a, b);
    }
}

/// Panics unless `got` is `want`; `what` names the array (`adjoint`, `accumulator`).
#[inline]
#[track_caller]
fn check_shape(what: &str, a: &[usize], b: &[usize], got: &[usize], want: &[usize]) {
    if got != want {
        dot_adjoint_error(what, a, b, got, want);
    }
}

/// Matrix · matrix: `C = A B` (`m×k · k×n`); `dA = dC Bᵀ`, `dB = Aᵀ dC`.
impl<S1, S2, T> DotOp<ArrayBase<S2, Ix2>> for ArrayBase<S1, Ix2>
where
    S1: Data<Elem = T>,
    S2: Data<Elem = T>,
    T: Real,
{
    type Output = Array2<T>;
    type LhsTangent = Array2<T>;
    type RhsTangent = Array2<T>;

    #[track_caller]
    fn dot_forward(&self, r: &ArrayBase<S2, Ix2>) -> Array2<T> {
        check_inner(self.shape(), r.shape(), self.ncols(), r.nrows());
        self.dot(r)
    }

    #[track_caller]
    fn dot_adjoint_lhs(&self, r: &ArrayBase<S2, Ix2>, d: &Array2<T>) -> Array2<T> {
        check_inner(self.shape(), r.shape(), self.ncols(), r.nrows());
        let want = [self.nrows(), r.ncols()];
        check_shape("adjoint", self.shape(), r.shape(), d.shape(), &want);
        d.dot(&r.t())
    }

    #[track_caller]
    fn dot_adjoint_rhs(&self, r: &ArrayBase<S2, Ix2>, d: &Array2<T>) -> Array2<T> {
        check_inner(self.shape(), r.shape(), self.ncols(), r.nrows());
        let want = [self.nrows(), r.ncols()];
        check_shape("adjoint", self.shape(), r.shape(), d.shape(), &want);
        self.t().dot(d)
    }

    #[track_caller]
    fn dot_accumulate_lhs(&self, acc: &mut Array2<T>, r: &ArrayBase<S2, Ix2>, d: &Array2<T>) {
        check_inner(self.shape(), r.shape(), self.ncols(), r.nrows());
        let want = [self.nrows(), r.ncols()];
        check_shape("adjoint", self.shape(), r.shape(), d.shape(), &want);
        check_shape(
            "accumulator",
            self.shape(),
            r.shape(),
            acc.shape(),
            self.shape(),
        );
        general_mat_mul(T::one(), d, &r.t(), T::one(), acc);
    }

    #[track_caller]
    fn dot_accumulate_rhs(&self, acc: &mut Array2<T>, r: &ArrayBase<S2, Ix2>, d: &Array2<T>) {
        check_inner(self.shape(), r.shape(), self.ncols(), r.nrows());
        let want = [self.nrows(), r.ncols()];
        check_shape("adjoint", self.shape(), r.shape(), d.shape(), &want);
        check_shape(
            "accumulator",
            self.shape(),
            r.shape(),
            acc.shape(),
            r.shape(),
        );
        general_mat_mul(T::one(), &self.t(), d, T::one(), acc);
    }
}

/// `x` as a column (`n×1`).
fn column<T>(x: &ArrayBase<impl Data<Elem = T>, Ix1>) -> ArrayView2<'_, T> {
    x.view().insert_axis(Axis(1))
}

/// `x` as a row (`1×n`).
fn row<T>(x: &ArrayBase<impl Data<Elem = T>, Ix1>) -> ArrayView2<'_, T> {
    x.view().insert_axis(Axis(0))
}

/// Matrix · vector: `y = A x` (`m×k · k`); `dA = dy xᵀ` (outer product), `dx = Aᵀ dy`.
impl<S1, S2, T> DotOp<ArrayBase<S2, Ix1>> for ArrayBase<S1, Ix2>
where
    S1: Data<Elem = T>,
    S2: Data<Elem = T>,
    T: Real,
{
    type Output = Array1<T>;
    type LhsTangent = Array2<T>;
    type RhsTangent = Array1<T>;

    #[track_caller]
    fn dot_forward(&self, r: &ArrayBase<S2, Ix1>) -> Array1<T> {
        check_inner(self.shape(), r.shape(), self.ncols(), r.len());
        self.dot(r)
    }

    #[track_caller]
    fn dot_adjoint_lhs(&self, r: &ArrayBase<S2, Ix1>, d: &Array1<T>) -> Array2<T> {
        check_inner(self.shape(), r.shape(), self.ncols(), r.len());
        check_shape(
            "adjoint",
            self.shape(),
            r.shape(),
            d.shape(),
            &[self.nrows()],
        );
        &column(d) * &row(r)
    }

    #[track_caller]
    fn dot_adjoint_rhs(&self, r: &ArrayBase<S2, Ix1>, d: &Array1<T>) -> Array1<T> {
        check_inner(self.shape(), r.shape(), self.ncols(), r.len());
        check_shape(
            "adjoint",
            self.shape(),
            r.shape(),
            d.shape(),
            &[self.nrows()],
        );
        let mut out = Array1::zeros(self.ncols());
        add_transpose_times(&mut out, self, d);
        out
    }

    #[track_caller]
    fn dot_accumulate_lhs(&self, acc: &mut Array2<T>, r: &ArrayBase<S2, Ix1>, d: &Array1<T>) {
        check_inner(self.shape(), r.shape(), self.ncols(), r.len());
        check_shape(
            "adjoint",
            self.shape(),
            r.shape(),
            d.shape(),
            &[self.nrows()],
        );
        check_shape(
            "accumulator",
            self.shape(),
            r.shape(),
            acc.shape(),
            self.shape(),
        );
        general_mat_mul(T::one(), &column(d), &row(r), T::one(), acc);
    }

    #[track_caller]
    fn dot_accumulate_rhs(&self, acc: &mut Array1<T>, r: &ArrayBase<S2, Ix1>, d: &Array1<T>) {
        check_inner(self.shape(), r.shape(), self.ncols(), r.len());
        check_shape(
            "adjoint",
            self.shape(),
            r.shape(),
            d.shape(),
            &[self.nrows()],
        );
        check_shape(
            "accumulator",
            self.shape(),
            r.shape(),
            acc.shape(),
            r.shape(),
        );
        add_transpose_times(acc, self, d);
    }
}

/// `acc += Aᵀ d`. For a row-major `A` this walks its rows (`acc += d_i · row_i`), contiguous
/// reads that are several times faster than ndarray's product with the transposed view, which
/// reads `A` by columns when there is no BLAS.
fn add_transpose_times<S, T>(acc: &mut Array1<T>, a: &ArrayBase<S, Ix2>, d: &Array1<T>)
where
    S: Data<Elem = T>,
    T: Real,
{
    if a.is_standard_layout() {
        for (row, &di) in a.rows().into_iter().zip(d) {
            acc.scaled_add(di, &row);
        }
    } else {
        general_mat_vec_mul(T::one(), &a.t(), d, T::one(), acc);
    }
}

/// Vector · matrix: `y = x A` (`k · k×n`); `dx = A dy`, `dA = x dyᵀ` (outer product).
impl<S1, S2, T> DotOp<ArrayBase<S2, Ix2>> for ArrayBase<S1, Ix1>
where
    S1: Data<Elem = T>,
    S2: Data<Elem = T>,
    T: Real,
{
    type Output = Array1<T>;
    type LhsTangent = Array1<T>;
    type RhsTangent = Array2<T>;

    #[track_caller]
    fn dot_forward(&self, r: &ArrayBase<S2, Ix2>) -> Array1<T> {
        check_inner(self.shape(), r.shape(), self.len(), r.nrows());
        self.dot(r)
    }

    #[track_caller]
    fn dot_adjoint_lhs(&self, r: &ArrayBase<S2, Ix2>, d: &Array1<T>) -> Array1<T> {
        check_inner(self.shape(), r.shape(), self.len(), r.nrows());
        check_shape("adjoint", self.shape(), r.shape(), d.shape(), &[r.ncols()]);
        r.dot(d)
    }

    #[track_caller]
    fn dot_adjoint_rhs(&self, r: &ArrayBase<S2, Ix2>, d: &Array1<T>) -> Array2<T> {
        check_inner(self.shape(), r.shape(), self.len(), r.nrows());
        check_shape("adjoint", self.shape(), r.shape(), d.shape(), &[r.ncols()]);
        &column(self) * &row(d)
    }

    #[track_caller]
    fn dot_accumulate_lhs(&self, acc: &mut Array1<T>, r: &ArrayBase<S2, Ix2>, d: &Array1<T>) {
        check_inner(self.shape(), r.shape(), self.len(), r.nrows());
        check_shape("adjoint", self.shape(), r.shape(), d.shape(), &[r.ncols()]);
        check_shape(
            "accumulator",
            self.shape(),
            r.shape(),
            acc.shape(),
            self.shape(),
        );
        general_mat_vec_mul(T::one(), r, d, T::one(), acc);
    }

    #[track_caller]
    fn dot_accumulate_rhs(&self, acc: &mut Array2<T>, r: &ArrayBase<S2, Ix2>, d: &Array1<T>) {
        check_inner(self.shape(), r.shape(), self.len(), r.nrows());
        check_shape("adjoint", self.shape(), r.shape(), d.shape(), &[r.ncols()]);
        check_shape(
            "accumulator",
            self.shape(),
            r.shape(),
            acc.shape(),
            r.shape(),
        );
        general_mat_mul(T::one(), &column(self), &row(d), T::one(), acc);
    }
}

/// Vector · vector: `s = x · y`; `dx = ds y`, `dy = ds x`.
impl<S1, S2, T> DotOp<ArrayBase<S2, Ix1>> for ArrayBase<S1, Ix1>
where
    S1: Data<Elem = T>,
    S2: Data<Elem = T>,
    T: Real,
{
    type Output = T;
    type LhsTangent = Array1<T>;
    type RhsTangent = Array1<T>;

    #[track_caller]
    fn dot_forward(&self, r: &ArrayBase<S2, Ix1>) -> T {
        check_inner(self.shape(), r.shape(), self.len(), r.len());
        self.dot(r)
    }

    #[track_caller]
    fn dot_adjoint_lhs(&self, r: &ArrayBase<S2, Ix1>, d: &T) -> Array1<T> {
        check_inner(self.shape(), r.shape(), self.len(), r.len());
        r * *d
    }

    #[track_caller]
    fn dot_adjoint_rhs(&self, r: &ArrayBase<S2, Ix1>, d: &T) -> Array1<T> {
        check_inner(self.shape(), r.shape(), self.len(), r.len());
        self * *d
    }

    #[track_caller]
    fn dot_accumulate_lhs(&self, acc: &mut Array1<T>, r: &ArrayBase<S2, Ix1>, d: &T) {
        check_inner(self.shape(), r.shape(), self.len(), r.len());
        check_shape(
            "accumulator",
            self.shape(),
            r.shape(),
            acc.shape(),
            self.shape(),
        );
        acc.scaled_add(*d, r);
    }

    #[track_caller]
    fn dot_accumulate_rhs(&self, acc: &mut Array1<T>, r: &ArrayBase<S2, Ix1>, d: &T) {
        check_inner(self.shape(), r.shape(), self.len(), r.len());
        check_shape(
            "accumulator",
            self.shape(),
            r.shape(),
            acc.shape(),
            r.shape(),
        );
        acc.scaled_add(*d, self);
    }
}

/// `l.dot(&r)`: the matrix product of 2-D arrays, matrix·vector, vector·matrix, or the dot
/// product of two vectors; values are ndarray's `l.dot(&r)`.
///
/// # Panics
/// When the inner dimensions differ; the message names both shapes.
#[inline]
#[track_caller]
pub fn dot<L: DotOp<R>, R>(l: &L, r: &R) -> L::Output {
    l.dot_forward(r)
}

/// `y = l.dot(&r)`: `dl = d rᵀ` (matrix `r`) or the outer product `d ⊗ r` (`l` a matrix, `r` a
/// vector), or `d r` for two vectors.
///
/// # Panics
/// When the shapes of `l`, `r` and `d` do not fit together; the message names them.
#[inline]
#[track_caller]
pub fn dot_adjoint_lhs<L: DotOp<R>, R>(l: &L, r: &R, d: &L::Output) -> L::LhsTangent {
    l.dot_adjoint_lhs(r, d)
}

/// `y = l.dot(&r)`: `dr = lᵀ d` (matrix `l`) or the outer product `l ⊗ d` (`l` a vector, `r` a
/// matrix), or `d l` for two vectors.
///
/// # Panics
/// When the shapes of `l`, `r` and `d` do not fit together; the message names them.
#[inline]
#[track_caller]
pub fn dot_adjoint_rhs<L: DotOp<R>, R>(l: &L, r: &R, d: &L::Output) -> L::RhsTangent {
    l.dot_adjoint_rhs(r, d)
}

/// `acc += dot_adjoint_lhs(l, r, d)`, in place, without allocating.
///
/// # Panics
/// When the shapes of `acc`, `l`, `r` and `d` do not fit together; the message names them.
#[inline]
#[track_caller]
pub fn dot_accumulate_lhs<L: DotOp<R>, R>(acc: &mut L::LhsTangent, l: &L, r: &R, d: &L::Output) {
    l.dot_accumulate_lhs(acc, r, d);
}

/// `acc += dot_adjoint_rhs(l, r, d)`, in place, without allocating.
///
/// # Panics
/// When the shapes of `acc`, `l`, `r` and `d` do not fit together; the message names them.
#[inline]
#[track_caller]
pub fn dot_accumulate_rhs<L: DotOp<R>, R>(acc: &mut L::RhsTangent, l: &L, r: &R, d: &L::Output) {
    l.dot_accumulate_rhs(acc, r, d);
}
