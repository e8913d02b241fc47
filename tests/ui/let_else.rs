use autodiff::differentiate;

#[differentiate]
fn f(x: f64, o: Option<f64>) -> f64 {
    let Some(y) = o else {
        return x;
    };
    x * y
}

fn main() {}
