//! ndarray tensors through `#[differentiate]`: models (linear and logistic regression, a 2-layer
//! MLP, an attention head) and each tensor operation on its own, checked against central
//! differences of the original function over every element of every active argument.
//!
//! The reference (`support::fd`) only evaluates the function as the user wrote it at perturbed
//! points, so it is independent of the adjoint rules. The forward values of the runtime's
//! helpers (`softmax`, `cross_entropy`, …), which the difference quotients rely on, are checked
//! separately against their definitions written out with loops here.
//!
//! Every check runs at three deterministic pseudo-random points (`support::Lcg`), compares every
//! gradient entry, and asserts that the companion's value is bit for bit the function's.

#![allow(
    clippy::ptr_arg,
    clippy::needless_range_loop,
    reason = "`&Vec<usize>` labels and index loops are what these tests differentiate"
)]

#[path = "common/tensor.rs"]
mod support;

use autodiff::differentiate;
use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, Axis, IxDyn};
use support::{
    assert_same_array, assert_same_bits, assert_same_bits32, fd, fd_scalar, narrow, widen, At, Lcg,
    F32, F64,
};

/// The seeds of the three points each check runs at.
const SEEDS: [u64; 3] = [1, 2, 3];

// ----- the reference itself -------------------------------------------------------------------

/// The central differences reproduce a known gradient within the tolerance, and the tolerance
/// rejects a gradient that is off by a part in ten thousand.
#[test]
fn the_reference_is_accurate_and_the_tolerance_can_fail() {
    fn f(x: &Array2<f64>) -> f64 {
        x.mapv(|v| v.powi(3) + v.exp()).sum() * 2.0
    }
    for seed in SEEDS {
        let x = Lcg::new(seed).array((3, 4), -2.0, 2.0);
        let want = x.mapv(|v| 2.0 * (3.0 * v * v + v.exp()));
        let got = fd(&x, f);
        let at = At::new("reference", f(&x), F64);
        at.array("dx", &got, &want);
        for (&g, &w) in got.iter().zip(want.iter()) {
            assert!(
                !at.close(w * (1.0 + 1e-4) + 1e-4, g),
                "the tolerance accepts an error"
            );
        }
        let g = fd_scalar(0.7, |v| v.sin() * v);
        at.scalar("scalar", g, 0.7_f64.cos() * 0.7 + 0.7_f64.sin());
    }
}

// ----- 1. linear regression ---------------------------------------------------------------------

#[differentiate]
fn linreg(x: &Array2<f64>, w: &Array1<f64>, b: f64, y: &Array1<f64>) -> f64 {
    ((x.dot(w) + b - y).powi(2)).mean().unwrap()
}

#[differentiate]
fn linreg_mse(x: &Array2<f64>, w: &Array1<f64>, b: f64, y: &Array1<f64>) -> f64 {
    let pred = x.dot(w) + b;
    autodiff::mse(&pred, y)
}

type Model = fn(&Array2<f64>, &Array1<f64>, f64, &Array1<f64>) -> f64;
type ModelGrad = fn(
    &Array2<f64>,
    &Array1<f64>,
    f64,
    &Array1<f64>,
) -> (f64, (Array2<f64>, Array1<f64>, f64, Array1<f64>));

/// A model `f(x, w, b, y)` with every argument active: value bits and all four gradients.
fn check_model(
    what: &str,
    f: Model,
    g: ModelGrad,
    x: &Array2<f64>,
    w: &Array1<f64>,
    b: f64,
    y: &Array1<f64>,
) {
    let (value, (dx, dw, db, dy)) = g(x, w, b, y);
    assert_same_bits(what, value, f(x, w, b, y));
    let at = At::new(what, value, F64);
    at.array("dx", &dx, &fd(x, |x| f(x, w, b, y)));
    at.array("dw", &dw, &fd(w, |w| f(x, w, b, y)));
    at.scalar("db", db, fd_scalar(b, |b| f(x, w, b, y)));
    at.array("dy", &dy, &fd(y, |y| f(x, w, b, y)));
}

/// `(x, w, b, y)` for a regression on `n` samples of `k` features.
fn regression_point(seed: u64, n: usize, k: usize) -> (Array2<f64>, Array1<f64>, f64, Array1<f64>) {
    let mut r = Lcg::new(seed);
    let x = r.array((n, k), -1.0, 1.0);
    let w = r.array(k, -1.0, 1.0);
    let b = r.uniform(-0.5, 0.5);
    let y = r.array(n, -2.0, 2.0);
    (x, w, b, y)
}

#[test]
fn linear_regression_mse() {
    for seed in SEEDS {
        let (x, w, b, y) = regression_point(seed, 6, 4);
        check_model("linreg", linreg, linreg_grad, &x, &w, b, &y);
        check_model("linreg_mse", linreg_mse, linreg_mse_grad, &x, &w, b, &y);
        // `autodiff::mse` is the mean squared error.
        let want = linreg(&x, &w, b, &y);
        let got = linreg_mse(&x, &w, b, &y);
        assert!(
            (got - want).abs() <= 1e-13 * want.abs(),
            "mse {got:e} vs written out {want:e}"
        );
    }
}

// ----- 2. logistic regression -------------------------------------------------------------------

#[differentiate]
fn logistic(x: &Array2<f64>, w: &Array1<f64>, b: f64, y: &Array1<f64>) -> f64 {
    let p = (x.dot(w) + b).mapv(autodiff::sigmoid);
    let ll = y * &p.ln() + (1.0 - y) * &(1.0 - &p).ln();
    -ll.mean().unwrap()
}

#[differentiate]
fn logistic32(x: &Array2<f32>, w: &Array1<f32>, b: f32, y: &Array1<f32>) -> f32 {
    let p = (x.dot(w) + b).mapv(autodiff::sigmoid);
    let ll = y * &p.ln() + (1.0 - y) * &(1.0 - &p).ln();
    -ll.mean().unwrap()
}

/// `(x, w, b, y)` with 0/1 labels.
fn logistic_point(seed: u64) -> (Array2<f64>, Array1<f64>, f64, Array1<f64>) {
    let (x, w, b, y) = regression_point(seed, 8, 3);
    (x, w, b, y.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 }))
}

#[test]
fn logistic_regression_f64() {
    for seed in SEEDS {
        let (x, w, b, y) = logistic_point(seed);
        check_model("logistic", logistic, logistic_grad, &x, &w, b, &y);
    }
}

