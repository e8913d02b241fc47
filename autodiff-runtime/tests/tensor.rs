//! The tensor rules against central differences of independent reference functions.
//!
//! Every reference is written with ndarray's own operators and naive formulas (`exp`, `sum`,
//! `ln`), never with a function of the runtime, and differentiated numerically with the
//! five-point central difference over each element. Test points are quantised to a power-of-two
//! grid, and the steps are powers of two, so every perturbed point is exact in both float types.

use autodiff_runtime::ndarray::linalg::Dot;
use autodiff_runtime::ndarray::{
    arr0, array, Array, Array1, Array2, Array3, ArrayD, Axis, Dimension, IxDyn, ShapeBuilder,
};
use autodiff_runtime::rules::{
    accumulate, div_adjoint_rhs, exp_adjoint, powi_adjoint, sin_adjoint, take, view, zero_like,
};
use autodiff_runtime::tensor::{
    add, add_adjoint_lhs_t, add_adjoint_rhs_t, cross_entropy, cross_entropy_adjoint, div,
    div_adjoint_lhs_t, div_adjoint_rhs_t, dot, dot_accumulate_lhs, dot_accumulate_rhs,
    dot_adjoint_lhs, dot_adjoint_rhs, log_softmax, log_softmax_adjoint, log_sum_exp,
    log_sum_exp_adjoint, mean_adjoint, mean_axis_adjoint, mse, mse_adjoint_lhs, mse_adjoint_rhs,
    mul, mul_adjoint_lhs_t, mul_adjoint_rhs_t, reduce_to, softmax, softmax_adjoint, sub,
    sub_adjoint_lhs_t, sub_adjoint_rhs_t, sum_adjoint, sum_axis_adjoint, t_adjoint, Arith, DotOp,
    Operand,
};
use autodiff_runtime::Real;

// ----- deterministic points -----------------------------------------------------------------

/// SplitMix64: the same numbers on every platform.
struct Points(u64);

impl Points {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        #[allow(clippy::cast_precision_loss, reason = "53 bits fit an f64 exactly")]
        let unit = (z >> 11) as f64 / (1_u64 << 53) as f64;
        unit
    }

    /// Uniform in `[-1.5, 1.5)`, on the grid of multiples of `2^-10`.
    fn value(&mut self) -> f64 {
        ((self.next_unit() * 3.0 - 1.5) * 1024.0).round() / 1024.0
    }

    /// Magnitude in `[0.5, 1.5)`, random sign, on the same grid: safe divisors.
    fn off_zero(&mut self) -> f64 {
        let m = ((self.next_unit() + 0.5) * 1024.0).round() / 1024.0;
        if self.next_unit() < 0.5 {
            -m
        } else {
            m
        }
    }

    fn array<T: Real, Sh: ShapeBuilder>(&mut self, shape: Sh) -> Array<T, Sh::Dim> {
        Array::from_shape_simple_fn(shape, || T::of_f64(self.value()))
    }

    fn array_off_zero<T: Real, Sh: ShapeBuilder>(&mut self, shape: Sh) -> Array<T, Sh::Dim> {
        Array::from_shape_simple_fn(shape, || T::of_f64(self.off_zero()))
    }

    fn dyn_array<T: Real>(&mut self, shape: &[usize]) -> ArrayD<T> {
        self.array(IxDyn(shape))
    }
}

// ----- numeric gradients --------------------------------------------------------------------

/// Tolerances of one comparison: `|analytic - numeric| <= rel * max(|a|, |n|) + abs * scale`,
/// `scale` the largest numeric component (or 1).
#[derive(Clone, Copy)]
struct Tol {
    rel: f64,
    abs: f64,
    /// The finite-difference step, a power of two.
    step: f64,
}

const F64: Tol = Tol {
    rel: 1e-7,
    abs: 1e-9,
    step: 1.0 / 256.0,
};

const F32: Tol = Tol {
    rel: 2e-3,
    abs: 2e-3,
    step: 1.0 / 32.0,
};

/// `x` as an `f64` (exact for `f32`).
fn wide<T: Real>(x: T) -> f64 {
    Real::as_f64(x)
}

