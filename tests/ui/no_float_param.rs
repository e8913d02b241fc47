use autodiff::differentiate;

#[differentiate]
fn f(n: usize, k: i32) -> f64 {
    (n as f64).powi(k)
}

fn main() {}
