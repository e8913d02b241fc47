use autodiff::differentiate;

#[differentiate]
fn f(x: f64, y: f64, i: usize) -> f64 {
    (if i > 0 { [x, y] } else { [y, x] })[i] * 2.0
}

fn main() {}
