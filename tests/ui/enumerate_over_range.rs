use autodiff::differentiate;

// `enumerate` over a range of an active array numbers from the range's start: not taken.
#[differentiate]
fn f(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for (i, v) in x[1..].iter().enumerate() {
        s += v * i as f64;
    }
    s
}

fn main() {}
