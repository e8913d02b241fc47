use autodiff::differentiate;

#[differentiate]
fn squares_until_large(x: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for i in 0..x.len() {
        if x[i] > 10.0 {
            return y;
        }
        y[i] = x[i] * x[i];
    }
    y
}

fn main() {}
