//! What `#[differentiate]` promises beyond single operations (DESIGN.md, "Semantics worth
//! stating" and "The body language"): which arguments are active and in what order their
//! gradients come back, non-float arguments, every binding form, statement macros, casts and
//! constants, `_vjp` scaling, the conventions at kinks, derivative-zero methods, hygiene, and
//! the value of `_grad` being bit for bit the function's.
//!
//! Expected gradients are worked out by hand from the formula in each test's comment, and most
//! are also compared with central differences (`check_grad`).

mod common;

use std::f64::consts::PI;
use std::sync::atomic::{AtomicUsize, Ordering};

use autodiff::{check_grad, differentiate};
use common::{assert_all_close, assert_near, F64_ABS, F64_REL};
use num_traits::Float;

/// Checks `grad` against central differences of `f` at `x`, panicking with the mismatch.
#[track_caller]
fn fd(what: &str, f: impl Fn(&[f64]) -> f64, x: &[f64], grad: &[f64]) {
    if let Err(e) = check_grad(f, x, grad) {
        panic!("{what} at {x:?}: {e}");
    }
}

/// Exact-formula tolerance: the hand-computed gradient and the generated one may round
/// differently.
#[track_caller]
fn near(what: &str, got: &[f64], want: &[f64]) {
    assert_all_close(what, got, want, F64_REL, F64_ABS);
}

// ----- active arguments -------------------------------------------------------------------------

#[differentiate(wrt(z, x))]
fn wrt_reordered(x: f64, y: f64, z: f64) -> f64 {
    x * y.sin() + z.powi(2) * y
}

/// `wrt(z, x)` gives `(df/dx, df/dz)`, in argument order: `(sin y, 2 z y)`. `y` is a constant.
#[test]
fn wrt_subset_in_argument_order() {
    let (v, g): (f64, (f64, f64)) = wrt_reordered_grad(0.7, 1.3, -2.0);
    assert_eq!(v.to_bits(), wrt_reordered(0.7, 1.3, -2.0).to_bits());
    near("(dx, dz)", &[g.0, g.1], &[1.3_f64.sin(), 2.0 * -2.0 * 1.3]);
}

#[differentiate(wrt(y))]
fn wrt_one_of_three(x: f64, y: f64, z: f64) -> f64 {
    x * y * y + z
}

/// One active argument: the gradient is bare, `df/dy = 2 x y`.
#[test]
fn wrt_single_is_bare() {
    let (_, dy): (f64, f64) = wrt_one_of_three_grad(3.0, 0.5, 100.0);
    assert_eq!(dy, 3.0);
}

#[differentiate]
fn ignores_y(x: f64, _y: f64) -> f64 {
    x * 3.0
}

#[differentiate]
fn y_is_dead(x: f64, y: f64) -> f64 {
    let _ = y.exp();
    let unused = y * 2.0;
    let _also_unused = unused.sin() + x;
    x.sin()
}

#[differentiate]
#[allow(clippy::eq_op, reason = "the cancellation is the point")]
fn y_cancels(x: f64, y: f64) -> f64 {
    x * x + (y - y)
}

#[differentiate(wrt(x, y))]
fn result_is_inactive(x: f64, y: f64) -> f64 {
    (x + y).floor()
}

/// An active argument that does not influence the result gets exactly zero.
#[test]
fn active_argument_without_influence_gets_zero() {
    assert_eq!(ignores_y_grad(1.5, 2.0), (4.5, (3.0, 0.0)));
    let (_, (dx, dy)) = y_is_dead_grad(0.4, 2.0);
    assert_eq!((dx, dy), (0.4_f64.cos(), 0.0));
    // Here y does reach the result, through two paths that cancel: 1 - 1 = 0.
    let (_, (dx, dy)) = y_cancels_grad(1.5, 2.0);
    assert_eq!((dx, dy), (3.0, 0.0));
    // Nothing active reaches the result: both gradients zero, value as the function's.
    assert_eq!(result_is_inactive_grad(1.25, 2.5), (3.0, (0.0, 0.0)));
}

#[differentiate]
fn non_float_args(x: f64, n: usize, k: i32, flag: bool, label: &str, y: f64) -> f64 {
    let scale = n as f64;
    let sign = f64::from(i8::from(flag) * 2 - 1);
    let len = label.len() as f64;
    scale * x.powi(k) + sign * y * len
}

/// `usize`, `i32`, `bool` and `&str` arguments are constants; the gradient has one entry per
/// float argument: `(n k x^(k-1), sign · len)`.
#[test]
fn non_float_arguments_are_constants() {
    let (v, (dx, dy)) = non_float_args_grad(1.5, 4, 3, false, "abc", 2.0);
    assert_eq!(
        v.to_bits(),
        non_float_args(1.5, 4, 3, false, "abc", 2.0).to_bits()
    );
    near("(dx, dy)", &[dx, dy], &[4.0 * 3.0 * 1.5 * 1.5, -3.0]);
    let (_, (dx, dy)) = non_float_args_grad(-0.5, 2, -2, true, "", 2.0);
    near(
        "(dx, dy)",
        &[dx, dy],
        &[2.0 * -2.0 * (-0.5_f64).powi(-3), 0.0],
    );
}

#[differentiate(wrt(y))]
fn wrt_with_non_floats(count: u8, y: f32, on: bool) -> f32 {
    let c = f32::from(count) * f32::from(u8::from(on) + 1);
    c * y * y
}

#[test]
fn wrt_with_non_float_neighbours() {
    let (v, dy) = wrt_with_non_floats_grad(3, 2.0, false);
    assert_eq!((v, dy), (12.0, 12.0));
    let (v, dy) = wrt_with_non_floats_grad(3, 2.0, true);
    assert_eq!((v, dy), (24.0, 24.0));
}

// ----- generic functions ------------------------------------------------------------------------

#[differentiate]
fn generic_mix<T: Float>(x: T, y: T) -> T {
    let two = T::from(2.0).unwrap();
    let mut s = x.sin() * y;
    s = s + T::exp(x) / two;
    s.powi(2).max(y) + <T as Float>::ln(y) + Float::cos(x)
}

