use autodiff::differentiate;

// `enumerate` after `rev` counts from the end, not the elements' positions: not taken.
#[differentiate]
fn f(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for (i, v) in x.iter().rev().enumerate() {
        s += v * i as f64;
    }
    s
}

fn main() {}
