//! Second order for functions written on `f64`, not generic: `NAME_hvp` and `NAME_hessian`
//! checked against an independent exact reference. (Functions on `f32` get no `NAME_hvp`; their
//! gradient is checked here too.)
//!
//! Each function below is written once as a user writes it, on `f64` (or `f32`), and annotated
//! with `#[differentiate]`; for these the macro makes a hidden copy generic over the float type
//! and runs its reverse pass on dual numbers. Each is written a second time as a reference on
//! `num_dual::HyperDual64` (`*_ref`), from the mathematics, never touching the generated code or
//! the runtime (branches and integer results there are decided on the real part, as the
//! original decides them on its `f64`).
//!
//! The functions: Rosenbrock in two scalars; extended Rosenbrock over `&[f64]`, `Vec<f64>`,
//! `[f64; 4]` and `[f64; N]` (a const generic, with a local `[0.0; N]`); float literals in every form (`2.0`, `1e-3`, `3f64`, `0.5_f64`, `2.5E+1`,
//! `1_000.0e-3`, `7_f64.sqrt()`) with `as` casts (`i as f64`, `x.len() as f64`, `n as i32` in
//! `powi`, inactive indices `(k as f64 * 1.5) as usize` and `(x[0] * 10.0) as usize`, the
//! latter also in an `if`), `std::f64::consts::PI`,
//! `core::f64::consts::E`, `f64::EPSILON`, `f64::MIN`; casts of `bool`s and a `char` to integers
//! and of `x.floor()`, `y.floor()`; `f64::max(a, b)`, `a.max(b)`, `f64::min`; float methods as methods and as
//! `f64::` functions (`mul_add`, `hypot`, `atan2`, `powf`, `log`, `exp2`, `cbrt`, `asinh`, ...);
//! a log-sum-exp whose maximum starts at `f64::NEG_INFINITY`; `if`/`else if` and a `match` on an
//! integer inside a loop, with an integer parameter; integer parameters of two types; Newton's
//! iteration in a `while` whose trip count depends on the data; a local `vec![0.0; n]` written
//! with `y[i] += 0.5 * y[i - 1]`, `*=` and `-=` reading the same array; `wrt(x)` with an inactive
//! `f64` parameter; `println!`, `assert!`, `debug_assert!`, `assert_ne!` in the body;
//! `autodiff::sigmoid`, `softplus` and `relu` (with inactive data slices); and in f32, value and
//! gradient only: Rosenbrock, extended Rosenbrock over `&[f32]`, a function with f32 literals,
//! casts, `std::f32::consts::PI`, `f32::EPSILON`, `f32::max` and `autodiff::sigmoid`, and one
//! whose loop count comes from `f64` literals.
//!
//! What is checked against what:
//!
//! - f64 functions: the Hessian (`NAME_hessian`) entry by entry against hyper-dual numbers (`ε₁`
//!   seeded on `x_i`, `ε₂` on `x_j`, all `n²` entries); `NAME_hvp` along two pseudo-random
//!   directions and one unit direction against hyper-dual numbers (`ε₁` along `v`, `ε₂` on `x_j`)
//!   and against `H_ref · v`; value and gradient against the reference; all to a relative
//!   `1e-10` (`|got − want| ≤ 1e-10 · max(1, |want|)`);
//! - f32 functions: value and gradient against the f64 hyper-dual reference at the same
//!   (widened) point, to `1e-3` relative to the largest entry of the vector compared (f32
//!   rounding scales with the largest terms, not with each entry);
//! - `NAME_hvp`'s value equals `NAME_grad`'s bit for bit and its gradient to rounding (`1e-14`:
//!   the copy may add a loop's contributions in another order), `NAME_hessian`'s
//!   value equals the function's own bit for bit, row `j` of `NAME_hessian` equals `NAME_hvp`
//!   along the unit direction `e_j` bit for bit, and every Hessian is symmetric (relative
//!   `1e-12`);
//! - for Rosenbrock and extended Rosenbrock, `NAME_hvp` of the `f64` function equals, bit for
//!   bit, `NAME_hvp` of the same function written generic over `T: Float` (both run the same
//!   reverse pass on `Dual<f64>`);
//! - the body's `assert!` still runs inside `NAME_hvp` (a NaN argument panics; the panic message
//!   printed by that test is expected).
//!
//! Functions that fall outside what the copy accepts (a module `const`, a call to another
//! function, a method, a `&mut [f64]` parameter, a loop over a reversed range) get no
//! `NAME_hvp`; the point there is that they still compile and their `NAME_grad` still works
//! (checked against the same hyper-dual reference's `ε₁` part). They never mention `NAME_hvp`.

#![allow(
    clippy::needless_range_loop,
    clippy::type_complexity,
    reason = "index loops over slices are what these tests differentiate; the checkers take the generated companions as closures"
)]

use std::f64::consts::{E, PI};

use autodiff::differentiate;
use num_dual::{DualNum, HyperDual64};
use num_traits::{Float, One, Zero};

type Hd = HyperDual64;

mod common;

use common::hyperdual::{
    assert_all_close, assert_close, bits, err, hyperdual_grad, hyperdual_hessian, hyperdual_hvp,
    Lcg, SYM_TOL,
};

// ----- tolerances and comparisons -----------------------------------------------------------

/// Tolerance of f32 results against the f64 reference, relative to the largest entry compared.
const TOL32: f64 = 1e-3;

/// f32 results against the f64 reference: `|got − want| ≤ TOL32 · max(1, max_k |want_k|)`.
/// Returns the largest error found (relative to that scale).
fn assert_all_close32(what: &str, got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(1.0_f64, |m, w| m.max(w.abs()));
    let mut worst: f64 = 0.0;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = (f64::from(g) - w).abs() / scale;
        assert!(
            e <= TOL32,
            "{what}[{i}]: got {g:e}, want {w:e} (error {e:e} of the largest entry {scale:e})"
        );
        worst = worst.max(e);
    }
    worst
}

// ----- the num-dual reference ---------------------------------------------------------------

type Reference<'a> = &'a dyn Fn(&[Hd]) -> Hd;

/// The directions an `hvp` is checked along: two pseudo-random ones and a unit one.
fn directions(n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = Lcg::new(seed);
    let mut unit = vec![0.0; n];
    unit[(seed as usize) % n] = 1.0;
    vec![rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0), unit]
}

// ----- the f64 checker ----------------------------------------------------------------------

/// The generated companions of one f64 function, seen through flat slices of its active
/// parameters.
struct Generated<'a> {
    name: &'a str,
    /// The function itself.
    plain: &'a dyn Fn(&[f64]) -> f64,
    /// `NAME_grad`.
    grad: &'a dyn Fn(&[f64]) -> (f64, Vec<f64>),
    /// `NAME_hvp`: value, gradient, Hv.
    hvp: &'a dyn Fn(&[f64], &[f64]) -> (f64, Vec<f64>, Vec<f64>),
    /// `NAME_hessian`.
    hessian: &'a dyn Fn(&[f64]) -> (f64, Vec<Vec<f64>>),
}

