//! Second order against an independent exact reference: `NAME_hvp` and `NAME_hessian` checked
//! against hyper-dual numbers from the `num-dual` crate.
//!
//! Each function below is written twice:
//!
//! - once as a user writes it, generic over `T: num_traits::Float` and annotated with
//!   `#[differentiate]`, which generates `NAME_grad`, `NAME_hvp` (forward over reverse) and, for
//!   scalar parameters or one slice/array/`Vec` parameter, `NAME_hessian`;
//! - once as a reference over `num_dual::DualNum` (`*_ref`), written from the mathematics rather
//!   than copied (the log-sum-exps without the maximum shift, the GMM's `Q_k` as an explicit
//!   lower-triangular matrix, …), and never touching the generated code or the runtime.
//!
//! The reference Hessian is `num_dual::HyperDual64`: one evaluation per entry `(i, j)`, with
//! `ε₁` seeded on `x_i` and `ε₂` on `x_j`, so `H_ij` is the `ε₁ε₂` part (all `n²` entries, so
//! the reference's own symmetry is not assumed). A Hessian-vector product is checked against a
//! hyper-dual evaluation with `ε₁` seeded along `v` and `ε₂` on `x_j` (`(Hv)_j`) and against
//! `H_ref · v`; `vᵀHv` also against `num_dual::Dual2_64` along the line `x + t v`. Both are
//! exact second derivatives, so the tolerance is relative `1e-10` (`|got − want| ≤ 1e-10 ·
//! max(1, |want|)`); the Hessians must be symmetric to `1e-12` (same scale); the value and
//! gradient `NAME_hvp` returns must equal `NAME_grad`'s bit for bit, and `NAME_hessian`'s value
//! the function's own.
//!
//! The functions (issue 8): Rosenbrock in two scalars; extended Rosenbrock over a slice at
//! n = 2, 5, 10; a log-sum-exp whose max shift is a loop with an `if` (also at ties); ADBench's
//! GMM objective at d = 2, K = 5, n = 10 on three pseudo-random instances, also with all alphas
//! tied (its full 30 × 30 Hessian over alphas, means and icf, assembled from `NAME_hvp` along
//! unit directions since it has three slice parameters and so no `NAME_hessian`); a
//! piecewise function with `if`/`else if` and a `match` with a guard inside a `for` over an
//! array; a Newton solve in a `while` whose trip count depends on the active values (its
//! reference runs the same iteration: what is differentiated is the algorithm); and a Taylor
//! series in a `loop` with `continue`, a data-dependent `break` and an early `return` (its
//! reference is the closed form, `sinh` and `cosh`).

#![allow(
    clippy::needless_range_loop,
    clippy::too_many_arguments,
    clippy::type_complexity,
    reason = "index loops over flat arrays and ADBench's many GMM arguments are what these tests differentiate"
)]

use std::f64::consts::PI;

use autodiff::differentiate;
use num_dual::{Dual2_64, DualNum, HyperDual64};
use num_traits::Float;

mod common;

use common::hyperdual::{
    assert_all_close, assert_close, bits, err, hyperdual_hessian, hyperdual_hvp, Lcg, SYM_TOL,
};

/// `vᵀHv = d²/dt² f(x + t v)` at `t = 0`, by second-order dual numbers.
fn dual2_vhv(f: &dyn Fn(&[Dual2_64]) -> Dual2_64, x: &[f64], v: &[f64]) -> f64 {
    let p: Vec<Dual2_64> = x
        .iter()
        .zip(v)
        .map(|(&xi, &vi)| Dual2_64::new(xi, vi, 0.0))
        .collect();
    f(&p).v2
}

/// The generated companions of one function, seen through flat slices of its active parameters.
struct Generated<'a> {
    name: &'a str,
    /// The function itself.
    plain: &'a dyn Fn(&[f64]) -> f64,
    /// `NAME_grad`.
    grad: &'a dyn Fn(&[f64]) -> (f64, Vec<f64>),
    /// `NAME_hvp`: value, gradient, Hv.
    hvp: &'a dyn Fn(&[f64], &[f64]) -> (f64, Vec<f64>, Vec<f64>),
    /// `NAME_hessian`, or the Hessian assembled from `NAME_hvp` along unit directions.
    hessian: &'a dyn Fn(&[f64]) -> (f64, Vec<Vec<f64>>),
}

