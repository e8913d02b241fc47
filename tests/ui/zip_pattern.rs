use autodiff::differentiate;

// The two sides of a `zip` over an active array are bound one name each.
#[differentiate]
fn f(x: &[f64], y: &[f64]) -> f64 {
    let mut s = 0.0;
    for pair in x.iter().zip(y.iter()) {
        s += pair.0 * pair.1;
    }
    s
}

fn main() {}