/// Checks one f64 function at one point against the reference. Returns the largest relative
/// error of the Hessian and of the products.
fn check_at(gen: &Generated, r: Reference, x: &[f64], seed: u64) -> (f64, f64) {
    let name = gen.name;
    let n = x.len();
    let (ref_value, ref_grad, ref_h) = hyperdual_hessian(r, x);
    let plain = (gen.plain)(x);
    let (value, grad) = (gen.grad)(x);
    assert_eq!(
        value.to_bits(),
        plain.to_bits(),
        "{name} at {x:?}: NAME_grad's value is not the function's"
    );
    assert_close(&format!("{name} at {x:?}: value"), value, ref_value);
    assert_all_close(&format!("{name} at {x:?}: gradient"), &grad, &ref_grad);

    // The dense Hessian: against the reference, symmetric.
    let (h_value, h) = (gen.hessian)(x);
    assert_eq!(
        h_value.to_bits(),
        plain.to_bits(),
        "{name} at {x:?}: NAME_hessian's value is not the function's"
    );
    assert_eq!(h.len(), n, "{name}: Hessian rows");
    let mut worst_h: f64 = 0.0;
    for i in 0..n {
        assert_eq!(h[i].len(), n, "{name}: Hessian row {i}");
        for j in 0..n {
            assert_close(
                &format!("{name} at {x:?}: H[{i}][{j}]"),
                h[i][j],
                ref_h[i][j],
            );
            worst_h = worst_h.max(err(h[i][j], ref_h[i][j]));
            let asym = (h[i][j] - h[j][i]).abs() / h[i][j].abs().max(1.0);
            assert!(
                asym <= SYM_TOL,
                "{name} at {x:?}: H[{i}][{j}] = {:e} but H[{j}][{i}] = {:e}",
                h[i][j],
                h[j][i]
            );
        }
    }

    // Row j of the Hessian is the product along e_j.
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        let (_, _, hv) = (gen.hvp)(x, &e);
        assert_eq!(
            bits(&hv),
            bits(&h[j]),
            "{name} at {x:?}: NAME_hvp along e_{j} is not row {j} of NAME_hessian"
        );
    }

    // Hessian-vector products.
    let mut worst_hv: f64 = 0.0;
    for v in directions(n, seed) {
        let (hv_value, hv_grad, hv) = (gen.hvp)(x, &v);
        assert_eq!(
            hv_value.to_bits(),
            value.to_bits(),
            "{name} at {x:?}: NAME_hvp's value is not NAME_grad's"
        );
        // The same sums, maybe added in another order (the generic copy may run a loop's
        // reverse iteration by iteration where the original walks it back): to rounding.
        for (i, (a, b)) in hv_grad.iter().zip(&grad).enumerate() {
            assert!(
                (a - b).abs() <= 1e-14 * a.abs().max(b.abs()).max(1.0),
                "{name} at {x:?}: NAME_hvp's gradient[{i}] {a:e} is not NAME_grad's {b:e}"
            );
        }
        let what = format!("{name} at {x:?}, v = {v:?}: Hv");
        let want = hyperdual_hvp(r, x, &v);
        assert_all_close(&what, &hv, &want);
        let h_ref_v: Vec<f64> = ref_h
            .iter()
            .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
            .collect();
        assert_all_close(&format!("{what} (H_ref v)"), &hv, &h_ref_v);
        for (a, b) in hv.iter().zip(&want) {
            worst_hv = worst_hv.max(err(*a, *b));
        }
    }
    (worst_h, worst_hv)
}

fn check_points(gen: &Generated, r: Reference, points: &[Vec<f64>]) {
    let (mut worst_h, mut worst_hv) = (0.0_f64, 0.0_f64);
    for (k, x) in points.iter().enumerate() {
        let (h, hv) = check_at(gen, r, x, 17 + k as u64);
        worst_h = worst_h.max(h);
        worst_hv = worst_hv.max(hv);
    }
    eprintln!(
        "{}: {} points, largest relative error: Hessian {worst_h:e}, Hv {worst_hv:e}",
        gen.name,
        points.len()
    );
}

/// `Vec<Vec<F>>` from `[[F; N]; N]`.
fn rows<F: Copy, const N: usize>(h: [[F; N]; N]) -> Vec<Vec<F>> {
    h.iter().map(|r| r.to_vec()).collect()
}

// ===== f64 functions ========================================================================

// ----- Rosenbrock in two scalars ------------------------------------------------------------

#[differentiate]
fn rosen(x: f64, y: f64) -> f64 {
    let a = 1.0 - x;
    let b = y - x * x;
    a * a + 100.0 * b * b
}

fn rosen_ref(p: &[Hd]) -> Hd {
    let (x, y) = (p[0], p[1]);
    (Hd::one() - x).powi(2) + (y - x.powi(2)).powi(2) * 100.0
}

/// The same function generic over its float type: its `NAME_hvp` runs the same reverse pass on
/// `Dual<f64>` as the concrete function's hidden copy.
#[differentiate]
fn rosen_generic<T: Float>(x: T, y: T) -> T {
    let a = T::one() - x;
    let b = y - x * x;
    a * a + T::from(100.0).unwrap() * b * b
}

#[test]
fn rosenbrock_two_scalars() {
    let gen = Generated {
        name: "rosen",
        plain: &|p| rosen(p[0], p[1]),
        grad: &|p| {
            let (v, (gx, gy)) = rosen_grad(p[0], p[1]);
            (v, vec![gx, gy])
        },
        hvp: &|p, v| {
            let (f, (gx, gy), (hx, hy)) = rosen_hvp(p[0], p[1], v[0], v[1]);
            (f, vec![gx, gy], vec![hx, hy])
        },
        hessian: &|p| {
            let (f, h) = rosen_hessian(p[0], p[1]);
            (f, rows(h))
        },
    };
    let points = [
        vec![-1.2, 1.0],
        vec![1.0, 1.0],
        vec![0.3, -0.4],
        vec![2.5, 6.1],
        vec![-0.7, 0.05],
    ];
    check_points(&gen, &rosen_ref, &points);

    // The closed form at the classic start point, and the generic twin bit for bit.
    let (_, h) = rosen_hessian(-1.2, 1.0);
    assert_eq!(h, [[1330.0, 480.0], [480.0, 200.0]]);
    for p in &points {
        for v in directions(2, 3) {
            let concrete = rosen_hvp(p[0], p[1], v[0], v[1]);
            let generic = rosen_generic_hvp(p[0], p[1], v[0], v[1]);
            assert_eq!(
                format!("{concrete:?}"),
                format!("{generic:?}"),
                "rosen at {p:?}, v = {v:?}: the f64 function's hvp is not its generic twin's"
            );
        }
    }
}

// ----- extended Rosenbrock over a slice, a Vec and an array ----------------------------------

#[differentiate]
fn ext_rosen_slice(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        s += a * a + 100.0 * b * b;
    }
    s
}

#[differentiate]
fn ext_rosen_vec(x: Vec<f64>) -> f64 {
    let n = x.len();
    let mut s = 0.0;
    for (i, &xi) in x.iter().enumerate() {
        if i + 1 < n {
            let b = x[i + 1] - xi * xi;
            s += (1.0 - xi).powi(2) + 100.0 * b * b;
        }
    }
    s
}

#[differentiate]
fn ext_rosen_array(x: [f64; 4]) -> f64 {
    let mut s = 0.0;
    for i in 0..3 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i].powi(2);
        s = s + a * a + 100.0 * b * b;
    }
    s
}

