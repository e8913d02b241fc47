use autodiff::differentiate;

#[differentiate]
fn f(x: f64) -> Option<f64> {
    let y = Some(x)?;
    Some(y * y)
}

#[differentiate]
fn g(x: f64) -> f64 {
    let y = x.to_string().parse::<f64>()?;
    y * x
}

fn main() {}