#[test]
fn logistic_regression_f32() {
    for seed in SEEDS {
        let (x, w, b, y) = logistic_point(seed);
        let (x32, w32, y32) = (narrow(&x), narrow(&w), narrow(&y));
        #[allow(clippy::cast_possible_truncation, reason = "an f32 point")]
        let b32 = b as f32;
        let (value, (dx, dw, db, dy)) = logistic32_grad(&x32, &w32, b32, &y32);
        assert_same_bits32("logistic32", value, logistic32(&x32, &w32, b32, &y32));
        // The reference: the f64 twin, differenced at the same (rounded) point.
        let (x, w, b, y) = (widen(&x32), widen(&w32), f64::from(b32), widen(&y32));
        let value64 = logistic(&x, &w, b, &y);
        assert!((f64::from(value) - value64).abs() <= 1e-5 * value64.abs());
        let at = At::new("logistic32", value64, F32);
        at.array32("dx", &dx, &fd(&x, |x| logistic(x, &w, b, &y)));
        at.array32("dw", &dw, &fd(&w, |w| logistic(&x, w, b, &y)));
        at.scalar(
            "db",
            f64::from(db),
            fd_scalar(b, |b| logistic(&x, &w, b, &y)),
        );
        at.array32("dy", &dy, &fd(&y, |y| logistic(&x, &w, b, y)));
    }
}

// ----- 3. a 2-layer MLP on a batch --------------------------------------------------------------

#[differentiate(wrt(w1, b1, w2, b2))]
fn mlp(
    x: &Array2<f64>,
    labels: &[usize],
    w1: &Array2<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    b2: &Array1<f64>,
) -> f64 {
    let h = (x.dot(w1) + b1).mapv(f64::tanh);
    let logits = h.dot(w2) + b2;
    autodiff::cross_entropy(&logits, labels)
}

/// `mlp` with every float argument active (the input too) and the labels in a `Vec`.
#[differentiate]
fn mlp_all(
    x: &Array2<f64>,
    labels: &Vec<usize>,
    w1: &Array2<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    b2: &Array1<f64>,
) -> f64 {
    let h = (x.dot(w1) + b1).mapv(f64::tanh);
    let logits = h.dot(w2) + b2;
    autodiff::cross_entropy(&logits, labels)
}

/// `mlp` with the loss written out: softmax, log, pick with a one-hot matrix, mean.
#[differentiate(wrt(w1, b1, w2, b2))]
fn mlp_softmax(
    x: &Array2<f64>,
    onehot: &Array2<f64>,
    w1: &Array2<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    b2: &Array1<f64>,
) -> f64 {
    let h = (x.dot(w1) + b1).mapv(f64::tanh);
    let logits = h.dot(w2) + b2;
    let p = autodiff::softmax(&logits, Axis(1));
    let picked = (p.ln() * onehot).sum_axis(Axis(1));
    -picked.mean().unwrap()
}

#[differentiate(wrt(w1, b1, w2, b2))]
fn mlp32(
    x: &Array2<f32>,
    labels: &[usize],
    w1: &Array2<f32>,
    b1: &Array1<f32>,
    w2: &Array2<f32>,
    b2: &Array1<f32>,
) -> f32 {
    let h = (x.dot(w1) + b1).mapv(f32::tanh);
    let logits = h.dot(w2) + b2;
    autodiff::cross_entropy(&logits, labels)
}

struct MlpPoint {
    x: Array2<f64>,
    labels: Vec<usize>,
    onehot: Array2<f64>,
    w1: Array2<f64>,
    b1: Array1<f64>,
    w2: Array2<f64>,
    b2: Array1<f64>,
}

/// A batch of 7 inputs of 5 features, 6 hidden units, 4 classes.
fn mlp_point(seed: u64) -> MlpPoint {
    let (batch, inputs, hidden, classes) = (7, 5, 6, 4);
    let mut r = Lcg::new(seed);
    let labels = r.labels(batch, classes);
    let onehot = Array2::from_shape_fn(
        (batch, classes),
        |(i, c)| if labels[i] == c { 1.0 } else { 0.0 },
    );
    MlpPoint {
        x: r.array((batch, inputs), -1.0, 1.0),
        w1: r.array((inputs, hidden), -0.8, 0.8),
        b1: r.array(hidden, -0.3, 0.3),
        w2: r.array((hidden, classes), -1.0, 1.0),
        b2: r.array(classes, -0.3, 0.3),
        labels,
        onehot,
    }
}

#[test]
fn mlp_with_cross_entropy() {
    for seed in SEEDS {
        let MlpPoint {
            x,
            labels,
            onehot,
            w1,
            b1,
            w2,
            b2,
        } = mlp_point(seed);
        let l = labels.as_slice();

        let (value, (dw1, db1, dw2, db2)) = mlp_grad(&x, l, &w1, &b1, &w2, &b2);
        assert_same_bits("mlp", value, mlp(&x, l, &w1, &b1, &w2, &b2));
        let at = At::new("mlp", value, F64);
        at.array("dw1", &dw1, &fd(&w1, |w1| mlp(&x, l, w1, &b1, &w2, &b2)));
        at.array("db1", &db1, &fd(&b1, |b1| mlp(&x, l, &w1, b1, &w2, &b2)));
        at.array("dw2", &dw2, &fd(&w2, |w2| mlp(&x, l, &w1, &b1, w2, &b2)));
        at.array("db2", &db2, &fd(&b2, |b2| mlp(&x, l, &w1, &b1, &w2, b2)));

        let (value, (dx, dw1, db1, dw2, db2)) = mlp_all_grad(&x, &labels, &w1, &b1, &w2, &b2);
        assert_same_bits("mlp_all", value, mlp_all(&x, &labels, &w1, &b1, &w2, &b2));
        let at = At::new("mlp_all", value, F64);
        at.array(
            "dx",
            &dx,
            &fd(&x, |x| mlp_all(x, &labels, &w1, &b1, &w2, &b2)),
        );
        at.array(
            "dw1",
            &dw1,
            &fd(&w1, |w1| mlp_all(&x, &labels, w1, &b1, &w2, &b2)),
        );
        at.array(
            "db1",
            &db1,
            &fd(&b1, |b1| mlp_all(&x, &labels, &w1, b1, &w2, &b2)),
        );
        at.array(
            "dw2",
            &dw2,
            &fd(&w2, |w2| mlp_all(&x, &labels, &w1, &b1, w2, &b2)),
        );
        at.array(
            "db2",
            &db2,
            &fd(&b2, |b2| mlp_all(&x, &labels, &w1, &b1, &w2, b2)),
        );

        let (value, (dw1, db1, dw2, db2)) = mlp_softmax_grad(&x, &onehot, &w1, &b1, &w2, &b2);
        assert_same_bits(
            "mlp_softmax",
            value,
            mlp_softmax(&x, &onehot, &w1, &b1, &w2, &b2),
        );
        let at = At::new("mlp_softmax", value, F64);
        at.array(
            "dw1",
            &dw1,
            &fd(&w1, |w1| mlp_softmax(&x, &onehot, w1, &b1, &w2, &b2)),
        );
        at.array(
            "db1",
            &db1,
            &fd(&b1, |b1| mlp_softmax(&x, &onehot, &w1, b1, &w2, &b2)),
        );
        at.array(
            "dw2",
            &dw2,
            &fd(&w2, |w2| mlp_softmax(&x, &onehot, &w1, &b1, w2, &b2)),
        );
        at.array(
            "db2",
            &db2,
            &fd(&b2, |b2| mlp_softmax(&x, &onehot, &w1, &b1, &w2, b2)),
        );

        // The two losses are the same function.
        let (a, b) = (
            mlp(&x, l, &w1, &b1, &w2, &b2),
            mlp_softmax(&x, &onehot, &w1, &b1, &w2, &b2),
        );
        assert!(
            (a - b).abs() <= 1e-13 * a.abs(),
            "cross_entropy {a:e} vs softmax-log-mean {b:e}"
        );
    }
}