/// The gradient of `x -> Σ w ⊙ f(x)` at `x` (the vector-Jacobian product `wᵀ J_f(x)`), by the
/// five-point central difference over each element of `x`.
fn numeric_vjp<T: Real>(
    f: impl Fn(&ArrayD<T>) -> ArrayD<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    tol: Tol,
) -> ArrayD<T> {
    let phi = |x: &ArrayD<T>| -> f64 {
        let y = f(x);
        assert_eq!(y.shape(), w.shape(), "reference output shape");
        y.iter()
            .zip(w.iter())
            .map(|(y, w)| wide(*y) * wide(*w))
            .sum()
    };
    let x = x.as_standard_layout().into_owned();
    let h = tol.step;
    let mut grad = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        let at = |k: f64| {
            let mut moved = x.clone();
            let slot = &mut moved.as_slice_mut().expect("standard layout")[i];
            *slot = T::of_f64(wide(*slot) + k * h);
            phi(&moved)
        };
        let g = (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * h);
        grad.push(T::of_f64(g));
    }
    ArrayD::from_shape_vec(x.raw_dim(), grad).expect("one component per element")
}

/// The numeric gradient of a scalar function: [`numeric_vjp`] with `w = 1`.
fn numeric_grad<T: Real>(f: impl Fn(&ArrayD<T>) -> T, x: &ArrayD<T>, tol: Tol) -> ArrayD<T> {
    numeric_vjp(
        |x| arr0(f(x)).into_dyn(),
        x,
        &arr0(T::one()).into_dyn(),
        tol,
    )
}

#[track_caller]
fn assert_close<T: Real>(what: &str, analytic: &ArrayD<T>, numeric: &ArrayD<T>, tol: Tol) {
    assert_eq!(analytic.shape(), numeric.shape(), "{what}: shape");
    let scale = numeric.iter().fold(1.0_f64, |m, x| m.max(wide(*x).abs()));
    for (i, (a, n)) in analytic.iter().zip(numeric.iter()).enumerate() {
        let (a, n) = (wide(*a), wide(*n));
        let err = (a - n).abs();
        assert!(
            err <= tol.rel * a.abs().max(n.abs()) + tol.abs * scale,
            "{what}: element {i}: analytic {a:e}, numeric {n:e}\nanalytic {analytic}\nnumeric {numeric}"
        );
    }
}

/// Bit-for-bit equality of two arrays of the same shape.
#[track_caller]
fn assert_bits_eq<T: Real, D: Dimension>(what: &str, ours: &Array<T, D>, theirs: &Array<T, D>) {
    assert_eq!(ours.shape(), theirs.shape(), "{what}: shape");
    for (a, b) in ours.iter().zip(theirs.iter()) {
        let (a, b) = (wide(*a), wide(*b));
        assert_eq!(a.to_bits(), b.to_bits(), "{what}: {a:e} vs {b:e}");
    }
}

/// Values moved to and from `ArrayD`, so that one numeric check covers scalars and arrays of
/// every dimension.
trait Dynamic<T> {
    fn to_dyn(&self) -> ArrayD<T>;
    fn from_dyn(a: ArrayD<T>) -> Self;
}

macro_rules! dynamic_scalar {
    ($($t:ty),*) => {$(
        impl Dynamic<$t> for $t {
            fn to_dyn(&self) -> ArrayD<$t> {
                arr0(*self).into_dyn()
            }
            fn from_dyn(a: ArrayD<$t>) -> Self {
                assert_eq!(a.ndim(), 0);
                a[IxDyn(&[])]
            }
        }
        impl<D: Dimension> Dynamic<$t> for Array<$t, D> {
            fn to_dyn(&self) -> ArrayD<$t> {
                self.clone().into_dyn()
            }
            fn from_dyn(a: ArrayD<$t>) -> Self {
                a.into_dimensionality().expect("dimension")
            }
        }
    )*};
}
dynamic_scalar!(f32, f64);

// ----- broadcasting arithmetic --------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

const OPS: [Op; 4] = [Op::Add, Op::Sub, Op::Mul, Op::Div];

/// The reference: ndarray's own broadcasting operators on dynamic-dimension arrays (a scalar is
/// a 0-d array).
fn reference<T: Real>(op: Op, l: &ArrayD<T>, r: &ArrayD<T>) -> ArrayD<T> {
    match op {
        Op::Add => l + r,
        Op::Sub => l - r,
        Op::Mul => l * r,
        Op::Div => l / r,
    }
}