/// On `[f64; N]` for any `N` (a const generic), through a local `[0.0; N]` of the terms.
#[differentiate]
fn ext_rosen_const<const N: usize>(x: [f64; N]) -> f64 {
    let mut terms = [0.0; N];
    for i in 0..N - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i].powi(2);
        terms[i] = a * a + 100.0 * b * b;
    }
    let mut s = 0.0;
    for t in terms {
        s += t;
    }
    s
}

#[differentiate]
fn ext_rosen_generic<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() - 1 {
        let a = T::one() - x[i];
        let b = x[i + 1] - x[i] * x[i];
        s = s + (a * a + T::from(100.0).unwrap() * b * b);
    }
    s
}

fn ext_rosen_ref(x: &[Hd]) -> Hd {
    x.windows(2)
        .map(|w| (Hd::one() - w[0]).powi(2) + (w[1] - w[0].powi(2)).powi(2) * 100.0)
        .sum()
}

fn ext_rosen_points(n: usize) -> Vec<Vec<f64>> {
    let mut rng = Lcg::new(n as u64);
    vec![
        vec![1.0; n],
        (0..n)
            .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
            .collect(),
        rng.vec(n, -2.0, 2.0),
        rng.vec(n, -2.0, 2.0),
    ]
}

/// Each element and its right neighbour (a local array) walked with `zip`, and Horner's rule
/// over the elements last first.
#[differentiate]
fn zipped_and_reversed(x: &[f64]) -> f64 {
    let mut next = vec![0.0; x.len() - 1];
    for i in 0..x.len() - 1 {
        next[i] = x[i + 1] * 0.9;
    }
    let mut s = 0.0;
    for (&a, &b) in x.iter().zip(x[1..].iter()) {
        s += a * b.sin();
    }
    for (&a, &b) in x.iter().zip(next.iter()) {
        s += (a - b) * (a - b) * a.cos();
    }
    let mut y = 0.0;
    for &c in x.iter().rev() {
        y = y * 0.5 + c * c;
    }
    for (i, &c) in x.iter().enumerate().skip(1).step_by(2) {
        y += c.sin() * c * i as f64;
    }
    s + y
}

fn zipped_and_reversed_ref(x: &[Hd]) -> Hd {
    let s: Hd = x.windows(2).map(|w| w[0] * w[1].sin()).sum::<Hd>()
        + x.windows(2)
            .map(|w| (w[0] - w[1] * 0.9).powi(2) * w[0].cos())
            .sum::<Hd>();
    let mut y = x.iter().rev().fold(Hd::zero(), |y, &c| y * 0.5 + c * c);
    for i in (1..x.len()).step_by(2) {
        y += x[i].sin() * x[i] * i as f64;
    }
    s + y
}

#[test]
fn zipped_and_reversed_loops() {
    let gen = Generated {
        name: "zipped_and_reversed",
        plain: &|x| zipped_and_reversed(x),
        grad: &|x| zipped_and_reversed_grad(x),
        hvp: &|x, v| zipped_and_reversed_hvp(x, v),
        hessian: &|x| zipped_and_reversed_hessian(x),
    };
    for n in [2, 5] {
        check_points(&gen, &zipped_and_reversed_ref, &ext_rosen_points(n));
    }
}

#[test]
fn extended_rosenbrock_over_a_slice() {
    let gen = Generated {
        name: "ext_rosen_slice",
        plain: &|x| ext_rosen_slice(x),
        grad: &|x| ext_rosen_slice_grad(x),
        hvp: &|x, v| ext_rosen_slice_hvp(x, v),
        hessian: &|x| ext_rosen_slice_hessian(x),
    };
    for n in [2, 5, 10] {
        let points = ext_rosen_points(n);
        check_points(&gen, &ext_rosen_ref, &points);
        for x in &points {
            for v in directions(n, 5) {
                assert_eq!(
                    format!("{:?}", ext_rosen_slice_hvp(x, &v)),
                    format!("{:?}", ext_rosen_generic_hvp(x, &v)),
                    "ext_rosen_slice at {x:?}: not its generic twin's hvp"
                );
            }
        }
    }
}

#[test]
fn extended_rosenbrock_over_a_vec() {
    let gen = Generated {
        name: "ext_rosen_vec",
        plain: &|x| ext_rosen_vec(x.to_vec()),
        grad: &|x| ext_rosen_vec_grad(x.to_vec()),
        hvp: &|x, v| ext_rosen_vec_hvp(x.to_vec(), v.to_vec()),
        hessian: &|x| ext_rosen_vec_hessian(x.to_vec()),
    };
    for n in [2, 5, 10] {
        check_points(&gen, &ext_rosen_ref, &ext_rosen_points(n));
    }
}

#[test]
fn extended_rosenbrock_over_an_array() {
    let arr = |x: &[f64]| -> [f64; 4] { x.try_into().unwrap() };
    let gen = Generated {
        name: "ext_rosen_array",
        plain: &|x| ext_rosen_array(arr(x)),
        grad: &|x| {
            let (f, g) = ext_rosen_array_grad(arr(x));
            (f, g.to_vec())
        },
        hvp: &|x, v| {
            let (f, g, hv) = ext_rosen_array_hvp(arr(x), arr(v));
            (f, g.to_vec(), hv.to_vec())
        },
        hessian: &|x| {
            let (f, h) = ext_rosen_array_hessian(arr(x));
            (f, h.iter().map(|r| r.to_vec()).collect())
        },
    };
    check_points(&gen, &ext_rosen_ref, &ext_rosen_points(4));
}

#[test]
fn extended_rosenbrock_over_an_array_of_any_length() {
    let arr = |x: &[f64]| -> [f64; 5] { x.try_into().unwrap() };
    let gen = Generated {
        name: "ext_rosen_const",
        plain: &|x| ext_rosen_const(arr(x)),
        grad: &|x| {
            let (f, g) = ext_rosen_const_grad(arr(x));
            (f, g.to_vec())
        },
        hvp: &|x, v| {
            let (f, g, hv) = ext_rosen_const_hvp(arr(x), arr(v));
            (f, g.to_vec(), hv.to_vec())
        },
        hessian: &|x| {
            let (f, h) = ext_rosen_const_hessian(arr(x));
            (f, h.iter().map(|r| r.to_vec()).collect())
        },
    };
    check_points(&gen, &ext_rosen_ref, &ext_rosen_points(5));
}

// ----- float literals, `as` casts, constants ------------------------------------------------

/// Float literals in every form, `as` casts (`i as f64`, `x.len() as f64`, `n as i32` in
/// `powi`, an inactive index `(k as f64 * 1.5) as usize` from an integer, and one
/// `(x[0] * 10.0) as usize` from an active value, used as an index and in an `if`),
/// `std::f64::consts`, `core::f64::consts`, `f64::EPSILON`, `f64::MIN`.
#[differentiate]
fn literal_forms(x: &[f64], k: usize) -> f64 {
    let n = x.len();
    let mut mean = 0.0;
    for &v in x.iter() {
        mean += v;
    }
    mean /= x.len() as f64;
    let mut acc = 2.0 * mean + 1e-3 * mean * mean;
    for i in 0..n {
        let w = (i as f64 + 3f64) * 0.5_f64;
        let d = x[i] - mean;
        acc += w * d.powi(n as i32 - 2) + 1.5e-1 * (d * d + f64::EPSILON).sqrt();
    }
    let j = (k as f64 * 1.5) as usize % n;
    acc += x[j] * x[j] * std::f64::consts::PI + (x[n - 1] / core::f64::consts::E).sin();
    let b = (x[0] * 10.0) as usize;
    acc += x[b % n] * x[1];
    if b > 3 {
        acc *= 1.5;
    }
    acc / 2.5E+1 + 7_f64.sqrt() * x[1] + 1_000.0e-3 * f64::max(x[0], f64::MIN) * 2.0_f64.ln()
}