#[differentiate]
fn generic_where<T>(x: T) -> T
where
    T: Float,
{
    x * x.tanh()
}

/// `num_traits`' conversions in a generic function: the `T: Real` bound the companions add
/// brings no method of the same name (`to_f64` once returned `f64`, not `Option<f64>`).
#[differentiate]
fn generic_conversions<T: Float + num_traits::FromPrimitive>(x: T) -> T {
    let half = T::from_f64(0.5).unwrap();
    if x.to_f64().unwrap() > 0.0 {
        x * x * half
    } else {
        x * T::from_i32(3).unwrap()
    }
}

#[test]
fn generic_conversions_are_num_traits() {
    assert_eq!(generic_conversions_grad(2.0_f64), (2.0, 2.0));
    assert_eq!(generic_conversions_grad(-2.0_f32), (-6.0, 3.0));
}

/// The same generic function, called with `f32` and with `f64`:
/// `s = y sin x + e^x / 2`; `f = max(s², y) + ln y + cos x`. At the points used `s² > y`, so
/// `df/dx = 2 s (y cos x + e^x / 2) - sin x` and `df/dy = 2 s sin x + 1/y`.
#[test]
fn generic_with_f32_and_f64() {
    for &(x, y) in &[(0.5_f64, 2.0_f64), (1.5, 1.2), (-0.3, 0.05)] {
        let want = |x: f64, y: f64| {
            let s = y * x.sin() + x.exp() / 2.0;
            assert!(s * s > y, "the test point must stay on one side of max");
            [
                2.0 * s * (y * x.cos() + x.exp() / 2.0) - x.sin(),
                2.0 * s * x.sin() + 1.0 / y,
            ]
        };
        let (v, (dx, dy)) = generic_mix_grad(x, y);
        assert_eq!(v.to_bits(), generic_mix(x, y).to_bits());
        near("f64", &[dx, dy], &want(x, y));
        #[allow(clippy::cast_possible_truncation, reason = "the f32 point")]
        let (x32, y32) = (x as f32, y as f32);
        let (v32, (dx32, dy32)) = generic_mix_grad(x32, y32);
        assert_eq!(v32.to_bits(), generic_mix(x32, y32).to_bits());
        assert_all_close(
            "f32",
            &[f64::from(dx32), f64::from(dy32)],
            &want(f64::from(x32), f64::from(y32)),
            common::F32_REL,
            common::F32_ABS,
        );
    }
    // d(x tanh x) = tanh x + x (1 - tanh² x).
    let (_, d) = generic_where_grad(0.8_f64);
    let t = 0.8_f64.tanh();
    near("where clause", &[d], &[t + 0.8 * (1.0 - t * t)]);
    let (_, d32) = generic_where_grad(0.8_f32);
    assert_near(
        "where clause, f32",
        f64::from(d32),
        t + 0.8 * (1.0 - t * t),
        1e-6,
    );
}

// ----- bindings ---------------------------------------------------------------------------------

#[differentiate]
fn mut_param(mut x: f64, y: f64) -> f64 {
    x *= y;
    x += y.sin();
    x
}

#[differentiate]
fn mut_param_reassigned(mut x: f64, y: f64) -> f64 {
    x = x.exp() * y;
    x
}

/// `mut x` then `x *= y; x += sin y`: `f = x y + sin y`, `df/dx = y`, `df/dy = x + cos y`.
#[test]
fn mut_parameter() {
    let (v, (dx, dy)) = mut_param_grad(2.0, 3.0);
    let want = mut_param(2.0, 3.0);
    assert_eq!(v.to_bits(), want.to_bits(), "value: got {v}, want {want}");
    near("(dx, dy)", &[dx, dy], &[3.0, 2.0 + 3.0_f64.cos()]);
    // `x = e^x y`: df/dx = e^x y, df/dy = e^x.
    let (v, (dx, dy)) = mut_param_reassigned_grad(2.0, 3.0);
    let want = mut_param_reassigned(2.0, 3.0);
    assert_eq!(v.to_bits(), want.to_bits(), "value: got {v}, want {want}");
    let e2 = 2.0_f64.exp();
    near("(dx, dy)", &[dx, dy], &[3.0 * e2, e2]);
}

#[differentiate]
fn rebind_mut(a: f64, b: f64) -> f64 {
    let mut a = a;
    a -= b;
    a /= b;
    a
}

/// `let mut a = a; a -= b; a /= b`: `f = (a - b)/b`, `df/da = 1/b`, `df/db = -a/b²`.
#[test]
fn rebinding_an_argument_mutably() {
    for &(a, b) in &[(3.0, 2.0), (-1.5, 0.25), (0.1, -4.0)] {
        let (v, (da, db)) = rebind_mut_grad(a, b);
        assert_eq!(v.to_bits(), rebind_mut(a, b).to_bits());
        near("(da, db)", &[da, db], &[1.0 / b, -a / (b * b)]);
    }
}

#[differentiate]
fn shadowing(x: f64, y: f64) -> f64 {
    let x = x * 2.0;
    let y = y + x;
    let x = x.sin() * y;
    x + 1.0
}

/// `u = 2x`, `v = y + u`, `f = sin(u) v + 1`: `df/dx = 2 (cos(u) v + sin u)`, `df/dy = sin u`.
#[test]
fn shadowed_names() {
    for &(x, y) in &[(0.3, 1.0), (-1.2, 0.5), (2.0, -3.0)] {
        let (u, v) = (2.0 * x, y + 2.0 * x);
        let (val, (dx, dy)) = shadowing_grad(x, y);
        assert_eq!(val.to_bits(), shadowing(x, y).to_bits());
        near(
            "(dx, dy)",
            &[dx, dy],
            &[2.0 * (u.cos() * v + u.sin()), u.sin()],
        );
    }
}

#[differentiate]
fn compound(x: f64, y: f64) -> f64 {
    let mut s = x;
    s += y * x;
    s -= y;
    s *= x;
    s /= y;
    s %= 5.0;
    s
}

