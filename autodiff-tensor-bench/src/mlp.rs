//! A one-hidden-layer tanh MLP classifier's loss: `tanh(x·W1 + b1)·W2 + b2` are the logits of a
//! batch, and the loss is their mean softmax cross-entropy against integer labels.
//!
//! [`mlp_loss`] (`f64`) and [`mlp_loss_f32`] are what a user writes for `#[differentiate]`; the
//! macro adds `mlp_loss_grad` / `mlp_loss_f32_grad`. [`mlp_loss_hand`] is the same value and
//! gradient written out by hand with ndarray, generic over the float type.

use autodiff::differentiate;
use ndarray::{Array1, Array2, Axis, NdFloat, Zip};

use crate::data::{lecun, SplitMix64};

/// The gradient of the loss with respect to `(w1, b1, w2, b2)`, as `NAME_grad` returns it.
pub type MlpGrad<T> = (Array2<T>, Array1<T>, Array2<T>, Array1<T>);

/// The mean cross-entropy of a tanh MLP's logits on a batch `x` (one example a row) with class
/// `labels`, as a function of the weights `w1` (inputs × hidden), `w2` (hidden × classes) and the
/// biases.
#[differentiate(wrt(w1, b1, w2, b2))]
pub fn mlp_loss(
    w1: &Array2<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    b2: &Array1<f64>,
    x: &Array2<f64>,
    labels: &[usize],
) -> f64 {
    let hidden = (x.dot(w1) + b1).mapv(f64::tanh);
    let logits = hidden.dot(w2) + b2;
    autodiff::cross_entropy(&logits, labels)
}

/// [`mlp_loss`] in `f32`, written with the elementwise method `.tanh()` instead of `mapv`.
#[differentiate(wrt(w1, b1, w2, b2))]
pub fn mlp_loss_f32(
    w1: &Array2<f32>,
    b1: &Array1<f32>,
    w2: &Array2<f32>,
    b2: &Array1<f32>,
    x: &Array2<f32>,
    labels: &[usize],
) -> f32 {
    let hidden = (x.dot(w1) + b1).tanh();
    let logits = hidden.dot(w2) + b2;
    autodiff::cross_entropy(&logits, labels)
}

/// The value and gradient of [`mlp_loss`] by hand: one forward pass that keeps the hidden layer,
/// the softmax turned into the logits' adjoint in place (`(softmax − onehot) / batch`), then two
/// layers of backpropagation with ndarray's matrix products.
///
/// # Panics
///
/// When the shapes do not fit together or a label is not below the number of classes.
#[must_use]
pub fn mlp_loss_hand<T: NdFloat>(
    w1: &Array2<T>,
    b1: &Array1<T>,
    w2: &Array2<T>,
    b2: &Array1<T>,
    x: &Array2<T>,
    labels: &[usize],
) -> (T, MlpGrad<T>) {
    assert_eq!(labels.len(), x.nrows(), "one label per row of x");
    let batch = T::from(x.nrows()).expect("a batch size is a float");

    let mut hidden = x.dot(w1);
    hidden += b1;
    hidden.mapv_inplace(T::tanh);
    let mut logits = hidden.dot(w2);
    logits += b2;

    // Row by row: loss += logsumexp(row) − row[label], and the row becomes its adjoint.
    let mut total = T::zero();
    for (mut row, &label) in logits.rows_mut().into_iter().zip(labels) {
        let target = row[label];
        let max = row.fold(T::neg_infinity(), |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        total += max + sum.ln() - target;
        let scale = T::one() / (sum * batch);
        row.mapv_inplace(|e| e * scale);
        row[label] -= T::one() / batch;
    }
    let loss = total / batch;
    let d_logits = logits;

    let d_w2 = hidden.t().dot(&d_logits);
    let d_b2 = d_logits.sum_axis(Axis(0));
    let mut d_pre = d_logits.dot(&w2.t());
    // tanh' = 1 − tanh², from the kept output.
    Zip::from(&mut d_pre)
        .and(&hidden)
        .for_each(|d, &h| *d *= T::one() - h * h);
    let d_w1 = x.t().dot(&d_pre);
    let d_b1 = d_pre.sum_axis(Axis(0));
    (loss, (d_w1, d_b1, d_w2, d_b2))
}

/// Weights, biases, a batch and its labels.
#[derive(Clone, Debug)]
pub struct MlpProblem<T> {
    /// `inputs × hidden`.
    pub w1: Array2<T>,
    /// `hidden`.
    pub b1: Array1<T>,
    /// `hidden × classes`.
    pub w2: Array2<T>,
    /// `classes`.
    pub b2: Array1<T>,
    /// `batch × inputs`, in `[0, 1)` like pixel intensities.
    pub x: Array2<T>,
    /// `batch` labels below `classes`.
    pub labels: Vec<usize>,
}

impl MlpProblem<f64> {
    /// Weights with LeCun's scale, small biases, uniform inputs and uniform labels, all from
    /// `seed`.
    #[must_use]
    pub fn random(batch: usize, inputs: usize, hidden: usize, classes: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let w1 = rng.normal_matrix(inputs, hidden, lecun(inputs));
        let b1 = rng.normal_vector(hidden, 0.1);
        let w2 = rng.normal_matrix(hidden, classes, lecun(hidden));
        let b2 = rng.normal_vector(classes, 0.1);
        let x = Array2::from_shape_simple_fn((batch, inputs), || rng.uniform());
        let labels = (0..batch).map(|_| rng.below(classes)).collect();
        Self {
            w1,
            b1,
            w2,
            b2,
            x,
            labels,
        }
    }

    /// The same problem rounded to `f32`.
    #[must_use]
    pub fn to_f32(&self) -> MlpProblem<f32> {
        let f = |v: f64| v as f32;
        MlpProblem {
            w1: self.w1.mapv(f),
            b1: self.b1.mapv(f),
            w2: self.w2.mapv(f),
            b2: self.b2.mapv(f),
            x: self.x.mapv(f),
            labels: self.labels.clone(),
        }
    }
}

/// A gradient's four parts, concatenated in argument order and widened to `f64`, for comparisons.
#[must_use]
pub fn flatten<T: Copy + Into<f64>>(g: &MlpGrad<T>) -> Vec<f64> {
    g.0.iter()
        .chain(&g.1)
        .chain(&g.2)
        .chain(&g.3)
        .map(|&v| v.into())
        .collect()
}
