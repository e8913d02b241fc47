use autodiff::differentiate;
use autodiff::ndarray::Array1;

#[differentiate]
fn loss(x: &Array1<f64>) -> f64 {
    x.hypot(2.0).sum()
}

fn main() {}
