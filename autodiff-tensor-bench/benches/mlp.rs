//! The gradient of a tanh MLP's softmax cross-entropy (784-128-10, batch 64, the shape of an
//! MNIST step) in `f32` and `f64`: the loss alone, the gradient `#[differentiate]` generates, the
//! hand-written ndarray backpropagation, and candle's autograd (`Var` + `backward`) on the CPU.
//!
//! ```text
//! cargo bench -p autodiff-tensor-bench --bench mlp
//! ```
//!
//! Before any timing, `main` checks that all three gradients agree (relative to the largest
//! component: 1e-10 in `f64`, 1e-4 in `f32`) and that the generated value is the function's bit
//! for bit.
//!
//! ndarray's matrix products (`matrixmultiply`) run on one thread; so does candle here, unless
//! `RAYON_NUM_THREADS` is set (candle's `gemm` reads it on every product).

use std::hint::black_box;

use autodiff_tensor_bench::mlp::{
    flatten, mlp_loss, mlp_loss_f32, mlp_loss_f32_grad, mlp_loss_grad, mlp_loss_hand, MlpProblem,
};
use autodiff_tensor_bench::relative_error;
use candle_core::{Device, Tensor, Var, WithDType};
use criterion::Criterion;
use ndarray::{Array, Dimension};

const BATCH: usize = 64;
const INPUTS: usize = 784;
const HIDDEN: usize = 128;
const CLASSES: usize = 10;

/// An ndarray array as a candle tensor of the same shape on the CPU.
fn tensor<T: WithDType, D: Dimension>(a: &Array<T, D>) -> Tensor {
    let data = a.as_slice().expect("standard layout");
    Tensor::from_slice(data, a.shape(), &Device::Cpu).expect("shape matches data")
}

/// The MLP's parameters as candle variables, and its batch.
struct CandleMlp {
    w1: Var,
    b1: Var,
    w2: Var,
    b2: Var,
    x: Tensor,
    labels: Tensor,
}

impl CandleMlp {
    fn new<T: WithDType>(p: &MlpProblem<T>) -> Self {
        let labels: Vec<u32> = p
            .labels
            .iter()
            .map(|&l| u32::try_from(l).expect("a label fits u32"))
            .collect();
        let var = |t: Tensor| Var::from_tensor(&t).expect("a variable");
        Self {
            w1: var(tensor(&p.w1)),
            b1: var(tensor(&p.b1)),
            w2: var(tensor(&p.w2)),
            b2: var(tensor(&p.b2)),
            x: tensor(&p.x),
            labels: Tensor::from_vec(labels, BATCH, &Device::Cpu)
                .expect("labels")
                .unsqueeze(1)
                .expect("a column"),
        }
    }

    /// The loss, with candle-nn's `log_softmax` and `nll` spelled out in candle-core's ops.
    fn loss(&self) -> candle_core::Result<Tensor> {
        let hidden = self.x.matmul(&self.w1)?.broadcast_add(&self.b1)?.tanh()?;
        let logits = hidden.matmul(&self.w2)?.broadcast_add(&self.b2)?;
        let max = logits.max_keepdim(1)?;
        let shifted = logits.broadcast_sub(&max)?;
        let log_sum = shifted.exp()?.sum_keepdim(1)?.log()?;
        let log_probs = shifted.broadcast_sub(&log_sum)?;
        let picked = log_probs.gather(&self.labels, 1)?;
        picked.sum_all()?.affine(-1.0 / BATCH as f64, 0.0)
    }

    /// The loss and its gradient with respect to `(w1, b1, w2, b2)`, by `backward`.
    fn grad<T: WithDType>(&self) -> candle_core::Result<(T, [Tensor; 4])> {
        let loss = self.loss()?;
        let grads = loss.backward()?;
        let get = |v: &Var| {
            grads
                .get(v.as_tensor())
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg("no gradient".into()))
        };
        Ok((
            loss.to_scalar::<T>()?,
            [
                get(&self.w1)?,
                get(&self.b1)?,
                get(&self.w2)?,
                get(&self.b2)?,
            ],
        ))
    }
}

/// Candle's gradient, concatenated in argument order as `flatten` does.
fn flatten_candle<T: WithDType + Into<f64>>(grads: &[Tensor; 4]) -> Vec<f64> {
    grads
        .iter()
        .flat_map(|g| {
            g.flatten_all()
                .and_then(|g| g.to_vec1::<T>())
                .expect("a gradient")
        })
        .map(Into::into)
        .collect()
}

