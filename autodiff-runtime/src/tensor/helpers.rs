//! Differentiable tensor helpers, numerically stable, each with its adjoint: `log_sum_exp`,
//! `softmax`, `log_softmax`, `cross_entropy` and `mse`.
//!
//! The exponentials are taken after subtracting the maximum (of the whole array, or of each lane
//! along the axis), so nothing overflows for large inputs. The adjoints read the forward result
//! where that is cheaper than recomputing it (`softmax_adjoint` takes the softmax `y`).

use ndarray::{Array, Array2, ArrayBase, ArrayView1, Axis, Data, Dimension, Ix2, Zip};
use num_traits::Float;

use super::shape::{check_axis, count, same_shape_error};
use crate::scalar::Real;

/// The largest element, NaN if any element is NaN, `-inf` for no elements.
fn max_or_nan<'a, T: Real>(xs: impl IntoIterator<Item = &'a T>) -> T {
    xs.into_iter().fold(
        T::neg_infinity(),
        |m, &x| {
            if x > m || x.is_nan() {
                x
            } else {
                m
            }
        },
    )
}

/// `(m, ln Σ exp(x - m))` for the maximum `m` of `lane`.
fn shifted_log_sum_exp<T: Real>(lane: ArrayView1<'_, T>) -> (T, T) {
    let m = max_or_nan(lane);
    let sum = lane.fold(T::zero(), |s, &x| s + (x - m).exp());
    (m, sum.ln())
}

/// `ln Σᵢ exp(aᵢ)` over all elements, computed as `m + ln Σᵢ exp(aᵢ - m)` with `m = max aᵢ` so
/// that it neither overflows nor underflows. An empty array gives `-inf` (the log of an empty
/// sum), an infinite maximum gives that infinity, and a NaN element gives NaN.
///
/// ```
/// use autodiff_runtime::{log_sum_exp, ndarray::array};
/// let y = log_sum_exp(&array![1000.0, 1000.0]);
/// assert!((y - (1000.0 + 2.0_f64.ln())).abs() < 1e-12);
/// ```
pub fn log_sum_exp<X: Elements + ?Sized>(a: &X) -> X::Elem {
    let m = a.fold_elements(<X::Elem as Float>::neg_infinity(), |m, x| {
        if x > m || x.is_nan() {
            x
        } else {
            m
        }
    });
    if !m.is_finite() {
        return m;
    }
    m + a
        .fold_elements(<X::Elem as num_traits::Zero>::zero(), |s, x| {
            s + (x - m).exp()
        })
        .ln()
}

/// `y = log_sum_exp(a)`: `da = d exp(a - y)` (`d` times the softmax of all of `a`), in `a`'s
/// gradient type (`Vec` for a slice, an owned array for an ndarray array).
pub fn log_sum_exp_adjoint<X: Elements + ?Sized>(a: &X, y: &X::Elem, d: &X::Elem) -> X::Tangent {
    let (y, d) = (*y, *d);
    a.map_to_tangent(|x| d * (x - y).exp())
}

/// The floats of a collection the helpers reduce: slices, `Vec`s and fixed arrays of floats,
/// and ndarray arrays of any storage and dimension.
pub trait Elements: crate::tangent::ZeroLike {
    /// The float type.
    type Elem: Real;
    /// Folds the elements in memory order.
    fn fold_elements<A>(&self, init: A, f: impl FnMut(A, Self::Elem) -> A) -> A;
    /// The gradient with `f(x)` for each element `x`.
    fn map_to_tangent(&self, f: impl Fn(Self::Elem) -> Self::Elem) -> Self::Tangent;
}

impl<T: Real> Elements for [T] {
    type Elem = T;
    fn fold_elements<A>(&self, init: A, mut f: impl FnMut(A, T) -> A) -> A {
        self.iter().fold(init, |a, &x| f(a, x))
    }
    fn map_to_tangent(&self, f: impl Fn(T) -> T) -> Vec<T> {
        self.iter().map(|&x| f(x)).collect()
    }
}

