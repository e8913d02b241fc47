use autodiff::differentiate;
use autodiff::ndarray::Array1;

// Forward mode takes `powf` of an array with a constant exponent only.
#[differentiate(forward)]
fn f(a: &Array1<f64>, p: f64) -> f64 {
    a.powf(p).sum()
}

fn main() {}