/// Panics unless every gradient agrees with the hand-written one to `tol`.
fn check_agreement() {
    let p = MlpProblem::random(BATCH, INPUTS, HIDDEN, CLASSES, 1);
    let args = (&p.w1, &p.b1, &p.w2, &p.b2, &p.x, p.labels.as_slice());
    let (value, grad) = mlp_loss_grad(args.0, args.1, args.2, args.3, args.4, args.5);
    assert_eq!(
        value.to_bits(),
        mlp_loss(args.0, args.1, args.2, args.3, args.4, args.5).to_bits()
    );
    let (hand_value, hand) = mlp_loss_hand(args.0, args.1, args.2, args.3, args.4, args.5);
    let (candle_value, candle) = CandleMlp::new(&p).grad::<f64>().expect("candle");
    let hand = flatten(&hand);
    report(
        "f64",
        "generated",
        value,
        hand_value,
        &flatten(&grad),
        &hand,
        1e-10,
    );
    report(
        "f64",
        "candle",
        candle_value,
        hand_value,
        &flatten_candle::<f64>(&candle),
        &hand,
        1e-10,
    );

    let p = p.to_f32();
    let args = (&p.w1, &p.b1, &p.w2, &p.b2, &p.x, p.labels.as_slice());
    let (value, grad) = mlp_loss_f32_grad(args.0, args.1, args.2, args.3, args.4, args.5);
    assert_eq!(
        value.to_bits(),
        mlp_loss_f32(args.0, args.1, args.2, args.3, args.4, args.5).to_bits()
    );
    let (hand_value, hand) = mlp_loss_hand(args.0, args.1, args.2, args.3, args.4, args.5);
    let (candle_value, candle) = CandleMlp::new(&p).grad::<f32>().expect("candle");
    let hand = flatten(&hand);
    report(
        "f32",
        "generated",
        value.into(),
        hand_value.into(),
        &flatten(&grad),
        &hand,
        1e-4,
    );
    report(
        "f32",
        "candle",
        candle_value.into(),
        hand_value.into(),
        &flatten_candle::<f32>(&candle),
        &hand,
        1e-4,
    );
}

fn report(ty: &str, what: &str, value: f64, hand_value: f64, got: &[f64], hand: &[f64], tol: f64) {
    let value_err = relative_error(&[value], &[hand_value]);
    let err = relative_error(got, hand);
    assert!(
        value_err < tol && err < tol,
        "{ty} {what}: value {value} vs hand-written {hand_value}, gradient relative error {err:e}"
    );
    println!(
        "{ty} {what}: agrees with hand-written, value to {value_err:.1e}, gradient to {err:.1e}"
    );
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
    check_agreement();

    let p64 = MlpProblem::random(BATCH, INPUTS, HIDDEN, CLASSES, 1);
    let p32 = p64.to_f32();
    let mut c = Criterion::default().configure_from_args();

    let mut group = c.benchmark_group(format!("mlp_f64_{BATCH}x{INPUTS}-{HIDDEN}-{CLASSES}"));
    let p = &p64;
    let args = || black_box((&p.w1, &p.b1, &p.w2, &p.b2, &p.x, p.labels.as_slice()));
    group.bench_function("loss", |b| {
        b.iter(|| {
            let (w1, b1, w2, b2, x, l) = args();
            mlp_loss(w1, b1, w2, b2, x, l)
        });
    });
    group.bench_function("generated", |b| {
        b.iter(|| {
            let (w1, b1, w2, b2, x, l) = args();
            mlp_loss_grad(w1, b1, w2, b2, x, l)
        });
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| {
            let (w1, b1, w2, b2, x, l) = args();
            mlp_loss_hand(w1, b1, w2, b2, x, l)
        });
    });
    let candle = CandleMlp::new(p);
    group.bench_function("candle", |b| {
        b.iter(|| black_box(&candle).grad::<f64>().expect("candle"));
    });
    group.finish();

    let mut group = c.benchmark_group(format!("mlp_f32_{BATCH}x{INPUTS}-{HIDDEN}-{CLASSES}"));
    let p = &p32;
    let args = || black_box((&p.w1, &p.b1, &p.w2, &p.b2, &p.x, p.labels.as_slice()));
    group.bench_function("loss", |b| {
        b.iter(|| {
            let (w1, b1, w2, b2, x, l) = args();
            mlp_loss_f32(w1, b1, w2, b2, x, l)
        });
    });
    group.bench_function("generated", |b| {
        b.iter(|| {
            let (w1, b1, w2, b2, x, l) = args();
            mlp_loss_f32_grad(w1, b1, w2, b2, x, l)
        });
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| {
            let (w1, b1, w2, b2, x, l) = args();
            mlp_loss_hand(w1, b1, w2, b2, x, l)
        });
    });
    let candle = CandleMlp::new(p);
    group.bench_function("candle", |b| {
        b.iter(|| black_box(&candle).grad::<f32>().expect("candle"));
    });
    group.finish();
    c.final_summary();
}