#[test]
fn mlp_f32() {
    for seed in SEEDS {
        let MlpPoint {
            x,
            labels,
            w1,
            b1,
            w2,
            b2,
            ..
        } = mlp_point(seed);
        let l = labels.as_slice();
        let (x32, w1_32, b1_32, w2_32, b2_32) = (
            narrow(&x),
            narrow(&w1),
            narrow(&b1),
            narrow(&w2),
            narrow(&b2),
        );
        let (value, (dw1, db1, dw2, db2)) = mlp32_grad(&x32, l, &w1_32, &b1_32, &w2_32, &b2_32);
        assert_same_bits32(
            "mlp32",
            value,
            mlp32(&x32, l, &w1_32, &b1_32, &w2_32, &b2_32),
        );
        let (x, w1, b1, w2, b2) = (
            widen(&x32),
            widen(&w1_32),
            widen(&b1_32),
            widen(&w2_32),
            widen(&b2_32),
        );
        let value64 = mlp(&x, l, &w1, &b1, &w2, &b2);
        assert!((f64::from(value) - value64).abs() <= 1e-5 * value64.abs());
        let at = At::new("mlp32", value64, F32);
        at.array32("dw1", &dw1, &fd(&w1, |w1| mlp(&x, l, w1, &b1, &w2, &b2)));
        at.array32("db1", &db1, &fd(&b1, |b1| mlp(&x, l, &w1, b1, &w2, &b2)));
        at.array32("dw2", &dw2, &fd(&w2, |w2| mlp(&x, l, &w1, &b1, w2, &b2)));
        at.array32("db2", &db2, &fd(&b2, |b2| mlp(&x, l, &w1, &b1, &w2, b2)));
    }
}

// ----- 4. an attention head ---------------------------------------------------------------------

#[differentiate]
fn attention(q: &Array2<f64>, k: &Array2<f64>, v: &Array2<f64>, d: usize) -> f64 {
    let scores = q.dot(&k.t()) / (d as f64).sqrt();
    let a = autodiff::softmax(&scores, Axis(1));
    let out = a.dot(v);
    out.sum()
}

/// The output weighted by a constant matrix, so that every output entry has its own adjoint.
#[differentiate(wrt(q, k, v))]
fn attention_weighted(
    q: &Array2<f64>,
    k: &Array2<f64>,
    v: &Array2<f64>,
    c: &Array2<f64>,
    d: usize,
) -> f64 {
    let scores = q.dot(&k.t()) / (d as f64).sqrt();
    let a = autodiff::softmax(&scores, Axis(1));
    let out = a.dot(v);
    (out * c).sum()
}

#[test]
fn attention_head() {
    let (queries, keys, d, dv) = (4, 5, 3, 2);
    for seed in SEEDS {
        let mut r = Lcg::new(seed);
        let q = r.array((queries, d), -1.5, 1.5);
        let k = r.array((keys, d), -1.5, 1.5);
        let v = r.array((keys, dv), -1.0, 1.0);
        let c = r.array((queries, dv), -2.0, 2.0);

        let (value, (dq, dk, dvv)) = attention_grad(&q, &k, &v, d);
        assert_same_bits("attention", value, attention(&q, &k, &v, d));
        let at = At::new("attention", value, F64);
        at.array("dq", &dq, &fd(&q, |q| attention(q, &k, &v, d)));
        at.array("dk", &dk, &fd(&k, |k| attention(&q, k, &v, d)));
        at.array("dv", &dvv, &fd(&v, |v| attention(&q, &k, v, d)));

        let (value, (dq, dk, dvv)) = attention_weighted_grad(&q, &k, &v, &c, d);
        assert_same_bits(
            "attention_weighted",
            value,
            attention_weighted(&q, &k, &v, &c, d),
        );
        let at = At::new("attention_weighted", value, F64);
        at.array("dq", &dq, &fd(&q, |q| attention_weighted(q, &k, &v, &c, d)));
        at.array("dk", &dk, &fd(&k, |k| attention_weighted(&q, k, &v, &c, d)));
        at.array(
            "dv",
            &dvv,
            &fd(&v, |v| attention_weighted(&q, &k, v, &c, d)),
        );
    }
}

// ----- 5. each operation on its own -------------------------------------------------------------

/// Checks a function of two arrays with both active.
macro_rules! check2 {
    ($what:expr, $f:ident, $g:ident, $a:expr, $b:expr) => {{
        let (a, b) = (&$a, &$b);
        let (value, (da, db)) = $g(a, b);
        assert_same_bits($what, value, $f(a, b));
        let at = At::new($what, value, F64);
        at.array("d0", &da, &fd(a, |a| $f(a, b)));
        at.array("d1", &db, &fd(b, |b| $f(a, b)));
    }};
}

/// A bias row added to a batch: `(batch, n) + (n,)`, and the other operators.
#[differentiate]
fn bias_row(a: &Array2<f64>, b: &Array1<f64>) -> f64 {
    let s = a + b;
    let m = a * b;
    let d = b - a;
    let q = a / (b + 3.0);
    (s.sin() + m.cos() + d.powi(3) + q.tanh()).sum()
}

#[test]
fn reassigned_tensors_and_a_tensor_valued_if() {
    let mut branches = [false; 2];
    for seed in 1..=8 {
        let mut r = Lcg::new(seed);
        let a = r.array((5, 3), -1.0, 1.0);
        let b = r.array(3, -1.0, 1.0);
        let h = a.dot(&b).tanh();
        let cond = (&h * &h + b.sum()).sum();
        if cond.abs() < 1e-3 {
            continue; // too near the branch point for central differences
        }
        branches[usize::from(cond > 0.0)] = true;
        check2!("reassigned", reassigned, reassigned_grad, a, b);
        check2!(
            "declared_float",
            declared_float,
            declared_float_grad,
            r.array(4, -1.0, 1.0),
            r.array(4, -1.0, 1.0)
        );
        check2!(
            "transposed_in_a_loop",
            transposed_in_a_loop,
            transposed_in_a_loop_grad,
            r.array((3, 3), -1.0, 1.0),
            r.array((3, 3), -1.0, 1.0)
        );
    }
    assert_eq!(
        branches,
        [true, true],
        "the points should take both branches"
    );
}

/// Both operands broadcast: `(3, 1) op (1, 4)`, each order.
#[differentiate]
fn outer(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let s = a + b;
    let m = b * a;
    let d = a - b;
    let q = b / (a + 3.0);
    (s.sin() + m.cos() + d.powi(3) + q.tanh()).sum()
}

