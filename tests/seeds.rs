//! The worked examples from the literature, with their published numbers.
//!
//! Each expected value is computed here from the formula by hand (in the comment) or given as
//! published; none is copied from this crate's output. Where the published numbers are rounded,
//! the test asserts both the rounded number at the stated precision and the exact value.

mod common;

use autodiff::{check_grad, differentiate};
use common::assert_near;

/// Tolerance for results that are exact in the formula: a few ulps of values of order 1-300.
const EXACT: f64 = 1e-12;

// ----- f = 5 (a b) ------------------------------------------------------------------------------

#[differentiate]
fn scaled_product(a: f64, b: f64) -> f64 {
    5.0 * (a * b)
}

/// `df/da = 5b = 15`, `df/db = 5a = 10` at `a = 2, b = 3`.
#[test]
fn scaled_product_at_2_3() {
    let (f, (da, db)) = scaled_product_grad(2.0, 3.0);
    assert_near("f", f, 30.0, EXACT);
    assert_near("df/da", da, 15.0, EXACT);
    assert_near("df/db", db, 10.0, EXACT);
}

// ----- the diamond: o = (x y · y z)² -------------------------------------------------------------

#[differentiate]
fn diamond(x: f64, y: f64, z: f64) -> f64 {
    let h1 = x * y;
    let h2 = y * z;
    let h = h1 * h2;
    h * h
}

/// `o = (x y² z)² = x² y⁴ z²`. At `(3, 2, 1)`: `o = 144`,
/// `do/dx = 2 x y⁴ z² = 2·3·16 = 96`, `do/dy = 4 x² y³ z² = 4·9·8 = 288`,
/// `do/dz = 2 x² y⁴ z = 2·9·16 = 288`. `y` reaches the result along two paths.
#[test]
fn diamond_at_3_2_1() {
    let (o, (dx, dy, dz)) = diamond_grad(3.0, 2.0, 1.0);
    assert_near("o", o, 144.0, EXACT);
    assert_near("do/dx", dx, 96.0, EXACT);
    assert_near("do/dy", dy, 288.0, EXACT);
    assert_near("do/dz", dz, 288.0, EXACT);
}

// ----- micrograd's tanh neuron ------------------------------------------------------------------

#[differentiate]
fn neuron(x1: f64, x2: f64, w1: f64, w2: f64, b: f64) -> f64 {
    let x1w1 = x1 * w1;
    let x2w2 = x2 * w2;
    let x1w1x2w2 = x1w1 + x2w2;
    let n = x1w1x2w2 + b;
    n.tanh()
}

/// Published (micrograd, to 4 decimals): `o = 0.7071`, `x1.grad = -1.5`, `w1.grad = 1.0`,
/// `x2.grad = 0.5`, `w2.grad = 0.0`. Exactly: `n = -6 + 0 + b = 0.88137358701954...`
/// `= asinh(1)`, so `o = tanh(asinh 1) = 1/√2` and `do/dn = 1 - o² = 1/2`; then
/// `dx1 = w1/2`, `dw1 = x1/2`, `dx2 = w2/2`, `dw2 = x2/2`, `db = 1/2`.
#[test]
#[allow(
    clippy::approx_constant,
    reason = "0.7071 is the published, rounded value"
)]
fn micrograd_neuron() {
    #[allow(
        clippy::excessive_precision,
        reason = "the published value, digit for digit"
    )]
    let b = 6.881_373_587_019_543_2;
    let (o, (dx1, dx2, dw1, dw2, db)) = neuron_grad(2.0, 0.0, -3.0, 1.0, b);
    // As published.
    assert_near("o (published)", o, 0.7071, 1e-4);
    assert_near("x1.grad (published)", dx1, -1.5, 1e-4);
    assert_near("w1.grad (published)", dw1, 1.0, 1e-4);
    assert_near("x2.grad (published)", dx2, 0.5, 1e-4);
    assert_near("w2.grad (published)", dw2, 0.0, 1e-4);
    // Exactly (b carries 17 digits, so n is asinh(1) to within an ulp or two).
    assert_near("o", o, std::f64::consts::FRAC_1_SQRT_2, EXACT);
    assert_near("dx1", dx1, -1.5, EXACT);
    assert_near("dw1", dw1, 1.0, EXACT);
    assert_near("dx2", dx2, 0.5, EXACT);
    assert_eq!(dw2, 0.0, "dw2 = x2 (1 - o²) with x2 = 0 exactly");
    assert_near("db", db, 0.5, EXACT);
}

// ----- a constant and a placeholder: (x y + c) c + x, wrt(x, y) ----------------------------------

#[differentiate(wrt(x, y))]
fn with_constant(x: f64, y: f64, c: f64) -> f64 {
    (x * y + c) * c + x
}

/// `f = (x y + c) c + x = x y c + c² + x`: `df/dx = y c + 1`, `df/dy = x c`. At
/// `(0.9, 0.4, 1.3)`: `df/dx = 0.52 + 1 = 1.52`, `df/dy = 1.17`, as published. (The brief's
/// `y c² + 1 = 1.676` differentiates `x y c²`, not this formula: the `c²` term is `c · c` with no
/// `x` in it.) `c` is a constant: no gradient is returned for it.
#[test]
fn constant_times_sum_at_09_04_13() {
    let (f, (dx, dy)) = with_constant_grad(0.9, 0.4, 1.3);
    assert_near("f", f, 0.9 * 0.4 * 1.3 + 1.3 * 1.3 + 0.9, EXACT);
    assert_near("df/dx", dx, 1.52, EXACT);
    assert_near("df/dy", dy, 1.17, EXACT);
}

