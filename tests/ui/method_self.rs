use autodiff::differentiate;

/// Does not derive `autodiff::Tangent`, so it cannot be active.
struct Model {
    w: f64,
}

impl Model {
    #[differentiate(wrt(self, x))]
    fn loss(&self, x: f64) -> f64 {
        self.w * x * x
    }
}

fn main() {}
