//! ADBench's GMM objective: the log-likelihood of `n` points under a mixture of `k` Gaussians in
//! `d` dimensions, plus a Wishart prior on the inverse covariances.
//!
//! [`gmm_objective`] is written as a user would write it for `#[differentiate]`: one function of
//! slices with plain index loops (the log-sum-exps and the triangular products inline), so the
//! macro generates [`gmm_objective_grad`]. [`gmm_gradient`] is the same gradient written by hand,
//! the "Manual" baseline ADBench measures tools against. [`GmmInput::read`] reads ADBench's
//! `gmm_dD_KK.txt` files and [`GmmInput::random`] makes small instances for tests.
//!
//! # Layout
//!
//! Everything is flat and row-major: `means` is `k × d`, `icf` is `k × d(d+1)/2`, `x` is `n × d`.
//! Row `icf_k` holds first the `d` logs `q_k` of the diagonal of the lower-triangular `Q_k`, then
//! its strictly-lower entries column by column (entry `(i, j)`, `i > j`, `j` outer, `i` inner).
//!
//! # The objective
//!
//! ```text
//! f = -n·d/2·ln(2π)
//!     + Σ_i logsumexp_k( alpha_k + Σ q_k − ½‖Q_k (x_i − mu_k)‖² )
//!     − n · logsumexp_k(alpha_k)
//!     + Σ_k [ ½ gamma² (‖exp(q_k)‖² + ‖strictly-lower(icf_k)‖²) − m · Σ q_k ]
//!     − k · C,    C = N·d·(ln gamma − ½ ln 2) − ln Γ_d(N/2),   N = d + m + 1
//! ```
#![allow(
    clippy::needless_range_loop,
    clippy::too_many_arguments,
    reason = "the objective is ADBench's flat-array loops over its nine arguments, as a user writes them for #[differentiate]"
)]

use std::f64::consts::PI;
use std::fmt;
use std::path::Path;

use autodiff::differentiate;

/// One GMM instance: the parameters (`alpha`, `means`, `icf`) and the constants (`x`, `gamma`,
/// `m`), in ADBench's flat layout (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct GmmInput {
    /// Dimension of the points.
    pub d: usize,
    /// Number of mixture components.
    pub k: usize,
    /// Number of points.
    pub n: usize,
    /// Unnormalised log weights of the components, `k`.
    pub alpha: Vec<f64>,
    /// Component means, `k × d` row-major.
    pub means: Vec<f64>,
    /// Inverse-covariance factors, `k × d(d+1)/2` row-major: `d` log-diagonal entries, then the
    /// strictly-lower entries column by column.
    pub icf: Vec<f64>,
    /// The points, `n × d` row-major.
    pub x: Vec<f64>,
    /// The Wishart prior's scale.
    pub gamma: f64,
    /// The Wishart prior's extra degrees of freedom.
    pub m: i32,
}