/// Checks the forward value (bit for bit against ndarray) and both adjoints of every operator
/// for the operands `l`, `r`.
fn check_binary<T, L, R>(l: &L, r: &R, tol: Tol, seed: u64)
where
    T: Real,
    L: Arith<R> + Operand<Elem = T> + Dynamic<T>,
    R: Operand<Elem = T> + Dynamic<T>,
    L::Tangent: Dynamic<T>,
    R::Tangent: Dynamic<T>,
    <L as Arith<R>>::Output: Operand<Elem = T> + Dynamic<T>,
{
    let (ld, rd) = (l.to_dyn(), r.to_dyn());
    let mut points = Points(seed);
    for op in OPS {
        let y = match op {
            Op::Add => add(l, r),
            Op::Sub => sub(l, r),
            Op::Mul => mul(l, r),
            Op::Div => div(l, r),
        };
        let what = format!("{op:?} of {:?} and {:?}", ld.shape(), rd.shape());
        assert_bits_eq(&what, &y.to_dyn(), &reference(op, &ld, &rd));
        let wd = points.dyn_array::<T>(y.to_dyn().shape());
        let w = <L as Arith<R>>::Output::from_dyn(wd.clone());
        let (dl, dr) = match op {
            Op::Add => (
                add_adjoint_lhs_t(l, r, &w).to_dyn(),
                add_adjoint_rhs_t(l, r, &w).to_dyn(),
            ),
            Op::Sub => (
                sub_adjoint_lhs_t(l, r, &w).to_dyn(),
                sub_adjoint_rhs_t(l, r, &w).to_dyn(),
            ),
            Op::Mul => (
                mul_adjoint_lhs_t(l, r, &w).to_dyn(),
                mul_adjoint_rhs_t(l, r, &w).to_dyn(),
            ),
            Op::Div => (
                div_adjoint_lhs_t(l, r, &w).to_dyn(),
                div_adjoint_rhs_t(l, r, &y, &w).to_dyn(),
            ),
        };
        let nl = numeric_vjp(|x| reference(op, x, &rd), &ld, &wd, tol);
        let nr = numeric_vjp(|x| reference(op, &ld, x), &rd, &wd, tol);
        assert_close(&format!("{what}: lhs"), &dl, &nl, tol);
        assert_close(&format!("{what}: rhs"), &dr, &nr, tol);
    }
}

#[test]
fn broadcasting_arithmetic_f64() {
    let mut p = Points(1);
    // (3,1) op (1,4) -> (3,4): both operands broadcast.
    check_binary(
        &p.array::<f64, _>((3, 1)),
        &p.array_off_zero::<f64, _>((1, 4)),
        F64,
        10,
    );
    // (4,3) op (3,) -> (4,3), and the mirror (3,) op (4,3).
    check_binary(
        &p.array::<f64, _>((4, 3)),
        &p.array_off_zero::<f64, _>(3),
        F64,
        11,
    );
    check_binary(
        &p.array::<f64, _>(3),
        &p.array_off_zero::<f64, _>((4, 3)),
        F64,
        12,
    );
    // Scalar with array, both ways.
    check_binary(&p.value(), &p.array_off_zero::<f64, _>((2, 3)), F64, 13);
    check_binary(&p.array::<f64, _>((2, 3)), &p.off_zero(), F64, 14);
    // Equal shapes, a 3-d broadcast against a 2-d, and two scalars.
    check_binary(
        &p.array::<f64, _>((2, 3)),
        &p.array_off_zero::<f64, _>((2, 3)),
        F64,
        15,
    );
    check_binary(
        &p.dyn_array::<f64>(&[2, 1, 3]),
        &Array::from_shape_simple_fn(IxDyn(&[4, 1]), || p.off_zero()),
        F64,
        16,
    );
    check_binary(&p.value(), &p.off_zero(), F64, 17);
}

#[test]
fn broadcasting_arithmetic_f32() {
    let mut p = Points(2);
    check_binary(
        &p.array::<f32, _>((3, 1)),
        &p.array_off_zero::<f32, _>((1, 4)),
        F32,
        20,
    );
    check_binary(
        &p.array::<f32, _>((4, 3)),
        &p.array_off_zero::<f32, _>(3),
        F32,
        21,
    );
    #[allow(
        clippy::cast_possible_truncation,
        reason = "grid values are exact in f32"
    )]
    let s = p.value() as f32;
    check_binary(&s, &p.array_off_zero::<f32, _>((2, 3)), F32, 22);
}

#[test]
fn two_scalars_are_plain_float_math() {
    let (l, r, d) = (1.5_f64, -0.75_f64, 2.0_f64);
    let y = div(&l, &r);
    assert_eq!(y, l / r);
    assert_eq!(mul(&l, &r), l * r);
    assert_eq!(add_adjoint_lhs_t(&l, &r, &d), 2.0);
    assert_eq!(sub_adjoint_rhs_t(&l, &r, &d), -2.0);
    assert_eq!(mul_adjoint_lhs_t(&l, &r, &d), -1.5);
    assert_eq!(mul_adjoint_rhs_t(&l, &r, &d), 3.0);
    assert_eq!(div_adjoint_lhs_t(&l, &r, &d), 2.0 / -0.75);
    assert_eq!(div_adjoint_rhs_t(&l, &r, &y, &d), -(2.0 * y) / -0.75);
}

