use autodiff::differentiate;

// The macro cannot tell which of the two `let`s the build keeps: differentiating both (or the
// wrong one) would give a gradient of code the function does not run.
#[differentiate]
fn f(x: f64) -> f64 {
    #[cfg(debug_assertions)]
    let y = x * 2.0;
    #[cfg(not(debug_assertions))]
    let y = x * 3.0;
    y * x
}

fn main() {}
