use autodiff::differentiate;
use autodiff::ndarray::Array2;

#[differentiate]
fn loss(x: &Array2<f64>) -> f64 {
    x.row(0).sum()
}

fn main() {}
