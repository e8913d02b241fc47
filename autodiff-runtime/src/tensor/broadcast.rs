//! Broadcasting `+ - * /` between scalars and arrays, and their adjoints.
//!
//! The forward functions are ndarray's own operators (`&a + &b`, `&a * s`) behind a shape check
//! that names both shapes; [`Arith`] picks the right one from the operand types. The adjoints
//! compute the elementwise formula in the result's shape, then [`reduce_to`] sums it back to the
//! operand's shape: over the leading axes the operand lacks and over the axes where it has length
//! `1`; a scalar operand gets the sum of everything. When every value a rule reads is a scalar,
//! the rule is the plain float formula (the array path is statically dead and compiled away).

use ndarray::{
    aview0, Array, ArrayBase, ArrayD, ArrayViewD, Axis, Data, DimMax, Dimension, IxDyn, Zip,
};

use num_traits::{Float, One};

use super::shape::{broadcast_error, co_broadcast};
use crate::scalar::Real;

/// Broadcasting arithmetic between `Self` and `R`: a scalar with a scalar, a scalar with an
/// array (either side), or two arrays whose shapes broadcast together (numpy's rules, as
/// ndarray's `&a + &b` applies them).
///
/// Call it through [`add`], [`sub`], [`mul`] and [`div`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` and `{R}` cannot be combined by broadcasting arithmetic",
    note = "the operands must be scalars (`f32`, `f64`, `T: Real`) or ndarray arrays with those elements, all of one element type"
)]
pub trait Arith<R> {
    /// The result: the scalar for two scalars, else an owned array of the broadcast shape.
    type Output;
    /// `self + r`.
    fn arith_add(&self, r: &R) -> Self::Output;
    /// `self - r`.
    fn arith_sub(&self, r: &R) -> Self::Output;
    /// `self * r`.
    fn arith_mul(&self, r: &R) -> Self::Output;
    /// `self / r`.
    fn arith_div(&self, r: &R) -> Self::Output;
}

/// Two scalars: the float operator.
impl<T: Real> Arith<T> for T {
    type Output = T;
    #[inline(always)]
    fn arith_add(&self, r: &T) -> T {
        *self + *r
    }
    #[inline(always)]
    fn arith_sub(&self, r: &T) -> T {
        *self - *r
    }
    #[inline(always)]
    fn arith_mul(&self, r: &T) -> T {
        *self * *r
    }
    #[inline(always)]
    fn arith_div(&self, r: &T) -> T {
        *self / *r
    }
}

/// An array and a scalar: `&a op s`, a new array of `a`'s shape.
impl<S, D, T> Arith<T> for ArrayBase<S, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    type Output = Array<T, D>;
    fn arith_add(&self, r: &T) -> Array<T, D> {
        self + *r
    }
    fn arith_sub(&self, r: &T) -> Array<T, D> {
        self - *r
    }
    fn arith_mul(&self, r: &T) -> Array<T, D> {
        self * *r
    }
    fn arith_div(&self, r: &T) -> Array<T, D> {
        self / *r
    }
}

/// A scalar and an array: `s op &a`, a new array of `a`'s shape. ndarray has this operator only
/// for concrete float types, so it is spelled out as ndarray spells it (`a.map`, with the
/// commutative operators evaluated as `x op s`, as ndarray does), for the same bits.
impl<S, D, T> Arith<ArrayBase<S, D>> for T
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    type Output = Array<T, D>;
    fn arith_add(&self, r: &ArrayBase<S, D>) -> Array<T, D> {
        let s = *self;
        r.map(|&x| x + s)
    }
    fn arith_sub(&self, r: &ArrayBase<S, D>) -> Array<T, D> {
        let s = *self;
        r.map(|&x| s - x)
    }
    fn arith_mul(&self, r: &ArrayBase<S, D>) -> Array<T, D> {
        let s = *self;
        r.map(|&x| x * s)
    }
    fn arith_div(&self, r: &ArrayBase<S, D>) -> Array<T, D> {
        let s = *self;
        r.map(|&x| s / x)
    }
}

