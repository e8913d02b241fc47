//! Deterministic inputs: a small seeded generator and the problems the benchmarks and tests use.
//! No `rand` dependency, so the numbers are the same on every machine and every version.

use ndarray::{Array1, Array2};

/// SplitMix64 (Steele, Lea and Flood 2014): a 64-bit state, one multiply-xorshift output
/// function, good enough for test data and trivially reproducible.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal, by Box–Muller (one of the pair; the other is thrown away for simplicity).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1], so the logarithm is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform in `0..n`.
    ///
    /// # Panics
    ///
    /// When `n` is zero.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        (self.next_u64() % n as u64) as usize
    }

    /// A `rows × cols` matrix of normals times `scale`.
    pub fn normal_matrix(&mut self, rows: usize, cols: usize, scale: f64) -> Array2<f64> {
        Array2::from_shape_simple_fn((rows, cols), || scale * self.normal())
    }

    /// A vector of `n` normals times `scale`.
    pub fn normal_vector(&mut self, n: usize, scale: f64) -> Array1<f64> {
        Array1::from_shape_simple_fn(n, || scale * self.normal())
    }
}

/// `1 / sqrt(n)`: the scale of a layer's initial weights with fan-in `n` (LeCun's), which keeps
/// pre-activations of order one.
#[must_use]
pub fn lecun(fan_in: usize) -> f64 {
    1.0 / (fan_in as f64).sqrt()
}