/// The reference, instantiated at both num-dual types.
struct Reference<'a> {
    hyper: &'a dyn Fn(&[HyperDual64]) -> HyperDual64,
    dual2: &'a dyn Fn(&[Dual2_64]) -> Dual2_64,
}

/// Checks one function at one point against the reference: the Hessian entry by entry, its
/// symmetry, three Hessian-vector products (two pseudo-random directions and one unit
/// direction), and the bit-for-bit agreement of values and gradients. Returns the largest
/// relative error of the Hessian and of the products.
fn check_at(gen: &Generated, r: &Reference, x: &[f64], seed: u64) -> (f64, f64) {
    let name = gen.name;
    let n = x.len();
    let (ref_value, ref_grad, ref_h) = hyperdual_hessian(r.hyper, x);
    let (value, grad) = (gen.grad)(x);
    assert_eq!(
        value.to_bits(),
        (gen.plain)(x).to_bits(),
        "{name} at {x:?}: NAME_grad's value is not the function's"
    );
    assert_close(&format!("{name} at {x:?}: value"), value, ref_value);
    assert_all_close(&format!("{name} at {x:?}: gradient"), &grad, &ref_grad);

    // The dense Hessian.
    let (h_value, h) = (gen.hessian)(x);
    assert_eq!(
        h_value.to_bits(),
        (gen.plain)(x).to_bits(),
        "{name} at {x:?}: the Hessian's value is not the function's"
    );
    assert_eq!(h.len(), n, "{name}: Hessian rows");
    let mut worst_h: f64 = 0.0;
    for i in 0..n {
        assert_eq!(h[i].len(), n, "{name}: Hessian row {i}");
        for j in 0..n {
            assert_close(
                &format!("{name} at {x:?}: H[{i}][{j}]"),
                h[i][j],
                ref_h[i][j],
            );
            worst_h = worst_h.max(err(h[i][j], ref_h[i][j]));
            let asym = (h[i][j] - h[j][i]).abs() / h[i][j].abs().max(1.0);
            assert!(
                asym <= SYM_TOL,
                "{name} at {x:?}: H[{i}][{j}] = {:e} but H[{j}][{i}] = {:e}",
                h[i][j],
                h[j][i]
            );
        }
    }

    // Hessian-vector products.
    let mut rng = Lcg::new(seed);
    let mut directions = vec![rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0)];
    let mut unit = vec![0.0; n];
    unit[(seed as usize) % n] = 1.0;
    directions.push(unit);
    let mut worst_hv: f64 = 0.0;
    for v in &directions {
        let (hv_value, hv_grad, hv) = (gen.hvp)(x, v);
        assert_eq!(
            hv_value.to_bits(),
            value.to_bits(),
            "{name} at {x:?}: NAME_hvp's value is not NAME_grad's"
        );
        assert_eq!(
            bits(&hv_grad),
            bits(&grad),
            "{name} at {x:?}: NAME_hvp's gradient is not NAME_grad's bit for bit"
        );
        let what = format!("{name} at {x:?}, v = {v:?}: Hv");
        let want = hyperdual_hvp(r.hyper, x, v);
        assert_all_close(&what, &hv, &want);
        let h_ref_v: Vec<f64> = ref_h
            .iter()
            .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
            .collect();
        assert_all_close(&format!("{what} (H_ref v)"), &hv, &h_ref_v);
        for (a, b) in hv.iter().zip(&want) {
            worst_hv = worst_hv.max(err(*a, *b));
        }
        let vhv: f64 = hv.iter().zip(v).map(|(a, b)| a * b).sum();
        let want = dual2_vhv(r.dual2, x, v);
        assert_close(&format!("{what}: vᵀHv against Dual2"), vhv, want);
    }
    (worst_h, worst_hv)
}