#[test]
fn forward_arithmetic_is_ndarrays_operators_bit_for_bit() {
    let mut p = Points(3);
    let a: Array2<f64> = p.array((5, 7));
    let b: Array1<f64> = p.array_off_zero(7);
    let c: Array2<f64> = p.array_off_zero((5, 1));
    let s = p.off_zero();
    assert_bits_eq("a + b", &add(&a, &b), &(&a + &b));
    assert_bits_eq("b + a", &add(&b, &a), &(&b + &a));
    assert_bits_eq("a * b", &mul(&a, &b), &(&a * &b));
    assert_bits_eq("a / c", &div(&a, &c), &(&a / &c));
    assert_bits_eq("a - c", &sub(&a, &c), &(&a - &c));
    assert_bits_eq("a * s", &mul(&a, &s), &(&a * s));
    assert_bits_eq("s * a", &mul(&s, &a), &(s * &a));
    assert_bits_eq("s - a", &sub(&s, &a), &(s - &a));
    assert_bits_eq("s / a", &div(&s, &c), &(s / &c));
    assert_bits_eq("a + s", &add(&a, &s), &(&a + s));
    // Views and a transposed (non-standard) layout.
    let at = a.t();
    assert_bits_eq("aᵀ * aᵀ", &mul(&at, &a.t()), &(&at * &a.t()));
    assert_bits_eq("view + owned", &add(&a.view(), &b), &(&a.view() + &b));
}

#[test]
#[should_panic(expected = "autodiff: cannot broadcast shapes [3, 4] and [5] for `+`")]
fn a_broadcast_mismatch_names_both_shapes() {
    let _ = add(&Array2::<f64>::zeros((3, 4)), &Array1::<f64>::zeros(5));
}

#[test]
fn reduce_to_sums_the_broadcast_axes() {
    let g = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    assert_eq!(reduce_to(g.clone(), &[3]), array![5.0, 7.0, 9.0].into_dyn());
    assert_eq!(
        reduce_to(g.clone(), &[2, 1]),
        array![[6.0], [15.0]].into_dyn()
    );
    assert_eq!(reduce_to(g.clone(), &[1, 1]), array![[21.0]].into_dyn());
    assert_eq!(reduce_to(g.clone(), &[]), arr0(21.0).into_dyn());
    assert_eq!(reduce_to(g.clone(), &[2, 3]), g);
}

// ----- matrix products ----------------------------------------------------------------------

/// Checks the forward value (bit for bit against ndarray's `dot`) and both adjoints, fresh and
/// accumulated, of `l.dot(r)`.
fn check_dot<T, L, R>(l: &L, r: &R, tol: Tol, seed: u64)
where
    T: Real,
    L: DotOp<R> + Dynamic<T>,
    R: Dynamic<T>,
    L::Output: Dynamic<T>,
    L::LhsTangent: Dynamic<T>,
    L::RhsTangent: Dynamic<T>,
{
    let (ld, rd) = (l.to_dyn(), r.to_dyn());
    let what = format!("dot of {:?} and {:?}", ld.shape(), rd.shape());
    let reference = |l: &ArrayD<T>, r: &ArrayD<T>| Dot::dot(&**l, &**r);
    let y = dot(l, r);
    assert_bits_eq(&what, &y.to_dyn(), &reference(&ld, &rd));
    let mut points = Points(seed);
    let wd = points.dyn_array::<T>(y.to_dyn().shape());
    let w = L::Output::from_dyn(wd.clone());
    let nl = numeric_vjp(|x| reference(x, &rd), &ld, &wd, tol);
    let nr = numeric_vjp(|x| reference(&ld, x), &rd, &wd, tol);
    assert_close(
        &format!("{what}: lhs"),
        &dot_adjoint_lhs(l, r, &w).to_dyn(),
        &nl,
        tol,
    );
    assert_close(
        &format!("{what}: rhs"),
        &dot_adjoint_rhs(l, r, &w).to_dyn(),
        &nr,
        tol,
    );

    // Accumulating: acc0 + contribution.
    let acc0 = points.dyn_array::<T>(ld.shape());
    let mut acc = L::LhsTangent::from_dyn(acc0.clone());
    dot_accumulate_lhs(&mut acc, l, r, &w);
    assert_close(
        &format!("{what}: lhs accumulated"),
        &acc.to_dyn(),
        &(&acc0 + &nl),
        tol,
    );
    let acc0 = points.dyn_array::<T>(rd.shape());
    let mut acc = L::RhsTangent::from_dyn(acc0.clone());
    dot_accumulate_rhs(&mut acc, l, r, &w);
    assert_close(
        &format!("{what}: rhs accumulated"),
        &acc.to_dyn(),
        &(&acc0 + &nr),
        tol,
    );
}

