use autodiff::differentiate;
use autodiff::ndarray::{Array2, Axis};
use autodiff::softmax;

#[differentiate]
fn loss(x: &Array2<f64>) -> f64 {
    softmax(x, Axis(1)).sum()
}

fn main() {}