/// The same with owned intermediates and explicit references on both sides.
#[differentiate]
fn references(a: &Array2<f64>, b: &Array1<f64>) -> f64 {
    let h = a.exp();
    let z = &h + b;
    let y = &z * &h - &h / 2.0;
    (&y - &z).sin().sum()
}

/// Compound assignments of tensors by literals and by a tensor (a literal once gave the result
/// the type of a float: `let h: f64 = add(&h, &2.0)`).
#[differentiate]
fn compound_literals(a: &Array2<f64>, b: &Array1<f64>) -> f64 {
    let mut h = a.exp();
    h /= 2.0;
    h *= 3.0;
    h += 1.0;
    h -= 0.5;
    h += b;
    h *= b;
    (h.sin()).sum()
}

/// A loop whose tensor is reassigned from its own transpose: the transpose the reverse pass
/// needs is saved as an array of its own (a saved view would borrow `h` across the assignment).
#[differentiate]
fn transposed_in_a_loop(x: &Array2<f64>, w: &Array2<f64>) -> f64 {
    let mut h = x.to_owned();
    for _ in 0..3 {
        h = h.t().dot(w).tanh();
    }
    let v = h.view();
    let mut s = 0.0;
    for i in 0..2 {
        s += v.t().dot(&h).sum() * (i as f64 + 1.0);
    }
    s
}

/// A product of two vectors declared a float: `min`, `max` and `clamp` then take it (the
/// macro cannot tell the ranks, the `let`'s type can).
#[differentiate]
fn declared_float(x: &Array1<f64>, y: &Array1<f64>) -> f64 {
    let d: f64 = x.dot(y);
    d.min(1.0) + d.max(-1.0) * d.clamp(-0.5, 0.5)
}

/// A tensor rebound with `let mut` and reassigned, and a tensor-valued `if`.
#[differentiate]
fn reassigned(a: &Array2<f64>, b: &Array1<f64>) -> f64 {
    let mut h = a.dot(b);
    h = h.tanh();
    h = &h * &h + b.sum();
    let y = if h.sum() > 0.0 { h.exp() } else { -h };
    y.sum()
}

#[test]
fn broadcasting() {
    for seed in SEEDS {
        let mut r = Lcg::new(seed);
        check2!(
            "bias_row",
            bias_row,
            bias_row_grad,
            r.array((5, 3), -1.0, 1.0),
            r.array(3, -1.0, 1.0)
        );
        check2!(
            "outer",
            outer,
            outer_grad,
            r.array((3, 1), -1.0, 1.0),
            r.array((1, 4), -1.0, 1.0)
        );
        check2!(
            "references",
            references,
            references_grad,
            r.array((5, 3), -1.0, 1.0),
            r.array(3, -1.0, 1.0)
        );
        check2!(
            "compound_literals",
            compound_literals,
            compound_literals_grad,
            r.array((5, 3), -1.0, 1.0),
            r.array(3, -1.0, 1.0)
        );
        // The shapes of `outer`'s operands the other way round, and equal shapes.
        check2!(
            "outer^T",
            outer,
            outer_grad,
            r.array((1, 4), -1.0, 1.0),
            r.array((3, 1), -1.0, 1.0)
        );
        check2!(
            "outer, same shape",
            outer,
            outer_grad,
            r.array((3, 4), -1.0, 1.0),
            r.array((3, 4), -1.0, 1.0)
        );
    }
}

/// An active scalar on either side of every operator, and unary minus.
#[differentiate]
fn with_scalars(a: &Array2<f64>, s: f64) -> f64 {
    let y = 2.0 * a + a * s - s / (a + 3.0) + (s - a) / 4.0 - a / s + 1.5;
    let z = -&y + (-a) * 0.5;
    (z.sin() * s).sum()
}

/// A tensor minus a scalar computed from it.
#[differentiate]
fn centered(x: &Array1<f64>) -> f64 {
    let c = x - x.mean().unwrap();
    (c.powi(2) * x).sum()
}

#[test]
fn scalars_on_either_side() {
    for seed in SEEDS {
        let mut r = Lcg::new(seed);
        let a = r.array((3, 4), -1.0, 1.0);
        let s = r.uniform(0.5, 2.0);
        let (value, (da, ds)) = with_scalars_grad(&a, s);
        assert_same_bits("with_scalars", value, with_scalars(&a, s));
        let at = At::new("with_scalars", value, F64);
        at.array("da", &da, &fd(&a, |a| with_scalars(a, s)));
        at.scalar("ds", ds, fd_scalar(s, |s| with_scalars(&a, s)));

        let x = r.array(6, -1.0, 1.0);
        let (value, dx) = centered_grad(&x);
        assert_same_bits("centered", value, centered(&x));
        At::new("centered", value, F64).array("dx", &dx, &fd(&x, centered));
    }
}

#[differentiate]
fn sum_axis0(a: &Array2<f64>) -> f64 {
    a.sum_axis(Axis(0)).sin().sum()
}

#[differentiate]
fn sum_axis1(a: &Array2<f64>) -> f64 {
    a.sum_axis(Axis(1)).sin().sum()
}

#[differentiate]
fn mean_axis0(a: &Array2<f64>) -> f64 {
    a.mean_axis(Axis(0)).unwrap().exp().sum()
}

#[differentiate]
fn mean_axis1(a: &Array2<f64>) -> f64 {
    a.mean_axis(Axis(1)).unwrap().exp().sum()
}

#[differentiate]
fn whole_reductions(a: &Array2<f64>) -> f64 {
    a.mean().unwrap() * a.sum() + a.sum_axis(Axis(0)).sum_axis(Axis(0)).sum()
}

#[test]
fn reductions_on_both_axes() {
    type F = fn(&Array2<f64>) -> f64;
    type G = fn(&Array2<f64>) -> (f64, Array2<f64>);
    let cases: [(&str, F, G); 5] = [
        ("sum_axis0", sum_axis0, sum_axis0_grad),
        ("sum_axis1", sum_axis1, sum_axis1_grad),
        ("mean_axis0", mean_axis0, mean_axis0_grad),
        ("mean_axis1", mean_axis1, mean_axis1_grad),
        ("whole_reductions", whole_reductions, whole_reductions_grad),
    ];
    for seed in SEEDS {
        let a = Lcg::new(seed).array((4, 3), -1.0, 1.0);
        for (what, f, g) in cases {
            let (value, da) = g(&a);
            assert_same_bits(what, value, f(&a));
            At::new(what, value, F64).array("da", &da, &fd(&a, f));
        }
    }
}

#[differentiate]
fn matmat(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    a.dot(b).sin().sum()
}

#[differentiate]
fn matvec(a: &Array2<f64>, v: &Array1<f64>) -> f64 {
    a.dot(v).sin().sum()
}

#[differentiate]
fn vecmat(v: &Array1<f64>, a: &Array2<f64>) -> f64 {
    v.dot(a).sin().sum()
}

#[differentiate]
fn vecvec(u: &Array1<f64>, v: &Array1<f64>) -> f64 {
    u.dot(v).sin() + u.dot(u)
}

