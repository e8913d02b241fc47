use autodiff::differentiate;

/// The rows of a matrix given as `&[Vec<f64>]`, iterated directly.
#[differentiate]
fn first_column_sum(m: &[Vec<f64>]) -> f64 {
    let mut s = 0.0;
    for row in m.iter() {
        s += row[0];
    }
    s
}

fn main() {
    let _ = first_column_sum_grad(&[vec![1.0], vec![2.0]]);
}
