use autodiff::differentiate;

#[differentiate]
fn f(x: f64) -> Vec<f64> {
    vec![x, 2.0 * x]
}

fn main() {}
