//! ADBench's GMM objective: the gradient `#[differentiate]` generates against the hand-written
//! one and against central differences on small generated instances, and against the
//! hand-written one on ADBench's own inputs with ADBench's measure of agreement.

#![allow(
    clippy::needless_range_loop,
    reason = "the textbook reference indexes its matrices by row and column as the formula does"
)]

use std::f64::consts::PI;
use std::time::Instant;

use autodiff::GradCheck;
use autodiff_adbench::gmm::{
    gmm_gradient, gmm_objective, gmm_objective_grad, gmm_objective_jvp, ln_gamma, ln_multi_gamma,
    GmmInput,
};
use autodiff_adbench::{data_dir, max_relative_error};

/// The small instances: every `d` in 1..=4 and `k` in 1..=3, `n` from 5 to 10, `m` in 0..3.
fn small_instances() -> impl Iterator<Item = GmmInput> {
    (1..=4).flat_map(|d| {
        (1..=3).map(move |k| {
            let seed = (10 * d + k) as u64;
            GmmInput::random(d, k, 5 + (d + 2 * k) % 6, seed)
        })
    })
}

/// The objective as a function of the flattened parameters.
fn objective_of(g: &GmmInput) -> impl Fn(&[f64]) -> f64 + '_ {
    let (ka, km) = (g.k, g.k * g.d);
    move |p: &[f64]| {
        gmm_objective(
            g.d,
            g.k,
            g.n,
            &p[..ka],
            &p[ka..ka + km],
            &p[ka + km..],
            &g.x,
            g.gamma,
            g.m,
        )
    }
}

/// A textbook evaluation of the README's formula for cross-checking the objective's value: the
/// full matrices `Q_k` built explicitly, logsumexp without the shift, `ln Γ_d` from its
/// definition.
fn reference_objective(g: &GmmInput) -> f64 {
    let (d, k, n) = (g.d, g.k, g.n);
    let icf_sz = d * (d + 1) / 2;
    let q_matrix = |ik: usize| {
        let row = &g.icf[ik * icf_sz..(ik + 1) * icf_sz];
        let mut q = vec![vec![0.0; d]; d];
        for i in 0..d {
            q[i][i] = row[i].exp();
        }
        let mut l = d;
        for col in 0..d {
            for r in col + 1..d {
                q[r][col] = row[l];
                l += 1;
            }
        }
        q
    };
    let qs: Vec<_> = (0..k).map(q_matrix).collect();
    let sum_q = |ik: usize| -> f64 { g.icf[ik * icf_sz..ik * icf_sz + d].iter().sum() };
    let mut f = -(n as f64) * d as f64 / 2.0 * (2.0 * PI).ln();
    for i in 0..n {
        let xi = &g.x[i * d..(i + 1) * d];
        let mut s = 0.0;
        for (ik, q) in qs.iter().enumerate() {
            let mu = &g.means[ik * d..(ik + 1) * d];
            let mut norm2 = 0.0;
            for r in 0..d {
                let qx: f64 = (0..d).map(|c| q[r][c] * (xi[c] - mu[c])).sum();
                norm2 += qx * qx;
            }
            s += (g.alpha[ik] + sum_q(ik) - 0.5 * norm2).exp();
        }
        f += s.ln();
    }
    f -= n as f64 * g.alpha.iter().map(|a| a.exp()).sum::<f64>().ln();
    let big_n = (d as i32 + g.m + 1) as f64;
    let mut ln_gamma_d = 0.25 * (d * (d - 1)) as f64 * PI.ln();
    for j in 1..=d {
        ln_gamma_d += ln_gamma(big_n / 2.0 + (1.0 - j as f64) / 2.0);
    }
    let c = big_n * d as f64 * (g.gamma.ln() - 0.5 * 2.0_f64.ln()) - ln_gamma_d;
    for (ik, q) in qs.iter().enumerate() {
        let frob: f64 = q.iter().flatten().map(|v| v * v).sum();
        f += 0.5 * g.gamma * g.gamma * frob - f64::from(g.m) * sum_q(ik);
    }
    f - k as f64 * c
}

/// `|a - b| / max(1, |a| + |b|)`, ADBench's measure, on one number.
fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / (a.abs() + b.abs()).max(1.0)
}