#[test]
fn matrix_products_f64() {
    let mut p = Points(4);
    let a: Array2<f64> = p.array((2, 3));
    let b: Array2<f64> = p.array((3, 4));
    let x: Array1<f64> = p.array(3);
    let v: Array1<f64> = p.array(2);
    check_dot(&a, &b, F64, 40);
    check_dot(&a, &x, F64, 41);
    check_dot(&v, &a, F64, 42);
    check_dot(&x, &p.array::<f64, _>(3), F64, 43);
}

#[test]
fn matrix_products_f32() {
    let mut p = Points(5);
    let a: Array2<f32> = p.array((3, 2));
    let b: Array2<f32> = p.array((2, 2));
    check_dot(&a, &b, F32, 50);
    check_dot(&a, &p.array::<f32, _>(2), F32, 51);
}

#[test]
fn matrix_products_of_views_and_transposes() {
    let mut p = Points(6);
    let a: Array2<f64> = p.array((3, 2));
    let b: Array2<f64> = p.array((3, 4));
    // aᵀ b with a transposed view on the left.
    let at = a.t();
    let y = dot(&at, &b);
    assert_bits_eq("aᵀ b", &y, &at.dot(&b));
    let d: Array2<f64> = p.array((2, 4));
    let da = dot_adjoint_lhs(&at, &b, &d);
    let bd = b.clone().into_dyn();
    let reference = |l: &ArrayD<f64>| Dot::dot(&**l, &*bd);
    let n = numeric_vjp(
        reference,
        &at.to_owned().into_dyn(),
        &d.clone().into_dyn(),
        F64,
    );
    assert_close("d(aᵀ)", &da.into_dyn(), &n, F64);
}

#[test]
fn dot_forward_is_ndarrays_bit_for_bit_at_kernel_sizes() {
    let mut p = Points(7);
    let a: Array2<f64> = p.array((17, 33));
    let b: Array2<f64> = p.array((33, 9));
    let x: Array1<f64> = p.array(33);
    let u: Array1<f64> = p.array(17);
    assert_bits_eq("A B", &dot(&a, &b), &a.dot(&b));
    assert_bits_eq("A x", &dot(&a, &x), &a.dot(&x));
    assert_bits_eq("u A", &dot(&u, &a), &u.dot(&a));
    assert_eq!(dot(&x, &x).to_bits(), x.dot(&x).to_bits());
    assert_bits_eq("Bᵀ Aᵀ", &dot(&b.t(), &a.t()), &b.t().dot(&a.t()));
    let a32: Array2<f32> = p.array((17, 33));
    let b32: Array2<f32> = p.array((33, 9));
    assert_bits_eq("A B f32", &dot(&a32, &b32), &a32.dot(&b32));
}

#[test]
#[should_panic(expected = "autodiff: `dot` of shapes [2, 3] and [4, 5]: inner dimensions differ")]
fn a_dot_mismatch_names_both_shapes() {
    let _ = dot(&Array2::<f64>::zeros((2, 3)), &Array2::<f64>::zeros((4, 5)));
}

// ----- reductions ---------------------------------------------------------------------------

#[test]
fn reduction_adjoints() {
    let mut p = Points(8);
    let a: Array2<f64> = p.array((3, 4));
    let ad = a.clone().into_dyn();
    let d = p.value();

    let n = numeric_grad(|x| d * x.sum(), &ad, F64);
    assert_close("sum", &sum_adjoint(&a, &d).into_dyn(), &n, F64);
    let n = numeric_grad(|x| d * x.mean().unwrap(), &ad, F64);
    assert_close("mean", &mean_adjoint(&a.view(), &d).into_dyn(), &n, F64);

    for axis in [Axis(0), Axis(1)] {
        let w: Array1<f64> = p.array(a.shape()[1 - axis.index()]);
        let wd = w.clone().into_dyn();
        let n = numeric_vjp(|x| x.sum_axis(axis), &ad, &wd, F64);
        assert_close(
            &format!("sum_axis({axis:?})"),
            &sum_axis_adjoint(&a, axis, &w).into_dyn(),
            &n,
            F64,
        );
        let n = numeric_vjp(|x| x.mean_axis(axis).unwrap(), &ad, &wd, F64);
        assert_close(
            &format!("mean_axis({axis:?})"),
            &mean_axis_adjoint(&a, axis, &w.view()).into_dyn(),
            &n,
            F64,
        );
    }

    // A 3-d sum over the middle axis.
    let c: Array3<f64> = p.array((2, 3, 2));
    let w: Array2<f64> = p.array((2, 2));
    let n = numeric_vjp(
        |x| x.sum_axis(Axis(1)),
        &c.clone().into_dyn(),
        &w.clone().into_dyn(),
        F64,
    );
    assert_close(
        "3-d sum_axis",
        &sum_axis_adjoint(&c, Axis(1), &w).into_dyn(),
        &n,
        F64,
    );

    // The transpose.
    let w: Array2<f64> = p.array((4, 3));
    let n = numeric_vjp(|x| x.t().to_owned(), &ad, &w.clone().into_dyn(), F64);
    let dt = t_adjoint(&w);
    assert!(dt.is_standard_layout());
    assert_close("t", &dt.into_dyn(), &n, F64);
}