fn literal_forms_ref(x: &[Hd], k: usize) -> Hd {
    let n = x.len();
    let mean = x.iter().copied().sum::<Hd>() / n as f64;
    let mut acc = mean * 2.0 + mean * mean * 1e-3;
    for (i, &xi) in x.iter().enumerate() {
        let w = (i as f64 + 3.0) / 2.0;
        let d = xi - mean;
        acc += d.powi(n as i32 - 2) * w + (d * d + f64::EPSILON).sqrt() * 0.15;
    }
    let j = (3 * k / 2) % n;
    acc += x[j] * x[j] * PI + (x[n - 1] / E).sin();
    let b = (x[0].re * 10.0) as usize;
    acc += x[b % n] * x[1];
    if b > 3 {
        acc *= 1.5;
    }
    acc / 25.0 + x[1] * 7.0_f64.sqrt() + x[0] * 2.0_f64.ln()
}

#[test]
fn float_literals_casts_and_constants() {
    let points = [
        vec![0.13, -0.7, 1.1, 0.4],
        vec![0.25, 0.5, -0.3, 0.9, 1.4],
        vec![-0.6, 0.2, 0.8, -1.1],
        vec![0.47, 1.3, -0.2],
    ];
    for k in 0..4 {
        let gen = Generated {
            name: "literal_forms",
            plain: &|x| literal_forms(x, k),
            grad: &|x| literal_forms_grad(x, k),
            hvp: &|x, v| literal_forms_hvp(x, k, v),
            hessian: &|x| literal_forms_hessian(x, k),
        };
        check_points(&gen, &|x| literal_forms_ref(x, k), &points);
    }
}

/// Casts to integers of a `bool` (a comparison, a `bool` parameter) and of a `char`, casts of
/// zero-derivative methods (`x.floor() as i64`, `y.floor() as usize`), and an active value
/// cast to an integer and back in one expression (`(y * 3.0) as i32 as f64`).
#[differentiate]
fn casts(x: f64, y: f64, flag: bool) -> f64 {
    let above = (x > y) as usize;
    let p = flag as i32 + 1;
    let c = 'a' as u32 - 96;
    let fl = x.floor() as i64;
    let bin = y.floor() as usize % 3;
    x.powi(p) * y + (above + bin) as f64 * x * y + c as f64 * fl as f64 * y * y
        - x * (y * 3.0) as i32 as f64
}

fn casts_ref(q: &[Hd], flag: bool) -> Hd {
    let (x, y) = (q[0], q[1]);
    let above = usize::from(x.re > y.re);
    let p = i32::from(flag) + 1;
    let bin = (y.re.floor() as usize) % 3;
    x.powi(p) * y + x * y * (above + bin) as f64 + y * y * x.re.floor()
        - x * f64::from((y.re * 3.0) as i32)
}

#[test]
fn casts_of_bools_chars_and_zero_derivative_methods() {
    let points = [
        vec![0.7, -1.3],
        vec![1.4, 2.6],
        vec![-0.5, 1.1],
        vec![2.5, 0.2],
    ];
    for flag in [false, true] {
        let gen = Generated {
            name: "casts",
            plain: &|p| casts(p[0], p[1], flag),
            grad: &|p| {
                let (v, (gx, gy)) = casts_grad(p[0], p[1], flag);
                (v, vec![gx, gy])
            },
            hvp: &|p, v| {
                let (f, (gx, gy), (hx, hy)) = casts_hvp(p[0], p[1], flag, v[0], v[1]);
                (f, vec![gx, gy], vec![hx, hy])
            },
            hessian: &|p| {
                let (f, h) = casts_hessian(p[0], p[1], flag);
                (f, rows(h))
            },
        };
        check_points(&gen, &|q| casts_ref(q, flag), &points);
    }
}

// ----- `f64::max(a, b)` and `a.max(b)` --------------------------------------------------------

#[differentiate]
fn maxes(a: f64, b: f64, c: f64) -> f64 {
    let m = f64::max(a * b, c);
    let n = a.max(b * c);
    let lo = f64::min(a, c).min(b * b);
    m * n + lo.exp() + (a - c).abs().sqrt()
}

fn hd_max(a: Hd, b: Hd) -> Hd {
    if a.re >= b.re {
        a
    } else {
        b
    }
}

fn hd_min(a: Hd, b: Hd) -> Hd {
    if a.re <= b.re {
        a
    } else {
        b
    }
}

fn maxes_ref(p: &[Hd]) -> Hd {
    let (a, b, c) = (p[0], p[1], p[2]);
    let m = hd_max(a * b, c);
    let n = hd_max(a, b * c);
    let lo = hd_min(hd_min(a, c), b * b);
    let d = if (a - c).re >= 0.0 { a - c } else { c - a };
    m * n + lo.exp() + d.sqrt()
}

#[test]
fn max_and_min_as_functions_and_methods() {
    let gen = Generated {
        name: "maxes",
        plain: &|p| maxes(p[0], p[1], p[2]),
        grad: &|p| {
            let (v, (ga, gb, gc)) = maxes_grad(p[0], p[1], p[2]);
            (v, vec![ga, gb, gc])
        },
        hvp: &|p, v| {
            let (f, (ga, gb, gc), (ha, hb, hc)) = maxes_hvp(p[0], p[1], p[2], v[0], v[1], v[2]);
            (f, vec![ga, gb, gc], vec![ha, hb, hc])
        },
        hessian: &|p| {
            let (f, h) = maxes_hessian(p[0], p[1], p[2]);
            (f, rows(h))
        },
    };
    // every branch of each max and min taken somewhere
    let points = [
        vec![1.5, 2.0, 0.5],
        vec![0.3, 0.4, 1.7],
        vec![-1.2, 0.8, -0.4],
        vec![2.2, -0.6, 1.1],
        vec![0.9, 1.6, -2.0],
    ];
    check_points(&gen, &maxes_ref, &points);
}

// ----- float methods, as methods and as `f64::` functions; a max from `f64::NEG_INFINITY` ------

#[differentiate]
fn float_methods(x: f64, y: f64) -> f64 {
    let a = f64::mul_add(x, y, 1.0)
        + x.hypot(y)
        + f64::atan2(y, x)
        + x.powf(y)
        + (x * y).log(3.0)
        + f64::sqrt(x + y);
    let b = x.exp2() + y.log2() + y.log10() + x.cbrt() + x.recip() + (x * 0.1).asinh();
    a * b + x.to_degrees() * 1e-2 + (x - y).tanh() * f64::ln_1p(x) + y.exp_m1()
}