/// `s = (x + x y - y) x / y`, then `s % 5` (the quotient's integer part is locally constant,
/// so `d(s % 5) = ds`).
#[test]
fn compound_assignment() {
    for &(x, y) in &[(2.0, 3.0), (1.5, -0.5), (-0.7, 1.9), (3.0, 0.5)] {
        let (v, (dx, dy)) = compound_grad(x, y);
        assert_eq!(v.to_bits(), compound(x, y).to_bits());
        let f = |v: &[f64]| compound(v[0], v[1]);
        fd("compound", f, &[x, y], &[dx, dy]);
        // s = (x + x y - y) x / y = x²/y + x² - x: ds/dx = 2x/y + 2x - 1, ds/dy = -x²/y².
        near(
            "(dx, dy)",
            &[dx, dy],
            &[2.0 * x / y + 2.0 * x - 1.0, -x * x / (y * y)],
        );
    }
}

#[differentiate]
fn nested_blocks(x: f64, y: f64) -> f64 {
    let t = 10.0;
    let a = {
        let t = x * y;
        let b = {
            let u = t + x;
            u * u
        };
        b + t
    };
    a + t * y
}

/// Inner `t = x y` shadows the outer `t = 10` only inside the block:
/// `f = (x y + x)² + x y + 10 y`; `df/dx = 2(xy + x)(y + 1) + y`, `df/dy = 2(xy + x) x + x + 10`.
#[test]
fn nested_blocks_and_scopes() {
    for &(x, y) in &[(0.5, 2.0), (-1.0, 0.3), (3.0, -2.5)] {
        let (v, (dx, dy)) = nested_blocks_grad(x, y);
        assert_eq!(v.to_bits(), nested_blocks(x, y).to_bits());
        let w = x * y + x;
        near(
            "(dx, dy)",
            &[dx, dy],
            &[2.0 * w * (y + 1.0) + y, 2.0 * w * x + x + 10.0],
        );
    }
}

#[differentiate]
fn block_assigns_outer(x: f64, y: f64) -> f64 {
    let mut s = x;
    let r = {
        s = s.powi(2) * y;
        s + 1.0
    };
    s * r
}

/// A block that assigns to an outer variable and ends with a value: `s = x² y`, `r = s + 1`,
/// `f = s (s + 1)`: `df/ds = 2s + 1`, `df/dx = 2 x y (2s + 1)`, `df/dy = x² (2s + 1)`.
#[test]
fn block_assigning_an_outer_variable() {
    for &(x, y) in &[(1.5, -0.5), (0.3, 2.0), (-1.1, 0.7)] {
        let (v, (dx, dy)) = block_assigns_outer_grad(x, y);
        assert_eq!(v.to_bits(), block_assigns_outer(x, y).to_bits());
        let s = x * x * y;
        near(
            "(dx, dy)",
            &[dx, dy],
            &[2.0 * x * y * (2.0 * s + 1.0), x * x * (2.0 * s + 1.0)],
        );
    }
}

#[differentiate]
#[allow(
    clippy::needless_late_init,
    reason = "the late initialisation is the point"
)]
fn deferred_init(x: f64, y: f64) -> f64 {
    let a;
    a = x * y;
    let b: f64 = a.exp();
    let c: f64 = b;
    c + a
}

/// `let a; a = x y;` and type-annotated `let`s: `f = e^(xy) + xy`.
#[test]
fn deferred_initialisation_and_annotations() {
    let (x, y) = (0.3, -1.2);
    let (_, (dx, dy)) = deferred_init_grad(x, y);
    let e = (x * y).exp();
    near("(dx, dy)", &[dx, dy], &[y * e + y, x * e + x]);
}

#[differentiate]
fn tuple_let(x: f64, y: f64) -> f64 {
    let (a, b) = (x * y, x + y);
    a * b
}

#[differentiate]
fn tuple_swap(x: f64, y: f64) -> f64 {
    let (a, b) = (x, y.exp());
    let (a, b) = (b, a);
    a - 2.0 * b
}

#[differentiate]
fn tuple_let_mut(x: f64, y: f64) -> f64 {
    let (mut a, b, _) = (x, y * y, x.sin());
    a *= b;
    a
}

/// `let (a, b) = (x y, x + y)`: `f = x y (x + y)`; the swap gives `f = e^y - 2x`;
/// `let (mut a, b, _) = (x, y², sin x); a *= b` gives `x y²`.
#[test]
fn tuple_patterns() {
    let (x, y) = (1.5, -0.4);
    let (_, (dx, dy)) = tuple_let_grad(x, y);
    near(
        "let (a, b)",
        &[dx, dy],
        &[y * (x + y) + x * y, x * (x + y) + x * y],
    );
    let (v, (dx, dy)) = tuple_swap_grad(x, y);
    assert_eq!(v.to_bits(), tuple_swap(x, y).to_bits());
    near("swap", &[dx, dy], &[-2.0, y.exp()]);
    let (_, (dx, dy)) = tuple_let_mut_grad(x, y);
    near("let (mut a, ..)", &[dx, dy], &[y * y, 2.0 * x * y]);
}

#[differentiate]
#[allow(clippy::needless_return, reason = "`return` at the end is the point")]
fn returns(x: f64) -> f64 {
    let a = x * x;
    return a.sin();
}

/// `return` as the last statement: `d sin(x²) = 2 x cos(x²)`.
#[test]
fn return_at_the_end() {
    let (_, d) = returns_grad(0.8);
    near("d", &[d], &[2.0 * 0.8 * 0.64_f64.cos()]);
}

#[differentiate]
fn accumulate_from_zero(x: f64, y: f64) -> f64 {
    let mut acc = 0.0;
    acc += x * y;
    acc += x.sin();
    acc -= 2.0;
    acc *= y;
    acc
}

/// An accumulator that starts as a constant and becomes active:
/// `f = (x y + sin x - 2) y`: `df/dx = (y + cos x) y`, `df/dy = 2 x y + sin x - 2`.
#[test]
fn accumulator_starting_at_a_constant() {
    for &(x, y) in &[(0.5, 2.0), (-1.5, 0.3), (2.5, -1.0)] {
        let (v, (dx, dy)) = accumulate_from_zero_grad(x, y);
        assert_eq!(v.to_bits(), accumulate_from_zero(x, y).to_bits());
        near(
            "(dx, dy)",
            &[dx, dy],
            &[(y + x.cos()) * y, 2.0 * x * y + x.sin() - 2.0],
        );
    }
}