fn check_points(gen: &Generated, r: &Reference, points: &[Vec<f64>]) {
    let (mut worst_h, mut worst_hv) = (0.0_f64, 0.0_f64);
    for (k, x) in points.iter().enumerate() {
        let (h, hv) = check_at(gen, r, x, 17 + k as u64);
        worst_h = worst_h.max(h);
        worst_hv = worst_hv.max(hv);
    }
    eprintln!(
        "{}: {} points, largest relative error: Hessian {worst_h:e}, Hv {worst_hv:e}",
        gen.name,
        points.len()
    );
}

/// `Vec<Vec<T>>` from `[[T; N]; N]`.
fn rows<const N: usize>(h: [[f64; N]; N]) -> Vec<Vec<f64>> {
    h.iter().map(|r| r.to_vec()).collect()
}

// ----- Rosenbrock ---------------------------------------------------------------------------

#[differentiate]
fn rosen<T: Float>(x: T, y: T) -> T {
    let a = T::one() - x;
    let b = y - x * x;
    a * a + T::from(100.0).unwrap() * b * b
}

fn rosen_ref<D: DualNum<Primitive = f64> + Copy>(p: &[D]) -> D {
    let (x, y) = (p[0], p[1]);
    (D::one() - x).powi(2) + (y - x.powi(2)).powi(2) * 100.0
}

#[test]
fn rosenbrock_two_scalars() {
    let gen = Generated {
        name: "rosen",
        plain: &|p| rosen(p[0], p[1]),
        grad: &|p| {
            let (v, (gx, gy)) = rosen_grad(p[0], p[1]);
            (v, vec![gx, gy])
        },
        hvp: &|p, v| {
            let (f, (gx, gy), (hx, hy)) = rosen_hvp(p[0], p[1], v[0], v[1]);
            (f, vec![gx, gy], vec![hx, hy])
        },
        hessian: &|p| {
            let (f, h) = rosen_hessian(p[0], p[1]);
            (f, rows(h))
        },
    };
    let r = Reference {
        hyper: &|p| rosen_ref(p),
        dual2: &|p| rosen_ref(p),
    };
    let points = [
        vec![-1.2, 1.0],
        vec![1.0, 1.0],
        vec![0.3, -0.4],
        vec![2.5, 6.1],
        vec![-0.7, 0.05],
    ];
    check_points(&gen, &r, &points);
}

/// Extended Rosenbrock over a slice.
#[differentiate]
fn ext_rosen<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() - 1 {
        let a = T::one() - x[i];
        let b = x[i + 1] - x[i] * x[i];
        s = s + a * a + T::from(100.0).unwrap() * b * b;
    }
    s
}

fn ext_rosen_ref<D: DualNum<Primitive = f64> + Copy>(x: &[D]) -> D {
    x.windows(2)
        .map(|w| (D::one() - w[0]).powi(2) + (w[1] - w[0].powi(2)).powi(2) * 100.0)
        .sum()
}

#[test]
fn extended_rosenbrock_n_2_5_10() {
    let gen = Generated {
        name: "ext_rosen",
        plain: &|x| ext_rosen(x),
        grad: &|x| ext_rosen_grad(x),
        hvp: &|x, v| ext_rosen_hvp(x, v),
        hessian: &|x| ext_rosen_hessian(x),
    };
    let r = Reference {
        hyper: &|x| ext_rosen_ref(x),
        dual2: &|x| ext_rosen_ref(x),
    };
    for n in [2, 5, 10] {
        let mut rng = Lcg::new(n as u64);
        let points = [
            vec![1.0; n],
            (0..n)
                .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
                .collect(),
            rng.vec(n, -2.0, 2.0),
            rng.vec(n, -2.0, 2.0),
        ];
        check_points(&gen, &r, &points);
    }
}

// ----- log-sum-exp --------------------------------------------------------------------------

/// `ln Σ exp(x_i)`, shifted by the maximum found with a loop and an `if`.
#[differentiate]
fn lse<T: Float>(x: &[T]) -> T {
    let mut m = x[0];
    for i in 1..x.len() {
        if x[i] > m {
            m = x[i];
        }
    }
    let mut s = T::zero();
    for &v in x.iter() {
        s = s + (v - m).exp();
    }
    m + s.ln()
}

