//! Arrays as operands of the scalar rules: their zero gradients, in-place accumulation, the view
//! the rules read, and the formula mapped over the elements.
//!
//! Every impl here is for `ArrayBase<S, D>` with `S: Data<Elem = T>`, `T: Real`: arrays of any
//! storage. Gradients are always owned `Array<T, D>`s of the value's shape.

use ndarray::{Array, ArrayBase, ArrayView, Data, Dimension, Zip};

use super::shape::same_shape_error;
use crate::scalar::Real;
use crate::tangent::{Accumulate, Elementwise, View, ZeroLike};

/// An array's gradient is an owned array of the same shape.
impl<S, D, T> ZeroLike for ArrayBase<S, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    type Tangent = Array<T, D>;
    fn zero_like(&self) -> Array<T, D> {
        Array::zeros(self.raw_dim())
    }
}

/// `*self += &contribution`, in place; the shapes must be equal.
impl<T: Real, D: Dimension> Accumulate for Array<T, D> {
    #[track_caller]
    fn accumulate(&mut self, contribution: Self) {
        if self.shape() != contribution.shape() {
            same_shape_error(
                "accumulating an adjoint",
                self.shape(),
                contribution.shape(),
            );
        }
        *self += &contribution;
    }
}

/// Any storage is read through an `ArrayView`.
impl<S, D, T> View for ArrayBase<S, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    type Viewed<'a>
        = ArrayView<'a, T, D>
    where
        Self: 'a;
    #[inline(always)]
    fn view_value(&self) -> ArrayView<'_, T, D> {
        self.view()
    }
}

/// The formula mapped over the elements into a new array; all operands must have one shape.
impl<S, D, T> Elementwise for ArrayBase<S, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    type Elem = T;
    type Out = Array<T, D>;

    fn map1(d: &Self, f: impl Fn(T) -> T) -> Array<T, D> {
        d.map(|&d| f(d))
    }

    #[track_caller]
    fn map2(a: &Self, d: &Self, f: impl Fn(T, T) -> T) -> Array<T, D> {
        if a.shape() != d.shape() {
            same_shape_error("elementwise adjoint", a.shape(), d.shape());
        }
        Zip::from(a).and(d).map_collect(|&a, &d| f(a, d))
    }

    #[track_caller]
    fn map3(a: &Self, b: &Self, d: &Self, f: impl Fn(T, T, T) -> T) -> Array<T, D> {
        if a.shape() != d.shape() {
            same_shape_error("elementwise adjoint", a.shape(), d.shape());
        }
        if b.shape() != d.shape() {
            same_shape_error("elementwise adjoint", b.shape(), d.shape());
        }
        Zip::from(a)
            .and(b)
            .and(d)
            .map_collect(|&a, &b, &d| f(a, b, d))
    }

    fn map1_into(mut d: Array<T, D>, f: impl Fn(T) -> T) -> Array<T, D> {
        d.mapv_inplace(f);
        d
    }

    #[track_caller]
    fn map2_into(a: &Self, mut d: Array<T, D>, f: impl Fn(T, T) -> T) -> Array<T, D> {
        if a.shape() != d.shape() {
            same_shape_error("elementwise adjoint", a.shape(), d.shape());
        }
        Zip::from(&mut d).and(a).for_each(|d, &a| *d = f(a, *d));
        d
    }

    #[track_caller]
    fn map3_into(a: &Self, b: &Self, mut d: Array<T, D>, f: impl Fn(T, T, T) -> T) -> Array<T, D> {
        if a.shape() != d.shape() {
            same_shape_error("elementwise adjoint", a.shape(), d.shape());
        }
        if b.shape() != d.shape() {
            same_shape_error("elementwise adjoint", b.shape(), d.shape());
        }
        Zip::from(&mut d)
            .and(a)
            .and(b)
            .for_each(|d, &a, &b| *d = f(a, b, *d));
        d
    }
}