#[differentiate]
fn identity(x: f64) -> f64 {
    x
}

#[differentiate]
fn first_of_two(x: f64, _y: f64) -> f64 {
    x
}

#[differentiate]
#[allow(clippy::let_and_return, reason = "the copies are the point")]
fn through_copies(x: f64) -> f64 {
    let a = x;
    let b: f64 = a;
    b
}

#[differentiate]
fn constant_result(_x: f64) -> f64 {
    2.0
}

/// Degenerate bodies: the result is an argument, a copy of one, or a constant.
#[test]
fn trivial_bodies() {
    assert_eq!(identity_grad(3.0), (3.0, 1.0));
    assert_eq!(identity_vjp(3.0, 2.5), (3.0, 2.5));
    assert_eq!(first_of_two_grad(3.0, 1.0), (3.0, (1.0, 0.0)));
    assert_eq!(through_copies_grad(-3.0), (-3.0, 1.0));
    assert_eq!(constant_result_grad(3.0), (2.0, 0.0));
}

// ----- statement macros and side effects --------------------------------------------------------

#[differentiate]
fn with_macros(x: f64, y: f64) -> f64 {
    let a = x * y;
    println!("a = {a}, x = {}, y = {y:.3}", x);
    assert!(a.is_finite(), "a = {a:?}");
    debug_assert!(y != 0.0, "y = {}", y);
    let b = a.sin();
    eprintln!("b = {b:e}");
    assert_eq!(b, a.sin());
    let a = b * x;
    println!("shadowed a = {a}");
    a
}

/// `println!`, `eprintln!`, `assert!`, `assert_eq!` and `debug_assert!` mentioning active
/// variables (also inline as `{a}`) run in the forward pass and change nothing:
/// `f = sin(x y) x`.
#[test]
fn statement_macros() {
    let (x, y) = (0.6, 1.7);
    let (v, (dx, dy)) = with_macros_grad(x, y);
    assert_eq!(v.to_bits(), with_macros(x, y).to_bits());
    let a = x * y;
    near(
        "(dx, dy)",
        &[dx, dy],
        &[a.cos() * y * x + a.sin(), a.cos() * x * x],
    );
}

static BODY_RUNS: AtomicUsize = AtomicUsize::new(0);

fn count_run() -> f64 {
    BODY_RUNS.fetch_add(1, Ordering::SeqCst);
    1.0
}

#[differentiate]
fn side_effect(x: f64) -> f64 {
    let k = count_run();
    x * x * k
}

/// The forward part of `_grad`/`_vjp` evaluates the body exactly once.
#[test]
fn side_effects_happen_once() {
    let before = BODY_RUNS.load(Ordering::SeqCst);
    let (_, d) = side_effect_grad(3.0);
    assert_eq!(d, 6.0);
    assert_eq!(BODY_RUNS.load(Ordering::SeqCst) - before, 1);
    let _ = side_effect_vjp(3.0, 2.0);
    assert_eq!(BODY_RUNS.load(Ordering::SeqCst) - before, 2);
}

// ----- casts and constants ----------------------------------------------------------------------

#[differentiate]
#[allow(
    unused_parens,
    reason = "bug: the generated code keeps the parentheses of `(n as f64)` (tests/known_bugs.rs)"
)]
fn casts(x: f64, n: i32, m: usize) -> f64 {
    x * (n as f64) + x.powi(n) + (m as f64).sqrt() * x.powi(m as i32)
}

/// `f = n x + x^n + √m x^m`: `df/dx = n + n x^(n-1) + √m m x^(m-1)`.
#[test]
fn casts_of_inactive_integers() {
    for &(x, n, m) in &[(1.5, 3, 4), (-0.5, 2, 9), (2.0, -1, 1)] {
        let (v, d) = casts_grad(x, n, m);
        assert_eq!(v.to_bits(), casts(x, n, m).to_bits());
        let (nf, mf) = (f64::from(n), m as f64);
        let want = nf + nf * x.powi(n - 1) + mf.sqrt() * mf * x.powi(m as i32 - 1);
        near("d", &[d], &[want]);
    }
}

#[differentiate]
fn constants(x: f64) -> f64 {
    let a = x * std::f64::consts::PI;
    let b = PI * x;
    let c = (x + f64::EPSILON) * std::f64::consts::E;
    let d = 1.0_f64.tanh() * x + 2.0f64 * x + 2.0_f64.sqrt() * x;
    a + b + c + d - 0.5e1 * x
}

/// `df/dx = π + π + e + tanh 1 + 2 + √2 - 5`.
#[test]
fn constants_and_literals() {
    let (_, d) = constants_grad(0.3);
    let want = PI + PI + std::f64::consts::E + 1.0_f64.tanh() + 2.0 + 2.0_f64.sqrt() - 5.0;
    near("d", &[d], &[want]);
}

#[differentiate]
fn constants_f32(x: f32) -> f32 {
    let a = x * std::f32::consts::PI;
    let b = (x - f32::EPSILON) * 1.5_f32;
    a + b + 0.25f32.exp() * x
}

#[test]
fn constants_and_literals_f32() {
    let (v, d) = constants_f32_grad(0.3);
    assert_eq!(v.to_bits(), constants_f32(0.3).to_bits());
    let want = std::f32::consts::PI + 1.5 + 0.25f32.exp();
    assert!((d - want).abs() <= 1e-6 * want, "got {d}, want {want}");
}

#[differentiate(wrt(x))]
fn inactive_any_rust(x: f64, k: u32) -> f64 {
    let s: f64 = (1..=k).map(f64::from).sum();
    let label = format!("{k}");
    s * x + label.len() as f64 * x.sin()
}

/// An expression that reads no active value can be any Rust: a constant.
/// `f = (1 + ... + k) x + digits(k) sin x`.
#[test]
fn inactive_expressions_are_constants() {
    let (_, d) = inactive_any_rust_grad(0.5, 12);
    near("d", &[d], &[78.0 + 2.0 * 0.5_f64.cos()]);
}

// ----- _vjp -------------------------------------------------------------------------------------

