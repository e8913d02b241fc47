use autodiff::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    2.0 * dbg!(x)
}

fn main() {}
