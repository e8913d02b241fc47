use autodiff::differentiate;

#[differentiate(wrt(x))]
fn f(x: f64, v: Vec<f64>) -> f64 {
    v.iter().map(|t| t * x).sum()
}

fn main() {}