#[test]
#[should_panic(expected = "no such axis")]
fn an_axis_out_of_range_panics() {
    let _ = sum_axis_adjoint(&Array2::<f64>::zeros((2, 3)), Axis(2), &Array1::zeros(2));
}

// ----- helpers ------------------------------------------------------------------------------

fn naive_softmax<T: Real>(x: &ArrayD<T>, axis: Axis) -> ArrayD<T> {
    let e = x.mapv(T::exp);
    let s = e.sum_axis(axis).insert_axis(axis);
    &e / &s
}

fn naive_log_softmax<T: Real>(x: &ArrayD<T>, axis: Axis) -> ArrayD<T> {
    naive_softmax(x, axis).mapv(T::ln)
}

#[test]
fn log_sum_exp_value_and_adjoint() {
    let mut p = Points(9);
    for shape in [&[5][..], &[2, 3][..]] {
        let a = p.dyn_array::<f64>(shape);
        let naive = |x: &ArrayD<f64>| x.mapv(f64::exp).sum().ln();
        let y = log_sum_exp(&a);
        assert!((y - naive(&a)).abs() < 1e-14);
        let d = p.value();
        let n = numeric_grad(|x| d * naive(x), &a, F64);
        assert_close("log_sum_exp", &log_sum_exp_adjoint(&a, &y, &d), &n, F64);
    }
    // Stable where the naive sum overflows; empty and infinite inputs as math says.
    let big = array![1000.0, 1000.0, -1000.0];
    assert!((log_sum_exp(&big) - (1000.0 + 2.0_f64.ln())).abs() < 1e-12);
    assert_eq!(log_sum_exp(&Array1::<f64>::zeros(0)), f64::NEG_INFINITY);
    assert_eq!(log_sum_exp(&array![f64::NEG_INFINITY, 1.0]), 1.0);
    assert_eq!(log_sum_exp(&array![f64::INFINITY, 1.0]), f64::INFINITY);
    assert!(log_sum_exp(&array![f64::NAN, 1.0]).is_nan());
}

fn check_softmaxes<T: Real>(a: &Array2<T>, tol: Tol, seed: u64) {
    let ad = a.clone().into_dyn();
    let mut p = Points(seed);
    for axis in [Axis(0), Axis(1)] {
        // Forward against the naive formulas.
        let y = softmax(a, axis);
        let naive = naive_softmax(&ad, axis);
        assert_close("softmax value", &y.clone().into_dyn(), &naive, tol);
        let ly = log_softmax(a, axis);
        let naive_log = naive_log_softmax(&ad, axis);
        assert_close("log_softmax value", &ly.clone().into_dyn(), &naive_log, tol);

        let w: Array2<T> = p.array(a.raw_dim());
        let wd = w.clone().into_dyn();
        let n = numeric_vjp(|x| naive_softmax(x, axis), &ad, &wd, tol);
        assert_close(
            &format!("softmax({axis:?})"),
            &softmax_adjoint(&y, axis, &w).into_dyn(),
            &n,
            tol,
        );
        let n = numeric_vjp(|x| naive_log_softmax(x, axis), &ad, &wd, tol);
        assert_close(
            &format!("log_softmax({axis:?})"),
            &log_softmax_adjoint(&ly, axis, &w.view()).into_dyn(),
            &n,
            tol,
        );
    }
}

#[test]
fn softmax_and_log_softmax_along_both_axes() {
    let mut p = Points(10);
    check_softmaxes(&p.array::<f64, _>((3, 4)), F64, 100);
    check_softmaxes(&p.array::<f64, _>((4, 2).f()), F64, 101);
    check_softmaxes(&p.array::<f32, _>((3, 4)), F32, 102);
}