/// Why a GMM file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// The file is not in ADBench's format: what was expected where.
    Format(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot read the GMM file: {e}"),
            Self::Format(what) => write!(f, "not an ADBench GMM file: {what}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Format(_) => None,
        }
    }
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl GmmInput {
    /// Reads one of ADBench's `gmm_dD_KK.txt` files: `d k n`, then `alpha`, `means`, `icf`, `x`
    /// and `gamma m`, all whitespace-separated.
    ///
    /// # Errors
    /// [`ReadError::Io`] if the file cannot be read, [`ReadError::Format`] if a number is missing,
    /// malformed, or followed by more data.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ReadError> {
        Self::parse(&std::fs::read_to_string(path)?)
    }

    /// Parses the contents of a GMM file (see [`GmmInput::read`]).
    ///
    /// # Errors
    /// [`ReadError::Format`] if a number is missing, malformed, or followed by more data.
    pub fn parse(text: &str) -> Result<Self, ReadError> {
        let mut tokens = text.split_ascii_whitespace();
        let mut next = |what: &str| {
            tokens
                .next()
                .ok_or_else(|| ReadError::Format(format!("the file ends before {what}")))
        };
        let mut int = |what: &str| -> Result<usize, ReadError> {
            let t = next(what)?;
            t.parse()
                .map_err(|_| ReadError::Format(format!("{what} is `{t}`, not a count")))
        };
        let (d, k, n) = (int("d")?, int("k")?, int("n")?);
        if d == 0 || k == 0 {
            return Err(ReadError::Format(format!(
                "d = {d} and k = {k} must be positive"
            )));
        }
        let icf_sz = d * (d + 1) / 2;
        let mut tokens = text.split_ascii_whitespace().skip(3);
        let mut floats = |len: usize, what: &str| -> Result<Vec<f64>, ReadError> {
            (0..len)
                .map(|i| {
                    let t = tokens.next().ok_or_else(|| {
                        ReadError::Format(format!("the file ends in {what} (number {i} of {len})"))
                    })?;
                    t.parse().map_err(|_| {
                        ReadError::Format(format!("{what} number {i} is `{t}`, not a number"))
                    })
                })
                .collect()
        };
        let alpha = floats(k, "alpha")?;
        let means = floats(k * d, "the means")?;
        let icf = floats(k * icf_sz, "icf")?;
        let x = floats(n * d, "the points")?;
        let gamma = floats(1, "gamma")?[0];
        let m = match tokens.next() {
            None => return Err(ReadError::Format("the file ends before m".into())),
            Some(t) => t
                .parse::<i32>()
                .map_err(|_| ReadError::Format(format!("m is `{t}`, not an integer")))?,
        };
        if let Some(t) = tokens.next() {
            return Err(ReadError::Format(format!("`{t}` after m")));
        }
        Ok(Self {
            d,
            k,
            n,
            alpha,
            means,
            icf,
            x,
            gamma,
            m,
        })
    }

    /// A small instance with reproducible pseudo-random entries (a 64-bit LCG seeded by `seed`):
    /// `alpha` and `icf` in `[-1, 1)`, `means` and `x` in `[0, 1)` as ADBench generates them,
    /// `gamma` in `[0.5, 1.5)` and `m` in `0..3`.
    #[must_use]
    pub fn random(d: usize, k: usize, n: usize, seed: u64) -> Self {
        assert!(d > 0 && k > 0, "d and k must be positive");
        let mut state = seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0x2545_F491_4F6C_DD1D);
        let mut uniform = move || {
            // Knuth's MMIX constants; the top 53 bits give a float in [0, 1).
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1_u64 << 53) as f64
        };
        let mut fill = |len: usize, lo: f64, hi: f64| -> Vec<f64> {
            (0..len).map(|_| lo + (hi - lo) * uniform()).collect()
        };
        let icf_sz = d * (d + 1) / 2;
        let alpha = fill(k, -1.0, 1.0);
        let means = fill(k * d, 0.0, 1.0);
        let icf = fill(k * icf_sz, -1.0, 1.0);
        let x = fill(n * d, 0.0, 1.0);
        let gamma = fill(1, 0.5, 1.5)[0];
        Self {
            d,
            k,
            n,
            alpha,
            means,
            icf,
            x,
            gamma,
            m: (seed % 3) as i32,
        }
    }

    /// The objective at this instance's parameters.
    #[must_use]
    pub fn objective(&self) -> f64 {
        gmm_objective(
            self.d,
            self.k,
            self.n,
            &self.alpha,
            &self.means,
            &self.icf,
            &self.x,
            self.gamma,
            self.m,
        )
    }

    /// The value and the generated gradient, its parts `d alpha`, `d means`, `d icf` one after
    /// the other (the order of [`GmmInput::params`]).
    #[must_use]
    pub fn generated_gradient(&self) -> (f64, Vec<f64>) {
        let (value, (da, dm, dq)) = gmm_objective_grad(
            self.d,
            self.k,
            self.n,
            &self.alpha,
            &self.means,
            &self.icf,
            &self.x,
            self.gamma,
            self.m,
        );
        (value, [da, dm, dq].concat())
    }

    /// The value and the hand-written gradient, laid out as [`GmmInput::generated_gradient`].
    #[must_use]
    pub fn manual_gradient(&self) -> (f64, Vec<f64>) {
        let (value, da, dm, dq) = gmm_gradient(
            self.d,
            self.k,
            self.n,
            &self.alpha,
            &self.means,
            &self.icf,
            &self.x,
            self.gamma,
            self.m,
        );
        (value, [da, dm, dq].concat())
    }

    /// The parameters `alpha`, `means`, `icf` one after the other.
    #[must_use]
    pub fn params(&self) -> Vec<f64> {
        [self.alpha.as_slice(), &self.means, &self.icf].concat()
    }
}

