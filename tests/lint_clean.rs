//! The generated code is lint-clean: `cargo clippy --workspace --all-targets -- -D warnings`,
//! which CI runs, checks this file under `clippy::all` with every warning an error, and that
//! includes the companions `#[differentiate]` writes beside each function below (`_grad`, `_vjp`,
//! `_vjp_all`, `_jvp`, `_hvp`, `_hessian`, `_trace`, `_graph`): the user's expressions they
//! repeat keep their spans and are linted like the original (clippy skips some lints on the
//! tokens the macro writes itself, as in any macro's output). `forbid(unsafe_code)` shows the
//! generated code contains no `unsafe` (a `forbid` cannot be lifted by an `allow` in the
//! expansion).
//!
//! The functions cover the breadth of the accepted language as a user writes it: every operator
//! and float method, `wrt(...)`, branches, `match`, every loop form, arrays, buffers, ndarray
//! tensors and the tensor helpers, calls between differentiated functions, a parameter struct, a
//! method, a custom derivative, forward mode and traces. The tests call the companions and
//! compare with hand-derived derivatives, so nothing here is dead code.
#![deny(warnings, clippy::all)]
#![forbid(unsafe_code)]

use autodiff::ndarray::{array, Array, Array1, Array2, ArrayD, ArrayView2, Axis, Dimension};
use autodiff::{differentiate, Tangent};
use num_traits::{Float, NumAssign};
use std::f64::consts::PI;

// ---------------------------------------------------------------------------------------------
// Scalars: operators, literals, constants, casts, every float method.

/// Rosenbrock's banana.
#[differentiate]
pub fn rosen(x: f64, y: f64) -> f64 {
    let a = 1.0 - x;
    let b = y - x * x;
    a * a + 100.0 * b * b
}

/// Every operator and compound assignment, a tuple binding, shadowing and a block value.
#[differentiate]
fn arithmetic(x: f64, y: f64) -> f64 {
    let mut s = x * y - x / y;
    s += 2.0 * x;
    s -= y;
    s *= 0.5;
    s /= 2.0;
    s %= 10.0;
    let (a, b) = (s, -x);
    let s = a + b % 3.0;
    {
        let t = s * s;
        t + y
    }
}

/// The trigonometric and hyperbolic methods.
#[differentiate]
fn trigonometry(x: f64) -> f64 {
    let circular = x.sin() + x.cos() + x.tan() + x.asin() + x.acos() + x.atan() + x.atan2(2.0);
    let hyperbolic = x.sinh() + x.cosh() + x.tanh() + x.asinh() + (1.0 + x * x).acosh();
    circular + hyperbolic + x.atanh()
}

/// Exponentials, logarithms, roots and powers.
#[differentiate]
fn exponentials(x: f64) -> f64 {
    let e = x.exp() + x.exp2() + x.exp_m1() + 2.0_f64.powf(x);
    let l = x.ln() + x.ln_1p() + x.log(3.0) + x.log2() + x.log10();
    let p = x.sqrt() + x.cbrt() + x.powi(3) + x.powf(2.5) + x.recip();
    e + l + p
}

/// Kinks, rounding and the methods with derivative zero.
#[differentiate]
fn kinks(x: f64, y: f64) -> f64 {
    let a = x.abs() + y.abs() + x.hypot(y) + x.max(y) + x.min(y) + y.clamp(-1.0, 1.0);
    let b = x.mul_add(y, 0.5) + (x * 5.0).fract() + y.to_degrees() + x.to_radians();
    let c = x.signum() * y.floor() + y.ceil() + x.round() + y.trunc();
    let d = if x.is_nan() { 0.0 } else { x };
    a + b + c + d
}

/// The path call form, constants, suffixed literals with methods, and casts both ways.
#[differentiate]
fn constants(x: f64, n: i32) -> f64 {
    let a = f64::sin(x) * PI + f64::exp(x) * std::f64::consts::E;
    let b = x * f64::EPSILON + 1.0_f64.tanh() * x;
    let c = x.powi(n) * f64::from(n);
    let k = (x * 10.0) as usize;
    a + b + c + k as f64
}

/// Single precision.
#[differentiate]
fn single(x: f32, y: f32) -> f32 {
    let r = x * 2.0_f32 - y;
    r * r + f32::ln(y) * 0.5
}