#[differentiate]
fn vjp_target(x: f64, y: f64, z: f64) -> f64 {
    let a = x * y.exp();
    let b = a.tanh() + z.powi(3);
    b / (1.0 + x * x)
}

/// `_vjp` with `d_out = 2.5` gives the value unchanged and 2.5 times the gradient; `d_out = 0`
/// gives zero; `d_out = -1` the negated gradient.
#[test]
fn vjp_scales_the_gradient() {
    let p = (0.4, -0.3, 1.2);
    let (v, g) = vjp_target_grad(p.0, p.1, p.2);
    let (v25, g25) = vjp_target_vjp(p.0, p.1, p.2, 2.5);
    assert_eq!(v.to_bits(), v25.to_bits());
    assert_all_close(
        "2.5 grad",
        &[g25.0, g25.1, g25.2],
        &[2.5 * g.0, 2.5 * g.1, 2.5 * g.2],
        1e-15,
        0.0,
    );
    let (_, g0) = vjp_target_vjp(p.0, p.1, p.2, 0.0);
    assert_eq!([g0.0, g0.1, g0.2], [0.0; 3]);
    let (_, gm) = vjp_target_vjp(p.0, p.1, p.2, -1.0);
    assert_eq!([gm.0, gm.1, gm.2], [-g.0, -g.1, -g.2]);
    fd(
        "vjp_target",
        |v: &[f64]| vjp_target(v[0], v[1], v[2]),
        &[p.0, p.1, p.2],
        &[g.0, g.1, g.2],
    );
}

#[differentiate]
fn vjp_single(x: f32) -> f32 {
    x.sin() * x
}

#[test]
fn vjp_single_argument_f32() {
    let (v, g) = vjp_single_grad(0.7);
    let (v25, g25) = vjp_single_vjp(0.7, 2.5);
    assert_eq!(v.to_bits(), v25.to_bits());
    assert!((g25 - 2.5 * g).abs() <= 4.0 * f32::EPSILON * g25.abs());
}

// ----- kinks ------------------------------------------------------------------------------------

#[differentiate]
fn abs_m(x: f64) -> f64 {
    x.abs()
}

#[differentiate]
fn abs_p(x: f32) -> f32 {
    f32::abs(x)
}

/// `abs'(0) = 0` (also at `-0.0`), `±1` elsewhere.
#[test]
fn abs_at_zero() {
    assert_eq!(abs_m_grad(0.0), (0.0, 0.0));
    assert_eq!(abs_m_grad(-0.0).1, 0.0);
    assert_eq!(abs_p_grad(0.0), (0.0, 0.0));
    assert_eq!(abs_m_grad(-2.0).1, -1.0);
    assert_eq!(abs_m_grad(1e-300).1, 1.0);
}

#[differentiate]
fn max_m(x: f64, y: f64) -> f64 {
    x.max(y)
}

#[differentiate]
fn max_p(x: f64, y: f64) -> f64 {
    f64::max(x, y)
}

#[differentiate]
fn max_swapped(x: f64, y: f64) -> f64 {
    y.max(x)
}

#[differentiate]
fn min_m(x: f64, y: f64) -> f64 {
    x.min(y)
}

#[differentiate]
fn min_p(x: f32, y: f32) -> f32 {
    f32::min(x, y)
}

#[differentiate]
fn max_generic<T: Float>(x: T, y: T) -> T {
    T::max(x, y)
}

/// On a tie `max`/`min` send the whole adjoint to their first argument (the receiver).
#[test]
fn max_min_ties_go_to_the_first_argument() {
    assert_eq!(max_m_grad(1.5, 1.5), (1.5, (1.0, 0.0)));
    assert_eq!(max_p_grad(1.5, 1.5), (1.5, (1.0, 0.0)));
    assert_eq!(max_swapped_grad(1.5, 1.5), (1.5, (0.0, 1.0)));
    assert_eq!(min_m_grad(-2.0, -2.0), (-2.0, (1.0, 0.0)));
    assert_eq!(min_p_grad(0.0, 0.0), (0.0, (1.0, 0.0)));
    assert_eq!(max_generic_grad(3.0_f32, 3.0), (3.0, (1.0, 0.0)));
    assert_eq!(max_generic_grad(3.0_f64, 3.0), (3.0, (1.0, 0.0)));
    // Away from ties, to whichever is returned.
    assert_eq!(max_m_grad(1.0, 2.0).1, (0.0, 1.0));
    assert_eq!(min_m_grad(1.0, 2.0).1, (1.0, 0.0));
}

/// `max`/`min` with one NaN operand return the other one, which gets the adjoint.
#[test]
fn max_min_with_nan_follow_the_returned_argument() {
    let (v, (dx, dy)) = max_m_grad(2.0, f64::NAN);
    assert_eq!((v, dx, dy), (2.0, 1.0, 0.0));
    let (v, (dx, dy)) = max_m_grad(f64::NAN, 2.0);
    assert_eq!((v, dx, dy), (2.0, 0.0, 1.0));
    let (v, (dx, dy)) = min_m_grad(f64::NAN, -2.0);
    assert_eq!((v, dx, dy), (-2.0, 0.0, 1.0));
}

#[differentiate]
fn clamp_m(x: f64, lo: f64, hi: f64) -> f64 {
    x.clamp(lo, hi)
}

#[differentiate]
fn clamp_p(x: f32, lo: f32, hi: f32) -> f32 {
    f32::clamp(x, lo, hi)
}

/// `clamp` passes the adjoint to `x` for `lo <= x <= hi`, ends included; outside, to the end
/// it returned.
#[test]
fn clamp_at_the_ends_goes_to_x() {
    assert_eq!(clamp_m_grad(-1.0, -1.0, 1.0), (-1.0, (1.0, 0.0, 0.0)));
    assert_eq!(clamp_m_grad(1.0, -1.0, 1.0), (1.0, (1.0, 0.0, 0.0)));
    assert_eq!(clamp_p_grad(-1.0, -1.0, 1.0), (-1.0, (1.0, 0.0, 0.0)));
    assert_eq!(clamp_p_grad(1.0, -1.0, 1.0), (1.0, (1.0, 0.0, 0.0)));
    // A degenerate interval: x = lo = hi.
    assert_eq!(clamp_m_grad(0.5, 0.5, 0.5), (0.5, (1.0, 0.0, 0.0)));
    // Outside.
    assert_eq!(clamp_m_grad(-3.0, -1.0, 1.0), (-1.0, (0.0, 1.0, 0.0)));
    assert_eq!(clamp_m_grad(3.0, -1.0, 1.0), (1.0, (0.0, 0.0, 1.0)));
}