fn float_methods_ref(p: &[Hd]) -> Hd {
    let (x, y) = (p[0], p[1]);
    let (ln2, ln3, ln10) = (2.0_f64.ln(), 3.0_f64.ln(), 10.0_f64.ln());
    let a = x * y
        + 1.0
        + (x * x + y * y).sqrt()
        + (y / x).atan()
        + (y * x.ln()).exp()
        + (x * y).ln() / ln3
        + (x + y).sqrt();
    let b = (x * ln2).exp()
        + y.ln() / ln2
        + y.ln() / ln10
        + x.cbrt()
        + x.recip()
        + ((x * 0.1) + ((x * 0.1) * (x * 0.1) + 1.0).sqrt()).ln();
    a * b + x * (1.8 / PI) + (x - y).tanh() * (x + 1.0).ln() + y.exp() - 1.0
}

#[test]
fn float_methods_and_functions() {
    let gen = Generated {
        name: "float_methods",
        plain: &|p| float_methods(p[0], p[1]),
        grad: &|p| {
            let (v, (gx, gy)) = float_methods_grad(p[0], p[1]);
            (v, vec![gx, gy])
        },
        hvp: &|p, v| {
            let (f, (gx, gy), (hx, hy)) = float_methods_hvp(p[0], p[1], v[0], v[1]);
            (f, vec![gx, gy], vec![hx, hy])
        },
        hessian: &|p| {
            let (f, h) = float_methods_hessian(p[0], p[1]);
            (f, rows(h))
        },
    };
    let points = [
        vec![0.7, 1.3],
        vec![1.4, 0.6],
        vec![2.5, 0.2],
        vec![0.3, 2.2],
    ];
    check_points(&gen, &float_methods_ref, &points);
}

/// Log-sum-exp with its maximum found from `f64::NEG_INFINITY`, over `for &v in x`.
#[differentiate]
fn lse(x: &[f64]) -> f64 {
    let mut m = f64::NEG_INFINITY;
    for &v in x {
        m = m.max(v);
    }
    let mut s = 0.0;
    for &v in x.iter() {
        s += (v - m).exp();
    }
    m + s.ln()
}

fn lse_ref(x: &[Hd]) -> Hd {
    x.iter().map(|v| v.exp()).sum::<Hd>().ln()
}

#[test]
fn log_sum_exp_from_neg_infinity() {
    let gen = Generated {
        name: "lse",
        plain: &|x| lse(x),
        grad: &|x| lse_grad(x),
        hvp: &|x, v| lse_hvp(x, v),
        hessian: &|x| lse_hessian(x),
    };
    let mut rng = Lcg::new(9);
    let points = [
        vec![0.3, -1.2, 0.8, 1.5, 0.9],
        vec![4.0, 1.0, -2.0],
        vec![1.25],
        rng.vec(7, -5.0, 5.0),
    ];
    check_points(&gen, &lse_ref, &points);
}

// ----- `if`/`else` and `match` on an integer inside loops; an integer parameter ---------------

#[differentiate]
fn branchy(x: &[f64], k: usize) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        let v = x[i];
        let t = if v > 0.5 {
            v * v
        } else if v < -0.5 {
            -v.sin()
        } else {
            0.5 * v.exp()
        };
        match (i + k) % 4 {
            0 => s += t.cosh(),
            1 | 2 => {
                s = s * t + 0.25;
            }
            _ => s -= t / (1.0 + s * s),
        }
    }
    s
}

fn branchy_ref(x: &[Hd], k: usize) -> Hd {
    let mut s = Hd::zero();
    for (i, &v) in x.iter().enumerate() {
        let t = if v.re > 0.5 {
            v * v
        } else if v.re < -0.5 {
            -v.sin()
        } else {
            v.exp() * 0.5
        };
        s = match (i + k) % 4 {
            0 => s + t.cosh(),
            1 | 2 => s * t + 0.25,
            _ => s - t / (s * s + 1.0),
        };
    }
    s
}

#[test]
fn branches_and_match_in_loops() {
    let points = [
        vec![0.9, -0.8, 0.1, 1.3, -0.2, -1.5, 0.6],
        vec![-0.3, 0.7, -0.9, 0.2, 1.1],
        vec![0.45, 0.55, -0.45, -0.55],
    ];
    for k in 0..4 {
        let gen = Generated {
            name: "branchy",
            plain: &|x| branchy(x, k),
            grad: &|x| branchy_grad(x, k),
            hvp: &|x, v| branchy_hvp(x, k, v),
            hessian: &|x| branchy_hessian(x, k),
        };
        check_points(&gen, &|x| branchy_ref(x, k), &points);
    }
}

/// Integer parameters of two types, one in `powi`, one a trip count.
#[differentiate]
fn powers(x: f64, y: f64, k: i32, n: usize) -> f64 {
    let mut s = x.powi(k) * y;
    for j in 0..n {
        s += (x * y).sin() / (j as f64 + 1.0) + y.powi(j as i32);
    }
    s
}

fn powers_ref(p: &[Hd], k: i32, n: usize) -> Hd {
    let (x, y) = (p[0], p[1]);
    let mut s = x.powi(k) * y;
    for j in 0..n {
        s += (x * y).sin() / (j as f64 + 1.0) + y.powi(j as i32);
    }
    s
}

#[test]
fn integer_parameters() {
    let points = [vec![0.7, -1.3], vec![1.4, 0.6], vec![-0.5, 2.1]];
    for (k, n) in [(0, 0), (1, 3), (3, 1), (-2, 4)] {
        let gen = Generated {
            name: "powers",
            plain: &|p| powers(p[0], p[1], k, n),
            grad: &|p| {
                let (v, (gx, gy)) = powers_grad(p[0], p[1], k, n);
                (v, vec![gx, gy])
            },
            hvp: &|p, v| {
                let (f, (gx, gy), (hx, hy)) = powers_hvp(p[0], p[1], k, n, v[0], v[1]);
                (f, vec![gx, gy], vec![hx, hy])
            },
            hessian: &|p| {
                let (f, h) = powers_hessian(p[0], p[1], k, n);
                (f, rows(h))
            },
        };
        check_points(&gen, &|p| powers_ref(p, k, n), &points);
    }
}

// ----- `while` with a data-dependent trip count ---------------------------------------------

/// `c √a + c² ln √a` with `√a` by Newton's iteration, stopped by a test on the values: the trip
/// count depends on `a`. The reference runs the same iteration (what is differentiated is the
/// algorithm).
#[differentiate]
fn newton_sqrt(a: f64, c: f64) -> f64 {
    let mut y = if a > 1.0 { a } else { 1.0 };
    let mut steps = 0;
    while (y * y - a).abs() > 1e-15 * a && steps < 60 {
        y = 0.5 * (y + a / y);
        steps += 1;
    }
    c * y + y.ln() * c * c
}

fn newton_sqrt_ref(p: &[Hd]) -> Hd {
    let (a, c) = (p[0], p[1]);
    let mut y = if a.re > 1.0 { a } else { Hd::one() };
    let mut steps = 0;
    while (y.re * y.re - a.re).abs() > 1e-15 * a.re && steps < 60 {
        y = (y + a / y) * 0.5;
        steps += 1;
    }
    y * c + y.ln() * c * c
}

