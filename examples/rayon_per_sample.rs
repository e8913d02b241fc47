//! Per-sample gradients of a logistic loss, computed in parallel with rayon.
//!
//! ```text
//! cargo run --release --example rayon_per_sample
//! ```
//!
//! The generated `loss_grad` is a plain function: it touches no global state and allocates only
//! its result, so calling it from many threads at once needs nothing special. One gradient per
//! sample (what per-sample clipping or influence estimates need) is
//! `samples.par_iter().map(|s| loss_grad(..))`. The example checks the parallel mean gradient
//! against a sequential one, prints statistics of the per-sample gradient norms, and times the
//! sequential and the parallel loop.

use std::time::{Duration, Instant};

use autodiff::{check_grad, differentiate};
use rayon::prelude::*;

/// Logistic loss of one sample `(x, y)`, `y` in {-1, 1}: `ln(1 + exp(-y (w·x + b)))`.
///
/// Only the weights and the bias are active (`wrt`), so `loss_grad` returns
/// `(loss, (d_w, d_b))` with `d_w: Vec<f64>` and no gradient for the data.
#[differentiate(wrt(w, b))]
fn loss(w: &[f64], b: f64, x: &[f64], y: f64) -> f64 {
    let mut z = b;
    for i in 0..w.len() {
        z += w[i] * x[i];
    }
    // softplus(t) = ln(1 + exp(t)), without overflow for large t.
    autodiff::softplus(-y * z)
}

/// One labelled sample.
struct Sample {
    x: Vec<f64>,
    y: f64,
}

/// SplitMix64: a tiny deterministic generator, enough to make reproducible data.
struct Rng(u64);

impl Rng {
    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-1, 1).
    fn symmetric(&mut self) -> f64 {
        2.0 * self.uniform() - 1.0
    }
}

/// `n` samples with `d` features, labelled by a noisy logistic model with weights `w_true`.
fn make_samples(rng: &mut Rng, n: usize, w_true: &[f64], b_true: f64) -> Vec<Sample> {
    (0..n)
        .map(|_| {
            let x: Vec<f64> = w_true.iter().map(|_| rng.symmetric()).collect();
            let z = b_true + w_true.iter().zip(&x).map(|(w, x)| w * x).sum::<f64>();
            let p = autodiff::sigmoid(z); // the probability of y = 1
            let y = if rng.uniform() < p { 1.0 } else { -1.0 };
            Sample { x, y }
        })
        .collect()
}

/// Sums per-sample gradients `(d_w, d_b)` componentwise.
fn add(mut acc: (Vec<f64>, f64), g: (Vec<f64>, f64)) -> (Vec<f64>, f64) {
    for (a, v) in acc.0.iter_mut().zip(&g.0) {
        *a += v;
    }
    acc.1 += g.1;
    acc
}

/// The fastest of a few runs of `f`, with its last result.
fn best_of<R>(runs: usize, mut f: impl FnMut() -> R) -> (Duration, R) {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..runs {
        let start = Instant::now();
        result = Some(f());
        best = best.min(start.elapsed());
    }
    (best, result.expect("runs > 0"))
}

fn main() {
    let (n, d) = (10_000, 50);
    let mut rng = Rng(7);
    let w_true: Vec<f64> = (0..d).map(|_| 2.0 * rng.symmetric()).collect();
    let samples = make_samples(&mut rng, n, &w_true, 0.5);

    // Evaluate the gradients at a model half-way to the truth.
    let w: Vec<f64> = w_true.iter().map(|v| 0.5 * v).collect();
    let b = 0.0;

    // Check the generated gradient once against central differences, on the first sample,
    // with `w` and `b` packed into one vector.
    let s0 = &samples[0];
    let (_, (dw, db)) = loss_grad(&w, b, &s0.x, s0.y);
    let wb: Vec<f64> = w.iter().copied().chain([b]).collect();
    let grad: Vec<f64> = dw.into_iter().chain([db]).collect();
    check_grad(|p: &[f64]| loss(&p[..d], p[d], &s0.x, s0.y), &wb, &grad).unwrap();

    // Per-sample gradients, sequentially and in parallel. `collect` keeps the samples' order,
    // and each gradient is computed by the same code either way, so both are bit for bit equal.
    let per_sample = |s: &Sample| loss_grad(&w, b, &s.x, s.y).1;
    let (t_seq, seq): (_, Vec<(Vec<f64>, f64)>) =
        best_of(10, || samples.iter().map(per_sample).collect());
    let (t_par, par): (_, Vec<(Vec<f64>, f64)>) =
        best_of(10, || samples.par_iter().map(per_sample).collect());
    assert!(seq == par, "parallel per-sample gradients differ");

    // The mean gradient: a sequential sum, and a parallel map-reduce that never stores the
    // per-sample gradients. The reduction adds in a different order, so the two agree to
    // rounding, not bitwise.
    let zero = || (vec![0.0; d], 0.0);
    let mean = |(sum_w, sum_b): (Vec<f64>, f64)| -> (Vec<f64>, f64) {
        let scale = 1.0 / n as f64;
        (sum_w.iter().map(|v| v * scale).collect(), sum_b * scale)
    };
    let mean_seq = mean(seq.iter().cloned().fold(zero(), add));
    let mean_par = mean(samples.par_iter().map(per_sample).reduce(zero, add));
    let max_diff = mean_seq
        .0
        .iter()
        .zip(&mean_par.0)
        .map(|(a, b)| (a - b).abs())
        .fold((mean_seq.1 - mean_par.1).abs(), f64::max);
    assert!(max_diff < 1e-12, "mean gradients differ by {max_diff:e}");

    // Statistics of the per-sample gradient norms |(d_w, d_b)|.
    let mut norms: Vec<f64> = par
        .iter()
        .map(|(dw, db)| (dw.iter().map(|v| v * v).sum::<f64>() + db * db).sqrt())
        .collect();
    norms.sort_by(f64::total_cmp);

    let mean_loss = samples.iter().map(|s| loss(&w, b, &s.x, s.y)).sum::<f64>() / n as f64;
    println!("{n} samples, {d} features, mean loss {mean_loss:.4}");
    println!(
        "per-sample gradient norm: min {:.3e}, median {:.3e}, max {:.3e}",
        norms[0],
        norms[n / 2],
        norms[n - 1]
    );
    println!(
        "mean gradient: |d_w| = {:.4e}, d_b = {:.4e}; parallel vs sequential: max difference {max_diff:.1e}",
        mean_par.0.iter().map(|v| v * v).sum::<f64>().sqrt(),
        mean_par.1
    );
    println!(
        "per-sample gradients (best of 10): sequential {t_seq:.2?}, parallel {t_par:.2?} on {} threads ({:.2}x)",
        rayon::current_num_threads(),
        t_seq.as_secs_f64() / t_par.as_secs_f64()
    );
}
