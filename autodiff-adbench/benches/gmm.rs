//! ADBench's GMM objective on `gmm_d10_K25` (d = 10, k = 25, n = 1000; 1650 parameters): the
//! objective alone, the gradient `#[differentiate]` generates, the hand-written gradient, and the
//! tape-based reverse mode of the `reverse` crate on the same objective.
//!
//! ```text
//! cargo bench -p autodiff-adbench --bench gmm
//! ```
//!
//! Before any timing, `main` checks that the three gradients agree with ADBench's measure
//! (`max_relative_error < 1e-8`), so the benchmark cannot compare wrong code. Without ADBench's
//! data (see `autodiff_adbench::data_dir`) it prints why and times nothing.

#![allow(
    clippy::needless_range_loop,
    clippy::too_many_arguments,
    reason = "the tape version mirrors the objective's flat-array loops and nine arguments"
)]

use std::f64::consts::PI;
use std::hint::black_box;

use autodiff_adbench::gmm::{
    gmm_gradient, gmm_objective, gmm_objective_grad, ln_multi_gamma, GmmInput,
};
use autodiff_adbench::{data_dir, max_relative_error};
use criterion::Criterion;
use reverse::{Gradient, Tape, Var};

/// The objective on `reverse`'s tape variables: the same loops as `gmm_objective`.
fn objective_tape<'t>(
    tape: &'t Tape,
    d: usize,
    k: usize,
    n: usize,
    alpha: &[Var<'t>],
    means: &[Var<'t>],
    icf: &[Var<'t>],
    x: &[f64],
    gamma: f64,
    m: i32,
) -> Var<'t> {
    let icf_sz = d * (d + 1) / 2;
    let constant = -(n as f64) * (d as f64) * 0.5 * (2.0 * PI).ln();
    let big_n = d + m as usize + 1;
    let wishart_c = (big_n * d) as f64 * (gamma.ln() - 0.5 * 2.0_f64.ln())
        - ln_multi_gamma(0.5 * big_n as f64, d);

    // A placeholder for buffers that are overwritten before they are read.
    let zero = tape.add_var(0.0);
    let mut qdiags = vec![zero; k * d];
    let mut sum_qs = vec![zero; k];
    for ik in 0..k {
        let q = &icf[ik * icf_sz..ik * icf_sz + d];
        sum_qs[ik] = q.iter().copied().sum();
        for j in 0..d {
            qdiags[ik * d + j] = q[j].exp();
        }
    }

    let mut xcentered = vec![zero; d];
    let mut qxcentered = vec![zero; d];
    let mut main_term = vec![zero; k];
    let mut slse = zero;
    for ix in 0..n {
        for ik in 0..k {
            for j in 0..d {
                xcentered[j] = x[ix * d + j] - means[ik * d + j];
            }
            for j in 0..d {
                qxcentered[j] = qdiags[ik * d + j] * xcentered[j];
            }
            let mut l = ik * icf_sz + d;
            for i in 0..d {
                for j in i + 1..d {
                    qxcentered[j] = qxcentered[j] + icf[l] * xcentered[i];
                    l += 1;
                }
            }
            let sqnorm: Var<'t> = qxcentered.iter().map(|&v| v * v).sum();
            main_term[ik] = alpha[ik] + sum_qs[ik] - 0.5 * sqnorm;
        }
        let mut mx = main_term[0];
        for &t in &main_term[1..] {
            if t > mx {
                mx = t;
            }
        }
        let sumexp: Var<'t> = main_term.iter().map(|&t| (t - mx).exp()).sum();
        slse = slse + mx + sumexp.ln();
    }

    let mut amax = alpha[0];
    for &a in &alpha[1..] {
        if a > amax {
            amax = a;
        }
    }
    let asum: Var<'t> = alpha.iter().map(|&a| (a - amax).exp()).sum();
    let lse_alpha = amax + asum.ln();

    let mut prior = zero;
    for ik in 0..k {
        let qd = &qdiags[ik * d..(ik + 1) * d];
        let lt = &icf[ik * icf_sz + d..(ik + 1) * icf_sz];
        let frobenius: Var<'t> = qd.iter().chain(lt).map(|&v| v * v).sum();
        prior = prior + 0.5 * gamma * gamma * frobenius - f64::from(m) * sum_qs[ik];
    }

    constant + slse - n as f64 * lse_alpha + prior - k as f64 * wishart_c
}

/// Tape-based reverse mode, reusing one tape (cleared per call) as a loop would.
fn gradient_reverse(tape: &Tape, g: &GmmInput) -> (f64, Vec<f64>, Vec<f64>, Vec<f64>) {
    tape.clear();
    let alpha = tape.add_vars(&g.alpha);
    let means = tape.add_vars(&g.means);
    let icf = tape.add_vars(&g.icf);
    let f = objective_tape(
        tape, g.d, g.k, g.n, &alpha, &means, &icf, &g.x, g.gamma, g.m,
    );
    let grad = f.grad();
    (f.val(), grad.wrt(&alpha), grad.wrt(&means), grad.wrt(&icf))
}

/// Panics unless `got` (value and gradient) matches the hand-written `want` by ADBench's measure.
fn assert_agree(what: &str, want: &(f64, Vec<f64>, Vec<f64>, Vec<f64>), got: (f64, Vec<f64>)) {
    let value_err = max_relative_error(&[want.0], &[got.0]);
    assert!(
        value_err < 1e-12,
        "{what}: value {} vs hand-written {}",
        got.0,
        want.0
    );
    let hand = [want.1.as_slice(), &want.2, &want.3].concat();
    let err = max_relative_error(&hand, &got.1);
    assert!(
        err < 1e-8,
        "{what}: ADBench's measure {err:e} against hand-written"
    );
    println!("{what}: agrees with hand-written to {err:.1e} (ADBench's measure)");
}

fn main() {
    let name = "gmm_d10_K25";
    let Some(dir) = data_dir() else {
        println!("ADBench data absent (set ADBENCH_DIR or put it in ../shared/adbench): not timing {name}");
        return;
    };
    let g = GmmInput::read(dir.join("gmm").join(format!("{name}.txt")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let tape = Tape::new();

    let hand = gmm_gradient(
        g.d, g.k, g.n, &g.alpha, &g.means, &g.icf, &g.x, g.gamma, g.m,
    );
    let value = gmm_objective(
        g.d, g.k, g.n, &g.alpha, &g.means, &g.icf, &g.x, g.gamma, g.m,
    );
    let (gen_value, (da, dm, dq)) = gmm_objective_grad(
        g.d, g.k, g.n, &g.alpha, &g.means, &g.icf, &g.x, g.gamma, g.m,
    );
    assert_eq!(value.to_bits(), gen_value.to_bits(), "generated value");
    assert_agree("generated", &hand, (gen_value, [da, dm, dq].concat()));
    let (rv, ra, rm, rq) = gradient_reverse(&tape, &g);
    assert_agree("reverse", &hand, (rv, [ra, rm, rq].concat()));
    println!("reverse: {} tape nodes per call", tape.len());

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group(name);
    let args = || {
        black_box((
            g.d, g.k, g.n, &g.alpha, &g.means, &g.icf, &g.x, g.gamma, g.m,
        ))
    };
    group.bench_function("objective", |b| {
        b.iter(|| {
            let (d, k, n, alpha, means, icf, x, gamma, m) = args();
            black_box(gmm_objective(d, k, n, alpha, means, icf, x, gamma, m))
        });
    });
    group.bench_function("generated", |b| {
        b.iter(|| {
            let (d, k, n, alpha, means, icf, x, gamma, m) = args();
            black_box(gmm_objective_grad(d, k, n, alpha, means, icf, x, gamma, m))
        });
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| {
            let (d, k, n, alpha, means, icf, x, gamma, m) = args();
            black_box(gmm_gradient(d, k, n, alpha, means, icf, x, gamma, m))
        });
    });
    group.bench_function("reverse", |b| {
        b.iter(|| black_box(gradient_reverse(&tape, black_box(&g))));
    });
    group.finish();
    c.final_summary();
}