#[test]
fn while_with_a_data_dependent_trip_count() {
    let gen = Generated {
        name: "newton_sqrt",
        plain: &|p| newton_sqrt(p[0], p[1]),
        grad: &|p| {
            let (v, (ga, gc)) = newton_sqrt_grad(p[0], p[1]);
            (v, vec![ga, gc])
        },
        hvp: &|p, v| {
            let (f, (ga, gc), (ha, hc)) = newton_sqrt_hvp(p[0], p[1], v[0], v[1]);
            (f, vec![ga, gc], vec![ha, hc])
        },
        hessian: &|p| {
            let (f, h) = newton_sqrt_hessian(p[0], p[1]);
            (f, rows(h))
        },
    };
    let points = [
        vec![2.0, 1.0],
        vec![0.3, -0.7],
        vec![150.0, 0.25],
        vec![1e6, 1.5],
    ];
    check_points(&gen, &newton_sqrt_ref, &points);
    // near the converged limit: d²/da² √a = −a^(−3/2)/4 (c = 1 so the ln term adds −1/(2a²))
    let (_, h) = newton_sqrt_hessian(4.0, 1.0);
    let want = -0.25 * 4.0_f64.powf(-1.5) - 0.5 / 16.0;
    assert!((h[0][0] - want).abs() < 1e-9, "{} vs {want}", h[0][0]);
}

// ----- a local `vec!` buffer with compound assignments reading the same array -----------------

#[differentiate]
fn smoothed(x: &[f64]) -> f64 {
    let n = x.len();
    let mut y = vec![0.0; n];
    y[0] = x[0];
    for i in 1..n {
        y[i] = x[i] * x[i];
        y[i] += 0.5 * y[i - 1];
        y[i] *= 1.0 + 0.1 * y[i - 1];
        y[i] -= y[i] * y[i - 1] * 0.01;
    }
    let mut s = 0.0;
    for i in 0..n {
        s += y[i].sin() * x[i];
    }
    s
}

fn smoothed_ref(x: &[Hd]) -> Hd {
    let mut y: Vec<Hd> = Vec::with_capacity(x.len());
    y.push(x[0]);
    for i in 1..x.len() {
        let prev = y[i - 1];
        let a = x[i] * x[i] + prev * 0.5;
        let b = a * (prev * 0.1 + 1.0);
        y.push(b - b * prev * 0.01);
    }
    y.iter().zip(x).map(|(&yi, &xi)| yi.sin() * xi).sum()
}

#[test]
fn local_buffer_with_compound_assignments() {
    let gen = Generated {
        name: "smoothed",
        plain: &|x| smoothed(x),
        grad: &|x| smoothed_grad(x),
        hvp: &|x, v| smoothed_hvp(x, v),
        hessian: &|x| smoothed_hessian(x),
    };
    let mut rng = Lcg::new(11);
    let points = [
        vec![0.5],
        vec![0.3, -0.8, 1.1],
        rng.vec(6, -1.0, 1.0),
        rng.vec(9, -1.5, 1.5),
    ];
    check_points(&gen, &smoothed_ref, &points);
}

// ----- `wrt(...)` with an inactive float parameter ------------------------------------------

#[differentiate(wrt(x))]
fn scaled_energy(x: &[f64], scale: f64) -> f64 {
    let mut e = 0.0;
    for i in 0..x.len() {
        e += scale * (x[i] * scale).tanh().powi(2);
        if i > 0 {
            e += (x[i] - x[i - 1]).powi(2) / scale;
        }
    }
    e
}

fn scaled_energy_ref(x: &[Hd], scale: f64) -> Hd {
    let mut e = Hd::zero();
    for i in 0..x.len() {
        e += (x[i] * scale).tanh().powi(2) * scale;
        if i > 0 {
            e += (x[i] - x[i - 1]).powi(2) / scale;
        }
    }
    e
}

#[test]
fn wrt_with_an_inactive_float_parameter() {
    let mut rng = Lcg::new(23);
    let points = [vec![0.2, -0.4, 0.9], rng.vec(5, -2.0, 2.0)];
    for scale in [0.5, 1.0, 3.25] {
        let gen = Generated {
            name: "scaled_energy",
            plain: &|x| scaled_energy(x, scale),
            grad: &|x| scaled_energy_grad(x, scale),
            hvp: &|x, v| scaled_energy_hvp(x, scale, v),
            hessian: &|x| scaled_energy_hessian(x, scale),
        };
        check_points(&gen, &|x| scaled_energy_ref(x, scale), &points);
    }
}

// ----- elements and values by reference ----------------------------------------------------

/// Elements by reference (`for v in x.iter()` read as `*v`, `v < &10.0`, `-v`, `v * v`; an
/// `enumerate`; a `zip` with an inactive slice), a `let` of a reference to an active element and
/// to an inactive one, and `&` operands: the copy reads references through `*`.
#[allow(clippy::op_ref, reason = "`&` operands are a case tested")]
#[differentiate(wrt(x))]
fn by_reference(x: &[f64], y: f64, c: &[f64]) -> f64 {
    let mut s = 0.0;
    for v in x.iter() {
        if *v > 0.5 && v < &10.0 {
            s += v * v * y;
        } else {
            s += -v * y + v.cos();
        }
    }
    for (i, v) in x.iter().enumerate() {
        s += v * v.sin() * (i as f64);
    }
    for (a, b) in x.iter().zip(c) {
        let w = b * 2.0 - &0.5;
        s += a * a * w;
    }
    let r = &x[0];
    let first = &c[0];
    let larger = if c[1] > c[2] { &c[1] } else { &c[2] };
    let (p, q) = (&c[3], c[4]);
    s + r * r * y * first + x[1] * &y - larger * x[2] + p * q * x[3]
}

fn by_reference_ref(x: &[Hd], y: f64, c: &[f64]) -> Hd {
    let mut s = Hd::zero();
    for &v in x {
        if v.re > 0.5 && v.re < 10.0 {
            s += v * v * y;
        } else {
            s += -v * y + v.cos();
        }
    }
    for (i, &v) in x.iter().enumerate() {
        s += v * v.sin() * i as f64;
    }
    for (&a, &b) in x.iter().zip(c) {
        s += a * a * (b * 2.0 - 0.5);
    }
    s + x[0] * x[0] * y * c[0] + x[1] * y - x[2] * c[1].max(c[2]) + x[3] * (c[3] * c[4])
}

/// One name bound to a reference in one place and to a value in another: `for &v in ..` and
/// `for v in x.iter()`, and `let v = *v;` shadowing a loop's reference. The copy tells them
/// apart by scope.
#[differentiate]
fn names_reused(x: &[f64], t: f64) -> f64 {
    let mut y = 0.0;
    for v in x.iter().rev() {
        let v = *v;
        y = y * t + v;
    }
    for &v in x {
        y += v * v * t;
    }
    for v in x.iter() {
        if v > &0.0 {
            y -= v * t;
        }
    }
    let v = t * 2.0;
    y * v
}

fn names_reused_ref(p: &[Hd]) -> Hd {
    let (x, t) = (&p[..p.len() - 1], p[p.len() - 1]);
    let mut y = Hd::zero();
    for &v in x.iter().rev() {
        y = y * t + v;
    }
    for &v in x {
        y += v * v * t;
    }
    for &v in x {
        if v.re > 0.0 {
            y -= v * t;
        }
    }
    y * (t * 2.0)
}