#[test]
fn ln_gamma_matches_known_values() {
    let cases = [
        (1.0, 0.0),
        (2.0, 0.0),
        (0.5, 0.5 * PI.ln()),
        (1.5, (0.5 * PI.sqrt()).ln()),
        (3.5, (15.0 / 8.0 * PI.sqrt()).ln()),
        (10.0, 362_880.0_f64.ln()),
        (0.25, 1.288_022_524_698_077_2),
        (30.0, 71.257_038_967_168),
    ];
    for (x, want) in cases {
        let got = ln_gamma(x);
        assert!(
            (got - want).abs() <= 1e-14 * want.abs().max(1.0),
            "ln_gamma({x}) = {got}, want {want}"
        );
    }
    // ln Γ_1(a) = ln Γ(a); ln Γ_2(a) = ½ ln π + ln Γ(a) + ln Γ(a − ½).
    assert_eq!(ln_multi_gamma(2.5, 1), ln_gamma(2.5));
    let two = 0.5 * PI.ln() + ln_gamma(2.5) + ln_gamma(2.0);
    assert!((ln_multi_gamma(2.5, 2) - two).abs() < 1e-14);
}

#[test]
fn reader_round_trips_and_rejects_malformed_files() {
    let g = GmmInput::random(3, 2, 4, 7);
    let mut text = format!("{} {} {}\n", g.d, g.k, g.n);
    for a in &g.alpha {
        text += &format!("{a:e}\n");
    }
    for rows in [(&g.means, g.d), (&g.icf, g.d * (g.d + 1) / 2), (&g.x, g.d)] {
        for row in rows.0.chunks(rows.1) {
            let line: Vec<String> = row.iter().map(|v| format!("{v:e}")).collect();
            text += &line.join(" ");
            text += " \n";
        }
    }
    text += &format!("{:e} {}\n", g.gamma, g.m);
    assert_eq!(GmmInput::parse(&text).unwrap(), g);

    let truncated = &text[..text.len() - 4];
    let err = GmmInput::parse(truncated).unwrap_err().to_string();
    assert!(err.contains("m"), "{err}");
    assert!(GmmInput::parse(&format!("{text} 1")).is_err());
    assert!(GmmInput::parse("2 x 3").is_err());
    assert!(GmmInput::parse(&text.replacen(&format!("{:e}", g.alpha[1]), "1.0.0", 1)).is_err());
    assert!(GmmInput::read("/nonexistent/gmm_d2_K5.txt").is_err());
}

#[test]
fn objective_matches_a_textbook_evaluation() {
    for g in small_instances() {
        let (f, want) = (g.objective(), reference_objective(&g));
        assert!(
            rel(f, want) < 1e-13,
            "d = {}, k = {}: {f} vs {want}",
            g.d,
            g.k
        );
    }
}

#[test]
fn generated_gradient_matches_hand_written_and_differences() {
    let check = GradCheck {
        rel_tol: 1e-9,
        abs_tol: 1e-10,
        ..GradCheck::default()
    };
    for g in small_instances() {
        let name = format!("d = {}, k = {}, n = {}, m = {}", g.d, g.k, g.n, g.m);
        let f = g.objective();
        let (value, generated) = g.generated_gradient();
        assert_eq!(
            value.to_bits(),
            f.to_bits(),
            "{name}: the generated value is not the objective's"
        );
        let (hand_value, hand) = g.manual_gradient();
        assert!(
            rel(hand_value, f) < 1e-13,
            "{name}: hand-written value {hand_value} vs {f}"
        );
        let err = max_relative_error(&generated, &hand);
        assert!(err < 1e-13, "{name}: generated vs hand-written {err:e}");
        let p = g.params();
        check
            .check(objective_of(&g), &p, &generated)
            .unwrap_or_else(|e| panic!("{name}: generated vs differences: {e}"));
        check
            .check(objective_of(&g), &p, &hand)
            .unwrap_or_else(|e| panic!("{name}: hand-written vs differences: {e}"));
    }
}

#[test]
fn far_from_the_data_the_log_sum_exp_stays_finite() {
    // Main terms near −1e4: exp underflows without the shift by the maximum.
    let mut g = GmmInput::random(3, 3, 6, 5);
    for v in &mut g.x {
        *v += 60.0;
    }
    let f = g.objective();
    let (value, generated) = g.generated_gradient();
    let (hand_value, hand) = g.manual_gradient();
    assert!(f.is_finite() && f < -1e3, "{f}");
    assert_eq!(value.to_bits(), f.to_bits());
    assert!(rel(hand_value, f) < 1e-13);
    assert!(generated.iter().all(|v| v.is_finite()));
    assert!(max_relative_error(&generated, &hand) < 1e-12);
}