/// Two arrays: `&a op &b`, broadcast together; the result has the larger dimension type.
impl<S1, S2, D1, D2, T> Arith<ArrayBase<S2, D2>> for ArrayBase<S1, D1>
where
    S1: Data<Elem = T>,
    S2: Data<Elem = T>,
    D1: Dimension + DimMax<D2>,
    D2: Dimension,
    T: Real,
{
    type Output = Array<T, <D1 as DimMax<D2>>::Output>;
    #[track_caller]
    fn arith_add(&self, r: &ArrayBase<S2, D2>) -> Self::Output {
        check_broadcast(self.shape(), r.shape(), "+");
        self + r
    }
    #[track_caller]
    fn arith_sub(&self, r: &ArrayBase<S2, D2>) -> Self::Output {
        check_broadcast(self.shape(), r.shape(), "-");
        self - r
    }
    #[track_caller]
    fn arith_mul(&self, r: &ArrayBase<S2, D2>) -> Self::Output {
        check_broadcast(self.shape(), r.shape(), "*");
        self * r
    }
    #[track_caller]
    fn arith_div(&self, r: &ArrayBase<S2, D2>) -> Self::Output {
        check_broadcast(self.shape(), r.shape(), "/");
        self / r
    }
}

/// Panics, naming both shapes and `op`, unless `a` and `b` broadcast together.
#[inline]
#[track_caller]
fn check_broadcast(a: &[usize], b: &[usize], op: &str) {
    if a != b && co_broadcast(a, b).is_none() {
        broadcast_error(a, b, op);
    }
}

/// `l + r`, broadcasting scalars and arrays; values are ndarray's `&l + &r`.
///
/// # Panics
/// When two arrays' shapes do not broadcast together; the message names both.
#[inline(always)]
#[track_caller]
pub fn add<L: Arith<R>, R>(l: &L, r: &R) -> L::Output {
    l.arith_add(r)
}

/// `l - r`, broadcasting scalars and arrays; values are ndarray's `&l - &r`.
///
/// # Panics
/// When two arrays' shapes do not broadcast together; the message names both.
#[inline(always)]
#[track_caller]
pub fn sub<L: Arith<R>, R>(l: &L, r: &R) -> L::Output {
    l.arith_sub(r)
}

/// `l * r` elementwise, broadcasting scalars and arrays; values are ndarray's `&l * &r`.
///
/// # Panics
/// When two arrays' shapes do not broadcast together; the message names both.
#[inline(always)]
#[track_caller]
pub fn mul<L: Arith<R>, R>(l: &L, r: &R) -> L::Output {
    l.arith_mul(r)
}

/// `l / r` elementwise, broadcasting scalars and arrays; values are ndarray's `&l / &r`.
///
/// # Panics
/// When two arrays' shapes do not broadcast together; the message names both.
#[inline(always)]
#[track_caller]
pub fn div<L: Arith<R>, R>(l: &L, r: &R) -> L::Output {
    l.arith_div(r)
}

/// A value an adjoint of broadcasting arithmetic reads or returns a gradient for: a scalar (seen
/// as a 0-dimensional array) or an array of any storage.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an operand of broadcasting arithmetic",
    note = "scalars (`f32`, `f64`, `T: Real`) and ndarray arrays of them are"
)]
pub trait Operand {
    /// The element type.
    type Elem: Real;
    /// The type of this operand's gradient: the scalar, or an owned array of its shape.
    type Tangent;
    /// The value, when this is a scalar. Constant `Some` or `None` per type, so a branch on it
    /// folds away.
    fn scalar(&self) -> Option<Self::Elem>;
    /// The value as an array of dynamic dimension (a scalar has shape `[]`).
    fn dyn_view(&self) -> ArrayViewD<'_, Self::Elem>;
    /// This operand's gradient from `g`, an adjoint in a shape this operand broadcast to: summed
    /// back to this operand's shape (see [`reduce_to`]).
    fn tangent_from(&self, g: ArrayD<Self::Elem>) -> Self::Tangent;
    /// This operand's gradient when every element of it is `g`.
    fn tangent_from_elem(&self, g: Self::Elem) -> Self::Tangent;
}

