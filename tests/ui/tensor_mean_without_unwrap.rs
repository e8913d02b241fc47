use autodiff::differentiate;
use autodiff::ndarray::Array1;

#[differentiate]
fn loss(x: &Array1<f64>) -> f64 {
    let m = x.mean();
    m.unwrap_or(0.0)
}

fn main() {}