/// `ln Γ(x)` for `x > 0` (Lanczos' approximation, g = 7, nine terms; about 1e-15 relative), with
/// the reflection formula below ½. Only used on constants.
#[must_use]
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Γ(x) Γ(1 - x) = π / sin(πx)
        return (PI / (PI * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = COEF[0];
    let t = x + G + 0.5;
    for (i, &c) in COEF.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The log of the multivariate gamma function, `ln Γ_p(a) = ¼ p(p−1) ln π + Σ_{j=1..p}
/// lgamma(a + (1 − j)/2)`.
#[must_use]
pub fn ln_multi_gamma(a: f64, p: usize) -> f64 {
    let mut out = 0.25 * (p * (p - 1)) as f64 * PI.ln();
    for j in 1..=p {
        out += ln_gamma(a + 0.5 * (1.0 - j as f64));
    }
    out
}

/// ADBench's GMM objective (see the [module docs](self)), in plain loops: one function body, the
/// log-sum-exps written out with their maximum, `Q_k (x_i − mu_k)` as a triangular product.
///
/// `#[differentiate(wrt(alpha, means, icf), forward)]` generates [`gmm_objective_grad`],
/// returning the value and `(d alpha, d means, d icf)`, and the forward mode
/// [`gmm_objective_jvp`].
#[differentiate(wrt(alpha, means, icf), forward)]
pub fn gmm_objective(
    d: usize,
    k: usize,
    n: usize,
    alpha: &[f64],
    means: &[f64],
    icf: &[f64],
    x: &[f64],
    gamma: f64,
    m: i32,
) -> f64 {
    let icf_sz = d * (d + 1) / 2;
    // Constants: the Gaussians' normalisation and the Wishart prior's.
    let constant = -(n as f64) * (d as f64) * 0.5 * (2.0 * PI).ln();
    let big_n = d + m as usize + 1;
    let wishart_c = (big_n * d) as f64 * (gamma.ln() - 0.5 * 2.0_f64.ln())
        - ln_multi_gamma(0.5 * big_n as f64, d);

    // The diagonals of the Q_k and the sums of their logs.
    let mut qdiags = vec![0.0; k * d];
    let mut sum_qs = vec![0.0; k];
    for ik in 0..k {
        let mut s = 0.0;
        for j in 0..d {
            s += icf[ik * icf_sz + j];
            qdiags[ik * d + j] = icf[ik * icf_sz + j].exp();
        }
        sum_qs[ik] = s;
    }

    // Σ_i logsumexp_k(alpha_k + Σ q_k − ½‖Q_k (x_i − mu_k)‖²)
    let mut xcentered = vec![0.0; d];
    let mut qxcentered = vec![0.0; d];
    let mut main_term = vec![0.0; k];
    let mut slse = 0.0;
    for ix in 0..n {
        for ik in 0..k {
            for j in 0..d {
                xcentered[j] = x[ix * d + j] - means[ik * d + j];
            }
            // Q_k · xcentered: the diagonal, then the strictly-lower entries column by column.
            for j in 0..d {
                qxcentered[j] = qdiags[ik * d + j] * xcentered[j];
            }
            let mut l = ik * icf_sz + d;
            for i in 0..d {
                for j in i + 1..d {
                    qxcentered[j] += icf[l] * xcentered[i];
                    l += 1;
                }
            }
            let mut sqnorm = 0.0;
            for j in 0..d {
                sqnorm += qxcentered[j] * qxcentered[j];
            }
            main_term[ik] = alpha[ik] + sum_qs[ik] - 0.5 * sqnorm;
        }
        let mut mx = main_term[0];
        for ik in 1..k {
            mx = mx.max(main_term[ik]);
        }
        let mut sumexp = 0.0;
        for ik in 0..k {
            sumexp += (main_term[ik] - mx).exp();
        }
        slse += mx + sumexp.ln();
    }

    // logsumexp_k(alpha_k)
    let mut amax = alpha[0];
    for ik in 1..k {
        amax = amax.max(alpha[ik]);
    }
    let mut asum = 0.0;
    for ik in 0..k {
        asum += (alpha[ik] - amax).exp();
    }
    let lse_alpha = amax + asum.ln();

    // The Wishart prior.
    let mut prior = 0.0;
    for ik in 0..k {
        let mut frobenius = 0.0;
        for j in 0..d {
            frobenius += qdiags[ik * d + j] * qdiags[ik * d + j];
        }
        for j in d..icf_sz {
            frobenius += icf[ik * icf_sz + j] * icf[ik * icf_sz + j];
        }
        prior += 0.5 * gamma * gamma * frobenius - m as f64 * sum_qs[ik];
    }

    constant + slse - n as f64 * lse_alpha + prior - k as f64 * wishart_c
}

/// The value and gradient of [`gmm_objective`] written by hand: value, `d alpha`, `d means`,
/// `d icf`.
///
/// One pass over the points. For each point it keeps `x_i − mu_k` and `z = Q_k (x_i − mu_k)`
/// for every component (`2·k·d` temporaries), turns the main terms into the softmax weights
/// `w_k`, and accumulates `w_k`-weighted contributions: `d mu_k += w_k Q_kᵀ z`,
/// `d L_k(r, c) −= w_k z_r (x_i − mu_k)_c`, and `Σ_i w_k z_j (x_i − mu_k)_j` for the
/// log-diagonal, which is scaled by `exp(q_kj)` once at the end.
#[must_use]
pub fn gmm_gradient(
    d: usize,
    k: usize,
    n: usize,
    alpha: &[f64],
    means: &[f64],
    icf: &[f64],
    x: &[f64],
    gamma: f64,
    m: i32,
) -> (f64, Vec<f64>, Vec<f64>, Vec<f64>) {
    let icf_sz = d * (d + 1) / 2;
    let lt_sz = icf_sz - d;
    let constant = -(n as f64) * (d as f64) * 0.5 * (2.0 * PI).ln();
    let big_n = d + m as usize + 1;
    let wishart_c = (big_n * d) as f64 * (gamma.ln() - 0.5 * 2.0_f64.ln())
        - ln_multi_gamma(0.5 * big_n as f64, d);

    let mut qdiags = vec![0.0; k * d];
    let mut sum_qs = vec![0.0; k];
    for ik in 0..k {
        let q = &icf[ik * icf_sz..ik * icf_sz + d];
        sum_qs[ik] = q.iter().sum();
        for (qd, &qj) in qdiags[ik * d..(ik + 1) * d].iter_mut().zip(q) {
            *qd = qj.exp();
        }
    }

    let mut d_alpha = vec![0.0; k];
    let mut d_means = vec![0.0; k * d];
    let mut d_icf = vec![0.0; k * icf_sz];
    // Per point: x_i − mu_k, Q_k (x_i − mu_k), the main terms and then their exponentials.
    let mut xc = vec![0.0; k * d];
    let mut z = vec![0.0; k * d];
    let mut main_term = vec![0.0; k];
    let mut slse = 0.0;
    for xi in x.chunks_exact(d).take(n) {
        for ik in 0..k {
            let xck = &mut xc[ik * d..(ik + 1) * d];
            let zk = &mut z[ik * d..(ik + 1) * d];
            let mu = &means[ik * d..(ik + 1) * d];
            let qd = &qdiags[ik * d..(ik + 1) * d];
            let lt = &icf[ik * icf_sz + d..(ik + 1) * icf_sz];
            for j in 0..d {
                xck[j] = xi[j] - mu[j];
                zk[j] = qd[j] * xck[j];
            }
            let mut l = 0;
            for c in 0..d {
                let v = xck[c];
                for r in c + 1..d {
                    zk[r] += lt[l] * v;
                    l += 1;
                }
            }
            let sqnorm: f64 = zk.iter().map(|v| v * v).sum();
            main_term[ik] = alpha[ik] + sum_qs[ik] - 0.5 * sqnorm;
        }
        let mx = main_term.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sumexp = 0.0;
        for t in &mut main_term {
            *t = (*t - mx).exp();
            sumexp += *t;
        }
        slse += mx + sumexp.ln();
        let inv = 1.0 / sumexp;
        for ik in 0..k {
            let w = main_term[ik] * inv;
            d_alpha[ik] += w;
            let xck = &xc[ik * d..(ik + 1) * d];
            let zk = &z[ik * d..(ik + 1) * d];
            let qd = &qdiags[ik * d..(ik + 1) * d];
            let lt = &icf[ik * icf_sz + d..(ik + 1) * icf_sz];
            let (dq, dlt) = d_icf[ik * icf_sz..(ik + 1) * icf_sz].split_at_mut(d);
            let dmu = &mut d_means[ik * d..(ik + 1) * d];
            // d main / d z = −z: back through z = Q xc to Q's entries and to mu (xc = x − mu).
            let mut l = 0;
            for c in 0..d {
                let wz = w * zk[c];
                let wxc = w * xck[c];
                dq[c] -= wz * xck[c];
                let mut qtz = qd[c] * wz; // (w Qᵀ z)_c
                for r in c + 1..d {
                    qtz += lt[l] * w * zk[r];
                    dlt[l] -= wxc * zk[r];
                    l += 1;
                }
                dmu[c] += qtz;
            }
            debug_assert_eq!(l, lt_sz);
        }
    }

    // The log-diagonal's remaining terms: Σ_i w_ik from Σ q_k (now in `d_alpha`), the chain
    // rule through exp(q) for the −½‖z‖² part gathered above, and the Wishart prior.
    let g2 = gamma * gamma;
    let mf = f64::from(m);
    let mut prior = 0.0;
    for ik in 0..k {
        let qd = &qdiags[ik * d..(ik + 1) * d];
        let row = &mut d_icf[ik * icf_sz..(ik + 1) * icf_sz];
        let mut frobenius = 0.0;
        for j in 0..d {
            let e2 = qd[j] * qd[j];
            frobenius += e2;
            row[j] = row[j] * qd[j] + d_alpha[ik] + g2 * e2 - mf;
        }
        let lt = &icf[ik * icf_sz + d..(ik + 1) * icf_sz];
        for (dl, &lv) in row[d..].iter_mut().zip(lt) {
            frobenius += lv * lv;
            *dl += g2 * lv;
        }
        prior += 0.5 * g2 * frobenius - mf * sum_qs[ik];
    }

    // − n logsumexp(alpha)
    let amax = alpha.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let asum: f64 = alpha.iter().map(|a| (a - amax).exp()).sum();
    let lse_alpha = amax + asum.ln();
    let nf = n as f64;
    for ik in 0..k {
        d_alpha[ik] -= nf * (alpha[ik] - lse_alpha).exp();
    }

    let value = constant + slse - nf * lse_alpha + prior - k as f64 * wishart_c;
    (value, d_alpha, d_means, d_icf)
}