impl<T: Real> Elements for Vec<T> {
    type Elem = T;
    fn fold_elements<A>(&self, init: A, f: impl FnMut(A, T) -> A) -> A {
        self.as_slice().fold_elements(init, f)
    }
    fn map_to_tangent(&self, f: impl Fn(T) -> T) -> Vec<T> {
        self.as_slice().map_to_tangent(f)
    }
}

impl<T: Real, const N: usize> Elements for [T; N] {
    type Elem = T;
    fn fold_elements<A>(&self, init: A, f: impl FnMut(A, T) -> A) -> A {
        self.as_slice().fold_elements(init, f)
    }
    fn map_to_tangent(&self, f: impl Fn(T) -> T) -> [T; N] {
        self.map(f)
    }
}

impl<S, D, T> Elements for ArrayBase<S, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    type Elem = T;
    fn fold_elements<A>(&self, init: A, mut f: impl FnMut(A, T) -> A) -> A {
        self.fold(init, |a, &x| f(a, x))
    }
    fn map_to_tangent(&self, f: impl Fn(T) -> T) -> Array<T, D> {
        self.map(|&x| f(x))
    }
}

/// The softmax along `axis`: `yᵢ = exp(aᵢ - m) / Σⱼ exp(aⱼ - m)` in each lane along `axis`, with
/// `m` the lane's maximum (so no exponential overflows). Each lane of the result sums to 1.
///
/// ```
/// use autodiff_runtime::{softmax, ndarray::{array, Axis}};
/// let y = softmax(&array![[1.0, 1.0], [0.0, 1000.0]], Axis(1));
/// assert_eq!(y, array![[0.5, 0.5], [0.0, 1.0]]);
/// ```
///
/// # Panics
/// When `axis` is not an axis of `a`.
#[track_caller]
pub fn softmax<S, D, T>(a: &ArrayBase<S, D>, axis: Axis) -> Array<T, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    check_axis("softmax", axis.index(), a.shape());
    let mut y = a.to_owned();
    for mut lane in y.lanes_mut(axis) {
        let m = max_or_nan(&lane);
        let mut sum = T::zero();
        lane.map_inplace(|x| {
            *x = (*x - m).exp();
            sum += *x;
        });
        lane.map_inplace(|x| *x /= sum);
    }
    y
}

/// `y = softmax(a, axis)`: `da = y ⊙ (d - Σ_axis d ⊙ y)`, the sum taken in each lane along
/// `axis`; reads the softmax `y`, not `a`.
///
/// # Panics
/// When `axis` is not an axis of `y`, or `d` and `y` differ in shape.
#[track_caller]
pub fn softmax_adjoint<S, S2, D, T>(
    y: &ArrayBase<S, D>,
    axis: Axis,
    d: &ArrayBase<S2, D>,
) -> Array<T, D>
where
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    lanewise_adjoint("softmax", y, axis, d, |mut g, y| {
        let dot = Zip::from(&g).and(y).fold(T::zero(), |s, &g, &y| s + g * y);
        Zip::from(&mut g)
            .and(y)
            .for_each(|g, &y| *g = y * (*g - dot));
    })
}

/// The log of the softmax along `axis`: `yᵢ = (aᵢ - m) - ln Σⱼ exp(aⱼ - m)` in each lane along
/// `axis`, `m` the lane's maximum; accurate also where the softmax itself underflows to 0.
///
/// ```
/// use autodiff_runtime::{log_softmax, ndarray::{array, Axis}};
/// let y = log_softmax(&array![[0.0, -1000.0]], Axis(1));
/// assert_eq!(y, array![[0.0, -1000.0]]);
/// ```
///
/// # Panics
/// When `axis` is not an axis of `a`.
#[track_caller]
pub fn log_softmax<S, D, T>(a: &ArrayBase<S, D>, axis: Axis) -> Array<T, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    check_axis("log_softmax", axis.index(), a.shape());
    let mut y = a.to_owned();
    for mut lane in y.lanes_mut(axis) {
        let (m, log_sum) = shifted_log_sum_exp(lane.view());
        lane.map_inplace(|x| *x = (*x - m) - log_sum);
    }
    y
}