/// Only `w` is active.
#[differentiate(wrt(w))]
fn residual(w: f64, x: f64, y: f64) -> f64 {
    let r = w * x - y;
    r * r
}

/// Statement macros stay in the forward pass; a `mut` parameter is rebound.
#[differentiate]
fn checked_log(mut x: f64) -> f64 {
    assert!(x > 0.0, "the logarithm of {x}");
    debug_assert!(x.is_finite());
    x *= 2.0;
    x.ln()
}

/// The differentiable helpers, by their path.
#[differentiate]
fn activations(z: f64) -> f64 {
    autodiff::sigmoid(z) + autodiff::relu(z) + autodiff::softplus(z)
}

// ---------------------------------------------------------------------------------------------
// Generic functions: `NAME_hvp` and `NAME_hessian` too.

/// Rosenbrock over any float type.
#[differentiate]
fn generic_rosen<T: Float>(x: T, y: T) -> T {
    let a = T::one() - x;
    let b = y - x * x;
    a * a + T::from(100.0).unwrap() * b * b
}

/// Extended Rosenbrock over a slice.
#[differentiate]
fn ext_rosen<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() / 2 {
        let a = T::one() - x[2 * i];
        let b = x[2 * i + 1] - x[2 * i] * x[2 * i];
        s = s + a * a + T::from(100.0).unwrap() * b * b;
    }
    s
}

/// Compound assignment on a generic float.
#[differentiate]
fn generic_moments<T: Float + NumAssign>(x: &[T]) -> T {
    let mut m1 = T::zero();
    let mut m2 = T::zero();
    for &v in x.iter() {
        m1 += v;
        m2 += v * v;
    }
    let n = T::from(x.len()).unwrap();
    m2 / n - (m1 / n).powi(2)
}

// ---------------------------------------------------------------------------------------------
// Branches and loops.

/// `if` / `else if` / `else` as a statement and as a value.
#[differentiate]
fn piecewise(x: f64) -> f64 {
    let mut y = 0.0;
    if x < -1.0 {
        y = -x;
    } else if x < 1.0 {
        y += x * x;
    } else {
        y = 2.0 * x - 1.0;
    }
    let scaled = if y > 0.5 { 3.0 * y } else { y };
    scaled + x
}

/// `match` on integers: alternatives, a guard, bindings, as a value and as the tail.
#[differentiate]
fn by_case(x: f64, k: usize) -> f64 {
    let base = match k % 4 {
        0 => x * x,
        1 | 2 => x.sin(),
        r if r > 2 => x * r as f64,
        _ => 0.0,
    };
    match k {
        0 => base,
        n => base + x * n as f64,
    }
}

/// An early `return` in a branch.
#[differentiate]
fn safe_ln(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    x.ln()
}

/// `for &v in x.iter()`, `for (i, &v) in x.iter().enumerate()`.
#[differentiate]
fn sums(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for &v in x.iter() {
        s += v * v;
    }
    for (i, &v) in x.iter().enumerate() {
        s += i as f64 * v;
    }
    s
}

/// Horner's rule over a reversed range.
#[differentiate]
fn horner(c: &[f64], x: f64) -> f64 {
    let mut p = 0.0;
    for i in (0..c.len()).rev() {
        p = p * x + c[i];
    }
    p
}

/// `while` with a fixed trip count: Newton's iteration for the square root.
#[differentiate]
fn babylonian(a: f64) -> f64 {
    let mut r = a;
    let mut k = 0;
    while k < 6 {
        r = 0.5 * (r + a / r);
        k += 1;
    }
    r
}

/// `while` whose trip count depends on the active value.
#[differentiate]
fn halve_below_one(x: f64) -> f64 {
    let mut y = x;
    while y > 1.0 {
        y /= 2.0;
    }
    y
}

/// `loop` with `break`, `continue` and an early `return` inside.
#[differentiate]
fn first_above(x: &[f64], limit: f64) -> f64 {
    let mut i = 0;
    let mut acc = 0.0;
    loop {
        if i >= x.len() {
            break;
        }
        let v = x[i];
        i += 1;
        if v < 0.0 {
            continue;
        }
        if v > limit {
            return acc + v * limit;
        }
        acc += v.sqrt();
    }
    acc
}

