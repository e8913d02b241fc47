use autodiff::differentiate;

// The loop reads no active value, so the macro keeps it as written; it assigns to `k`, whose
// value the macro has renamed to an immutable binding.
#[differentiate]
fn f(x: f64, n: usize) -> f64 {
    let mut k = 1.0;
    for i in 0..n {
        k += i as f64;
    }
    k * x
}

fn main() {}
