use autodiff::differentiate;
use autodiff::ndarray::{Array1, Array2};

// Walking an Array1 works; an Array2's elements are read by `x[[i, j]]`.
#[differentiate]
fn f(x: &Array2<f64>, v: &Array1<f64>) -> f64 {
    let mut s = 0.0;
    for &e in v.iter() {
        s += e * e;
    }
    for &e in x.iter() {
        s += e.sin();
    }
    s
}

fn main() {}