/// A `mut` parameter carried through a loop over an unused index.
#[differentiate]
fn iterate_sin(mut x: f64, n: usize) -> f64 {
    for _ in 0..n {
        x = x.sin();
    }
    x
}

/// A branch that cannot be taken, and a `match` whose tail is an arm.
#[differentiate]
fn by_sign(x: f64, k: usize) -> f64 {
    match k {
        0 => x.exp(),
        1 => x.ln(),
        _ => unreachable!("k = {k}"),
    }
}

/// Nested loops, the inner one left by `break`.
#[differentiate(wrt(x))]
fn products_below(x: &[f64], cap: f64) -> f64 {
    let mut s = 0.0;
    for &a in x.iter() {
        for &b in x.iter() {
            let p = a * b;
            if p > cap {
                break;
            }
            s += p;
        }
    }
    s
}

/// `println!` in the body, a typed `let`, a shadowed parameter, `crate = ...` and `pub(crate)`.
#[differentiate(crate = ::autodiff)]
pub(crate) fn logged(x: f64) -> f64 {
    let t: f64 = x * 3.0;
    println!("t = {t}");
    let x = x + t;
    x * x
}

// ---------------------------------------------------------------------------------------------
// Arrays, `Vec`s and buffers.

/// Fixed arrays by value and by reference.
#[differentiate]
fn dot3(a: [f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// A const-generic array of a generic float.
#[differentiate]
fn sum_cubes<T: Float, const N: usize>(x: [T; N]) -> T {
    let mut s = T::zero();
    for &v in x.iter() {
        s = s + v.powi(3);
    }
    s
}

/// An owned `Vec`, iterated by reference.
#[differentiate]
fn sum_exp(x: Vec<f64>) -> f64 {
    let mut s = 0.0;
    for v in &x {
        s += v.exp();
    }
    s
}

/// Rows of a matrix as `&[Vec<f64>]`, read as `m[i][j]`.
#[differentiate]
// The loop clippy suggests, `for row in m.iter()` over the rows of a `&[Vec<f64>]`, is a
// compile error of the macro's (tests/ui/iterate_rows.rs): the rows are indexed.
#[allow(
    clippy::needless_range_loop,
    reason = "`#[differentiate]` reads the rows of a `&[Vec<f64>]` by index only"
)]
fn weighted_squares(m: &[Vec<f64>]) -> f64 {
    let mut s = 0.0;
    for i in 0..m.len() {
        for j in 0..m[i].len() {
            s += m[i][j] * m[i][j] * (1 + i + j) as f64;
        }
    }
    s
}

/// A local `vec![0.0; n]` buffer, written and read back.
#[differentiate]
fn smooth(x: &[f64]) -> f64 {
    let n = x.len();
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = x[i] * x[i];
        if i > 0 {
            y[i] += 0.5 * y[i - 1];
        }
    }
    y[n - 1]
}

/// A local fixed array buffer.
#[differentiate]
fn cubic(x: f64) -> f64 {
    let mut p = [0.0; 4];
    p[0] = 1.0;
    for k in 1..4 {
        p[k] = p[k - 1] * x;
    }
    p[0] + p[1] + p[2] + p[3]
}

// ---------------------------------------------------------------------------------------------
// Calls between differentiated functions.

/// A helper called below.
#[differentiate]
fn square(x: f64) -> f64 {
    x * x
}

/// Calls two differentiated functions.
#[differentiate]
fn energy(x: f64, y: f64) -> f64 {
    rosen(x, y) + 2.0 * square(x - y)
}

/// Recursion.
#[differentiate]
fn power(x: f64, n: u32) -> f64 {
    if n == 0 {
        1.0
    } else {
        x * power(x, n - 1)
    }
}

/// A `Vec`-valued function (only `_vjp`).
#[differentiate]
fn scale_all(x: &[f64], a: f64) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for (i, &v) in x.iter().enumerate() {
        y[i] = a * v;
    }
    y
}

/// Calls the `Vec`-valued function.
#[differentiate]
fn scaled_norm(x: &[f64], a: f64) -> f64 {
    let y = scale_all(x, a);
    let mut s = 0.0;
    for &v in y.iter() {
        s += v * v;
    }
    s
}