/// Without the shift: the entries stay small enough for `exp`.
fn lse_ref<D: DualNum<Primitive = f64> + Copy>(x: &[D]) -> D {
    x.iter().map(|v| v.exp()).sum::<D>().ln()
}

#[test]
fn log_sum_exp_with_its_max_shift() {
    let gen = Generated {
        name: "lse",
        plain: &|x| lse(x),
        grad: &|x| lse_grad(x),
        hvp: &|x, v| lse_hvp(x, v),
        hessian: &|x| lse_hessian(x),
    };
    let r = Reference {
        hyper: &|x| lse_ref(x),
        dual2: &|x| lse_ref(x),
    };
    let mut rng = Lcg::new(5);
    let points = [
        vec![0.3, -1.2, 0.8, 1.5, 0.9],
        // the maximum first, last, and tied (the shift is exact whichever entry it picks)
        vec![4.0, 1.0, -2.0],
        vec![-3.0, 0.5, 2.0, 7.5],
        vec![0.7, 0.7, -0.2, 0.7],
        vec![1.25],
        rng.vec(8, -5.0, 5.0),
        rng.vec(12, -20.0, 20.0),
    ];
    check_points(&gen, &r, &points);
}

// ----- ADBench GMM, d = 2, K = 5 ------------------------------------------------------------

/// ADBench's GMM objective as a user writes it generically: the flat layout of ADBench (`means`
/// `k × d`, `icf` `k × d(d+1)/2` with the `d` log-diagonal entries first, then the strictly-lower
/// ones column by column), log-sum-exps with their maximum, and `Q_k (x_i − mu_k)` as a
/// triangular product. The data-only `ln Γ_d(N/2)` is passed in as an inactive `T`.
#[differentiate(wrt(alpha, means, icf))]
fn gmm<T: Float>(
    d: usize,
    k: usize,
    n: usize,
    alpha: &[T],
    means: &[T],
    icf: &[T],
    x: &[T],
    gamma: T,
    m: i32,
    ln_multigamma: T,
) -> T {
    let icf_sz = d * (d + 1) / 2;
    let half = T::from(0.5).unwrap();
    let constant =
        -T::from(n * d).unwrap() * half * T::from(2.0 * std::f64::consts::PI).unwrap().ln();
    let big_n = d + m as usize + 1;
    let wishart_c = T::from(big_n * d).unwrap() * (gamma.ln() - half * T::from(2.0).unwrap().ln())
        - ln_multigamma;

    let mut qdiags = vec![T::zero(); k * d];
    let mut sum_qs = vec![T::zero(); k];
    for ik in 0..k {
        let mut s = T::zero();
        for j in 0..d {
            s = s + icf[ik * icf_sz + j];
            qdiags[ik * d + j] = icf[ik * icf_sz + j].exp();
        }
        sum_qs[ik] = s;
    }

    let mut xcentered = vec![T::zero(); d];
    let mut qxcentered = vec![T::zero(); d];
    let mut main_term = vec![T::zero(); k];
    let mut slse = T::zero();
    for ix in 0..n {
        for ik in 0..k {
            for j in 0..d {
                xcentered[j] = x[ix * d + j] - means[ik * d + j];
            }
            for j in 0..d {
                qxcentered[j] = qdiags[ik * d + j] * xcentered[j];
            }
            let mut l = ik * icf_sz + d;
            for i in 0..d {
                for j in i + 1..d {
                    qxcentered[j] = qxcentered[j] + icf[l] * xcentered[i];
                    l += 1;
                }
            }
            let mut sqnorm = T::zero();
            for j in 0..d {
                sqnorm = sqnorm + qxcentered[j] * qxcentered[j];
            }
            main_term[ik] = alpha[ik] + sum_qs[ik] - half * sqnorm;
        }
        let mut mx = main_term[0];
        for ik in 1..k {
            mx = mx.max(main_term[ik]);
        }
        let mut sumexp = T::zero();
        for ik in 0..k {
            sumexp = sumexp + (main_term[ik] - mx).exp();
        }
        slse = slse + mx + sumexp.ln();
    }

    let mut amax = alpha[0];
    for ik in 1..k {
        amax = amax.max(alpha[ik]);
    }
    let mut asum = T::zero();
    for ik in 0..k {
        asum = asum + (alpha[ik] - amax).exp();
    }
    let lse_alpha = amax + asum.ln();

    let mut prior = T::zero();
    for ik in 0..k {
        let mut frobenius = T::zero();
        for j in 0..d {
            frobenius = frobenius + qdiags[ik * d + j] * qdiags[ik * d + j];
        }
        for j in d..icf_sz {
            frobenius = frobenius + icf[ik * icf_sz + j] * icf[ik * icf_sz + j];
        }
        prior = prior + half * gamma * gamma * frobenius - T::from(m).unwrap() * sum_qs[ik];
    }

    constant + slse - T::from(n).unwrap() * lse_alpha + prior - T::from(k).unwrap() * wishart_c
}

