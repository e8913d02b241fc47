use autodiff::differentiate;
use autodiff::ndarray::Array1;

#[differentiate]
fn loss(x: &Array1<f64>) -> f64 {
    x.mapv(|v| v * v).sum()
}

fn main() {}