/// A custom derivative: the body is not looked into.
#[differentiate(vjp = norm_rule)]
fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

fn norm_rule(v: &[f64], d_out: f64) -> (f64, Vec<f64>) {
    let n = norm(v);
    (n, v.iter().map(|a| d_out * a / n).collect())
}

/// Calls the function with a custom derivative.
#[differentiate]
fn scaled_by_norm(v: &[f64], s: f64) -> f64 {
    s * norm(v)
}

// ---------------------------------------------------------------------------------------------
// Tensors.

/// Linear regression's mean squared error.
#[differentiate(wrt(w, b))]
fn linear_mse(x: &Array2<f64>, w: &Array1<f64>, b: f64, y: &Array1<f64>) -> f64 {
    let r = x.dot(w) + b - y;
    (&r * &r).mean().unwrap()
}

/// A one-hidden-layer classifier.
#[differentiate(wrt(w1, b1, w2))]
fn classifier(
    x: &Array2<f64>,
    w1: &Array2<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    labels: &[usize],
) -> f64 {
    let h = (x.dot(w1) + b1).mapv(f64::tanh);
    let logits = h.dot(w2);
    autodiff::cross_entropy(&logits, labels)
}

/// The tensor helpers, reductions, a transpose and an elementwise method.
#[differentiate(wrt(z))]
fn tensor_zoo(z: &Array2<f64>, t: &Array2<f64>) -> f64 {
    let p = autodiff::softmax(z, Axis(1));
    let lp = autodiff::log_softmax(z, Axis(1));
    let helpers = p.sum() + (&lp * t).sum() + autodiff::log_sum_exp(z) + autodiff::mse(z, t);
    let reductions = z.sum_axis(Axis(0)).sum() + z.mean_axis(Axis(1)).unwrap().sum();
    helpers + reductions + z.t().dot(z).sum() + z.tanh().sum()
}

/// A tensor-valued function (only `_vjp`).
#[differentiate]
fn layer(x: &Array1<f64>, w: &Array2<f64>) -> Array1<f64> {
    w.dot(x).mapv(f64::tanh)
}

/// A view argument and `autodiff::sigmoid` through `mapv`.
#[differentiate]
fn view_energy(a: ArrayView2<f64>) -> f64 {
    (&a * &a).sum() + a.mapv(autodiff::sigmoid).sum()
}

/// A dynamic-dimensional array.
#[differentiate]
fn dyn_energy(a: &ArrayD<f64>) -> f64 {
    a.mapv(f64::exp).sum()
}

/// Single-precision tensors and `autodiff::softplus` through `mapv`.
#[differentiate(wrt(w))]
fn softplus_mean(x: &Array2<f32>, w: &Array1<f32>) -> f32 {
    x.dot(w).mapv(autodiff::softplus).mean().unwrap()
}

// ---------------------------------------------------------------------------------------------
// A parameter struct and methods.

/// Parameters of a small model.
#[derive(Clone, Debug, Tangent)]
struct Params {
    w: Array1<f64>,
    b: f64,
    extra: Vec<f64>,
}

/// The gradient is a `Params`.
#[differentiate(wrt(p))]
fn param_loss(p: &Params, x: &Array1<f64>, y: f64) -> f64 {
    let pred = x.dot(&p.w) + p.b + p.extra[0] * p.extra[1];
    (pred - y) * (pred - y)
}

impl Params {
    /// The receiver and an argument are active.
    #[differentiate(wrt(self, s))]
    fn penalty(&self, s: f64) -> f64 {
        s * (self.w.sum() + self.b * self.b)
    }

    /// The receiver is a constant.
    #[differentiate]
    fn predict(&self, x: f64) -> f64 {
        (self.b * x).tanh()
    }
}

// ---------------------------------------------------------------------------------------------
// Forward mode and traces.

/// `NAME_jvp` too.
#[differentiate(forward)]
fn spring(x: f64, k: f64) -> f64 {
    0.5 * k * x * x + (x * k).sin()
}

/// Forward mode through a loop over a slice.
#[differentiate(forward)]
fn weighted_sin(x: f64, w: &[f64]) -> f64 {
    let mut s = 0.0;
    for &v in w.iter() {
        s += v * x.sin();
    }
    s
}

