//! Gradients through loops: extended Rosenbrock over a slice at n = 100 and 10 000, what
//! `#[differentiate]` generates against a hand-written gradient, the tape-based reverse mode of
//! `reverse`, and (at n = 100) forward mode with `num-dual`, one pass per component, plus the
//! plain function value for the gradient/value ratio.
//!
//! ```text
//! cargo bench --bench loops
//! ```
//!
//! Before any timing, `main` checks that every variant agrees (1e-10 relative), and prints the
//! bytes the generated code's tape holds (with the `tape-stats` feature, as in `cargo test
//! --workspace`; `cargo bench --bench loops --features tape-stats` otherwise).

use std::hint::black_box;

use autodiff::differentiate;
use criterion::Criterion;
use num_dual::{Dual64, DualNum};
use reverse::{Gradient, Tape, Var};

/// Extended Rosenbrock, as the user writes it.
#[differentiate]
pub fn rosenbrock(x: &[f64]) -> f64 {
    let mut f = 0.0;
    for i in 0..x.len() - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        f += a * a + 100.0 * b * b;
    }
    f
}

/// Value and gradient written out by hand, in one pass.
fn rosenbrock_hand(x: &[f64]) -> (f64, Vec<f64>) {
    let mut f = 0.0;
    let mut g = vec![0.0; x.len()];
    for i in 0..x.len() - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        f += a * a + 100.0 * b * b;
        let db = 200.0 * b;
        g[i] += -2.0 * a - 2.0 * x[i] * db;
        g[i + 1] += db;
    }
    (f, g)
}

/// The same function on dual numbers (forward mode).
fn rosenbrock_dual<D: DualNum<Primitive = f64> + Copy>(x: &[D]) -> D {
    let mut f = D::from(0.0);
    for i in 0..x.len() - 1 {
        let a = -x[i] + 1.0;
        let b = x[i + 1] - x[i] * x[i];
        f = f + a * a + b * b * 100.0;
    }
    f
}

/// Forward mode: one pass per component.
fn rosenbrock_num_dual(x: &[f64]) -> (f64, Vec<f64>) {
    let mut args: Vec<Dual64> = x.iter().map(|&v| Dual64::from_re(v)).collect();
    let mut g = Vec::with_capacity(x.len());
    let mut value = 0.0;
    for i in 0..x.len() {
        args[i] = args[i].derivative();
        let f = rosenbrock_dual(&args);
        value = f.re;
        g.push(f.eps);
        args[i] = Dual64::from_re(x[i]);
    }
    (value, g)
}

/// The same function on `reverse`'s tape variables.
fn rosenbrock_reverse(tape: &Tape, x: &[f64]) -> (f64, Vec<f64>) {
    tape.clear();
    let vars: Vec<Var<'_>> = x.iter().map(|&v| tape.add_var(v)).collect();
    let mut f = tape.add_var(0.0);
    for i in 0..x.len() - 1 {
        let a = 1.0 - vars[i];
        let b = vars[i + 1] - vars[i] * vars[i];
        f = f + a * a + 100.0 * b * b;
    }
    let g = f.grad();
    (f.val(), vars.iter().map(|v| g.wrt(v)).collect())
}

fn point(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 + 0.4 * (i as f64 * 0.37).sin())
        .collect()
}

fn agree(name: &str, a: &(f64, Vec<f64>), b: &(f64, Vec<f64>)) {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-10 * x.abs().max(y.abs()).max(1.0);
    assert!(close(a.0, b.0), "{name}: value {} vs {}", a.0, b.0);
    for (i, (x, y)) in a.1.iter().zip(&b.1).enumerate() {
        assert!(close(*x, *y), "{name}: component {i}: {x} vs {y}");
    }
}

fn main() {
    let tape = Tape::new();
    for n in [100, 10_000] {
        let x = point(n);
        let generated = rosenbrock_grad(&x);
        assert_eq!(generated.0.to_bits(), rosenbrock(&x).to_bits());
        agree("hand-written", &generated, &rosenbrock_hand(&x));
        agree("reverse", &generated, &rosenbrock_reverse(&tape, &x));
        if n <= 100 {
            agree("num-dual", &generated, &rosenbrock_num_dual(&x));
        }
        let _ = autodiff::tape_stats::take();
        let _ = rosenbrock_grad(&x);
        match autodiff::tape_stats::take() {
            Some(bytes) => println!(
                "rosenbrock n = {n}: the tape holds {bytes} bytes ({} per iteration)",
                bytes / (n - 1)
            ),
            None => println!(
                "rosenbrock n = {n}: run with --features tape-stats to see the tape's size"
            ),
        }
    }

    let mut c = Criterion::default().configure_from_args();
    for n in [100, 10_000] {
        let x = point(n);
        let mut group = c.benchmark_group(format!("rosenbrock_{n}"));
        group.bench_function("value", |b| b.iter(|| rosenbrock(black_box(&x))));
        group.bench_function("generated", |b| b.iter(|| rosenbrock_grad(black_box(&x))));
        group.bench_function("hand-written", |b| {
            b.iter(|| rosenbrock_hand(black_box(&x)))
        });
        group.bench_function("reverse", |b| {
            b.iter(|| rosenbrock_reverse(&tape, black_box(&x)))
        });
        if n <= 100 {
            group.bench_function("num-dual", |b| {
                b.iter(|| rosenbrock_num_dual(black_box(&x)))
            });
        }
        group.finish();
    }
    c.final_summary();
}