#[test]
fn softmaxes_are_stable() {
    let y = softmax(&array![[1000.0, 1000.0], [-1000.0, 0.0]], Axis(1));
    assert_eq!(y, array![[0.5, 0.5], [0.0, 1.0]]);
    let ly = log_softmax(&array![[0.0, -1000.0]], Axis(1));
    assert_eq!(ly, array![[0.0, -1000.0]]);
    let ly = log_softmax(&array![[2000.0_f32, 0.0]], Axis(1));
    assert_eq!(ly, array![[0.0, -2000.0]]);
}

#[test]
fn cross_entropy_value_and_adjoint() {
    let mut p = Points(11);
    let logits: Array2<f64> = p.array((3, 4));
    let labels = [1, 3, 0];
    let naive = |x: &ArrayD<f64>| {
        let lp = naive_log_softmax(x, Axis(1));
        -labels
            .iter()
            .enumerate()
            .map(|(i, &l)| lp[[i, l]])
            .sum::<f64>()
            / 3.0
    };
    let ld = logits.clone().into_dyn();
    assert!((cross_entropy(&logits, &labels) - naive(&ld)).abs() < 1e-14);
    let d = p.value();
    let n = numeric_grad(|x| d * naive(x), &ld, F64);
    assert_close(
        "cross_entropy",
        &cross_entropy_adjoint(&logits, &labels, &d).into_dyn(),
        &n,
        F64,
    );
    // Stable for large logits.
    let big = array![[1000.0_f64, 0.0], [0.0, 1000.0]];
    assert_eq!(cross_entropy(&big, &[0, 1]), 0.0);
    assert_eq!(cross_entropy(&big, &[1, 0]), 1000.0);
}

#[test]
fn cross_entropy_f32() {
    let mut p = Points(12);
    let logits: Array2<f32> = p.array((2, 3));
    let labels = vec![2, 0];
    let naive = |x: &ArrayD<f32>| {
        let lp = naive_log_softmax(x, Axis(1));
        -(lp[[0, 2]] + lp[[1, 0]]) / 2.0
    };
    let n = numeric_grad(naive, &logits.clone().into_dyn(), F32);
    assert_close(
        "cross_entropy f32",
        &cross_entropy_adjoint(&logits, &labels, &1.0).into_dyn(),
        &n,
        F32,
    );
}

#[test]
#[should_panic(expected = "label 4 of row 1 is out of range for 4 classes")]
fn a_label_out_of_range_panics() {
    let _ = cross_entropy(&Array2::<f64>::zeros((2, 4)), &[0, 4]);
}

#[test]
#[should_panic(expected = "2 labels for a batch of 3 rows")]
fn a_label_count_mismatch_panics() {
    let _ = cross_entropy(&Array2::<f64>::zeros((3, 4)), &[0, 1]);
}

#[test]
fn mse_value_and_adjoints() {
    let mut p = Points(13);
    let pred: Array2<f64> = p.array((2, 3));
    let target: Array2<f64> = p.array((2, 3));
    let naive = |p: &ArrayD<f64>, t: &ArrayD<f64>| (p - t).mapv(|e| e * e).mean().unwrap();
    let (pd, td) = (pred.clone().into_dyn(), target.clone().into_dyn());
    assert!((mse(&pred, &target) - naive(&pd, &td)).abs() < 1e-15);
    let d = p.value();
    let n = numeric_grad(|x| d * naive(x, &td), &pd, F64);
    assert_close(
        "mse lhs",
        &mse_adjoint_lhs(&pred, &target, &d).into_dyn(),
        &n,
        F64,
    );
    let n = numeric_grad(|x| d * naive(&pd, x), &td, F64);
    assert_close(
        "mse rhs",
        &mse_adjoint_rhs(&pred.view(), &target, &d).into_dyn(),
        &n,
        F64,
    );
}

#[test]
#[should_panic(expected = "autodiff: `mse` of shapes [2, 3] and [3, 2]")]
fn an_mse_shape_mismatch_names_both_shapes() {
    let _ = mse(&Array2::<f64>::zeros((2, 3)), &Array2::<f64>::zeros((3, 2)));
}

// ----- the scalar rules on arrays -----------------------------------------------------------