/// `NAME_trace` too.
#[differentiate(trace)]
fn traced(x: f64) -> f64 {
    (x * 1e3).tanh() + x
}

// ---------------------------------------------------------------------------------------------
// Tests: the companions against hand-derived derivatives.

#[track_caller]
fn assert_close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9 * (1.0 + want.abs()),
        "got {got}, want {want}"
    );
}

/// An array's elements in logical order, whatever its memory layout.
fn flat<D: Dimension>(a: &Array<f64, D>) -> Vec<f64> {
    a.iter().copied().collect()
}

#[track_caller]
fn assert_all_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (&g, &w) in got.iter().zip(want) {
        assert_close(g, w);
    }
}

#[test]
fn scalar_operations_and_methods() {
    let (value, (dx, dy)) = rosen_grad(-1.2, 1.0);
    assert_eq!(value, rosen(-1.2, 1.0));
    assert_close(dx, -215.6);
    assert_close(dy, -88.0);
    let (_, (dx, dy)) = rosen_vjp(-1.2, 1.0, 2.0);
    assert_close(dx, -431.2);
    assert_close(dy, -176.0);

    let (x, y) = (0.5, 1.5);
    let s = (x * y - x / y + 2.0 * x - y) / 4.0 - x;
    let (value, (dx, dy)) = arithmetic_grad(x, y);
    assert_eq!(value, arithmetic(x, y));
    assert_close(dx, 2.0 * s * ((y - 1.0 / y + 2.0) / 4.0 - 1.0));
    assert_close(dy, 2.0 * s * (x + x / (y * y) - 1.0) / 4.0 + 1.0);

    let x: f64 = 0.3;
    let want = x.cos() - x.sin()
        + 1.0 / (x.cos() * x.cos())
        + 1.0 / (1.0 + x * x)
        + 2.0 / (4.0 + x * x)
        + x.cosh()
        + x.sinh()
        + (1.0 - x.tanh() * x.tanh())
        + 1.0 / (x * x + 1.0).sqrt()
        + 2.0 * x / ((1.0 + x * x).powi(2) - 1.0).sqrt()
        + 1.0 / (1.0 - x * x);
    assert_close(trigonometry_grad(x).1, want);

    let x: f64 = 0.7;
    let (ln2, ln3, ln10) = (2.0_f64.ln(), 3.0_f64.ln(), 10.0_f64.ln());
    let want = 2.0 * x.exp()
        + 2.0 * x.exp2() * ln2
        + 1.0 / x
        + 1.0 / (1.0 + x)
        + 1.0 / (x * ln3)
        + 1.0 / (x * ln2)
        + 1.0 / (x * ln10)
        + 0.5 / x.sqrt()
        + x.powf(-2.0 / 3.0) / 3.0
        + 3.0 * x * x
        + 2.5 * x.powf(1.5)
        - 1.0 / (x * x);
    assert_close(exponentials_grad(x).1, want);

    let (x, y) = (0.3_f64, -1.7_f64);
    let h = x.hypot(y);
    let (_, (dx, dy)) = kinks_grad(x, y);
    // abs, hypot, max (x), mul_add, fract, to_radians, the `if`.
    assert_close(dx, 1.0 + x / h + 1.0 + y + 5.0 + PI / 180.0 + 1.0);
    // abs, hypot, min (y), clamp (saturated), mul_add, to_degrees.
    assert_close(dy, -1.0 + y / h + 1.0 + x + 180.0 / PI);

    let x: f64 = 0.4;
    let want =
        x.cos() * PI + x.exp() * std::f64::consts::E + f64::EPSILON + 1.0_f64.tanh() + 9.0 * x * x;
    assert_close(constants_grad(x, 3).1, want);

    let (_, (dx, dy)) = single_grad(1.0, 0.5);
    assert!((dx - 6.0).abs() < 1e-6 && (dy - (-3.0 + 1.0)).abs() < 1e-6);

    assert_eq!(residual_grad(0.5, 2.0, 3.0), (4.0, -8.0));
    assert_close(checked_log_grad(4.0).1, 0.25);

    let z = 0.3;
    let s = autodiff::sigmoid(z);
    assert_close(activations_grad(z).1, s * (1.0 - s) + 1.0 + s);
}

