//! The second-order tests' reference and comparisons: hyper-dual numbers from `num-dual`
//! (`HyperDual64`, `ε₁ε₂` parts), relative tolerances, and a reproducible stream of points.

use num_dual::HyperDual64;

/// Relative tolerance against the exact reference.
pub const TOL: f64 = 1e-10;
/// Relative tolerance of `H_ij` against `H_ji`.
pub const SYM_TOL: f64 = 1e-12;

/// `|got − want| / max(1, |want|)`.
pub fn err(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1.0)
}

/// `got` within [`TOL`] of `want`, relatively.
pub fn assert_close(what: &str, got: f64, want: f64) {
    assert!(
        err(got, want) <= TOL,
        "{what}: got {got:e}, want {want:e} (relative error {:e})",
        err(got, want)
    );
}

/// Every component within [`TOL`].
pub fn assert_all_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert_close(&format!("{what}[{i}]"), g, w);
    }
}

/// The bits of each component, to compare for equality.
pub fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A reproducible stream of pseudo-random numbers (a 64-bit LCG, Knuth's MMIX constants).
pub struct Lcg(u64);

impl Lcg {
    /// A stream from `seed`.
    pub fn new(seed: u64) -> Self {
        Lcg(seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0x2545_F491_4F6C_DD1D))
    }
    /// A number in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        lo + (hi - lo) * ((self.0 >> 11) as f64 / (1_u64 << 53) as f64)
    }
    /// `n` numbers in `[lo, hi)`.
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// Value, gradient and Hessian by hyper-dual numbers: `n²` evaluations, `H_ij` the `ε₁ε₂` part
/// with `ε₁` on `x_i` and `ε₂` on `x_j` (all entries: the reference's symmetry is not assumed).
pub fn hyperdual_hessian(
    f: &dyn Fn(&[HyperDual64]) -> HyperDual64,
    x: &[f64],
) -> (f64, Vec<f64>, Vec<Vec<f64>>) {
    let n = x.len();
    let mut value = 0.0;
    let mut grad = vec![0.0; n];
    let mut h = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..n {
            let mut p: Vec<HyperDual64> = x.iter().map(|&xi| HyperDual64::from_re(xi)).collect();
            p[i].eps1 = 1.0;
            p[j].eps2 = 1.0;
            let r = f(&p);
            value = r.re;
            grad[i] = r.eps1;
            h[i][j] = r.eps1eps2;
        }
    }
    (value, grad, h)
}

/// `(Hv)_j` by hyper-dual numbers: `ε₁` seeded along `v`, `ε₂` on `x_j`.
pub fn hyperdual_hvp(f: &dyn Fn(&[HyperDual64]) -> HyperDual64, x: &[f64], v: &[f64]) -> Vec<f64> {
    (0..x.len())
        .map(|j| {
            let p: Vec<HyperDual64> = x
                .iter()
                .zip(v)
                .enumerate()
                .map(|(i, (&xi, &vi))| {
                    HyperDual64::new(xi, vi, if i == j { 1.0 } else { 0.0 }, 0.0)
                })
                .collect();
            f(&p).eps1eps2
        })
        .collect()
}

/// Value and gradient by hyper-dual numbers (`ε₁` on each `x_i` in turn).
pub fn hyperdual_grad(f: &dyn Fn(&[HyperDual64]) -> HyperDual64, x: &[f64]) -> (f64, Vec<f64>) {
    let mut value = f64::NAN;
    let grad = (0..x.len())
        .map(|i| {
            let mut p: Vec<HyperDual64> = x.iter().map(|&xi| HyperDual64::from_re(xi)).collect();
            p[i].eps1 = 1.0;
            let r = f(&p);
            value = r.re;
            r.eps1
        })
        .collect();
    (value, grad)
}