#[differentiate(wrt(x, y))]
fn with_constant_expanded(x: f64, y: f64, c: f64) -> f64 {
    x * y * c + c * c + x
}

/// The same function multiplied out has the same gradient.
#[test]
fn constant_times_sum_expanded() {
    let (_, (dx, dy)) = with_constant_expanded_grad(0.9, 0.4, 1.3);
    assert_near("df/dx", dx, 1.52, EXACT);
    assert_near("df/dy", dy, 1.17, EXACT);
}

// ----- a sigmoid of a linear form (cs231n) ------------------------------------------------------

#[differentiate]
fn sigmoid_neuron(w0: f64, x0: f64, w1: f64, x1: f64, b: f64) -> f64 {
    let dot = w0 * x0 + w1 * x1 + b;
    1.0 / (1.0 + (-dot).exp())
}

/// At `w = (2, -3)`, `x = (-1, -2)`, `b = -3`: `z = -2 + 6 - 3 = 1`, `f = σ(1)`,
/// `df/dz = σ(1)(1 - σ(1)) = 0.19661193...`; `dw0 = x0 σ' = -0.20`, `dx0 = w0 σ' = 0.39`,
/// `dw1 = x1 σ' = -0.39`, `dx1 = w1 σ' = -0.59`, `db = σ' = 0.20` (published to 2 decimals).
#[test]
fn sigmoid_of_linear_form() {
    let (f, (dw0, dx0, dw1, dx1, db)) = sigmoid_neuron_grad(2.0, -1.0, -3.0, -2.0, -3.0);
    // As published, to two decimals.
    assert_near("dw0 (published)", dw0, -0.20, 0.005);
    assert_near("dw1 (published)", dw1, -0.39, 0.005);
    assert_near("dx0 (published)", dx0, 0.39, 0.005);
    assert_near("dx1 (published)", dx1, -0.59, 0.005);
    assert_near("db (published)", db, 0.20, 0.005);
    // Exactly.
    let s = 1.0 / (1.0 + (-1.0_f64).exp());
    let ds = s * (1.0 - s);
    assert_near("f", f, s, EXACT);
    assert_near("dw0", dw0, -ds, EXACT);
    assert_near("dx0", dx0, 2.0 * ds, EXACT);
    assert_near("dw1", dw1, -2.0 * ds, EXACT);
    assert_near("dx1", dx1, -3.0 * ds, EXACT);
    assert_near("db", db, ds, EXACT);
}

// ----- gradients accumulate over uses -----------------------------------------------------------

#[differentiate]
fn shared_weight(w: f64, x1: f64, x2: f64) -> f64 {
    w * x1 + w * x2
}

/// `dw = x1 + x2 = 3`, `dx1 = dx2 = w = 5` at `w = 5, x1 = 1, x2 = 2`.
#[test]
fn shared_weight_accumulates() {
    let (f, (dw, dx1, dx2)) = shared_weight_grad(5.0, 1.0, 2.0);
    assert_eq!(f, 15.0);
    assert_eq!(dw, 3.0);
    assert_eq!(dx1, 5.0);
    assert_eq!(dx2, 5.0);
}

// ----- the worked examples against central differences, elsewhere ------------------------------

/// The same functions at other points, against `check_grad`.
#[test]
fn worked_examples_elsewhere() {
    for &(a, b) in &[(0.3, -1.7), (-2.2, 0.9), (4.0, 0.25)] {
        let (_, (da, db)) = scaled_product_grad(a, b);
        check_grad(|v: &[f64]| scaled_product(v[0], v[1]), &[a, b], &[da, db]).unwrap();
        let (_, (dx, dy, dz)) = diamond_grad(a, b, a - b);
        check_grad(
            |v: &[f64]| diamond(v[0], v[1], v[2]),
            &[a, b, a - b],
            &[dx, dy, dz],
        )
        .unwrap();
        let x = [a, b, -b, a * 0.5, 0.1];
        let (_, (g0, g1, g2, g3, g4)) = neuron_grad(x[0], x[1], x[2], x[3], x[4]);
        check_grad(
            |v: &[f64]| neuron(v[0], v[1], v[2], v[3], v[4]),
            &x,
            &[g0, g1, g2, g3, g4],
        )
        .unwrap();
        let (_, (g0, g1, g2, g3, g4)) = sigmoid_neuron_grad(x[0], x[1], x[2], x[3], x[4]);
        check_grad(
            |v: &[f64]| sigmoid_neuron(v[0], v[1], v[2], v[3], v[4]),
            &x,
            &[g0, g1, g2, g3, g4],
        )
        .unwrap();
        let (_, (dx, dy)) = with_constant_grad(a, b, 1.7);
        check_grad(
            |v: &[f64]| with_constant(v[0], v[1], 1.7),
            &[a, b],
            &[dx, dy],
        )
        .unwrap();
    }
}