#[test]
fn second_order_of_generic_functions() {
    let (_, h) = generic_rosen_hessian(1.0_f64, 1.0);
    assert_eq!(h, [[802.0, -400.0], [-400.0, 200.0]]);
    let (_, _, (hx, hy)) = generic_rosen_hvp(1.0_f64, 1.0, 1.0, 1.0);
    assert_eq!((hx, hy), (402.0, -200.0));
    let (_, g32) = generic_rosen_grad(1.0_f32, 1.0);
    assert_eq!(g32, (0.0, 0.0));

    let (_, h) = ext_rosen_hessian(&[1.0_f64, 1.0, 1.0, 1.0]);
    assert_eq!(h[2][2..], [802.0, -400.0]);
    assert_eq!(h[0][2..], [0.0, 0.0]);
    let (_, g, hv) = ext_rosen_hvp(&[1.0_f64, 1.0], &[1.0, 0.0]);
    assert_eq!((g, hv), (vec![0.0, 0.0], vec![802.0, -400.0]));

    // Variance: d/dx_i = 2 (x_i - mean) / n.
    let (value, g) = generic_moments_grad(&[1.0_f64, 2.0, 6.0]);
    assert_close(value, 14.0 / 3.0);
    assert_all_close(&g, &[-4.0 / 3.0, -2.0 / 3.0, 2.0]);
}

#[test]
fn branches_and_loops() {
    assert_eq!(piecewise_grad(-2.0), (4.0, -2.0));
    assert_eq!(piecewise_grad(0.5), (0.75, 2.0));
    assert_eq!(piecewise_grad(2.0), (11.0, 7.0));

    assert_eq!(by_case_grad(1.5, 0).1, 3.0);
    assert_close(by_case_grad(1.5, 1).1, 1.5_f64.cos() + 1.0);
    assert_eq!(by_case_grad(1.5, 3).1, 6.0);

    assert_eq!(safe_ln_grad(-1.0), (0.0, 0.0));
    assert_eq!(safe_ln_grad(2.0).1, 0.5);

    let (_, g) = sums_grad(&[1.0, 2.0, 3.0]);
    assert_eq!(g, vec![2.0, 5.0, 8.0]);

    // p = c0 + c1 x + c2 x^2.
    let (_, (dc, dx)) = horner_grad(&[1.0, 2.0, 3.0], 2.0);
    assert_eq!((dc, dx), (vec![1.0, 2.0, 4.0], 14.0));

    let (r, d) = babylonian_grad(4.0);
    assert_close(r, 2.0);
    assert_close(d, 0.25);

    assert_eq!(halve_below_one_grad(10.0), (0.625, 1.0 / 16.0));

    let (value, (dx, dlimit)) = first_above_grad(&[1.0, -2.0, 4.0, 9.0, 16.0], 5.0);
    assert_eq!(value, 48.0);
    assert_eq!((dx, dlimit), (vec![0.5, 0.0, 0.25, 5.0, 0.0], 9.0));
    assert_eq!(first_above_grad(&[4.0], 5.0), (2.0, (vec![0.25], 0.0)));

    let x: f64 = 0.8;
    assert_close(iterate_sin_grad(x, 2).1, x.sin().cos() * x.cos());

    assert_eq!(by_sign_grad(0.0, 0), (1.0, 1.0));
    assert_eq!(by_sign_grad(2.0, 1).1, 0.5);

    // The products kept: x0 x0, x0 x1, x0 x2, x1 x0, x2 x0.
    let (value, g) = products_below_grad(&[1.0, 2.0, 3.0], 3.5);
    assert_eq!((value, g), (11.0, vec![12.0, 2.0, 2.0]));

    // (x + 3 x)^2 = 16 x^2.
    assert_eq!(logged_grad(0.5), (4.0, 16.0));
}

