// A user's macro in a loop body may hide a `continue` (or a `break`, a `return`) that the
// reverse pass must see: a compile error at the macro, not a gradient summed over the
// iterations the forward pass skipped.
use autodiff::differentiate;

macro_rules! skip_last {
    ($j:expr, $n:expr) => {
        if $j + 1 == $n {
            continue;
        }
    };
}

#[differentiate]
fn pairs(x: &[f64]) -> f64 {
    let n = x.len();
    let mut s = 0.0;
    for j in 0..n {
        skip_last!(j, n);
        s += x[j + 1] * x[j];
    }
    s
}

macro_rules! sq {
    ($e:expr) => {
        $e * $e
    };
}

// A macro giving an active value: reported once, as a macro in a loop body.
#[differentiate]
fn squares(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for j in 0..x.len() {
        s += sq!(x[j]);
    }
    s
}

fn main() {
    let _ = pairs_grad(&[1.0, 2.0]);
    let _ = squares_grad(&[1.0, 2.0]);
}
