use autodiff::differentiate;

// The `if` reads no active value, so the macro keeps it as written, `return` included; this
// version does not support branches, so it must be rejected (or supported), not miscompiled.
#[differentiate]
fn f(x: f64, n: i32) -> f64 {
    if n > 0 {
        return 1.0;
    }
    x * x
}

fn main() {}