/// ADBench's inputs, generated against hand-written with ADBench's `1e-8`; where a published
/// value of the objective is known (`want`, to the digits printed), the value too.
fn check_file(name: &str, want: Option<f64>) {
    let Some(dir) = data_dir() else {
        println!(
            "ADBench data absent (set ADBENCH_DIR or put it in ../shared/adbench): skipping {name}"
        );
        return;
    };
    let g = GmmInput::read(dir.join("gmm").join(format!("{name}.txt")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let _ = autodiff::tape_stats::take();
    let start = Instant::now();
    let f = gmm_objective(
        g.d, g.k, g.n, &g.alpha, &g.means, &g.icf, &g.x, g.gamma, g.m,
    );
    let (value, (da, dm, dq)) = gmm_objective_grad(
        g.d, g.k, g.n, &g.alpha, &g.means, &g.icf, &g.x, g.gamma, g.m,
    );
    let generated_time = start.elapsed();
    // With `--features autodiff/tape-stats`: what the generated loops pushed in one call.
    if let Some(bytes) = autodiff::tape_stats::take() {
        println!("{name}: the generated gradient's loop tapes hold {bytes} bytes");
        // The loop over the points runs its reverse point by point: its tapes hold one
        // point's values, far less than one value per point and component.
        assert!(
            bytes < g.n * g.k * 8,
            "{name}: {bytes} bytes of tapes: the loop over the points saves every point"
        );
    }
    let (hand_value, ha, hm, hq) = gmm_gradient(
        g.d, g.k, g.n, &g.alpha, &g.means, &g.icf, &g.x, g.gamma, g.m,
    );
    assert_eq!(value.to_bits(), f.to_bits(), "{name}: value");
    assert!(rel(hand_value, f) < 1e-12, "{name}: {hand_value} vs {f}");
    let err = max_relative_error(&[da, dm, dq].concat(), &[ha, hm, hq].concat());
    println!(
        "{name}: f = {f}, generated vs hand-written {err:e} (objective and generated gradient: {generated_time:?})"
    );
    assert!(err < 1e-8, "{name}: ADBench's measure {err:e}");
    if let Some(want) = want {
        assert!((f - want).abs() < 1e-6, "{name}: f = {f}, published {want}");
    }
}

#[test]
fn adbench_d2_k5() {
    // ADBench's C++ objective prints -5240.590563 on this file (quoted in ports of ADBench).
    check_file("gmm_d2_K5", Some(-5_240.590_563));
}

#[test]
fn adbench_d10_k25() {
    check_file("gmm_d10_K25", None);
}

/// Forward mode on the GMM objective (`#[differentiate(..., forward)]`): the directional
/// derivative along random directions equals the hand-written gradient's inner product with them,
/// on the small instances and on ADBench's d2 K5 file when present.
#[test]
fn forward_mode_matches_the_hand_written_gradient() {
    let mut instances: Vec<GmmInput> = small_instances().collect();
    if let Some(dir) = data_dir() {
        if let Ok(g) = GmmInput::read(dir.join("gmm").join("gmm_d2_K5.txt")) {
            instances.push(g);
        }
    }
    for g in instances {
        let (_, ha, hm, hq) = gmm_gradient(
            g.d, g.k, g.n, &g.alpha, &g.means, &g.icf, &g.x, g.gamma, g.m,
        );
        for seed in 1..=3_u32 {
            let dir = |len: usize, salt: u32| -> Vec<f64> {
                (0..len)
                    .map(|i| ((i as f64 + 1.0) * 0.731 * f64::from(seed + salt)).sin())
                    .collect()
            };
            let (ta, tm, tq) = (
                dir(g.alpha.len(), 0),
                dir(g.means.len(), 7),
                dir(g.icf.len(), 13),
            );
            let (value, along) = gmm_objective_jvp(
                g.d, g.k, g.n, &g.alpha, &g.means, &g.icf, &g.x, g.gamma, g.m, &ta, &tm, &tq,
            );
            let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
            let want = dot(&ha, &ta) + dot(&hm, &tm) + dot(&hq, &tq);
            assert_eq!(
                value.to_bits(),
                gmm_objective(g.d, g.k, g.n, &g.alpha, &g.means, &g.icf, &g.x, g.gamma, g.m)
                    .to_bits()
            );
            assert!(
                rel(along, want) < 1e-10,
                "d = {}, k = {}: {along} vs {want}",
                g.d,
                g.k
            );
        }
    }
}