/// `.t()` on either side of a product, and of a product.
#[differentiate]
fn transposed(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let m = a.dot(&b.t());
    let g = m.t().dot(&m);
    g.sin().sum() + a.t().dot(&m).cos().sum()
}

/// The same matrix on both sides of a product: both adjoint contributions accumulate.
#[differentiate]
fn gram(a: &Array2<f64>) -> f64 {
    a.dot(&a.t()).sin().sum()
}

#[test]
fn dot_in_all_four_shapes_and_transpose() {
    for seed in SEEDS {
        let mut r = Lcg::new(seed);
        check2!(
            "matmat",
            matmat,
            matmat_grad,
            r.array((3, 4), -1.0, 1.0),
            r.array((4, 2), -1.0, 1.0)
        );
        check2!(
            "matvec",
            matvec,
            matvec_grad,
            r.array((3, 4), -1.0, 1.0),
            r.array(4, -1.0, 1.0)
        );
        check2!(
            "vecmat",
            vecmat,
            vecmat_grad,
            r.array(3, -1.0, 1.0),
            r.array((3, 4), -1.0, 1.0)
        );
        check2!(
            "vecvec",
            vecvec,
            vecvec_grad,
            r.array(5, -1.0, 1.0),
            r.array(5, -1.0, 1.0)
        );
        check2!(
            "transposed",
            transposed,
            transposed_grad,
            r.array((4, 3), -1.0, 1.0),
            r.array((2, 3), -1.0, 1.0)
        );
        let a = r.array((3, 4), -1.0, 1.0);
        let (value, da) = gram_grad(&a);
        assert_same_bits("gram", value, gram(&a));
        At::new("gram", value, F64).array("da", &da, &fd(&a, gram));
    }
}

// Elementwise methods, each weighted by a constant matrix so that every entry has its own adjoint.

#[differentiate(wrt(x))]
fn m_exp(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.exp() * c).sum()
}

#[differentiate(wrt(x))]
fn m_ln(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.ln() * c).sum()
}

#[differentiate(wrt(x))]
fn m_tanh(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.tanh() * c).sum()
}

#[differentiate(wrt(x))]
fn m_sqrt(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.sqrt() * c).sum()
}

#[differentiate(wrt(x))]
fn m_sin(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.sin() * c).sum()
}

#[differentiate(wrt(x))]
fn m_cos(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.cos() * c).sum()
}

#[differentiate(wrt(x))]
fn m_abs(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.abs() * c).sum()
}

#[differentiate(wrt(x))]
fn m_powi(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.powi(3) * c).sum()
}

#[differentiate(wrt(x))]
fn m_powf(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.powf(1.7) * c).sum()
}

#[differentiate(wrt(x))]
fn m_mapv_exp(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.mapv(f64::exp) * c).sum()
}

#[differentiate(wrt(x))]
fn m_mapv_tanh(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.mapv(f64::tanh) * c).sum()
}

#[differentiate(wrt(x))]
fn m_sigmoid(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.mapv(autodiff::sigmoid) * c).sum()
}

#[differentiate(wrt(x))]
fn m_relu(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.mapv(autodiff::relu) * c).sum()
}

#[differentiate(wrt(x))]
fn m_softplus(x: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (x.mapv(autodiff::softplus) * c).sum()
}

#[test]
fn elementwise_methods() {
    type F = fn(&Array2<f64>, &Array2<f64>) -> f64;
    type G = fn(&Array2<f64>, &Array2<f64>) -> (f64, Array2<f64>);
    // (name, function, gradient, inputs drawn from [lo, hi) at least `gap` from zero)
    let cases: [(&str, F, G, f64, f64, f64); 14] = [
        ("exp", m_exp, m_exp_grad, -2.0, 2.0, 0.0),
        ("ln", m_ln, m_ln_grad, 0.2, 3.0, 0.0),
        ("tanh", m_tanh, m_tanh_grad, -2.0, 2.0, 0.0),
        ("sqrt", m_sqrt, m_sqrt_grad, 0.2, 3.0, 0.0),
        ("sin", m_sin, m_sin_grad, -3.0, 3.0, 0.0),
        ("cos", m_cos, m_cos_grad, -3.0, 3.0, 0.0),
        ("abs", m_abs, m_abs_grad, -2.0, 2.0, 0.1),
        ("powi", m_powi, m_powi_grad, -2.0, 2.0, 0.0),
        ("powf", m_powf, m_powf_grad, 0.2, 3.0, 0.0),
        (
            "mapv(f64::exp)",
            m_mapv_exp,
            m_mapv_exp_grad,
            -2.0,
            2.0,
            0.0,
        ),
        (
            "mapv(f64::tanh)",
            m_mapv_tanh,
            m_mapv_tanh_grad,
            -2.0,
            2.0,
            0.0,
        ),
        ("mapv(sigmoid)", m_sigmoid, m_sigmoid_grad, -4.0, 4.0, 0.0),
        ("mapv(relu)", m_relu, m_relu_grad, -2.0, 2.0, 0.1),
        (
            "mapv(softplus)",
            m_softplus,
            m_softplus_grad,
            -4.0,
            4.0,
            0.0,
        ),
    ];
    for seed in SEEDS {
        let mut r = Lcg::new(seed);
        let c = r.array((3, 4), -2.0, 2.0);
        for (what, f, g, lo, hi, gap) in cases {
            let x = r.array_off_zero((3, 4), lo, hi, gap);
            let (value, dx) = g(&x, &c);
            assert_same_bits(what, value, f(&x, &c));
            At::new(what, value, F64).array("dx", &dx, &fd(&x, |x| f(x, &c)));
        }
    }
}

#[differentiate(wrt(z))]
fn log_softmax_rows(z: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (autodiff::log_softmax(z, Axis(1)) * c).sum()
}

#[differentiate(wrt(z))]
fn log_softmax_cols(z: &Array2<f64>, c: &Array2<f64>) -> f64 {
    let y = autodiff::log_softmax(z, Axis(0));
    (y * c).sum()
}

#[differentiate(wrt(z))]
fn softmax_cols(z: &Array2<f64>, c: &Array2<f64>) -> f64 {
    let p = autodiff::softmax(z, Axis(0));
    (p * c).sum()
}

#[differentiate]
fn log_sum_exp_scaled(z: &Array2<f64>, s: f64) -> f64 {
    let y = z * s;
    autodiff::log_sum_exp(&y) * s
}

#[differentiate]
fn log_sum_exp_vec(z: &Array1<f64>) -> f64 {
    autodiff::log_sum_exp(z)
}

