use autodiff::differentiate;

/// A slice of an active array.
#[differentiate]
fn tail_sum(x: &[f64]) -> f64 {
    let r = &x[1..];
    let mut s = 0.0;
    for i in 0..r.len() {
        s += r[i];
    }
    s
}

fn main() {
    let _ = tail_sum_grad(&[1.0, 2.0, 3.0]);
}
