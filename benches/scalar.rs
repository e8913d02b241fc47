//! Gradients of scalar functions: what `#[differentiate]` generates against a careful
//! hand-written gradient, forward mode with `num-dual`, and the tape-based reverse mode of
//! `reverse`, plus the plain function value for the gradient/value ratio.
//!
//! ```text
//! cargo bench --bench scalar
//! ```
//!
//! Each function is one criterion group, so all its variants are measured side by side in one
//! run. Before any timing, `main` checks that every variant returns the same value and gradient
//! (to 1e-10 relative) at several points, so the benchmark cannot compare wrong code.

use std::hint::black_box;

use autodiff::differentiate;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use num_dual::{DualNum, DualSVec64};
use reverse::{Gradient, Tape, Var};

// ---------------------------------------------------------------------------------------------
// Rosenbrock: two arguments, seven operations.
// ---------------------------------------------------------------------------------------------

/// Rosenbrock's banana, as the user writes it.
#[differentiate]
pub fn rosen(x: f64, y: f64) -> f64 {
    let a = 1.0 - x;
    let b = y - x * x;
    a * a + 100.0 * b * b
}

/// Value and gradient written out by hand.
fn rosen_hand(x: f64, y: f64) -> (f64, (f64, f64)) {
    let a = 1.0 - x;
    let b = y - x * x;
    let dy = 200.0 * b;
    (a * a + 100.0 * b * b, (-2.0 * (a + x * dy), dy))
}

/// The same function for `num-dual`, generic over its dual number types.
fn rosen_dual<D: DualNum<Primitive = f64> + Copy>(x: D, y: D) -> D {
    let a = -x + 1.0;
    let b = y - x * x;
    a * a + b * b * 100.0
}

/// Forward mode: one pass with a two-component dual number.
fn rosen_num_dual(x: f64, y: f64) -> (f64, (f64, f64)) {
    let x = DualSVec64::<2>::from_re(x).derivative(0);
    let y = DualSVec64::<2>::from_re(y).derivative(1);
    let f = rosen_dual(x, y);
    let g = f.eps.0.expect("both arguments are seeded");
    (f.re, (g[0], g[1]))
}

/// The same function on `reverse`'s tape variables.
fn rosen_tape<'t>(x: Var<'t>, y: Var<'t>) -> Var<'t> {
    let a = 1.0 - x;
    let b = y - x * x;
    a * a + 100.0 * b * b
}

/// Tape-based reverse mode, reusing one tape (cleared per call) as a loop would.
fn rosen_reverse(tape: &Tape, x: f64, y: f64) -> (f64, (f64, f64)) {
    tape.clear();
    let x = tape.add_var(x);
    let y = tape.add_var(y);
    let f = rosen_tape(x, y);
    let g = f.grad();
    (f.val(), (g.wrt(&x), g.wrt(&y)))
}

// ---------------------------------------------------------------------------------------------
// A 20-operation expression of three arguments mixing + - * / sin exp ln sqrt tanh powi.
// ---------------------------------------------------------------------------------------------

/// Twenty operations, as a user might write them.
#[differentiate]
pub fn mix(x: f64, y: f64, z: f64) -> f64 {
    let r = (x * x + y * y + 1.0).sqrt();
    let s = (x * y).sin() / r;
    let t = (z - x).tanh();
    let u = (1.0 + z * z).ln();
    let v = (-0.1 * r).exp() * t.powi(3);
    s + u * y - v
}

/// Value and gradient written out by hand, sharing subexpressions.
fn mix_hand(x: f64, y: f64, z: f64) -> (f64, (f64, f64, f64)) {
    let r = (x * x + y * y + 1.0).sqrt();
    let inv_r = 1.0 / r;
    let (sin_xy, cos_xy) = (x * y).sin_cos();
    let s = sin_xy * inv_r;
    let t = (z - x).tanh();
    let w = 1.0 + z * z;
    let u = w.ln();
    let e = (-0.1 * r).exp();
    let t2 = t * t;
    let v = e * t2 * t;
    let f = s + u * y - v;

    // f depends on x, y through r = |(x, y, 1)|, the sine, and t = tanh(z - x).
    let df_dr = 0.1 * v - s * inv_r; // from s = sin(xy)/r and v = e^(-r/10) t³
    let ds_dxy = cos_xy * inv_r;
    let df_dtarg = -3.0 * e * t2 * (1.0 - t2); // d(-v)/d(z - x)
    let dx = ds_dxy * y + df_dr * x * inv_r - df_dtarg;
    let dy = ds_dxy * x + df_dr * y * inv_r + u;
    let dz = 2.0 * z * y / w + df_dtarg;
    (f, (dx, dy, dz))
}

/// The same expression for `num-dual` (a dual number only takes `f64` on the right).
fn mix_dual<D: DualNum<Primitive = f64> + Copy>(x: D, y: D, z: D) -> D {
    let r = (x * x + y * y + 1.0).sqrt();
    let s = (x * y).sin() / r;
    let t = (z - x).tanh();
    let u = (z * z + 1.0).ln();
    let v = (r * -0.1).exp() * t.powi(3);
    s + u * y - v
}

/// Forward mode: one pass with a three-component dual number.
fn mix_num_dual(x: f64, y: f64, z: f64) -> (f64, (f64, f64, f64)) {
    let x = DualSVec64::<3>::from_re(x).derivative(0);
    let y = DualSVec64::<3>::from_re(y).derivative(1);
    let z = DualSVec64::<3>::from_re(z).derivative(2);
    let f = mix_dual(x, y, z);
    let g = f.eps.0.expect("all arguments are seeded");
    (f.re, (g[0], g[1], g[2]))
}