/// `y = log_softmax(a, axis)`: `da = d - exp(y) ⊙ Σ_axis d`, the sum taken in each lane along
/// `axis`; reads the result `y`, not `a`.
///
/// # Panics
/// When `axis` is not an axis of `y`, or `d` and `y` differ in shape.
#[track_caller]
pub fn log_softmax_adjoint<S, S2, D, T>(
    y: &ArrayBase<S, D>,
    axis: Axis,
    d: &ArrayBase<S2, D>,
) -> Array<T, D>
where
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    lanewise_adjoint("log_softmax", y, axis, d, |mut g, y| {
        let sum = g.sum();
        Zip::from(&mut g)
            .and(y)
            .for_each(|g, &y| *g -= y.exp() * sum);
    })
}

/// `y = log_softmax(a, axis)` in forward mode: the tangent `t - Σ_axis exp(y) ⊙ t` of `y` along
/// the tangent `t` of `a` (the transpose of [`log_softmax_adjoint`]); reads the result `y`.
///
/// # Panics
/// When `axis` is not an axis of `y`, or `t` and `y` differ in shape.
#[track_caller]
pub fn log_softmax_tangent<S, S2, D, T>(
    y: &ArrayBase<S, D>,
    axis: Axis,
    t: &ArrayBase<S2, D>,
) -> Array<T, D>
where
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    lanewise_adjoint("log_softmax", y, axis, t, |mut g, y| {
        let dot = Zip::from(&g)
            .and(y)
            .fold(T::zero(), |s, &g, &y| s + g * y.exp());
        g.map_inplace(|g| *g -= dot);
    })
}

/// The adjoint of a function applied lane by lane along `axis` (softmax, log-softmax): `d`
/// copied, then `f(lane of the copy, lane of y)` on each lane.
#[track_caller]
fn lanewise_adjoint<S, S2, D, T>(
    what: &str,
    y: &ArrayBase<S, D>,
    axis: Axis,
    d: &ArrayBase<S2, D>,
    f: impl Fn(ndarray::ArrayViewMut1<'_, T>, ArrayView1<'_, T>),
) -> Array<T, D>
where
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    check_axis(what, axis.index(), y.shape());
    if y.shape() != d.shape() {
        same_shape_error(&format!("adjoint of `{what}`"), y.shape(), d.shape());
    }
    let mut g = d.to_owned();
    Zip::from(g.lanes_mut(axis)).and(y.lanes(axis)).for_each(f);
    g
}

