use autodiff::differentiate;

// `enumerate` after `skip` numbers from the first element it sees, not by position: not taken.
#[differentiate]
fn f(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for (i, v) in x.iter().skip(1).enumerate() {
        s += v * i as f64;
    }
    s
}

fn main() {}