impl<T: Real> Operand for T {
    type Elem = T;
    type Tangent = T;
    #[inline(always)]
    fn scalar(&self) -> Option<T> {
        Some(*self)
    }
    fn dyn_view(&self) -> ArrayViewD<'_, T> {
        aview0(self).into_dyn()
    }
    fn tangent_from(&self, g: ArrayD<T>) -> T {
        g.sum()
    }
    #[inline(always)]
    fn tangent_from_elem(&self, g: T) -> T {
        g
    }
}

impl<S, D, T> Operand for ArrayBase<S, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    type Elem = T;
    type Tangent = Array<T, D>;
    #[inline(always)]
    fn scalar(&self) -> Option<T> {
        None
    }
    fn dyn_view(&self) -> ArrayViewD<'_, T> {
        self.view().into_dyn()
    }
    #[track_caller]
    fn tangent_from(&self, g: ArrayD<T>) -> Array<T, D> {
        match reduce_to(g, self.shape()).into_dimensionality::<D>() {
            Ok(g) => g,
            Err(_) => unreachable!("`reduce_to` returns the requested number of axes"),
        }
    }
    fn tangent_from_elem(&self, g: T) -> Array<T, D> {
        Array::from_elem(self.raw_dim(), g)
    }
}

/// `g` summed to `shape`, the reverse of broadcasting an operand of that shape: sums over the
/// leading axes `shape` does not have and over the axes where `shape` has length `1` (kept, with
/// length `1`). Returns `g` itself when it already has that shape. A `g` with fewer elements
/// than `shape` asks (it never does in a rule) is broadcast up instead.
///
/// ```
/// use autodiff_runtime::ndarray::{array, Array, IxDyn};
/// use autodiff_runtime::tensor::reduce_to;
///
/// let g = Array::from_elem(IxDyn(&[4, 3]), 1.0);
/// assert_eq!(reduce_to(g.clone(), &[3]), array![4.0, 4.0, 4.0].into_dyn());
/// assert_eq!(reduce_to(g, &[4, 1]), Array::from_elem(IxDyn(&[4, 1]), 3.0));
/// ```
///
/// # Panics
/// When `g`'s shape is not one `shape` broadcasts to; the message names both.
#[track_caller]
pub fn reduce_to<T: Real>(g: ArrayD<T>, shape: &[usize]) -> ArrayD<T> {
    if g.shape() == shape {
        return g;
    }
    let mut g = g;
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    let offset = shape.len() - g.ndim();
    for axis in 0..g.ndim() {
        if shape[offset + axis] == 1 && g.len_of(Axis(axis)) != 1 {
            g = g.sum_axis(Axis(axis)).insert_axis(Axis(axis));
        }
    }
    if g.shape() == shape {
        return g;
    }
    match g.broadcast(IxDyn(shape)) {
        Some(up) => up.to_owned(),
        None => broadcast_error(g.shape(), shape, "reduce_to"),
    }
}

/// `f` over `a` and `d`, broadcast together (one new array).
#[track_caller]
fn zip2<T: Real>(
    a: &ArrayViewD<'_, T>,
    d: &ArrayViewD<'_, T>,
    op: &str,
    f: impl Fn(T, T) -> T,
) -> ArrayD<T> {
    if a.shape() == d.shape() {
        return Zip::from(a).and(d).map_collect(|&a, &d| f(a, d));
    }
    let Some(shape) = co_broadcast(a.shape(), d.shape()) else {
        broadcast_error(a.shape(), d.shape(), op)
    };
    let a = broadcast_view(a, &shape, op);
    let d = broadcast_view(d, &shape, op);
    Zip::from(&a).and(&d).map_collect(|&a, &d| f(a, d))
}

/// `f` over `a`, `b` and `d`, broadcast together (one new array).
#[track_caller]
fn zip3<T: Real>(
    a: &ArrayViewD<'_, T>,
    b: &ArrayViewD<'_, T>,
    d: &ArrayViewD<'_, T>,
    op: &str,
    f: impl Fn(T, T, T) -> T,
) -> ArrayD<T> {
    if a.shape() == d.shape() && b.shape() == d.shape() {
        return Zip::from(a)
            .and(b)
            .and(d)
            .map_collect(|&a, &b, &d| f(a, b, d));
    }
    let shape = co_broadcast(a.shape(), b.shape())
        .and_then(|ab| co_broadcast(&ab, d.shape()))
        .unwrap_or_else(|| broadcast_error(a.shape(), b.shape(), op));
    let a = broadcast_view(a, &shape, op);
    let b = broadcast_view(b, &shape, op);
    let d = broadcast_view(d, &shape, op);
    Zip::from(&a)
        .and(&b)
        .and(&d)
        .map_collect(|&a, &b, &d| f(a, b, d))
}