#[test]
fn softmax_family() {
    type F = fn(&Array2<f64>, &Array2<f64>) -> f64;
    type G = fn(&Array2<f64>, &Array2<f64>) -> (f64, Array2<f64>);
    let cases: [(&str, F, G); 3] = [
        ("log_softmax rows", log_softmax_rows, log_softmax_rows_grad),
        ("log_softmax cols", log_softmax_cols, log_softmax_cols_grad),
        ("softmax cols", softmax_cols, softmax_cols_grad),
    ];
    for seed in SEEDS {
        let mut r = Lcg::new(seed);
        let z = r.array((4, 3), -3.0, 3.0);
        let c = r.array((4, 3), -2.0, 2.0);
        for (what, f, g) in cases {
            let (value, dz) = g(&z, &c);
            assert_same_bits(what, value, f(&z, &c));
            At::new(what, value, F64).array("dz", &dz, &fd(&z, |z| f(z, &c)));
        }

        let s = r.uniform(0.5, 2.0);
        let (value, (dz, ds)) = log_sum_exp_scaled_grad(&z, s);
        assert_same_bits("log_sum_exp_scaled", value, log_sum_exp_scaled(&z, s));
        let at = At::new("log_sum_exp_scaled", value, F64);
        at.array("dz", &dz, &fd(&z, |z| log_sum_exp_scaled(z, s)));
        at.scalar("ds", ds, fd_scalar(s, |s| log_sum_exp_scaled(&z, s)));

        let v = r.array(5, -3.0, 3.0);
        let (value, dv) = log_sum_exp_vec_grad(&v);
        assert_same_bits("log_sum_exp_vec", value, log_sum_exp_vec(&v));
        At::new("log_sum_exp_vec", value, F64).array("dv", &dv, &fd(&v, log_sum_exp_vec));
    }
}

/// The helpers' forward values against their definitions, written out here with loops: the
/// finite-difference references above rely on them.
#[test]
fn helper_values_match_their_definitions() {
    fn lse(v: &[f64]) -> f64 {
        let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
    }
    let near = |what: &str, got: f64, want: f64| {
        assert!(
            (got - want).abs() <= 1e-13 * (1.0 + want.abs()),
            "{what}: got {got:e}, want {want:e}"
        );
    };
    for seed in SEEDS {
        let mut r = Lcg::new(seed);
        let z = r.array((4, 3), -3.0, 3.0);
        let rows: Vec<Vec<f64>> = z.rows().into_iter().map(|row| row.to_vec()).collect();
        let cols: Vec<Vec<f64>> = z.columns().into_iter().map(|col| col.to_vec()).collect();

        let all: Vec<f64> = z.iter().copied().collect();
        near("log_sum_exp", autodiff::log_sum_exp(&z), lse(&all));

        let sm1 = autodiff::softmax(&z, Axis(1));
        let lsm1 = autodiff::log_softmax(&z, Axis(1));
        let sm0 = autodiff::softmax(&z, Axis(0));
        let lsm0 = autodiff::log_softmax(&z, Axis(0));
        assert_eq!(sm1.shape(), z.shape());
        assert_eq!(lsm0.shape(), z.shape());
        for i in 0..4 {
            for j in 0..3 {
                near(
                    "log_softmax axis 1",
                    lsm1[[i, j]],
                    z[[i, j]] - lse(&rows[i]),
                );
                near(
                    "softmax axis 1",
                    sm1[[i, j]],
                    (z[[i, j]] - lse(&rows[i])).exp(),
                );
                near(
                    "log_softmax axis 0",
                    lsm0[[i, j]],
                    z[[i, j]] - lse(&cols[j]),
                );
                near(
                    "softmax axis 0",
                    sm0[[i, j]],
                    (z[[i, j]] - lse(&cols[j])).exp(),
                );
            }
        }

        let labels = r.labels(4, 3);
        let want = (0..4)
            .map(|i| lse(&rows[i]) - z[[i, labels[i]]])
            .sum::<f64>()
            / 4.0;
        near("cross_entropy", autodiff::cross_entropy(&z, &labels), want);

        let p = r.array(5, -1.0, 1.0);
        let t = r.array(5, -1.0, 1.0);
        let want = (0..5).map(|i| (p[i] - t[i]).powi(2)).sum::<f64>() / 5.0;
        near("mse", autodiff::mse(&p, &t), want);
    }
}

// Views, owned arrays and dynamic dimension as parameters.

#[differentiate]
fn views(a: ArrayView2<f64>, b: ArrayView1<f64>) -> f64 {
    a.dot(&b).sin().sum()
}

#[differentiate]
fn owned(a: Array2<f64>, b: &Array1<f64>) -> f64 {
    (a + b).exp().sum()
}

#[differentiate]
fn dynamic(a: &ArrayD<f64>) -> f64 {
    (a.sin() * a).sum_axis(Axis(1)).exp().sum()
}

#[test]
fn views_owned_and_dynamic_parameters() {
    for seed in SEEDS {
        let mut r = Lcg::new(seed);
        let a = r.array((3, 4), -1.0, 1.0);
        let b = r.array(4, -1.0, 1.0);

        let (value, (da, db)): (f64, (Array2<f64>, Array1<f64>)) = views_grad(a.view(), b.view());
        assert_same_bits("views", value, views(a.view(), b.view()));
        let at = At::new("views", value, F64);
        at.array("da", &da, &fd(&a, |a| views(a.view(), b.view())));
        at.array("db", &db, &fd(&b, |b| views(a.view(), b.view())));

        // A view in column-major layout: the gradient follows the logical (row, column) order.
        let a_cols = a.t().to_owned();
        let (value, (da_t, db_t)) = views_grad(a_cols.t(), b.view());
        assert_same_bits("views, transposed layout", value, views(a.view(), b.view()));
        let at = At::new("views, transposed layout", value, F64);
        at.array("da", &da_t, &fd(&a, |a| views(a.view(), b.view())));
        at.array("db", &db_t, &fd(&b, |b| views(a.view(), b.view())));

        let (value, (da, db)): (f64, (Array2<f64>, Array1<f64>)) = owned_grad(a.clone(), &b);
        assert_same_bits("owned", value, owned(a.clone(), &b));
        let at = At::new("owned", value, F64);
        at.array("da", &da, &fd(&a, |a| owned(a.clone(), &b)));
        at.array("db", &db, &fd(&b, |b| owned(a.clone(), b)));

        let t = r.array(IxDyn(&[2, 3, 2]), -1.0, 1.0);
        let (value, dt): (f64, ArrayD<f64>) = dynamic_grad(&t);
        assert_same_bits("dynamic", value, dynamic(&t));
        At::new("dynamic", value, F64).array("dt", &dt, &fd(&t, dynamic));
    }
}

// ----- 6. tensor-valued functions through `_vjp` ------------------------------------------------

#[differentiate]
fn layer(x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>) -> Array2<f64> {
    (x.dot(w) + b).mapv(f64::tanh)
}

#[differentiate]
fn attention_out(q: &Array2<f64>, k: &Array2<f64>, v: &Array2<f64>) -> Array2<f64> {
    let scores = q.dot(&k.t());
    autodiff::softmax(&scores, Axis(1)).dot(v)
}

#[differentiate]
fn squash(x: &Array1<f64>, s: f64) -> Array1<f64> {
    x.mapv(autodiff::sigmoid) * s + x.powi(2) - s
}