#[test]
fn elementwise_rules_map_over_viewed_arrays() {
    let mut p = Points(14);
    let x: Array2<f64> = p.array((2, 3));
    let w: Array2<f64> = p.array((2, 3));
    let (xd, wd) = (x.clone().into_dyn(), w.clone().into_dyn());
    let wv = w.view();

    // An owned value and a viewed adjoint: the result is an owned `Array2`.
    let g: Array2<f64> = sin_adjoint(&view(&x), &view(&wv));
    let n = numeric_vjp(|x| x.mapv(f64::sin), &xd, &wd, F64);
    assert_close("sin", &g.into_dyn(), &n, F64);

    let y = x.mapv(f64::exp);
    let g: Array2<f64> = exp_adjoint(&view(&y), &view(&w));
    let n = numeric_vjp(|x| x.mapv(f64::exp), &xd, &wd, F64);
    assert_close("exp", &g.into_dyn(), &n, F64);

    let g = powi_adjoint(&view(&x), 3, &view(&w));
    let n = numeric_vjp(|x| x.mapv(|v| v.powi(3)), &xd, &wd, F64);
    assert_close("powi", &g.into_dyn(), &n, F64);

    let l: Array2<f64> = p.array((2, 3));
    let r: Array2<f64> = p.array_off_zero((2, 3));
    let y = &l / &r;
    let g = div_adjoint_rhs(&view(&r), &view(&y), &view(&w));
    let n = numeric_vjp(
        |r| &l.clone().into_dyn() / r,
        &r.clone().into_dyn(),
        &wd,
        F64,
    );
    assert_close("div rhs, same shape", &g.into_dyn(), &n, F64);

    // Scalars are unchanged.
    let s: f64 = exp_adjoint(&2.0, &3.0);
    assert_eq!(s, 6.0);
    assert_eq!(view(&2.5_f32), 2.5);
}

#[test]
#[should_panic(expected = "elementwise adjoint of shapes [2, 3] and [3, 2]")]
fn elementwise_rules_check_shapes() {
    let a = Array2::<f64>::zeros((2, 3));
    let b = Array2::<f64>::zeros((3, 2));
    let _ = sin_adjoint(&view(&a), &view(&b));
}

#[test]
fn zero_like_accumulate_and_take_on_arrays() {
    let a = array![[1.0, 2.0], [3.0, 4.0]];
    let z = zero_like(&a.view());
    assert_eq!(z, Array2::<f64>::zeros((2, 2)));
    let mut acc = a.clone();
    accumulate(&mut acc, array![[10.0, 20.0], [30.0, 40.0]]);
    assert_eq!(acc, array![[11.0, 22.0], [33.0, 44.0]]);
    let mut adjoints = [a.clone(), a.clone()];
    let taken = take(&mut adjoints[1]);
    assert_eq!(taken, a);
    assert_eq!(adjoints[1], Array2::<f64>::zeros((2, 2)));
    assert_eq!(adjoints[0], a);
}

// ----- generic code -------------------------------------------------------------------------

/// Every rule called from code generic over `T: Real`, as generated code calls them.
fn generic_calls<T: Real>() -> T {
    let a = Array2::from_elem((2, 2), T::one());
    let v = Array1::from_elem(2, T::one());
    let s = T::one();
    let y = add(&a, &v);
    let _ = add_adjoint_lhs_t(&a, &v, &y) + &add_adjoint_rhs_t(&a, &v, &y);
    let _ = mul_adjoint_lhs_t(&s, &a, &y) + div_adjoint_rhs_t(&a, &s, &y, &y);
    let _ = mul(&s, &s) + div_adjoint_lhs_t(&s, &s, &s);
    let p = dot(&a, &v);
    let mut acc = dot_adjoint_lhs(&a, &v, &p);
    dot_accumulate_lhs(&mut acc, &a, &v, &p);
    let _ = dot_adjoint_rhs(&v, &v, &s);
    let _ = exp_adjoint(&view(&a), &view(&a)) + &sum_adjoint(&a, &s);
    let _ = mean_axis_adjoint(&a, Axis(0), &v) + &t_adjoint(&a);
    let sm = softmax(&a, Axis(1));
    let _ = softmax_adjoint(&sm, Axis(1), &a);
    let _ = log_softmax_adjoint(&log_softmax(&a, Axis(0)), Axis(0), &a);
    let _ = log_sum_exp_adjoint(&a, &log_sum_exp(&a), &s);
    let _ = cross_entropy_adjoint(&a, &[0, 1], &s) + &mse_adjoint_lhs(&a, &a, &s);
    let _ = mse_adjoint_rhs(&a, &a, &s);
    cross_entropy(&a, &[0, 1]) + mse(&a, &a) + mean_adjoint(&v, &s)[0]
}

#[test]
fn every_rule_compiles_for_a_generic_real() {
    // ln 2 (cross-entropy of equal logits) + 0 (mse) + 1/2 (mean's adjoint of two elements).
    assert!((generic_calls::<f64>() - (2.0_f64.ln() + 0.5)).abs() < 1e-15);
    assert!((generic_calls::<f32>() - (2.0_f32.ln() + 0.5)).abs() < 1e-6);
}