/// `v` broadcast to `shape`, which [`co_broadcast`] computed from it.
#[track_caller]
fn broadcast_view<'a, T>(v: &'a ArrayViewD<'_, T>, shape: &[usize], op: &str) -> ArrayViewD<'a, T> {
    match v.broadcast(IxDyn(shape)) {
        Some(b) => b,
        None => broadcast_error(v.shape(), shape, op),
    }
}

/// `y = l + r`: `dl = d`, summed to `l`'s shape.
#[inline(always)]
#[track_caller]
pub fn add_adjoint_lhs_t<L, R, G>(l: &L, _r: &R, d: &G) -> L::Tangent
where
    L: Operand,
    R: Operand<Elem = L::Elem>,
    G: Operand<Elem = L::Elem>,
{
    if let Some(d) = d.scalar() {
        return l.tangent_from_elem(d);
    }
    l.tangent_from(d.dyn_view().to_owned())
}

/// `y = l + r`: `dr = d`, summed to `r`'s shape.
#[inline(always)]
#[track_caller]
pub fn add_adjoint_rhs_t<L, R, G>(_l: &L, r: &R, d: &G) -> R::Tangent
where
    L: Operand,
    R: Operand<Elem = L::Elem>,
    G: Operand<Elem = L::Elem>,
{
    if let Some(d) = d.scalar() {
        return r.tangent_from_elem(d);
    }
    r.tangent_from(d.dyn_view().to_owned())
}

/// `y = l - r`: `dl = d`, summed to `l`'s shape.
#[inline(always)]
#[track_caller]
pub fn sub_adjoint_lhs_t<L, R, G>(l: &L, r: &R, d: &G) -> L::Tangent
where
    L: Operand,
    R: Operand<Elem = L::Elem>,
    G: Operand<Elem = L::Elem>,
{
    add_adjoint_lhs_t(l, r, d)
}

/// `y = l - r`: `dr = -d`, summed to `r`'s shape.
#[inline(always)]
#[track_caller]
pub fn sub_adjoint_rhs_t<L, R, G>(_l: &L, r: &R, d: &G) -> R::Tangent
where
    L: Operand,
    R: Operand<Elem = L::Elem>,
    G: Operand<Elem = L::Elem>,
{
    if let Some(d) = d.scalar() {
        return r.tangent_from_elem(-d);
    }
    r.tangent_from(d.dyn_view().map(|&d| -d))
}

/// `y = l * r`: `dl = d r`, summed to `l`'s shape.
#[inline(always)]
#[track_caller]
pub fn mul_adjoint_lhs_t<L, R, G>(l: &L, r: &R, d: &G) -> L::Tangent
where
    L: Operand,
    R: Operand<Elem = L::Elem>,
    G: Operand<Elem = L::Elem>,
{
    if let (Some(rv), Some(d)) = (r.scalar(), d.scalar()) {
        return l.tangent_from_elem(d * rv);
    }
    l.tangent_from(zip2(&r.dyn_view(), &d.dyn_view(), "*", |r, d| d * r))
}

/// `y = l * r`: `dr = d l`, summed to `r`'s shape.
#[inline(always)]
#[track_caller]
pub fn mul_adjoint_rhs_t<L, R, G>(l: &L, r: &R, d: &G) -> R::Tangent
where
    L: Operand,
    R: Operand<Elem = L::Elem>,
    G: Operand<Elem = L::Elem>,
{
    if let (Some(lv), Some(d)) = (l.scalar(), d.scalar()) {
        return r.tangent_from_elem(d * lv);
    }
    r.tangent_from(zip2(&l.dyn_view(), &d.dyn_view(), "*", |l, d| d * l))
}

