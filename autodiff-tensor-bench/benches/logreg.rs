//! The gradient of logistic regression's mean negative log-likelihood at n = 10 000, d = 100
//! (`f64`): the loss alone, the gradient `#[differentiate]` generates, the hand-written ndarray
//! backpropagation (the same algorithm, elementwise work fused), the same with `xᵀ·dz`
//! accumulated row by row (ndarray's own `x.t().dot(&dz)` walks `x` by columns), and candle's
//! autograd (`Var` + `backward`) on the CPU.
//!
//! ```text
//! cargo bench -p autodiff-tensor-bench --bench logreg
//! ```
//!
//! Before any timing, `main` checks that the three gradients agree to 1e-10 (relative to the
//! largest component) and that the generated value is the function's bit for bit.
//!
//! ndarray's products run on one thread; so does candle here, unless `RAYON_NUM_THREADS` is set.

use std::hint::black_box;

use autodiff_tensor_bench::logreg::{
    logreg_loss, logreg_loss_grad, logreg_loss_hand, logreg_loss_hand_rows, LogregProblem,
};
use autodiff_tensor_bench::relative_error;
use candle_core::{Device, Tensor, Var};
use criterion::Criterion;

const N: usize = 10_000;
const D: usize = 100;

/// The weights and intercept as candle variables, and the data.
struct CandleLogreg {
    w: Var,
    b: Var,
    x: Tensor,
    y: Tensor,
}

impl CandleLogreg {
    fn new(p: &LogregProblem) -> candle_core::Result<Self> {
        let cpu = &Device::Cpu;
        let slice = |a: &[f64], shape: (usize, usize)| Tensor::from_slice(a, shape, cpu);
        Ok(Self {
            w: Var::from_tensor(&slice(p.w.as_slice().expect("contiguous"), (D, 1))?)?,
            b: Var::from_tensor(&Tensor::new(&[p.b], cpu)?)?,
            x: slice(p.x.as_slice().expect("contiguous"), (N, D))?,
            y: slice(p.y.as_slice().expect("contiguous"), (N, 1))?,
        })
    }

    /// `mean(ln(1 + e^z) − y z)`: candle-core has no softplus, and this data keeps `|z|` small
    /// enough for the plain formula.
    fn loss(&self) -> candle_core::Result<Tensor> {
        let z = self.x.matmul(&self.w)?.broadcast_add(&self.b)?;
        let softplus = (z.exp()? + 1.0)?.log()?;
        (softplus - (&self.y * &z)?)?.mean_all()
    }

    /// The loss and its gradient `(∂w as a D × 1 column, ∂b)`, by `backward`.
    fn grad(&self) -> candle_core::Result<(f64, Tensor, Tensor)> {
        let loss = self.loss()?;
        let grads = loss.backward()?;
        let get = |v: &Var| {
            grads
                .get(v.as_tensor())
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg("no gradient".into()))
        };
        Ok((loss.to_scalar::<f64>()?, get(&self.w)?, get(&self.b)?))
    }
}

fn check_agreement(p: &LogregProblem, candle: &CandleLogreg) {
    let (value, (d_w, d_b)) = logreg_loss_grad(&p.w, p.b, &p.x, &p.y);
    assert_eq!(
        value.to_bits(),
        logreg_loss(&p.w, p.b, &p.x, &p.y).to_bits()
    );
    let (hand_value, (hand_w, hand_b)) = logreg_loss_hand(&p.w, p.b, &p.x, &p.y);
    let hand: Vec<f64> = hand_w.iter().copied().chain([hand_b]).collect();
    let generated: Vec<f64> = d_w.iter().copied().chain([d_b]).collect();
    let (rows_value, (rows_w, rows_b)) = logreg_loss_hand_rows(&p.w, p.b, &p.x, &p.y);
    let rows: Vec<f64> = rows_w.iter().copied().chain([rows_b]).collect();
    let (candle_value, c_w, c_b) = candle.grad().expect("candle");
    let candle_grad: Vec<f64> = c_w
        .flatten_all()
        .and_then(|w| w.to_vec1::<f64>())
        .expect("∂w")
        .into_iter()
        .chain(c_b.to_vec1::<f64>().expect("∂b"))
        .collect();
    for (what, v, g) in [
        ("generated", value, &generated),
        ("rows", rows_value, &rows),
        ("candle", candle_value, &candle_grad),
    ] {
        let value_err = relative_error(&[v], &[hand_value]);
        let err = relative_error(g, &hand);
        assert!(
            value_err < 1e-10 && err < 1e-10,
            "{what}: value {v} vs hand-written {hand_value}, gradient relative error {err:e}"
        );
        println!(
            "{what}: agrees with hand-written, value to {value_err:.1e}, gradient to {err:.1e}"
        );
    }
}

fn main() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Edition 2021: safe here, before any thread exists.
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    println!(
        "candle's matrix products on {} thread(s) (RAYON_NUM_THREADS)",
        candle_core::utils::get_num_threads()
    );
    let p = LogregProblem::random(N, D, 1);
    let candle = CandleLogreg::new(&p).expect("candle tensors");
    check_agreement(&p, &candle);

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group(format!("logreg_{N}x{D}"));
    let args = || black_box((&p.w, p.b, &p.x, &p.y));
    group.bench_function("loss", |b| {
        b.iter(|| {
            let (w, bias, x, y) = args();
            logreg_loss(w, bias, x, y)
        });
    });
    group.bench_function("generated", |b| {
        b.iter(|| {
            let (w, bias, x, y) = args();
            logreg_loss_grad(w, bias, x, y)
        });
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| {
            let (w, bias, x, y) = args();
            logreg_loss_hand(w, bias, x, y)
        });
    });
    group.bench_function("hand-written, rows", |b| {
        b.iter(|| {
            let (w, bias, x, y) = args();
            logreg_loss_hand_rows(w, bias, x, y)
        });
    });
    group.bench_function("candle", |b| {
        b.iter(|| black_box(&candle).grad().expect("candle"));
    });
    group.finish();
    c.final_summary();
}