#[differentiate]
fn sqrt_m(x: f64) -> f64 {
    x.sqrt()
}

#[differentiate]
fn sqrt_p(x: f32) -> f32 {
    f32::sqrt(x)
}

#[differentiate]
fn ln_m(x: f64) -> f64 {
    x.ln()
}

#[differentiate]
fn hypot_m(x: f64, y: f64) -> f64 {
    x.hypot(y)
}

#[differentiate(forward)]
fn powf_m(x: f64, p: f64) -> f64 {
    x.powf(p)
}

#[differentiate]
fn powf_t(x: &autodiff::ndarray::Array1<f64>, p: f64) -> f64 {
    x.powf(p).sum()
}

/// `sqrt'(0) = ln'(0) = +inf`, as IEEE arithmetic gives them; `hypot` at the origin has
/// gradient zero; `x.powf(p)` at `x = 0` has derivative zero in `p` for `p >= 0` (`0^p` does
/// not change with `p > 0`; `y ln x` would be NaN), as PyTorch has it.
#[test]
fn infinite_and_zero_derivatives_at_zero() {
    assert_eq!(powf_m_grad(0.0, 2.0), (0.0, (0.0, 0.0)));
    assert_eq!(powf_m_grad(0.0, 0.0).1 .1, 0.0);
    assert_eq!(powf_m_grad(0.0, 0.5).1 .1, 0.0);
    // Elsewhere `y ln x`, and NaN where `y` is (a negative base).
    let (y, (_, dp)) = powf_m_grad(2.0, 1.5);
    assert!((dp - y * 2.0_f64.ln()).abs() < 1e-15);
    assert!(powf_m_grad(-2.0, 1.5).1 .1.is_nan());
    // A tensor with a zero among its elements: the others' terms alone.
    let x = autodiff::ndarray::Array1::from(vec![0.0, 0.5, 2.0]);
    let (_, (_, dp)) = powf_t_grad(&x, 1.5);
    let want = 0.5_f64.powf(1.5) * 0.5_f64.ln() + 2.0_f64.powf(1.5) * 2.0_f64.ln();
    assert!((dp - want).abs() < 1e-14, "{dp} {want}");
    // Forward mode and the Hessian-vector product's dual numbers agree.
    assert_eq!(powf_m_jvp(0.0, 2.0, 0.0, 1.0).1, 0.0);
    let (_, g, _) = powf_m_hvp(0.0, 2.0, 0.0, 1.0);
    assert_eq!(g, (0.0, 0.0));
    assert_eq!(sqrt_m_grad(0.0), (0.0, f64::INFINITY));
    assert_eq!(sqrt_p_grad(0.0), (0.0, f32::INFINITY));
    assert_eq!(ln_m_grad(0.0), (f64::NEG_INFINITY, f64::INFINITY));
    assert_eq!(hypot_m_grad(0.0, 0.0), (0.0, (0.0, 0.0)));
}

// ----- derivative zero --------------------------------------------------------------------------

#[differentiate]
fn floor_only(x: f64) -> f64 {
    x.floor()
}

#[differentiate]
fn round_plus(x: f64, y: f64) -> f64 {
    x.round() + y
}

#[differentiate]
fn signum_times(x: f32, y: f32) -> f32 {
    x.signum() * y
}

#[differentiate]
fn rounding_family(x: f64) -> f64 {
    f64::ceil(x) + x.trunc() + f64::floor(x) * x.round() + x.signum()
}

/// `floor ceil round trunc signum` have derivative zero everywhere, also at their jumps.
#[test]
fn zero_derivative_methods() {
    assert_eq!(floor_only_grad(2.7), (2.0, 0.0));
    assert_eq!(floor_only_grad(-3.0), (-3.0, 0.0));
    assert_eq!(round_plus_grad(0.5, 2.0), (3.0, (0.0, 1.0)));
    assert_eq!(round_plus_grad(1.2, 2.0).1, (0.0, 1.0));
    assert_eq!(signum_times_grad(-0.5, 3.0), (-3.0, (0.0, -1.0)));
    assert_eq!(signum_times_grad(0.0, 3.0), (3.0, (0.0, 1.0)));
    for x in [-2.5, -0.3, 0.0, 1.0, 4.6] {
        let (v, d) = rounding_family_grad(x);
        assert_eq!(v.to_bits(), rounding_family(x).to_bits());
        assert_eq!(d, 0.0);
    }
}

// ----- hygiene ----------------------------------------------------------------------------------

#[differentiate]
#[allow(clippy::let_and_return, reason = "the names are the point")]
fn generated_names(x: f64, y: f64) -> f64 {
    let d_out = x * y;
    let d_x = d_out.sin();
    let grad = d_x + x;
    let adj = grad * grad;
    let __t0 = adj - y;
    let __d_x_0 = __t0 * x;
    let __x_0 = __d_x_0 + 1.0;
    let __d_t3 = __x_0 * y;
    let tape = __d_t3 + d_out;
    let autodiff = tape * 0.5;
    let one = autodiff + 1.0;
    let accumulate = one;
    println!("{d_out} {d_x} {grad} {adj} {__t0} {tape} {accumulate}");
    accumulate
}