/// The same expression on `reverse`'s tape variables.
fn mix_tape<'t>(x: Var<'t>, y: Var<'t>, z: Var<'t>) -> Var<'t> {
    let r = (x * x + y * y + 1.0).sqrt();
    let s = (x * y).sin() / r;
    let t = (z - x).tanh();
    let u = (1.0 + z * z).ln();
    let v = (-0.1 * r).exp() * t.powi(3);
    s + u * y - v
}

/// Tape-based reverse mode, reusing one tape (cleared per call) as a loop would.
fn mix_reverse(tape: &Tape, x: f64, y: f64, z: f64) -> (f64, (f64, f64, f64)) {
    tape.clear();
    let x = tape.add_var(x);
    let y = tape.add_var(y);
    let z = tape.add_var(z);
    let f = mix_tape(x, y, z);
    let g = f.grad();
    (f.val(), (g.wrt(&x), g.wrt(&y), g.wrt(&z)))
}

// ---------------------------------------------------------------------------------------------
// Agreement checks and the benchmark groups.
// ---------------------------------------------------------------------------------------------

/// Panics unless `got` matches `want` entry by entry to 1e-10 relative.
fn assert_agree(what: &str, at: &[f64], want: &[f64], got: &[f64]) {
    for (i, (&w, &g)) in want.iter().zip(got).enumerate() {
        let scale = w.abs().max(g.abs());
        assert!(
            (w - g).abs() <= 1e-10 * scale,
            "{what} at {at:?}: entry {i} is {g}, hand-written gives {w}"
        );
    }
}

fn check_rosen(tape: &Tape) {
    for &(x, y) in &[(-1.2, 1.0), (0.3, -0.7), (2.0, 3.5), (-0.5, 0.25)] {
        let (f, (dx, dy)) = rosen_hand(x, y);
        let want = [f, dx, dy];
        assert_eq!(rosen(x, y), rosen_grad(x, y).0, "rosen_grad's value");
        for (name, (f, (dx, dy))) in [
            ("rosen_grad", rosen_grad(x, y)),
            ("num-dual", rosen_num_dual(x, y)),
            ("reverse", rosen_reverse(tape, x, y)),
        ] {
            assert_agree(name, &[x, y], &want, &[f, dx, dy]);
        }
    }
}

fn check_mix(tape: &Tape) {
    for &(x, y, z) in &[
        (0.7, -1.3, 0.4),
        (-2.0, 0.5, 1.5),
        (0.1, 0.2, -0.3),
        (3.0, 2.0, 1.0),
    ] {
        let (f, (dx, dy, dz)) = mix_hand(x, y, z);
        let want = [f, dx, dy, dz];
        assert_eq!(mix(x, y, z), mix_grad(x, y, z).0, "mix_grad's value");
        for (name, (f, (dx, dy, dz))) in [
            ("mix_grad", mix_grad(x, y, z)),
            ("num-dual", mix_num_dual(x, y, z)),
            ("reverse", mix_reverse(tape, x, y, z)),
        ] {
            assert_agree(name, &[x, y, z], &want, &[f, dx, dy, dz]);
        }
    }
}

/// Adds one timed variant to `group`. Inputs go through `black_box` inside `f`; the result is
/// passed to `black_box` by reference, so it must be computed and stored but is not read back.
/// (`black_box` of the result tuple by value made LLVM write it with 8-byte stores and read it
/// back with a 16-byte load: a store-forwarding stall that alone cost ~2 ns, more than the whole
/// Rosenbrock gradient, and it hit some variants and not others.)
fn variant<R>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, mut f: impl FnMut() -> R) {
    group.bench_function(name, |b| {
        b.iter(|| {
            let result = f();
            black_box(&result);
        });
    });
}

fn bench_rosen(c: &mut Criterion, tape: &Tape) {
    let (x, y) = (-1.2, 1.0);
    let mut group = c.benchmark_group("rosen");
    variant(&mut group, "value", || rosen(black_box(x), black_box(y)));
    variant(&mut group, "generated", || {
        rosen_grad(black_box(x), black_box(y))
    });
    variant(&mut group, "hand-written", || {
        rosen_hand(black_box(x), black_box(y))
    });
    variant(&mut group, "num-dual", || {
        rosen_num_dual(black_box(x), black_box(y))
    });
    variant(&mut group, "reverse", || {
        rosen_reverse(tape, black_box(x), black_box(y))
    });
    group.finish();
}

fn bench_mix(c: &mut Criterion, tape: &Tape) {
    let (x, y, z) = (0.7, -1.3, 0.4);
    let mut group = c.benchmark_group("mix");
    variant(&mut group, "value", || {
        mix(black_box(x), black_box(y), black_box(z))
    });
    variant(&mut group, "generated", || {
        mix_grad(black_box(x), black_box(y), black_box(z))
    });
    variant(&mut group, "hand-written", || {
        mix_hand(black_box(x), black_box(y), black_box(z))
    });
    variant(&mut group, "num-dual", || {
        mix_num_dual(black_box(x), black_box(y), black_box(z))
    });
    variant(&mut group, "reverse", || {
        mix_reverse(tape, black_box(x), black_box(y), black_box(z))
    });
    group.finish();
}

fn main() {
    // `reverse`'s variables borrow their tape, so it lives outside the timed closures.
    let tape = Tape::new();
    check_rosen(&tape);
    check_mix(&tape);

    let mut c = Criterion::default().configure_from_args();
    bench_rosen(&mut c, &tape);
    bench_mix(&mut c, &tape);
    c.final_summary();
}
