//! A call chain against the same code written as one function: what calls between
//! differentiated functions cost.
//!
//! ```text
//! cargo bench --bench calls
//! ```
//!
//! `energy_calls` sums a pair potential over the neighbours of a 1-D chain of particles by
//! calling `pair` (which calls `spring` and `morse`); `energy_inline` is the same arithmetic in
//! one function. Both are `#[differentiate]`d; the reverse pass of each call runs the callee's
//! `_vjp_all`, which recomputes the callee's forward values. Before timing, `main` checks that
//! both gradients agree.

use std::hint::black_box;

use autodiff::differentiate;
use criterion::Criterion;

#[differentiate]
#[inline]
fn spring(r: f64) -> f64 {
    let e = r - 1.0;
    0.5 * e * e
}

#[differentiate]
#[inline]
fn morse(r: f64) -> f64 {
    let a = 1.0 - (-1.5 * (r - 1.0)).exp();
    0.2 * a * a
}

#[differentiate]
#[inline]
fn pair(a: f64, b: f64) -> f64 {
    let r = (b - a).abs() + 0.1;
    spring(r) + morse(r)
}

/// The chain's energy through calls.
#[differentiate]
fn energy_calls(x: &[f64]) -> f64 {
    let mut total = 0.0;
    for i in 1..x.len() {
        total += pair(x[i - 1], x[i]);
    }
    total
}

/// The same energy written as one function.
#[differentiate]
fn energy_inline(x: &[f64]) -> f64 {
    let mut total = 0.0;
    for i in 1..x.len() {
        let r = (x[i] - x[i - 1]).abs() + 0.1;
        let e = r - 1.0;
        let a = 1.0 - (-1.5 * (r - 1.0)).exp();
        total += 0.5 * e * e + 0.2 * a * a;
    }
    total
}

fn main() {
    let x: Vec<f64> = (0..1000)
        .map(|i| f64::from(i) * 1.05 + 0.1 * (f64::from(i) * 0.7).sin())
        .collect();
    let (v1, g1) = energy_calls_grad(&x);
    let (v2, g2) = energy_inline_grad(&x);
    assert!((v1 - v2).abs() <= 1e-12 * v2.abs());
    for (a, b) in g1.iter().zip(&g2) {
        assert!((a - b).abs() <= 1e-10 * (1.0 + b.abs()), "{a} {b}");
    }

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("chain_1000");
    group.bench_function("value", |b| b.iter(|| energy_inline(black_box(&x))));
    group.bench_function("calls", |b| b.iter(|| energy_calls_grad(black_box(&x))));
    group.bench_function("one function", |b| {
        b.iter(|| energy_inline_grad(black_box(&x)))
    });
    group.finish();
    c.final_summary();
}