/// `p = xy`, `g = sin p + x`, `f = ½((g² - y) x + 1) y + ½ p + 1`; user variables named like
/// generated ones (`d_out`, `d_x`, `grad`, `adj`, `__t0`, `__d_x_0`, `tape`, ...) do not clash.
#[test]
fn user_names_like_generated_ones() {
    let f = |v: &[f64]| generated_names(v[0], v[1]);
    for &(x, y) in &[(0.5, 1.5), (-1.0, 0.3), (2.0, -0.7)] {
        let (v, (dx, dy)) = generated_names_grad(x, y);
        assert_eq!(v.to_bits(), generated_names(x, y).to_bits());
        let p = x * y;
        let g = p.sin() + x;
        let h = (g * g - y) * x + 1.0;
        // f = ½ h y + ½ p + 1
        let dg_dx = p.cos() * y + 1.0;
        let dg_dy = p.cos() * x;
        let dh_dx = 2.0 * g * dg_dx * x + (g * g - y);
        let dh_dy = (2.0 * g * dg_dy - 1.0) * x;
        let want = [0.5 * dh_dx * y + 0.5 * y, 0.5 * (dh_dy * y + h) + 0.5 * x];
        near("(dx, dy)", &[dx, dy], &want);
        fd("generated_names", f, &[x, y], &[dx, dy]);
    }
}

#[differentiate]
fn param_named_d_out(d_out: f64, x: f64) -> f64 {
    d_out * x.exp()
}

#[differentiate]
fn params_named_generated(__t0: f64, __d_x_0: f64, __x_0: f64) -> f64 {
    __t0 * __d_x_0 + __x_0.sin()
}

#[differentiate]
fn param_named_tape(tape: f64, grad: f64) -> f64 {
    let adj = tape * grad;
    adj * adj
}

/// Parameters named like the generated `d_out` parameter or generated locals.
#[test]
fn parameters_named_like_generated_ones() {
    let (v, (da, dx)) = param_named_d_out_grad(2.0, 0.5);
    let e = 0.5_f64.exp();
    assert_eq!(v, 2.0 * e);
    near("(dd_out, dx)", &[da, dx], &[e, 2.0 * e]);
    // Through _vjp, whose own cotangent parameter is also called d_out internally.
    let (_, (da, dx)) = param_named_d_out_vjp(2.0, 0.5, 3.0);
    near("vjp", &[da, dx], &[3.0 * e, 6.0 * e]);
    let (_, g) = params_named_generated_grad(2.0, 0.5, 1.0);
    near("(d0, d1, d2)", &[g.0, g.1, g.2], &[0.5, 2.0, 1.0_f64.cos()]);
    // f = (t g)²: df/dt = 2 t g², df/dg = 2 t² g.
    let (_, (dt, dg)) = param_named_tape_grad(1.5, -2.0);
    near("(dt, dg)", &[dt, dg], &[2.0 * 1.5 * 4.0, 2.0 * 2.25 * -2.0]);
}

#[differentiate]
fn raw_identifiers(r#in: f64, r#type: f64) -> f64 {
    let r#match = r#in * r#type;
    r#match.sin()
}

#[differentiate]
fn non_ascii_names(x: f64) -> f64 {
    let ζ = x * 2.0;
    let β = ζ.exp();
    β + ζ
}

/// Raw identifiers and non-ASCII names as parameters and variables: `d sin(a b) = cos(a b) (b, a)`,
/// `d (e^(2x) + 2x) = 2 e^(2x) + 2`.
#[test]
fn raw_and_non_ascii_identifiers() {
    let (_, (da, db)) = raw_identifiers_grad(0.5, 2.0);
    near(
        "raw",
        &[da, db],
        &[1.0_f64.cos() * 2.0, 1.0_f64.cos() * 0.5],
    );
    let (_, d) = non_ascii_names_grad(0.5);
    near("non-ascii", &[d], &[2.0 * 1.0_f64.exp() + 2.0]);
}

/// A differentiated function declared inside another function.
#[test]
fn function_local_item() {
    #[differentiate]
    fn local(x: f64) -> f64 {
        x * x
    }
    assert_eq!(local_grad(3.0), (9.0, 6.0));
}

#[differentiate]
#[allow(
    clippy::needless_lifetimes,
    reason = "a named lifetime parameter is the point"
)]
fn with_lifetime<'a, T: Float>(x: T, label: &'a str) -> T {
    x * T::from(label.len()).unwrap()
}

#[differentiate]
fn bounded_by_real<T: autodiff::Real>(x: T) -> T {
    x.sin()
}

#[differentiate]
fn bounded_by_path<T: num_traits::Float + Copy + core::fmt::Debug>(x: T, y: T) -> T {
    x / y
}

/// Generics beyond a bare `T: Float`: a lifetime parameter, a `Real` bound, a path bound with
/// more bounds.
#[test]
fn other_generic_signatures() {
    assert_eq!(with_lifetime_grad(0.5_f32, "abc"), (1.5, 3.0));
    let (v, d) = bounded_by_real_grad(0.5_f32);
    assert_eq!(v.to_bits(), 0.5_f32.sin().to_bits());
    assert!((d - 0.5_f32.cos()).abs() <= f32::EPSILON);
    assert_eq!(
        bounded_by_path_grad(1.0_f64, 4.0),
        (0.25, (0.25, -1.0 / 16.0))
    );
}

#[differentiate]
fn named_format_arguments(x: f64) -> f64 {
    let a = x * 2.0;
    let k = 3.0;
    let scale = |t: f64| t * k;
    println!("{v} {a:?} {} {w:>8.3}", x.sin(), v = a, w = scale(1.0));
    a * scale(2.0)
}

/// Format arguments by name and position, and an inactive closure that captures a constant:
/// `f = 2x · 6`.
#[test]
fn format_arguments_and_closures() {
    assert_eq!(named_format_arguments_grad(0.5), (6.0, 12.0));
}

// ----- the value of _grad is the function's, bit for bit ----------------------------------------

#[differentiate]
fn rounding_sensitive(x: f64, y: f64, z: f64) -> f64 {
    let mut acc = x + y + z;
    acc += x * 1e3;
    acc -= 1e3 * x;
    acc *= 0.1;
    acc = acc.mul_add(y, z) / 3.0;
    acc + (x - y).hypot(z) + f64::ln_1p(z * z) - x.exp_m1() * y.cbrt() + (x / 7.0).atan2(y)
}

#[differentiate]
fn rounding_sensitive_f32(x: f32, y: f32, z: f32) -> f32 {
    let mut acc = x + y + z;
    acc += x * 1e3;
    acc -= 1e3 * x;
    acc *= 0.1;
    acc = acc.mul_add(y, z) / 3.0;
    acc + (x - y).hypot(z) + f32::ln_1p(z * z) - x.exp_m1() * y.cbrt() + (x / 7.0).atan2(y)
}

