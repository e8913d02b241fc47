//! The adjoints of reductions and of the transpose. The forward operations are the user's own
//! ndarray calls (`a.sum()`, `a.mean_axis(Axis(0))`, `a.t()`); only their rules live here.
//!
//! A reduction's adjoint spreads `d` back over the elements that were reduced: `sum` copies it,
//! `mean` also divides by the number of elements.

use ndarray::{Array, ArrayBase, Axis, Data, Dimension};

use super::shape::{check_axis, count, same_shape_error};
use crate::scalar::Real;

/// `y = a.sum()`: `da = d` in every element.
#[inline]
pub fn sum_adjoint<S, D, T>(a: &ArrayBase<S, D>, d: &T) -> Array<T, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    Array::from_elem(a.raw_dim(), *d)
}

/// `y = a.mean()`: `da = d / n` in every element, `n = a.len()`.
#[inline]
pub fn mean_adjoint<S, D, T>(a: &ArrayBase<S, D>, d: &T) -> Array<T, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    Array::from_elem(a.raw_dim(), *d / count::<T>(a.len()))
}

/// `d` (of `a`'s shape without `axis`) stretched back along `axis` to `a`'s shape, each element
/// through `f`.
#[track_caller]
fn spread_along<S, S2, D, T>(
    what: &str,
    a: &ArrayBase<S, D>,
    axis: Axis,
    d: &ArrayBase<S2, D::Smaller>,
    f: impl Fn(T) -> T,
) -> Array<T, D>
where
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    check_axis(what, axis.index(), a.shape());
    let mut want = a.shape().to_vec();
    want.remove(axis.index());
    if d.shape() != want.as_slice() {
        same_shape_error(&format!("adjoint of `{what}`"), d.shape(), &want);
    }
    match d.view().insert_axis(axis).broadcast(a.raw_dim()) {
        Some(spread) => spread.map(|&d| f(d)),
        None => unreachable!("`d` has `a`'s shape without `axis`"),
    }
}

/// `y = a.sum_axis(axis)`: `da = d` repeated along `axis` (`d` has `a`'s shape without `axis`).
///
/// # Panics
/// When `axis` is not an axis of `a`, or `d` has the wrong shape.
#[inline]
#[track_caller]
pub fn sum_axis_adjoint<S, S2, D, T>(
    a: &ArrayBase<S, D>,
    axis: Axis,
    d: &ArrayBase<S2, D::Smaller>,
) -> Array<T, D>
where
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    spread_along("sum_axis", a, axis, d, |d| d)
}

/// `y = a.mean_axis(axis)`: `da = d / n` repeated along `axis`, `n = a.len_of(axis)`.
///
/// # Panics
/// When `axis` is not an axis of `a`, or `d` has the wrong shape.
#[inline]
#[track_caller]
pub fn mean_axis_adjoint<S, S2, D, T>(
    a: &ArrayBase<S, D>,
    axis: Axis,
    d: &ArrayBase<S2, D::Smaller>,
) -> Array<T, D>
where
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    check_axis("mean_axis", axis.index(), a.shape());
    let n = count::<T>(a.len_of(axis));
    spread_along("mean_axis", a, axis, d, |d| d / n)
}

/// A view saved for the reverse pass, as an array of its own: the array it views may be
/// assigned a new value before the reverse pass reads it (`h = h.t().dot(w)` in a loop).
#[inline]
pub fn owned_view<S, D, T>(a: &ArrayBase<S, D>) -> Array<T, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Clone,
{
    a.to_owned()
}

/// `y = a.t()` (all axes reversed): `da = dᵀ`, as an owned array in standard layout.
#[inline]
pub fn t_adjoint<S, D, T>(d: &ArrayBase<S, D>) -> Array<T, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    d.t().as_standard_layout().into_owned()
}