/// `Γ(a)` for a positive integer or half-integer `a`, by `Γ(a + 1) = a Γ(a)` from `Γ(1) = 1` and
/// `Γ(½) = √π`.
fn gamma_half_integer(a: f64) -> f64 {
    let mut g = if a.fract() == 0.0 { 1.0 } else { PI.sqrt() };
    let mut t = if a.fract() == 0.0 { 1.0 } else { 0.5 };
    while t < a {
        g *= t;
        t += 1.0;
    }
    g
}

/// One GMM instance in ADBench's flat layout.
struct Gmm {
    d: usize,
    k: usize,
    n: usize,
    alpha: Vec<f64>,
    means: Vec<f64>,
    icf: Vec<f64>,
    x: Vec<f64>,
    gamma: f64,
    m: i32,
}

impl Gmm {
    /// ADBench's ranges: `alpha` and `icf` in `[-1, 1)`, `means` and `x` in `[0, 1)`.
    fn random(d: usize, k: usize, n: usize, seed: u64) -> Self {
        let mut rng = Lcg::new(seed);
        let icf_sz = d * (d + 1) / 2;
        Gmm {
            d,
            k,
            n,
            alpha: rng.vec(k, -1.0, 1.0),
            means: rng.vec(k * d, 0.0, 1.0),
            icf: rng.vec(k * icf_sz, -1.0, 1.0),
            x: rng.vec(n * d, 0.0, 1.0),
            gamma: rng.uniform(0.5, 1.5),
            m: (seed % 3) as i32,
        }
    }

    /// `ln Γ_d(N/2)`, `N = d + m + 1`: `¼ d(d−1) ln π + Σ_{j=1..d} ln Γ(N/2 + (1 − j)/2)`.
    fn ln_multigamma(&self) -> f64 {
        let a = 0.5 * (self.d + self.m as usize + 1) as f64;
        let mut out = 0.25 * (self.d * (self.d - 1)) as f64 * PI.ln();
        for j in 1..=self.d {
            out += gamma_half_integer(a + 0.5 * (1.0 - j as f64)).ln();
        }
        out
    }

    fn params(&self) -> Vec<f64> {
        [self.alpha.as_slice(), &self.means, &self.icf].concat()
    }