#[differentiate]
#[allow(
    unused_parens,
    reason = "bug: the generated code keeps the parentheses of `(T::one() + ..)` (tests/known_bugs.rs)"
)]
fn rounding_sensitive_generic<T: Float>(x: T, y: T, z: T) -> T {
    let tenth = T::from(0.1).unwrap();
    let big = T::from(1e3).unwrap();
    let mut acc = x + y + z;
    acc = acc + x * big - big * x;
    acc = (acc * tenth).mul_add(y, z) / (T::one() + T::one() + T::one());
    acc + (x - y).hypot(z) + T::ln_1p(z * z) - x.exp_m1() * y.cbrt()
}

/// The value returned by `_grad` (and `_vjp`) is bit-identical to the function's, in `f64`,
/// `f32` and generic code, for functions whose result depends on evaluation order.
#[test]
fn value_is_bit_identical() {
    let points = [
        (0.1, 0.2, 0.3),
        (1.0 / 3.0, -2.0 / 7.0, 1e-8),
        (123.456, -0.001, 7.5),
        (-5.5, 2.25, -0.125),
    ];
    for &(x, y, z) in &points {
        let want = rounding_sensitive(x, y, z).to_bits();
        assert_eq!(rounding_sensitive_grad(x, y, z).0.to_bits(), want);
        assert_eq!(rounding_sensitive_vjp(x, y, z, 0.7).0.to_bits(), want);
        #[allow(clippy::cast_possible_truncation, reason = "the f32 point")]
        let (a, b, c) = (x as f32, y as f32, z as f32);
        assert_eq!(
            rounding_sensitive_f32_grad(a, b, c).0.to_bits(),
            rounding_sensitive_f32(a, b, c).to_bits()
        );
        assert_eq!(
            rounding_sensitive_generic_grad(x, y, z).0.to_bits(),
            rounding_sensitive_generic(x, y, z).to_bits()
        );
        assert_eq!(
            rounding_sensitive_generic_grad(a, b, c).0.to_bits(),
            rounding_sensitive_generic(a, b, c).to_bits()
        );
        assert_eq!(shadowing_grad(x, y).0.to_bits(), shadowing(x, y).to_bits());
        assert_eq!(compound_grad(x, y).0.to_bits(), compound(x, y).to_bits());
        assert_eq!(
            generated_names_grad(x, y).0.to_bits(),
            generated_names(x, y).to_bits()
        );
        assert_eq!(
            vjp_target_grad(x, y, z).0.to_bits(),
            vjp_target(x, y, z).to_bits()
        );
        assert_eq!(
            generic_mix_grad(a, b.abs()).0.to_bits(),
            generic_mix(a, b.abs()).to_bits()
        );
    }
}

/// The gradients of the rounding-sensitive functions against central differences.
#[test]
fn rounding_sensitive_gradients() {
    for &(x, y, z) in &[(0.1, 0.2, 0.3), (1.5, 2.25, -0.5), (-0.75, 0.6, 1.1)] {
        let (_, g) = rounding_sensitive_grad(x, y, z);
        fd(
            "rounding_sensitive",
            |v: &[f64]| rounding_sensitive(v[0], v[1], v[2]),
            &[x, y, z],
            &[g.0, g.1, g.2],
        );
        let (_, g) = rounding_sensitive_generic_grad(x, y, z);
        fd(
            "rounding_sensitive_generic",
            |v: &[f64]| rounding_sensitive_generic(v[0], v[1], v[2]),
            &[x, y, z],
            &[g.0, g.1, g.2],
        );
    }
}

// ----- long functions ---------------------------------------------------------------------------

/// A function of 60 statements and a loop of 60 more: the companions' blocks have hundreds of
/// `let`s, which they declare in groups (a `let` per value nested rustc's debug info one scope
/// per value, and overflowed its stack at about a thousand statements).
macro_rules! long_chain {
    ($($k:literal)*) => {
        #[differentiate(forward)]
        fn long_chain(x: f64, y: f64) -> f64 {
            let mut v = x;
            $( v = (v * 0.9).sin() * y + x * $k; )*
            let mut s = 0.0;
            for i in 0..3 {
                let w = v * i as f64 + y;
                $( s += (w * $k).tanh(); )*
            }
            v + s * 0.01
        }
    };
}

long_chain!(
    0.11 0.12 0.13 0.14 0.15 0.16 0.17 0.18 0.19 0.20 0.21 0.22 0.23 0.24 0.25 0.26 0.27 0.28 0.29
    0.30 0.31 0.32 0.33 0.34 0.35 0.36 0.37 0.38 0.39 0.40 0.41 0.42 0.43 0.44 0.45 0.46 0.47 0.48
    0.49 0.50 0.51 0.52 0.53 0.54 0.55 0.56 0.57 0.58 0.59 0.60 0.61 0.62 0.63 0.64 0.65 0.66 0.67
    0.68 0.69 0.70
);

#[test]
fn long_functions_differentiate() {
    for &(x, y) in &[(0.3, 0.7), (-1.2, 0.4), (2.0, -0.9)] {
        let (value, g) = long_chain_grad(x, y);
        assert_eq!(value.to_bits(), long_chain(x, y).to_bits());
        fd(
            "long_chain",
            |v: &[f64]| long_chain(v[0], v[1]),
            &[x, y],
            &[g.0, g.1],
        );
        // Forward mode and the Hessian-vector product go through long blocks too.
        let (_, tangent) = long_chain_jvp(x, y, 0.5, -2.0);
        near("long_chain_jvp", &[tangent], &[0.5 * g.0 - 2.0 * g.1]);
        let (_, _, hv) = long_chain_hvp(x, y, 1.0, 0.0);
        let h = 1e-5;
        let (_, up) = long_chain_grad(x + h, y);
        let (_, down) = long_chain_grad(x - h, y);
        let column = [(up.0 - down.0) / (2.0 * h), (up.1 - down.1) / (2.0 * h)];
        assert_all_close("long_chain_hvp", &[hv.0, hv.1], &column, 1e-6, 1e-6);
    }
}
