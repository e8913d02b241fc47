//! ADBench's LSTM on `lstm_l2_c1024`: the objective alone, the gradient `#[differentiate]`
//! generates, the hand-written gradient (ADBench's "Manual"), and the tape-based reverse mode
//! of the `reverse` crate.
//!
//! ```text
//! cargo bench -p autodiff-adbench --bench lstm -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! Before any timing, `main` checks that the three gradients agree to ADBench's measure
//! (`max_relative_error < 1e-8`). Without ADBench's inputs (see `autodiff_adbench::data_dir`)
//! it prints why and measures nothing.
#![allow(
    clippy::needless_range_loop,
    reason = "the `reverse` objective mirrors the index loops of `lstm_objective`"
)]
#![allow(
    clippy::too_many_arguments,
    reason = "ADBench's LSTM signature: sizes, two parameter arrays and two constant arrays"
)]

use std::hint::black_box;

use autodiff_adbench::lstm::{lstm_gradient, lstm_objective, lstm_objective_grad, LstmInput};
use autodiff_adbench::{data_dir, max_relative_error};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use reverse::{Gradient, Tape, Var};

/// [`lstm_objective`] on `reverse`'s tape variables: the same loops, in the same order. The
/// state is a constant, so its copy starts as tape leaves whose adjoints are never read.
///
/// The sigmoids are written `(1.0 + e).recip()`, not `1.0 / (1.0 + e)`: `reverse` 0.2.2 records
/// the derivative of `f64 / Var` (`a / x`) as `-1 / x` instead of `-a / x²`, wrong unless
/// `a = x`. `recip` records `-1 / x²`, and `1.0 / x` and `x.recip()` are the same float.
fn lstm_objective_tape<'t>(
    tape: &'t Tape,
    l: usize,
    c: usize,
    b: usize,
    main_params: &[Var<'t>],
    extra_params: &[Var<'t>],
    state: &[f64],
    sequence: &[f64],
) -> Var<'t> {
    let mut s: Vec<Var<'t>> = state.iter().map(|&v| tape.add_var(v)).collect();
    let mut x = vec![tape.add_var(0.0); b];
    let mut ypred = vec![tape.add_var(0.0); b];
    let mut total = tape.add_var(0.0);
    for t in 0..c - 1 {
        for i in 0..b {
            x[i] = sequence[t * b + i] * extra_params[i];
        }
        for j in 0..l {
            let w = 2 * j * 4 * b;
            let bias = w + 4 * b;
            let h = 2 * j * b;
            let cl = h + b;
            for i in 0..b {
                let zf = x[i] * main_params[w + i] + main_params[bias + i];
                let forget = (1.0 + (-zf).exp()).recip();
                let zi = s[h + i] * main_params[w + b + i] + main_params[bias + b + i];
                let ingate = (1.0 + (-zi).exp()).recip();
                let zo = x[i] * main_params[w + 2 * b + i] + main_params[bias + 2 * b + i];
                let outgate = (1.0 + (-zo).exp()).recip();
                let zc = s[h + i] * main_params[w + 3 * b + i] + main_params[bias + 3 * b + i];
                let change = zc.tanh();
                s[cl + i] = s[cl + i] * forget + ingate * change;
                s[h + i] = outgate * s[cl + i].tanh();
                x[i] = s[h + i];
            }
        }
        let mut sum = tape.add_var(0.0);
        for i in 0..b {
            ypred[i] = x[i] * extra_params[b + i] + extra_params[2 * b + i];
            sum = sum + ypred[i].exp();
        }
        let lse = (sum + 2.0).ln();
        for i in 0..b {
            total = total + sequence[(t + 1) * b + i] * (ypred[i] - lse);
        }
    }
    -total / ((c - 1) * b) as f64
}

/// Value and gradient with `reverse`, reusing one tape (cleared per call).
fn lstm_reverse(tape: &Tape, p: &LstmInput) -> (f64, Vec<f64>, Vec<f64>) {
    tape.clear();
    let main = tape.add_vars(&p.main_params);
    let extra = tape.add_vars(&p.extra_params);
    let f = lstm_objective_tape(tape, p.l, p.c, p.b, &main, &extra, &p.state, &p.sequence);
    let g = f.grad();
    (f.val(), g.wrt(&main), g.wrt(&extra))
}

fn generated(p: &LstmInput) -> (f64, (Vec<f64>, Vec<f64>)) {
    lstm_objective_grad(
        p.l,
        p.c,
        p.b,
        &p.main_params,
        &p.extra_params,
        &p.state,
        &p.sequence,
    )
}

fn hand_written(p: &LstmInput) -> (f64, Vec<f64>, Vec<f64>) {
    lstm_gradient(
        p.l,
        p.c,
        p.b,
        &p.main_params,
        &p.extra_params,
        &p.state,
        &p.sequence,
    )
}

/// Panics unless the three gradients agree to ADBench's measure and the values are close.
fn check(tape: &Tape, p: &LstmInput) {
    let value = p.objective();
    let (gen_value, (gen_main, gen_extra)) = generated(p);
    let (hand_value, hand_main, hand_extra) = hand_written(p);
    let (rev_value, rev_main, rev_extra) = lstm_reverse(tape, p);
    println!(
        "lstm: reverse's tape held {} nodes of 32 bytes ({} bytes)",
        tape.len(),
        32 * tape.len()
    );
    assert_eq!(gen_value.to_bits(), value.to_bits(), "generated value");
    for (name, v) in [("hand-written", hand_value), ("reverse", rev_value)] {
        assert!(
            (v - value).abs() <= 1e-12 * value.abs().max(1.0),
            "{name} value {v} vs {value}"
        );
    }
    let flat = |m: &[f64], e: &[f64]| m.iter().chain(e).copied().collect::<Vec<f64>>();
    let hand = flat(&hand_main, &hand_extra);
    for (name, g) in [
        ("generated", flat(&gen_main, &gen_extra)),
        ("reverse", flat(&rev_main, &rev_extra)),
    ] {
        let err = max_relative_error(&g, &hand);
        assert!(
            err < 1e-8,
            "{name} vs hand-written: max relative error {err:e}"
        );
        println!("lstm: {name} vs hand-written: max relative error {err:e}");
    }
}

/// Adds one timed variant; the result goes to `black_box` by reference.
fn variant<R>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, mut f: impl FnMut() -> R) {
    group.bench_function(name, |b| {
        b.iter(|| {
            let result = f();
            black_box(&result);
        });
    });
}

fn main() {
    let Some(dir) = data_dir() else {
        println!("lstm: ADBench's inputs are absent (set ADBENCH_DIR): nothing to measure");
        return;
    };
    let path = dir.join("lstm/lstm_l2_c1024.txt");
    let p = match LstmInput::read(&path) {
        Ok(p) => p,
        Err(e) => {
            println!("lstm: cannot read ADBench's input ({e}): nothing to measure");
            return;
        }
    };
    // `reverse`'s variables borrow their tape, so it lives outside the timed closures.
    let tape = Tape::new();
    check(&tape, &p);

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("lstm_l2_c1024");
    group.sample_size(20);
    variant(&mut group, "objective", || {
        let p = black_box(&p);
        lstm_objective(
            p.l,
            p.c,
            p.b,
            &p.main_params,
            &p.extra_params,
            &p.state,
            &p.sequence,
        )
    });
    variant(&mut group, "generated", || generated(black_box(&p)));
    variant(&mut group, "hand-written", || hand_written(black_box(&p)));
    variant(&mut group, "reverse", || lstm_reverse(&tape, black_box(&p)));
    group.finish();
    c.final_summary();
}