    /// The parameter vector cut into `alpha`, `means`, `icf`.
    fn split<'a, T>(&self, p: &'a [T]) -> (&'a [T], &'a [T], &'a [T]) {
        let (alpha, rest) = p.split_at(self.k);
        let (means, icf) = rest.split_at(self.k * self.d);
        (alpha, means, icf)
    }

    fn call(&self, p: &[f64]) -> f64 {
        let (a, mu, q) = self.split(p);
        gmm(
            self.d,
            self.k,
            self.n,
            a,
            mu,
            q,
            &self.x,
            self.gamma,
            self.m,
            self.ln_multigamma(),
        )
    }

    fn grad(&self, p: &[f64]) -> (f64, Vec<f64>) {
        let (a, mu, q) = self.split(p);
        let (value, (da, dm, dq)) = gmm_grad(
            self.d,
            self.k,
            self.n,
            a,
            mu,
            q,
            &self.x,
            self.gamma,
            self.m,
            self.ln_multigamma(),
        );
        (value, [da, dm, dq].concat())
    }

    fn hvp(&self, p: &[f64], v: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        let (a, mu, q) = self.split(p);
        let (va, vm, vq) = self.split(v);
        let (value, (da, dm, dq), (ha, hm, hq)) = gmm_hvp(
            self.d,
            self.k,
            self.n,
            a,
            mu,
            q,
            &self.x,
            self.gamma,
            self.m,
            self.ln_multigamma(),
            va,
            vm,
            vq,
        );
        (value, [da, dm, dq].concat(), [ha, hm, hq].concat())
    }

    /// Three slice parameters get no `gmm_hessian`: the dense Hessian is its columns, one
    /// `gmm_hvp` per unit direction (the Hessian is symmetric, so columns are rows).
    fn hessian(&self, p: &[f64]) -> (f64, Vec<Vec<f64>>) {
        let n = p.len();
        let mut value = 0.0;
        let mut h = Vec::with_capacity(n);
        for i in 0..n {
            let mut e = vec![0.0; n];
            e[i] = 1.0;
            let (f, _, hv) = self.hvp(p, &e);
            value = f;
            h.push(hv);
        }
        (value, h)
    }

    /// The reference from the mathematics: `Q_k` built as a lower-triangular matrix,
    /// `z = Q_k (mu_k − x_i)` row by row, the log-sum-exps without a shift, and the data-only
    /// constants in `f64`.
    fn reference<D: DualNum<Primitive = f64> + Copy>(&self, p: &[D]) -> D {
        let (d, k, n) = (self.d, self.k, self.n);
        let icf_sz = d * (d + 1) / 2;
        let (alpha, means, icf) = self.split(p);
        let q_mats: Vec<Vec<Vec<D>>> = (0..k)
            .map(|c| {
                let q = &icf[c * icf_sz..(c + 1) * icf_sz];
                let mut mat = vec![vec![D::zero(); d]; d];
                for r in 0..d {
                    mat[r][r] = q[r].exp();
                }
                let mut l = d;
                for col in 0..d {
                    for row in col + 1..d {
                        mat[row][col] = q[l];
                        l += 1;
                    }
                }
                mat
            })
            .collect();
        let log_dets: Vec<D> = (0..k)
            .map(|c| icf[c * icf_sz..c * icf_sz + d].iter().copied().sum())
            .collect();
        let mut total = D::zero();
        for i in 0..n {
            let mut mixture = D::zero();
            for c in 0..k {
                let mut sqnorm = D::zero();
                for r in 0..d {
                    let mut z = D::zero();
                    for col in 0..=r {
                        z += q_mats[c][r][col] * (means[c * d + col] - self.x[i * d + col]);
                    }
                    sqnorm += z * z;
                }
                mixture += (alpha[c] + log_dets[c] - sqnorm * 0.5).exp();
            }
            total += mixture.ln();
        }
        let lse_alpha = alpha.iter().map(|a| a.exp()).sum::<D>().ln();
        total -= lse_alpha * n as f64;
        for c in 0..k {
            let diag: D = (0..d).map(|r| q_mats[c][r][r].powi(2)).sum();
            let lower: D = icf[c * icf_sz + d..(c + 1) * icf_sz]
                .iter()
                .map(|l| l.powi(2))
                .sum();
            total += (diag + lower) * (0.5 * self.gamma * self.gamma) - log_dets[c] * self.m as f64;
        }
        let big_n = (d + self.m as usize + 1) as f64;
        let wishart_c =
            big_n * d as f64 * (self.gamma.ln() - 0.5 * 2.0_f64.ln()) - self.ln_multigamma();
        total + (-(n as f64) * d as f64 * 0.5 * (2.0 * PI).ln() - k as f64 * wishart_c)
    }
}

#[test]
fn gmm_d2_k5_full_hessian() {
    for seed in [1, 2, 3] {
        let inst = Gmm::random(2, 5, 10, seed);
        assert_eq!(inst.params().len(), 30);
        let gen = Generated {
            name: "gmm d2 K5 n10",
            plain: &|p| inst.call(p),
            grad: &|p| inst.grad(p),
            hvp: &|p, v| inst.hvp(p, v),
            hessian: &|p| inst.hessian(p),
        };
        let r = Reference {
            hyper: &|p| inst.reference(p),
            dual2: &|p| inst.reference(p),
        };
        // The instance's own parameters, and the same moved off them.
        let mut rng = Lcg::new(100 + seed);
        let moved: Vec<f64> = inst
            .params()
            .iter()
            .map(|p| p + rng.uniform(-0.5, 0.5))
            .collect();
        // All alphas equal: every `max` of `logsumexp(alpha)` is a tie.
        let mut tied = inst.params();
        tied[..inst.k].fill(0.25);
        check_points(&gen, &r, &[inst.params(), moved, tied]);
    }
}

