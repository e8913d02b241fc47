//! Forward mode and second order: `NAME_jvp` against num-dual and a hand-written directional
//! derivative, `NAME_hvp` against a hand-written Hessian-vector product, and the HVP's cost
//! against the gradient's.
//!
//! ```text
//! cargo bench --bench second_order
//! ```
//!
//! Before timing, `main` checks that every variant agrees.

use std::hint::black_box;

use autodiff::differentiate;
use criterion::Criterion;
use num_dual::Dual64;
use num_traits::Float;

/// Extended Rosenbrock, generic so that `NAME_hvp` exists.
#[differentiate(forward)]
fn ext_rosen<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() - 1 {
        let a = T::one() - x[i];
        let b = x[i + 1] - x[i] * x[i];
        s = s + a * a + T::from(100.0).unwrap() * b * b;
    }
    s
}

/// The directional derivative written by hand.
fn jvp_hand(x: &[f64], v: &[f64]) -> (f64, f64) {
    let (mut s, mut ds) = (0.0, 0.0);
    for i in 0..x.len() - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        s += a * a + 100.0 * b * b;
        ds += -2.0 * a * v[i] + 200.0 * b * (v[i + 1] - 2.0 * x[i] * v[i]);
    }
    (s, ds)
}

/// The Hessian-vector product written by hand: the Hessian is tridiagonal.
fn hvp_hand(x: &[f64], v: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut hv = vec![0.0; n];
    for i in 0..n - 1 {
        // Terms of a² + 100 b², a = 1 - x_i, b = x_{i+1} - x_i².
        let hii = 2.0 + 1200.0 * x[i] * x[i] - 400.0 * x[i + 1];
        let hij = -400.0 * x[i];
        hv[i] += hii * v[i] + hij * v[i + 1];
        hv[i + 1] += hij * v[i] + 200.0 * v[i + 1];
    }
    hv
}

/// The same function on num-dual's dual numbers.
fn num_dual_jvp(x: &[f64], v: &[f64]) -> (f64, f64) {
    let xs: Vec<Dual64> = x.iter().zip(v).map(|(&a, &b)| Dual64::new(a, b)).collect();
    let mut s = Dual64::from_re(0.0);
    for i in 0..xs.len() - 1 {
        let a = -xs[i] + 1.0;
        let b = xs[i + 1] - xs[i] * xs[i];
        s = s + a * a + b * b * 100.0;
    }
    (s.re, s.eps)
}

fn main() {
    let n = 100;
    let x: Vec<f64> = (0..n)
        .map(|i| 0.5 + 0.3 * (f64::from(i) * 0.7).sin())
        .collect();
    let v: Vec<f64> = (0..n).map(|i| (f64::from(i) * 1.3).cos()).collect();

    let (f1, d1) = ext_rosen_jvp(&x, &v);
    let (f2, d2) = jvp_hand(&x, &v);
    let (f3, d3) = num_dual_jvp(&x, &v);
    assert!((f1 - f2).abs() <= 1e-12 * f2.abs() && (f1 - f3).abs() <= 1e-12 * f2.abs());
    assert!((d1 - d2).abs() <= 1e-10 * d2.abs() && (d1 - d3).abs() <= 1e-10 * d2.abs());
    let (_, _, hv) = ext_rosen_hvp(&x, &v);
    for (a, b) in hv.iter().zip(hvp_hand(&x, &v)) {
        assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{a} {b}");
    }

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("ext_rosen_100_jvp");
    group.bench_function("generated", |b| {
        b.iter(|| ext_rosen_jvp(black_box(&x), black_box(&v)));
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| jvp_hand(black_box(&x), black_box(&v)));
    });
    group.bench_function("num-dual", |b| {
        b.iter(|| num_dual_jvp(black_box(&x), black_box(&v)));
    });
    group.finish();

    let mut group = c.benchmark_group("ext_rosen_100_hvp");
    group.bench_function("gradient", |b| b.iter(|| ext_rosen_grad(black_box(&x))));
    group.bench_function("generated hvp", |b| {
        b.iter(|| ext_rosen_hvp(black_box(&x), black_box(&v)));
    });
    group.bench_function("hand-written hvp", |b| {
        b.iter(|| hvp_hand(black_box(&x), black_box(&v)));
    });
    group.finish();
    c.final_summary();
}
