use autodiff::differentiate;

// `crate = path` names the facade crate; a path with generic arguments names no crate.
#[differentiate(crate = ::autodiff::<f64>)]
fn square(x: f64) -> f64 {
    x * x
}

fn main() {}