// ----- loops and branches -------------------------------------------------------------------

/// A chain over a fixed array: each element goes through one of three pieces (`if` / `else if`
/// / `else` inside the `for`), and the next element's coupling `prev` is chosen by a `match` on
/// the index with an alternative and a guard on an active value.
#[differentiate]
fn piecewise<T: Float>(x: &[T; 6]) -> T {
    let mut s = T::zero();
    let mut prev = T::one();
    for i in 0..6 {
        let xi = x[i];
        if xi > T::from(0.5).unwrap() {
            s = s + xi * xi * xi * prev;
        } else if xi < -T::one() {
            s = s - (xi * prev).exp();
        } else {
            s = s + (xi + prev).sin() * xi;
        }
        prev = match i % 3 {
            0 => xi.tanh(),
            1 | 2 if xi > T::zero() => (xi * xi + T::one()).ln(),
            _ => xi.cos() * T::from(0.5).unwrap(),
        };
    }
    s
}

fn piecewise_ref<D: DualNum<Primitive = f64> + Copy>(x: &[D]) -> D {
    let mut s = D::zero();
    let mut prev = D::one();
    for (i, &xi) in x.iter().enumerate() {
        s += if xi.re() > 0.5 {
            xi.powi(3) * prev
        } else if xi.re() < -1.0 {
            -(xi * prev).exp()
        } else {
            (xi + prev).sin() * xi
        };
        prev = if i % 3 == 0 {
            xi.tanh()
        } else if xi.re() > 0.0 {
            (xi.powi(2) + 1.0).ln()
        } else {
            xi.cos() * 0.5
        };
    }
    s
}

#[test]
fn piecewise_for_with_if_and_match() {
    let gen = Generated {
        name: "piecewise",
        plain: &|x| piecewise(x.try_into().unwrap()),
        grad: &|x| {
            let (f, g) = piecewise_grad(x.try_into().unwrap());
            (f, g.to_vec())
        },
        hvp: &|x, v| {
            let (f, g, hv) = piecewise_hvp(x.try_into().unwrap(), v.try_into().unwrap());
            (f, g.to_vec(), hv.to_vec())
        },
        hessian: &|x| piecewise_hessian(x.try_into().unwrap()),
    };
    let r = Reference {
        hyper: &|x| piecewise_ref(x),
        dual2: &|x| piecewise_ref(x),
    };
    // Every piece and every match arm taken somewhere; no point on a kink (±0.5, -1, 0).
    let points = [
        vec![0.9, -0.3, 1.4, -1.7, 0.2, 0.8],
        vec![-1.3, 0.7, -0.4, 0.1, -2.2, 1.1],
        vec![0.3, 0.35, -0.9, 2.0, 0.6, -0.05],
        vec![1.8, -1.5, 0.45, -0.6, 1.2, -1.25],
    ];
    check_points(&gen, &r, &points);
}

/// `t c + sin(t a)` where `t` solves `t³ + a t = b` (one real root for `a > 0`), by Newton's
/// method in a `while` that stops on a small step: the trip count depends on `a` and `b`.
#[differentiate]
fn newton<T: Float>(a: T, b: T, c: T) -> T {
    let mut t = b / (T::one() + a);
    let mut step = T::one();
    let mut iters = 0;
    while step.abs() > T::from(1e-13).unwrap() && iters < 50 {
        let f = t * t * t + a * t - b;
        let df = T::from(3.0).unwrap() * t * t + a;
        step = f / df;
        t = t - step;
        iters += 1;
    }
    t * c + (t * a).sin()
}