/// `y = l / r`: `dl = d / r`, summed to `l`'s shape.
#[inline(always)]
#[track_caller]
pub fn div_adjoint_lhs_t<L, R, G>(l: &L, r: &R, d: &G) -> L::Tangent
where
    L: Operand,
    R: Operand<Elem = L::Elem>,
    G: Operand<Elem = L::Elem>,
{
    if let (Some(rv), Some(d)) = (r.scalar(), d.scalar()) {
        return l.tangent_from_elem(d / rv);
    }
    l.tangent_from(zip2(&r.dyn_view(), &d.dyn_view(), "/", |r, d| d / r))
}

/// `y = l / r`: `dr = -d y / r`, summed to `r`'s shape.
#[inline(always)]
#[track_caller]
pub fn div_adjoint_rhs_t<L, R, Y, G>(_l: &L, r: &R, y: &Y, d: &G) -> R::Tangent
where
    L: Operand,
    R: Operand<Elem = L::Elem>,
    Y: Operand<Elem = L::Elem>,
    G: Operand<Elem = L::Elem>,
{
    if let (Some(rv), Some(y), Some(d)) = (r.scalar(), y.scalar(), d.scalar()) {
        return r.tangent_from_elem(-(d * y) / rv);
    }
    let g = zip3(
        &r.dyn_view(),
        &y.dyn_view(),
        &d.dyn_view(),
        "/",
        |r, y, d| -(d * y) / r,
    );
    r.tangent_from(g)
}

/// Unary minus of a scalar or an array, the value of `-x` / `-&a`.
pub trait Negate {
    /// The negated value's type: the scalar, or an owned array.
    type Output;
    /// `-self`.
    fn negate(&self) -> Self::Output;
}

impl<T: Real> Negate for T {
    type Output = T;
    #[inline(always)]
    fn negate(&self) -> T {
        -*self
    }
}

impl<S, D, T> Negate for ArrayBase<S, D>
where
    S: Data<Elem = T>,
    D: Dimension,
    T: Real,
{
    type Output = Array<T, D>;
    fn negate(&self) -> Array<T, D> {
        self.map(|&v| -v)
    }
}

/// `-x` for a value that may be an array: the same bits as ndarray's `-&a`.
#[inline(always)]
pub fn neg<X: Negate + ?Sized>(x: &X) -> X::Output {
    x.negate()
}

/// `y = l.powf(r)` with `l` an array and `r` a scalar exponent (as ndarray's `powf` takes it):
/// `dl = d r l^(r-1)`.
///
/// # Panics
/// When `r` is an array: ndarray's `powf` takes a scalar exponent.
#[track_caller]
pub fn powf_adjoint_lhs_t<L, R, G>(l: &L, r: &R, d: &G) -> L::Tangent
where
    L: Operand,
    R: Operand<Elem = L::Elem>,
    G: Operand<Elem = L::Elem>,
{
    let Some(p) = r.scalar() else {
        panic!("autodiff: `powf` of an array takes a scalar exponent")
    };
    let one = L::Elem::one();
    l.tangent_from(zip2(&l.dyn_view(), &d.dyn_view(), "powf", |l, d| {
        d * p * l.powf(p - one)
    }))
}

/// `y = l.powf(r)` with `r` a scalar exponent: `dr = Σ d y ln l`, the elements `l = 0` with a
/// finite `y` adding zero (see [`crate::rules::powf_adjoint_rhs`]).
#[track_caller]
pub fn powf_adjoint_rhs_t<L, R, Y, G>(l: &L, r: &R, y: &Y, d: &G) -> R::Tangent
where
    L: Operand,
    R: Operand<Elem = L::Elem>,
    Y: Operand<Elem = L::Elem>,
    G: Operand<Elem = L::Elem>,
{
    let dy = zip2(&y.dyn_view(), &d.dyn_view(), "powf", |y, d| d * y);
    let total = zip2(&l.dyn_view(), &dy.view(), "powf", |l, g| {
        if l == <L::Elem as num_traits::Zero>::zero() && g.is_finite() {
            <L::Elem as num_traits::Zero>::zero()
        } else {
            g * l.ln()
        }
    })
    .sum();
    r.tangent_from_elem(total)
}