/// Panics unless there is one label per row and each is a class index.
#[track_caller]
fn check_labels(rows: usize, classes: usize, labels: &[usize]) {
    if labels.len() != rows {
        label_error(format!(
            "{} labels for a batch of {rows} rows of logits",
            labels.len()
        ));
    }
    if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        label_error(format!(
            "label {label} of row {row} is out of range for {classes} classes"
        ));
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn label_error(what: String) -> ! {
    panic!("autodiff: `cross_entropy`: {what}")
}

/// The mean softmax cross-entropy of a batch: `logits` is `batch × classes`, `labels[i]` the
/// class of row `i`, and the loss is `(1/batch) Σᵢ -log_softmax(logitsᵢ)[labels[i]]`, computed
/// stably. An empty batch gives NaN (the mean of nothing).
///
/// ```
/// use autodiff_runtime::{cross_entropy, ndarray::array};
/// let loss = cross_entropy(&array![[0.0, 0.0], [1000.0, 0.0]], &[1, 0]);
/// assert!((loss - 2.0_f64.ln() / 2.0).abs() < 1e-15);
/// ```
///
/// # Panics
/// When `labels` does not have one entry per row, or a label is not below the number of classes.
#[track_caller]
pub fn cross_entropy<S, T>(logits: &ArrayBase<S, Ix2>, labels: &[usize]) -> T
where
    S: Data<Elem = T>,
    T: Real,
{
    let (rows, classes) = logits.dim();
    check_labels(rows, classes, labels);
    let mut total = T::zero();
    for (row, &label) in logits.rows().into_iter().zip(labels) {
        let (m, log_sum) = shifted_log_sum_exp(row);
        total += log_sum - (row[label] - m);
    }
    total / count::<T>(rows)
}

/// `y = cross_entropy(logits, labels)`: `dlogits = d (softmax(logits) - onehot(labels)) / batch`,
/// the softmax along each row.
///
/// # Panics
/// As [`cross_entropy`].
#[track_caller]
pub fn cross_entropy_adjoint<S, T>(logits: &ArrayBase<S, Ix2>, labels: &[usize], d: &T) -> Array2<T>
where
    S: Data<Elem = T>,
    T: Real,
{
    let (rows, classes) = logits.dim();
    check_labels(rows, classes, labels);
    let scale = *d / count::<T>(rows);
    let mut g = softmax(logits, Axis(1));
    for (mut row, &label) in g.rows_mut().into_iter().zip(labels) {
        row[label] -= T::one();
        row.map_inplace(|p| *p *= scale);
    }
    g
}

/// Panics unless `pred` and `target` have one shape.
#[inline]
#[track_caller]
fn check_same(pred: &[usize], target: &[usize]) {
    if pred != target {
        same_shape_error("`mse`", pred, target);
    }
}

/// The mean squared error `(1/n) Σᵢ (predᵢ - targetᵢ)²` over all `n` elements; `pred` and
/// `target` must have the same shape. Empty arrays give NaN (the mean of nothing).
///
/// ```
/// use autodiff_runtime::{mse, ndarray::array};
/// assert_eq!(mse(&array![1.0, 2.0], &array![1.0, 4.0]), 2.0);
/// ```
///
/// # Panics
/// When the shapes differ; the message names both.
#[track_caller]
pub fn mse<S1, S2, D, T>(pred: &ArrayBase<S1, D>, target: &ArrayBase<S2, D>) -> T
where
    S1: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    check_same(pred.shape(), target.shape());
    let sum = Zip::from(pred).and(target).fold(T::zero(), |s, &p, &t| {
        let e = p - t;
        s + e * e
    });
    sum / count::<T>(pred.len())
}

/// `y = mse(pred, target)`: `dpred = 2 d (pred - target) / n`.
///
/// # Panics
/// When the shapes differ; the message names both.
#[track_caller]
pub fn mse_adjoint_lhs<S1, S2, D, T>(
    pred: &ArrayBase<S1, D>,
    target: &ArrayBase<S2, D>,
    d: &T,
) -> Array<T, D>
where
    S1: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    check_same(pred.shape(), target.shape());
    let scale = (*d + *d) / count::<T>(pred.len());
    Zip::from(pred)
        .and(target)
        .map_collect(|&p, &t| (p - t) * scale)
}

/// `y = mse(pred, target)`: `dtarget = -2 d (pred - target) / n`.
///
/// # Panics
/// When the shapes differ; the message names both.
#[track_caller]
pub fn mse_adjoint_rhs<S1, S2, D, T>(
    pred: &ArrayBase<S1, D>,
    target: &ArrayBase<S2, D>,
    d: &T,
) -> Array<T, D>
where
    S1: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    mse_adjoint_lhs(pred, target, d).mapv_into(|g| -g)
}

/// `Σᵢ aᵢ bᵢ` over two collections of one shape: a gradient's inner product with a tangent,
/// which forward mode uses for the helpers with a scalar result.
///
/// # Panics
/// When the shapes differ.
#[track_caller]
pub fn tangent_inner<A, B>(a: &A, b: &B) -> A::Elem
where
    A: Elements + ?Sized,
    B: Elements<Elem = A::Elem> + ?Sized,
{
    let mut xs = Vec::new();
    a.fold_elements((), |(), x| xs.push(x));
    let mut i = 0;
    let total = b.fold_elements(<A::Elem as num_traits::Zero>::zero(), |s, y| {
        let x = xs
            .get(i)
            .copied()
            .unwrap_or_else(|| panic!("autodiff: a tangent's shape differs from its value's"));
        i += 1;
        s + x * y
    });
    assert_eq!(
        i,
        xs.len(),
        "autodiff: a tangent's shape differs from its value's"
    );
    total
}