/// The same iteration (the derivative of the algorithm is what both sides compute), counting its
/// steps for the test.
fn newton_ref<D: DualNum<Primitive = f64> + Copy>(p: &[D], steps: &mut usize) -> D {
    let (a, b, c) = (p[0], p[1], p[2]);
    let mut t = b / (a + 1.0);
    *steps = 0;
    loop {
        let step = (t.powi(3) + a * t - b) / (t.powi(2) * 3.0 + a);
        t -= step;
        *steps += 1;
        if step.re().abs() <= 1e-13 || *steps == 50 {
            break;
        }
    }
    t * c + (t * a).sin()
}

#[test]
fn newton_in_a_while_with_a_data_dependent_trip_count() {
    let gen = Generated {
        name: "newton",
        plain: &|p| newton(p[0], p[1], p[2]),
        grad: &|p| {
            let (f, (ga, gb, gc)) = newton_grad(p[0], p[1], p[2]);
            (f, vec![ga, gb, gc])
        },
        hvp: &|p, v| {
            let (f, (ga, gb, gc), (ha, hb, hc)) = newton_hvp(p[0], p[1], p[2], v[0], v[1], v[2]);
            (f, vec![ga, gb, gc], vec![ha, hb, hc])
        },
        hessian: &|p| {
            let (f, h) = newton_hessian(p[0], p[1], p[2]);
            (f, rows(h))
        },
    };
    let r = Reference {
        hyper: &|p| newton_ref(p, &mut 0),
        dual2: &|p| newton_ref(p, &mut 0),
    };
    let points = [
        vec![1.0, 2.0, 0.5],
        vec![0.2, -3.0, 1.5],
        vec![4.0, 0.1, -0.7],
        vec![0.05, 10.0, 2.0],
    ];
    // The trip counts differ between the points.
    let trips: Vec<usize> = points
        .iter()
        .map(|p| {
            let mut steps = 0;
            newton_ref(&[p[0], p[1], p[2]], &mut steps);
            steps
        })
        .collect();
    eprintln!("newton: Newton steps per point {trips:?}");
    assert!(
        trips.iter().any(|&t| t != trips[0]),
        "trip counts {trips:?}"
    );
    check_points(&gen, &r, &points);
}

/// `x₁ sinh x₀ + x₂ cosh x₀` by their Taylor series in a `loop`: odd terms go to `sinh` and
/// `continue`, even terms to `cosh` and `break` once the term is negligible (the trip count
/// depends on `x₀`); a negative `x₁` returns early with the square.
#[differentiate]
fn series<T: Float>(x: Vec<T>) -> T {
    let mut term = T::one();
    let mut s = x[2];
    let mut k: u32 = 0;
    loop {
        k += 1;
        term = term * x[0] / T::from(k).unwrap();
        if k % 2 == 1 {
            s = s + term * x[1];
            continue;
        }
        s = s + term * x[2];
        if term.abs() < T::from(1e-18).unwrap() || k >= 200 {
            break;
        }
    }
    if x[1] < T::zero() {
        return s * s;
    }
    s + x[1] * x[2]
}

/// Written with the closed forms instead: the series is summed to beyond double precision,
/// so these agree to rounding.
fn series_ref<D: DualNum<Primitive = f64> + Copy>(x: &[D]) -> D {
    let s = x[1] * x[0].sinh() + x[2] * x[0].cosh();
    if x[1].re() < 0.0 {
        s * s
    } else {
        s + x[1] * x[2]
    }
}

#[test]
fn series_in_a_loop_with_continue_break_and_return() {
    let gen = Generated {
        name: "series",
        plain: &|x| series(x.to_vec()),
        grad: &|x| series_grad(x.to_vec()),
        hvp: &|x, v| series_hvp(x.to_vec(), v.to_vec()),
        hessian: &|x| series_hessian(x.to_vec()),
    };
    let r = Reference {
        hyper: &|x| series_ref(x),
        dual2: &|x| series_ref(x),
    };
    let points = [
        vec![0.4, 1.3, -0.6],
        vec![-1.7, 0.8, 2.1],
        vec![2.3, -0.9, 0.5],
        vec![-0.2, -1.4, -1.1],
    ];
    check_points(&gen, &r, &points);
}
