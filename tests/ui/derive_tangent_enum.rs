#[derive(autodiff::Tangent)]
enum Choice {
    A(f64),
    B(f64),
}

fn main() {}
