use autodiff::differentiate;

// A row of a `&[Vec<f64>]` is a `Vec` the generated code would have to move: its elements are
// read as `m[i][j]`.
#[differentiate]
fn f(m: &[Vec<f64>]) -> f64 {
    let r = &m[0];
    r[0] * r[1]
}

fn main() {}