#[test]
fn elements_and_values_by_reference() {
    let mut rng = Lcg::new(31);
    let points = [vec![0.2, 1.4, -0.9, 0.7], rng.vec(5, -2.0, 2.0)];
    let c = [0.3, -1.2, 0.8, 1.9, -0.4];
    for y in [0.6, -1.3] {
        let gen = Generated {
            name: "by_reference",
            plain: &|x| by_reference(x, y, &c),
            grad: &|x| by_reference_grad(x, y, &c),
            hvp: &|x, v| by_reference_hvp(x, y, &c, v),
            hessian: &|x| by_reference_hessian(x, y, &c),
        };
        check_points(&gen, &|x| by_reference_ref(x, y, &c), &points);
    }
}

#[test]
fn names_bound_both_ways() {
    let split = |p: &[f64]| (p[..p.len() - 1].to_vec(), p[p.len() - 1]);
    let gen = Generated {
        name: "names_reused",
        plain: &|p| {
            let (x, t) = split(p);
            names_reused(&x, t)
        },
        grad: &|p| {
            let (x, t) = split(p);
            let (v, (gx, gt)) = names_reused_grad(&x, t);
            (v, gx.into_iter().chain([gt]).collect())
        },
        hvp: &|p, d| {
            let (x, t) = split(p);
            let (dx, dt) = split(d);
            let (v, (gx, gt), (hx, ht)) = names_reused_hvp(&x, t, &dx, dt);
            (
                v,
                gx.into_iter().chain([gt]).collect(),
                hx.into_iter().chain([ht]).collect(),
            )
        },
        hessian: &|p| {
            let (x, t) = split(p);
            let n = p.len();
            let rows = (0..n)
                .map(|j| {
                    let mut e = vec![0.0; n];
                    e[j] = 1.0;
                    let (de, dt) = split(&e);
                    let (_, _, (hx, ht)) = names_reused_hvp(&x, t, &de, dt);
                    hx.into_iter().chain([ht]).collect()
                })
                .collect();
            (names_reused(&x, t), rows)
        },
    };
    check_points(
        &gen,
        &names_reused_ref,
        &[vec![0.3, -0.8, 1.1, 0.6], vec![-0.2, 0.9, 0.4, -1.3, 0.7]],
    );
}

// ----- `println!` and `assert!` in the body -------------------------------------------------

#[differentiate]
fn chatty(x: f64, y: f64) -> f64 {
    assert!(
        x.is_finite() && y.is_finite(),
        "chatty needs finite inputs, got {} and {}",
        x,
        y
    );
    debug_assert!(y > -1e3, "y = {y}");
    assert_ne!(y, 1e300, "y = {:e}", y);
    let r = x * y;
    if r > 1e10 {
        println!("chatty: a large product {r} = {:e} * {:?}", x, y);
    }
    r.exp() / (1.0 + y * y)
}

fn chatty_ref(p: &[Hd]) -> Hd {
    let (x, y) = (p[0], p[1]);
    (x * y).exp() / (y * y + 1.0)
}

#[test]
fn println_and_assert_in_the_body() {
    let gen = Generated {
        name: "chatty",
        plain: &|p| chatty(p[0], p[1]),
        grad: &|p| {
            let (v, (gx, gy)) = chatty_grad(p[0], p[1]);
            (v, vec![gx, gy])
        },
        hvp: &|p, v| {
            let (f, (gx, gy), (hx, hy)) = chatty_hvp(p[0], p[1], v[0], v[1]);
            (f, vec![gx, gy], vec![hx, hy])
        },
        hessian: &|p| {
            let (f, h) = chatty_hessian(p[0], p[1]);
            (f, rows(h))
        },
    };
    check_points(&gen, &chatty_ref, &[vec![0.4, -0.9], vec![-1.1, 0.3]]);
    // the assertion is kept in the copy NAME_hvp runs
    let caught = std::panic::catch_unwind(|| chatty_hvp(f64::NAN, 1.0, 1.0, 0.0));
    assert!(caught.is_err(), "chatty_hvp did not run the body's assert!");
}

// ----- `autodiff::sigmoid`, `softplus`, `relu` ----------------------------------------------

/// Logistic regression with an L2 term and a softplus/relu penalty; `w` holds `dim` weights
/// then the bias; the data are inactive slices.
#[differentiate(wrt(w))]
fn logistic(w: &[f64], xs: &[f64], ys: &[f64], dim: usize) -> f64 {
    let m = ys.len();
    let mut loss = 0.0;
    for j in 0..m {
        let mut z = w[dim];
        for d in 0..dim {
            z += w[d] * xs[j * dim + d];
        }
        let p = autodiff::sigmoid(z);
        loss -= ys[j] * p.ln() + (1.0 - ys[j]) * (1.0 - p).ln();
        loss += 0.1 * autodiff::softplus(z - 1.0) + 0.05 * autodiff::relu(z - 0.5);
    }
    let mut reg = 0.0;
    for d in 0..dim {
        reg += w[d] * w[d];
    }
    loss / m as f64 + 1e-2 * reg
}

fn logistic_ref(w: &[Hd], xs: &[f64], ys: &[f64], dim: usize) -> Hd {
    let m = ys.len();
    let mut loss = Hd::zero();
    for j in 0..m {
        let mut z = w[dim];
        for d in 0..dim {
            z += w[d] * xs[j * dim + d];
        }
        let p = ((-z).exp() + 1.0).recip();
        loss -= p.ln() * ys[j] + (-p + 1.0).ln() * (1.0 - ys[j]);
        loss += ((z - 1.0).exp() + 1.0).ln() * 0.1;
        if z.re > 0.5 {
            loss += (z - 0.5) * 0.05;
        }
    }
    let reg: Hd = w[..dim].iter().map(|&a| a * a).sum();
    loss / m as f64 + reg * 1e-2
}

#[test]
fn sigmoid_softplus_relu() {
    let dim = 3;
    let mut rng = Lcg::new(41);
    let m = 7;
    let xs = rng.vec(m * dim, -2.0, 2.0);
    let ys: Vec<f64> = (0..m).map(|j| (j % 2) as f64).collect();
    let gen = Generated {
        name: "logistic",
        plain: &|w| logistic(w, &xs, &ys, dim),
        grad: &|w| logistic_grad(w, &xs, &ys, dim),
        hvp: &|w, v| logistic_hvp(w, &xs, &ys, dim, v),
        hessian: &|w| logistic_hessian(w, &xs, &ys, dim),
    };
    let points = [
        vec![0.1, -0.2, 0.3, 0.0],
        rng.vec(dim + 1, -1.0, 1.0),
        rng.vec(dim + 1, -1.0, 1.0),
    ];
    check_points(&gen, &|w| logistic_ref(w, &xs, &ys, dim), &points);
}

// ===== f32 functions ========================================================================

#[differentiate]
fn rosen32(x: f32, y: f32) -> f32 {
    let a = 1.0 - x;
    let b = y - x * x;
    a * a + 100.0 * b * b
}

#[differentiate]
fn ext_rosen32(x: &[f32]) -> f32 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        s += a * a + 100.0 * b * b;
    }
    s
}

/// f32 literals in every form, casts, `std::f32::consts`, `f32::EPSILON`, `f32::max`,
/// `autodiff::sigmoid`.
#[differentiate]
fn wave32(x: &[f32]) -> f32 {
    let n = x.len();
    let mut s = 0.5_f32 * x[0];
    for (i, &v) in x.iter().enumerate() {
        let phase = 2f32 * std::f32::consts::PI * i as f32 / n as f32;
        s += (v + phase).sin() * 1.5e-1 + autodiff::sigmoid(v * 2.0);
        s += f32::max(v, 0.25 * v) * v + (v * v + f32::EPSILON).sqrt() * 1e-2;
    }
    s * s / (1.0 + x.len() as f32)
}