#[test]
fn arrays_and_buffers() {
    let (value, (da, db)) = dot3_grad([1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
    assert_eq!((value, da, db), (32.0, [4.0, 5.0, 6.0], [1.0, 2.0, 3.0]));

    let (_, g) = sum_exp_grad(vec![0.0, 1.0]);
    assert_all_close(&g, &[1.0, 1.0_f64.exp()]);

    let (_, g) = weighted_squares_grad(&[vec![1.0, 2.0], vec![3.0]]);
    assert_eq!(g, vec![vec![2.0, 8.0], vec![12.0]]);

    let (_, g) = smooth_grad(&[1.0, 2.0, 3.0]);
    assert_eq!(g, vec![0.5, 2.0, 6.0]);

    assert_eq!(cubic_grad(2.0), (15.0, 1.0 + 4.0 + 12.0));

    assert_eq!(sum_cubes_grad([1.0_f64, 2.0]), (9.0, [3.0, 12.0]));
}

#[test]
fn calls() {
    let (x, y) = (-1.2, 1.0);
    let (value, (dx, dy)) = energy_grad(x, y);
    assert_eq!(value, energy(x, y));
    assert_close(dx, -215.6 + 4.0 * (x - y));
    assert_close(dy, -88.0 - 4.0 * (x - y));
    assert_eq!(square_grad(3.0), (9.0, 6.0));

    assert_eq!(power_grad(2.0, 5), (32.0, 80.0));

    let x = [1.0, 2.0];
    let (y, (dx, da)) = scale_all_vjp(&x, 3.0, vec![1.0, 1.0]);
    assert_eq!((y, dx, da), (vec![3.0, 6.0], vec![3.0, 3.0], 3.0));
    let (value, (dx, da)) = scaled_norm_grad(&x, 3.0);
    assert_eq!((value, dx, da), (45.0, vec![18.0, 36.0], 30.0));

    assert_eq!(norm_grad(&[3.0, 4.0]), (5.0, vec![0.6, 0.8]));
    let (_, (dv, ds)) = scaled_by_norm_grad(&[3.0, 4.0], 2.0);
    assert_eq!((dv, ds), (vec![1.2, 1.6], 5.0));
}

#[test]
fn tensors() {
    let x = array![[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]];
    let w = array![0.3, -0.2];
    let y = array![1.0, 0.0, 2.0];
    let (value, (dw, db)) = linear_mse_grad(&x, &w, 0.1, &y);
    let r = x.dot(&w) + 0.1 - &y;
    assert_close(value, r.dot(&r) / 3.0);
    assert_all_close(&flat(&dw), &flat(&(x.t().dot(&r) * (2.0 / 3.0))));
    assert_close(db, 2.0 * r.sum() / 3.0);

    // Backpropagation by hand.
    let w1 = array![[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]];
    let b1 = array![0.01, -0.02, 0.03];
    let w2 = array![[0.2, -0.1], [0.3, 0.1], [-0.4, 0.2]];
    let labels = [0, 1, 1];
    let (value, (d_w1, d_b1, d_w2)) = classifier_grad(&x, &w1, &b1, &w2, &labels);
    assert_eq!(value, classifier(&x, &w1, &b1, &w2, &labels));
    let h = (x.dot(&w1) + &b1).mapv(f64::tanh);
    let mut d_logits = autodiff::softmax(&h.dot(&w2), Axis(1));
    for (i, &l) in labels.iter().enumerate() {
        d_logits[[i, l]] -= 1.0;
    }
    d_logits /= 3.0;
    let d_z = d_logits.dot(&w2.t()) * h.mapv(|v| 1.0 - v * v);
    assert_all_close(&flat(&d_w2), &flat(&h.t().dot(&d_logits)));
    assert_all_close(&flat(&d_w1), &flat(&x.t().dot(&d_z)));
    assert_all_close(&flat(&d_b1), &flat(&d_z.sum_axis(Axis(0))));

    let z = array![[0.5, -1.0, 2.0], [0.0, 1.5, -0.5]];
    let t = array![[1.0, 0.0, 0.5], [0.2, 0.3, 0.0]];
    let (_, dz) = tensor_zoo_grad(&z, &t);
    let p = autodiff::softmax(&z, Axis(1));
    let t_rows = t.sum_axis(Axis(1)).insert_axis(Axis(1));
    let all = z.mapv(f64::exp) / z.mapv(f64::exp).sum();
    let rows = z.sum_axis(Axis(1)).insert_axis(Axis(1));
    // softmax sums to one (its gradient is 0); log-softmax against t; log-sum-exp; mse; the column sums; the
    // row means; the sum of zᵀz (2 × the row sums); tanh.
    let want = &t - &p * &t_rows
        + all
        + (&z - &t) * (2.0 / 6.0)
        + 1.0
        + 1.0 / 3.0
        + &rows * 2.0
        + z.mapv(|v| 1.0 - v.tanh() * v.tanh());
    assert_all_close(&flat(&dz), &flat(&want));

    let v = array![0.5, -1.0];
    let m = array![[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]];
    let d_out = array![1.0, 2.0, -1.0];
    let (out, (dv, dm)) = layer_vjp(&v, &m, d_out.clone());
    let d_pre = &d_out * out.mapv(|o| 1.0 - o * o);
    assert_all_close(&flat(&dv), &flat(&m.t().dot(&d_pre)));
    let want = d_pre.insert_axis(Axis(1)).dot(&v.insert_axis(Axis(0)));
    assert_all_close(&flat(&dm), &flat(&want));

    let d = array![[0.5, -2.0], [1.0, 0.0]].into_dyn();
    let (_, dd) = dyn_energy_grad(&d);
    assert_all_close(&flat(&dd), &flat(&d.mapv(f64::exp)));

    let x32 = array![[1.0_f32, 2.0], [-1.0, 0.5]];
    let w32 = array![0.25_f32, -0.5];
    let (_, dw32) = softplus_mean_grad(&x32, &w32);
    let s32 = x32.dot(&w32).mapv(autodiff::sigmoid);
    let want32 = x32.t().dot(&s32) / 2.0;
    assert!(dw32.iter().zip(&want32).all(|(g, w)| (g - w).abs() < 1e-6));

    let a = array![[0.5, -2.0], [1.0, 0.0]];
    let (_, da) = view_energy_grad(a.view());
    let s = a.mapv(autodiff::sigmoid);
    let want = &a * 2.0 + &s * s.mapv(|v| 1.0 - v);
    assert_all_close(&flat(&da), &flat(&want));
}

#[test]
fn parameter_structs_and_methods() {
    let mut p = Params {
        w: array![0.5, -0.25],
        b: 0.125,
        extra: vec![2.0, 3.0],
    };
    let x = array![1.0, 2.0];
    let (value, g) = param_loss_grad(&p, &x, 1.0);
    let r = 0.5 - 0.5 + 0.125 + 6.0 - 1.0;
    assert_eq!(value, r * r);
    assert_eq!(g.w, &x * (2.0 * r));
    assert_eq!((g.b, g.extra.clone()), (2.0 * r, vec![6.0 * r, 4.0 * r]));
    p.scaled_add(-0.01, &g);
    assert!(param_loss(&p, &x, 1.0) < value);

    let (_, (dp, ds)) = p.penalty_grad(2.0);
    assert_eq!(dp.w, array![2.0, 2.0]);
    assert_eq!((dp.b, dp.extra), (4.0 * p.b, vec![0.0, 0.0]));
    assert_eq!(ds, p.w.sum() + p.b * p.b);

    let (value, d) = p.predict_grad(0.5);
    assert_eq!(value, p.predict(0.5));
    assert_close(d, p.b * (1.0 - value * value));
}

#[test]
fn forward_mode_and_traces() {
    let (x, k) = (0.7, 2.0);
    let (_, (gx, gk)) = spring_grad(x, k);
    assert_close(gx, k * x + (x * k).cos() * k);
    assert_close(gk, 0.5 * x * x + (x * k).cos() * x);
    let (value, along) = spring_jvp(x, k, 0.6, 0.8);
    assert_eq!(value, spring(x, k));
    assert_close(along, 0.6 * gx + 0.8 * gk);

    let w = [1.0, 2.0];
    let (_, along) = weighted_sin_jvp(x, &w, 1.0, &[0.0, 0.0]);
    assert_close(along, 3.0 * x.cos());
    let (_, (dx, dw)) = weighted_sin_grad(x, &w);
    assert_close(dx, 3.0 * x.cos());
    assert_all_close(&dw, &[x.sin(), x.sin()]);

    let (value, d, trace) = traced_trace(2.0);
    assert_eq!((value, d), traced_grad(2.0));
    // tanh saturates: its input's adjoint vanishes while its value is 1.
    assert_eq!(trace.suspicious().count(), 1);
    assert!(traced_graph().starts_with("digraph"));
}