#[test]
fn vjp_of_tensor_valued_functions() {
    for seed in SEEDS {
        let mut r = Lcg::new(seed);

        // <d_out, layer(x, w, b)>: its gradient is the vector-Jacobian product.
        let (x, w, b) = (
            r.array((5, 3), -1.0, 1.0),
            r.array((3, 4), -1.0, 1.0),
            r.array(4, -0.5, 0.5),
        );
        let d_out = r.array((5, 4), -2.0, 2.0);
        let seeded =
            |x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>| (layer(x, w, b) * &d_out).sum();
        let (value, (dx, dw, db)) = layer_vjp(&x, &w, &b, d_out.clone());
        assert_same_array("layer", &value, &layer(&x, &w, &b));
        let at = At::new("layer_vjp", seeded(&x, &w, &b), F64);
        at.array("dx", &dx, &fd(&x, |x| seeded(x, &w, &b)));
        at.array("dw", &dw, &fd(&w, |w| seeded(&x, w, &b)));
        at.array("db", &db, &fd(&b, |b| seeded(&x, &w, b)));

        let (q, k, v) = (
            r.array((3, 2), -1.5, 1.5),
            r.array((4, 2), -1.5, 1.5),
            r.array((4, 3), -1.0, 1.0),
        );
        let d_out = r.array((3, 3), -2.0, 2.0);
        let seeded = |q: &Array2<f64>, k: &Array2<f64>, v: &Array2<f64>| {
            (attention_out(q, k, v) * &d_out).sum()
        };
        let (value, (dq, dk, dv)) = attention_out_vjp(&q, &k, &v, d_out.clone());
        assert_same_array("attention_out", &value, &attention_out(&q, &k, &v));
        let at = At::new("attention_out_vjp", seeded(&q, &k, &v), F64);
        at.array("dq", &dq, &fd(&q, |q| seeded(q, &k, &v)));
        at.array("dk", &dk, &fd(&k, |k| seeded(&q, k, &v)));
        at.array("dv", &dv, &fd(&v, |v| seeded(&q, &k, v)));

        let (x, s) = (r.array(6, -2.0, 2.0), r.uniform(-2.0, 2.0));
        let d_out = r.array(6, -2.0, 2.0);
        let seeded = |x: &Array1<f64>, s: f64| (squash(x, s) * &d_out).sum();
        let (value, (dx, ds)) = squash_vjp(&x, s, d_out.clone());
        assert_same_array("squash", &value, &squash(&x, s));
        let at = At::new("squash_vjp", seeded(&x, s), F64);
        at.array("dx", &dx, &fd(&x, |x| seeded(x, s)));
        at.scalar("ds", ds, fd_scalar(s, |s| seeded(&x, s)));
    }
}

#[differentiate]
fn layer32(x: &Array2<f32>, w: &Array2<f32>, b: &Array1<f32>) -> Array2<f32> {
    (x.dot(w) + b).mapv(f32::tanh)
}

#[test]
fn vjp_of_a_tensor_valued_f32_function() {
    for seed in SEEDS {
        let mut r = Lcg::new(seed);
        let (x32, w32, b32, d32) = (
            narrow(&r.array((5, 3), -1.0, 1.0)),
            narrow(&r.array((3, 4), -1.0, 1.0)),
            narrow(&r.array(4, -0.5, 0.5)),
            narrow(&r.array((5, 4), -2.0, 2.0)),
        );
        let (value, (dx, dw, db)) = layer32_vjp(&x32, &w32, &b32, d32.clone());
        // Widening is exact, so equal widened bits are equal `f32` bits.
        assert_same_array(
            "layer32",
            &widen(&value),
            &widen(&layer32(&x32, &w32, &b32)),
        );
        let (x, w, b, d_out) = (widen(&x32), widen(&w32), widen(&b32), widen(&d32));
        let seeded =
            |x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>| (layer(x, w, b) * &d_out).sum();
        let at = At::new("layer32_vjp", seeded(&x, &w, &b), F32);
        at.array32("dx", &dx, &fd(&x, |x| seeded(x, &w, &b)));
        at.array32("dw", &dw, &fd(&w, |w| seeded(&x, w, &b)));
        at.array32("db", &db, &fd(&b, |b| seeded(&x, &w, b)));
    }
}

#[test]
fn vjp_of_a_scalar_loss_scales_the_gradient() {
    for seed in SEEDS {
        let (x, w, b, y) = regression_point(seed, 5, 3);
        let seed_value = -2.5;
        let (value, (dx, dw, db, dy)) = linreg_vjp(&x, &w, b, &y, seed_value);
        assert_same_bits("linreg_vjp", value, linreg(&x, &w, b, &y));
        let seeded = |x: &Array2<f64>, w: &Array1<f64>, b: f64, y: &Array1<f64>| {
            seed_value * linreg(x, w, b, y)
        };
        let at = At::new("linreg_vjp", seeded(&x, &w, b, &y), F64);
        at.array("dx", &dx, &fd(&x, |x| seeded(x, &w, b, &y)));
        at.array("dw", &dw, &fd(&w, |w| seeded(&x, w, b, &y)));
        at.scalar("db", db, fd_scalar(b, |b| seeded(&x, &w, b, &y)));
        at.array("dy", &dy, &fd(&y, |y| seeded(&x, &w, b, y)));
    }
}

// ----- 7. the value is the function's, bit for bit ----------------------------------------------

#[test]
fn values_are_bit_identical() {
    for seed in SEEDS {
        let (x, w, b, y) = regression_point(seed, 8, 4);
        assert_same_bits(
            "linreg",
            linreg_grad(&x, &w, b, &y).0,
            linreg(&x, &w, b, &y),
        );
        assert_same_bits(
            "linreg_mse",
            linreg_mse_grad(&x, &w, b, &y).0,
            linreg_mse(&x, &w, b, &y),
        );
        let (x, w, b, y) = logistic_point(seed);
        assert_same_bits(
            "logistic",
            logistic_grad(&x, &w, b, &y).0,
            logistic(&x, &w, b, &y),
        );
        let (x32, w32, y32) = (narrow(&x), narrow(&w), narrow(&y));
        #[allow(clippy::cast_possible_truncation, reason = "an f32 point")]
        let b32 = b as f32;
        assert_same_bits32(
            "logistic32",
            logistic32_grad(&x32, &w32, b32, &y32).0,
            logistic32(&x32, &w32, b32, &y32),
        );

        let MlpPoint {
            x,
            labels,
            onehot,
            w1,
            b1,
            w2,
            b2,
        } = mlp_point(seed);
        let l = labels.as_slice();
        assert_same_bits(
            "mlp",
            mlp_grad(&x, l, &w1, &b1, &w2, &b2).0,
            mlp(&x, l, &w1, &b1, &w2, &b2),
        );
        assert_same_bits(
            "mlp_all",
            mlp_all_grad(&x, &labels, &w1, &b1, &w2, &b2).0,
            mlp_all(&x, &labels, &w1, &b1, &w2, &b2),
        );
        assert_same_bits(
            "mlp_softmax",
            mlp_softmax_grad(&x, &onehot, &w1, &b1, &w2, &b2).0,
            mlp_softmax(&x, &onehot, &w1, &b1, &w2, &b2),
        );
        let (x32, w1_32, b1_32, w2_32, b2_32) = (
            narrow(&x),
            narrow(&w1),
            narrow(&b1),
            narrow(&w2),
            narrow(&b2),
        );
        assert_same_bits32(
            "mlp32",
            mlp32_grad(&x32, l, &w1_32, &b1_32, &w2_32, &b2_32).0,
            mlp32(&x32, l, &w1_32, &b1_32, &w2_32, &b2_32),
        );

        let mut r = Lcg::new(seed);
        let (q, k, v, c) = (
            r.array((4, 3), -1.5, 1.5),
            r.array((5, 3), -1.5, 1.5),
            r.array((5, 2), -1.0, 1.0),
            r.array((4, 2), -2.0, 2.0),
        );
        assert_same_bits(
            "attention",
            attention_grad(&q, &k, &v, 3).0,
            attention(&q, &k, &v, 3),
        );
        assert_same_bits(
            "attention_weighted",
            attention_weighted_grad(&q, &k, &v, &c, 3).0,
            attention_weighted(&q, &k, &v, &c, 3),
        );
        assert_same_array(
            "attention_out",
            &attention_out_vjp(&q, &k, &v, Array2::ones((4, 2))).0,
            &attention_out(&q, &k, &v),
        );
    }
}