fn wave32_ref(x: &[Hd]) -> Hd {
    let n = x.len();
    let mut s = x[0] * 0.5;
    for (i, &v) in x.iter().enumerate() {
        let phase = 2.0 * std::f32::consts::PI as f64 * i as f64 / n as f64;
        let sig = ((v * -2.0).exp() + 1.0).recip();
        s += (v + phase).sin() * 0.15 + sig;
        let m = if v.re >= (v * 0.25).re { v } else { v * 0.25 };
        s += m * v + (v * v + f32::EPSILON as f64).sqrt() * 0.01;
    }
    s * s / (1.0 + n as f64)
}

fn f32_points(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Lcg::new(seed);
    (0..3)
        .map(|_| rng.vec(n, -1.5, 1.5).iter().map(|&v| v as f32).collect())
        .collect()
}

/// `(0.3 / 0.1) as usize` is 2 with the `f64` literals Rust gives it (2.9999999999999996): a
/// copy generic over `f32` would make it 3. So `f32` functions get no `NAME_hvp`.
#[differentiate]
fn steps32(x: f32) -> f32 {
    let n = (0.3 / 0.1) as usize;
    let mut s = x;
    for _ in 0..n {
        s *= x;
    }
    s
}

/// Functions on `f32` get no `NAME_hvp` (only `f64` ones do: an untyped float literal is an
/// `f64` in the original, which the generic copy can keep only where its type stands for
/// `f64`); their value and gradient still match the `f64` reference.
#[test]
fn f32_functions_keep_their_gradient() {
    for p in f32_points(2, 11) {
        let p64: Vec<f64> = p.iter().map(|&a| f64::from(a)).collect();
        let (v, (gx, gy)) = rosen32_grad(p[0], p[1]);
        let (rv, rg) = hyperdual_grad(&rosen_ref, &p64);
        assert_all_close32("rosen32 value", &[v], &[rv]);
        assert_all_close32("rosen32 gradient", &[gx, gy], &rg);
    }
    for p in f32_points(6, 12) {
        let p64: Vec<f64> = p.iter().map(|&a| f64::from(a)).collect();
        let (v, g) = ext_rosen32_grad(&p);
        let (rv, rg) = hyperdual_grad(&ext_rosen_ref, &p64);
        assert_all_close32("ext_rosen32 value", &[v], &[rv]);
        assert_all_close32("ext_rosen32 gradient", &g, &rg);
        let (v, g) = wave32_grad(&p);
        let (rv, rg) = hyperdual_grad(&wave32_ref, &p64);
        assert_all_close32("wave32 value", &[v], &[rv]);
        assert_all_close32("wave32 gradient", &g, &rg);
    }
    // x^3: two steps.
    assert_eq!(steps32_grad(1.5), (3.375, 6.75));
}

// ===== functions the copy does not accept: no `NAME_hvp`, `NAME_grad` as before =============

const SPRING: f64 = 3.0;

/// Reads a module `const`.
#[differentiate]
fn uses_module_const(x: f64, y: f64) -> f64 {
    SPRING * x * x + y * x
}

/// A differentiated helper, itself inside the accepted set.
#[differentiate]
fn helper_sq(x: f64) -> f64 {
    x * x
}

/// Calls a user function.
#[differentiate]
fn calls_helper(x: f64, y: f64) -> f64 {
    helper_sq(x) * y + y.sin()
}

/// A `&mut [f64]` parameter (a scratch buffer).
#[differentiate(wrt(x))]
fn with_scratch(x: &[f64], scratch: &mut [f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        scratch[i] = x[i] * x[i];
        s += x[i].sin() * x[i];
    }
    s
}

/// A loop over a reversed range.
#[differentiate]
fn reversed_loop(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in (0..x.len()).rev() {
        s = 0.5 * s + x[i] * x[i];
    }
    s
}

struct Spring {
    k: f64,
}

impl Spring {
    /// A method.
    #[differentiate]
    fn energy(&self, x: f64) -> f64 {
        0.5 * self.k * x * x + x.cos()
    }
}

#[test]
fn outside_the_accepted_set_grad_still_works() {
    let check = |what: &str, got: (f64, Vec<f64>), r: Reference, x: &[f64]| {
        let (value, grad) = hyperdual_grad(r, x);
        assert_close(&format!("{what}: value"), got.0, value);
        assert_all_close(&format!("{what}: gradient"), &got.1, &grad);
    };
    let (x, y) = (0.7, -1.3);
    let (v, (gx, gy)) = uses_module_const_grad(x, y);
    check(
        "uses_module_const",
        (v, vec![gx, gy]),
        &|p| p[0] * p[0] * 3.0 + p[1] * p[0],
        &[x, y],
    );
    let (v, (gx, gy)) = calls_helper_grad(x, y);
    check(
        "calls_helper",
        (v, vec![gx, gy]),
        &|p| p[0] * p[0] * p[1] + p[1].sin(),
        &[x, y],
    );
    // the helper itself is inside the accepted set
    let (_, g, hv) = helper_sq_hvp(x, 1.0);
    assert_eq!((g, hv), (2.0 * x, 2.0));

    let xs = [0.4, -0.9, 1.6];
    let mut scratch = [0.0; 3];
    let got = with_scratch_grad(&xs, &mut scratch);
    check(
        "with_scratch",
        got,
        &|p| p.iter().map(|&a| a.sin() * a).sum(),
        &xs,
    );
    check(
        "reversed_loop",
        reversed_loop_grad(&xs),
        &|p| {
            let mut s = Hd::zero();
            for a in p.iter().rev() {
                s = s * 0.5 + *a * *a;
            }
            s
        },
        &xs,
    );
    let spring = Spring { k: 2.5 };
    let (v, g) = spring.energy_grad(x);
    check(
        "Spring::energy",
        (v, vec![g]),
        &|p| p[0] * p[0] * 1.25 + p[0].cos(),
        &[x],
    );
}

// ----- an imported `PI` -------------------------------------------------------------------------

mod imported_constant {
    use autodiff::differentiate;
    use std::f64::consts::PI;

    #[differentiate]
    pub fn wave(x: f64, y: f64) -> f64 {
        (PI * x).sin() * y * y + std::f64::consts::E * x
    }
}

/// `use std::f64::consts::PI;` then `PI` in the body: the copy uses the same constant.
#[test]
fn an_imported_pi() {
    use imported_constant::{wave, wave_hessian};
    use std::f64::consts::PI;
    for (x, y) in [(0.3, 1.2), (-1.1, 0.4)] {
        let (value, h) = wave_hessian(x, y);
        assert_eq!(value.to_bits(), wave(x, y).to_bits());
        let (s, c) = (PI * x).sin_cos();
        let want = [
            [-PI * PI * s * y * y, 2.0 * PI * c * y],
            [2.0 * PI * c * y, 2.0 * s],
        ];
        for i in 0..2 {
            for j in 0..2 {
                assert_close(&format!("wave H[{i}][{j}]"), h[i][j], want[i][j]);
            }
        }
    }
}
