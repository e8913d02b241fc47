use autodiff::differentiate;

#[differentiate]
fn f(x: f64, y: f64, i: usize) -> f64 {
    [x, y][i] * 2.0
}

fn main() {}