// ----- 8. scalars mixed with tensors, and `wrt` choosing a subset --------------------------------

/// A scalar scale and a tensor active; the data tensors `x` and `y` inactive.
#[differentiate(wrt(w, s))]
fn scaled_fit(x: &Array2<f64>, w: &Array1<f64>, s: f64, y: &Array1<f64>) -> f64 {
    let r = x.dot(w) * s - y;
    let penalty = w.dot(w) * 0.1;
    r.powi(2).sum() / (y.len() as f64) + penalty + s * s
}

/// Only the scalar active: the gradient is bare.
#[differentiate(wrt(b))]
fn only_bias(x: &Array2<f64>, w: &Array1<f64>, b: f64) -> f64 {
    (x.dot(w) + b).mapv(autodiff::softplus).sum()
}

/// Only the second tensor active, listed before the first in `wrt`: argument order still rules.
#[differentiate(wrt(b, a))]
fn pick_two(a: &Array2<f64>, k: &Array2<f64>, b: &Array1<f64>) -> f64 {
    ((a.dot(b) + 1.0) * k.sum()).tanh().sum()
}

/// An active tensor whose values do not reach the result (only its length does).
#[differentiate]
fn unused(a: &Array2<f64>, b: &Array1<f64>) -> f64 {
    b.exp().sum() * (a.len() as f64)
}

/// Element reads mixed with scalar arithmetic, `let` shadowing, and an `if` on a value.
#[differentiate]
fn reads_and_branches(x: &Array2<f64>, s: f64) -> f64 {
    let a = x[[0, 1]] * s + x[[2, 0]].sin();
    let y = x * a;
    let y = y.tanh();
    let t = y.sum();
    if t > 0.0 {
        t * s + a
    } else {
        t - a * a
    }
}

#[test]
fn scalar_parameters_and_wrt_subsets() {
    for seed in SEEDS {
        let (x, w, s, y) = regression_point(seed, 6, 3);
        let (value, (dw, ds)) = scaled_fit_grad(&x, &w, s, &y);
        assert_same_bits("scaled_fit", value, scaled_fit(&x, &w, s, &y));
        let at = At::new("scaled_fit", value, F64);
        at.array("dw", &dw, &fd(&w, |w| scaled_fit(&x, w, s, &y)));
        at.scalar("ds", ds, fd_scalar(s, |s| scaled_fit(&x, &w, s, &y)));

        let (value, db): (f64, f64) = only_bias_grad(&x, &w, s);
        assert_same_bits("only_bias", value, only_bias(&x, &w, s));
        At::new("only_bias", value, F64).scalar("db", db, fd_scalar(s, |b| only_bias(&x, &w, b)));

        let mut r = Lcg::new(seed);
        let (a, b) = (r.array((3, 4), -1.0, 1.0), r.array(2, -1.0, 1.0));
        let (value, (da, db)) = unused_grad(&a, &b);
        assert_same_bits("unused", value, unused(&a, &b));
        assert_eq!(
            da,
            Array2::<f64>::zeros((3, 4)),
            "unused: da is zero, of a's shape"
        );
        At::new("unused", value, F64).array("db", &db, &fd(&b, |b| unused(&a, b)));

        let (a, k, b) = (
            r.array((4, 3), -1.0, 1.0),
            r.array((2, 2), -0.5, 0.5),
            r.array(3, -1.0, 1.0),
        );
        let (value, (da, db)): (f64, (Array2<f64>, Array1<f64>)) = pick_two_grad(&a, &k, &b);
        assert_same_bits("pick_two", value, pick_two(&a, &k, &b));
        let at = At::new("pick_two", value, F64);
        at.array("da", &da, &fd(&a, |a| pick_two(a, &k, &b)));
        at.array("db", &db, &fd(&b, |b| pick_two(&a, &k, b)));
    }
}

#[test]
fn element_reads_and_branches() {
    let mut branches = [false; 2];
    for seed in 1..=6 {
        let mut r = Lcg::new(seed);
        let x = r.array((3, 4), -1.0, 1.0);
        let s = r.uniform(-1.5, 1.5);
        let t = (&x * (x[[0, 1]] * s + x[[2, 0]].sin())).tanh().sum();
        if t.abs() < 1e-3 {
            continue; // too near the branch point for central differences
        }
        branches[usize::from(t > 0.0)] = true;
        let (value, (dx, ds)) = reads_and_branches_grad(&x, s);
        assert_same_bits("reads_and_branches", value, reads_and_branches(&x, s));
        let at = At::new("reads_and_branches", value, F64);
        at.array("dx", &dx, &fd(&x, |x| reads_and_branches(x, s)));
        at.scalar("ds", ds, fd_scalar(s, |s| reads_and_branches(&x, s)));
    }
    assert_eq!(
        branches,
        [true, true],
        "the points should take both branches"
    );
}

// ----- element reads in a loop ------------------------------------------------------------------

/// Element reads in a loop, accumulated into a scalar.
#[differentiate]
fn diagonal_products(x: &Array2<f64>) -> f64 {
    let mut s = 0.0;
    for i in 0..3 {
        s += x[[i, i]] * x[[i, (i + 1) % 3]];
    }
    s
}

#[test]
fn element_reads_in_a_loop() {
    for seed in SEEDS {
        let mut r = Lcg::new(seed);
        let x = r.array((3, 3), -1.0, 1.0);
        let (value, dx) = diagonal_products_grad(&x);
        assert_same_bits("diagonal_products", value, diagonal_products(&x));
        At::new("diagonal_products", value, F64).array("dx", &dx, &fd(&x, diagonal_products));
    }
}
