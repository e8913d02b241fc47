//! ADBench's LSTM: the generated gradient against the hand-written one and central differences
//! on small generated instances, and against the hand-written one on ADBench's `lstm_l2_c1024` and
//! `lstm_l4_c1024` (skipped with a message when the files are absent).

use autodiff::{check_grad, numeric_grad};
use autodiff_adbench::lstm::{lstm_gradient, lstm_objective, lstm_objective_grad, LstmInput};
use autodiff_adbench::{data_dir, max_relative_error};

/// Both gradients of `p`, checked to agree, with the values bit-identical between the objective
/// and its generated gradient.
fn both(p: &LstmInput, name: &str) -> (Vec<f64>, Vec<f64>) {
    let (l, c, b) = (p.l, p.c, p.b);
    let (m, e, s, q) = (&p.main_params, &p.extra_params, &p.state, &p.sequence);
    let value = lstm_objective(l, c, b, m, e, s, q);
    let (gen_value, (gen_main, gen_extra)) = lstm_objective_grad(l, c, b, m, e, s, q);
    assert_eq!(
        gen_value.to_bits(),
        value.to_bits(),
        "{name}: the generated value {gen_value} is not the objective's {value}"
    );
    let (hand_value, hand_main, hand_extra) = lstm_gradient(l, c, b, m, e, s, q);
    assert!(
        (hand_value - value).abs() <= 1e-14 * value.abs().max(1.0),
        "{name}: hand-written value {hand_value} vs {value}"
    );
    assert_eq!(gen_main.len(), m.len(), "{name}: main gradient length");
    assert_eq!(gen_extra.len(), e.len(), "{name}: extra gradient length");
    let generated: Vec<f64> = gen_main.iter().chain(&gen_extra).copied().collect();
    let hand: Vec<f64> = hand_main.iter().chain(&hand_extra).copied().collect();
    (generated, hand)
}

/// Componentwise `|a - b| <= tol · max(|a|, |b|, floor)`.
fn assert_close(name: &str, what: &str, a: &[f64], b: &[f64], tol: f64, floor: f64) {
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        let scale = x.abs().max(y.abs()).max(floor);
        assert!(
            (x - y).abs() <= tol * scale,
            "{name}: {what}[{k}]: {x} vs {y} (relative {:e})",
            (x - y).abs() / scale
        );
    }
}

#[test]
fn small_instances_agree_with_hand_written_and_central_differences() {
    let mut seed = 1;
    for l in 1..=2 {
        for c in 3..=6 {
            for b in 2..=4 {
                seed += 1;
                let p = LstmInput::generate(l, c, b, seed);
                let name = format!("l={l} c={c} b={b}");
                let (generated, hand) = both(&p, &name);
                // Two orders of summation of the same adjoints: a few ulps apart.
                assert_close(&name, "generated vs hand", &generated, &hand, 1e-12, 1e-12);

                // Central differences of the objective over both parameter arrays at once.
                let nm = p.main_params.len();
                let f =
                    |v: &[f64]| lstm_objective(l, c, b, &v[..nm], &v[nm..], &p.state, &p.sequence);
                let params: Vec<f64> = p
                    .main_params
                    .iter()
                    .chain(&p.extra_params)
                    .copied()
                    .collect();
                check_grad(f, &params, &generated)
                    .unwrap_or_else(|err| panic!("{name}: generated: {err}"));
                let numeric = numeric_grad(f, &params, f64::EPSILON.powf(0.2));
                assert_close(
                    &name,
                    "generated vs differences",
                    &generated,
                    &numeric,
                    1e-9,
                    1e-3,
                );
            }
        }
    }
}

#[test]
fn reader_parses_a_small_file() {
    let text = "1 2 2\n\n1 2 3 4 5 6 7 8\n9 10 11 12 13 14 15 16\n\n\
                0.1 0.2\n0.3 0.4\n0.5 0.6\n\n-1 -2\n-3 -4\n\n1 0\n0 1\n";
    let p = LstmInput::parse(text).unwrap();
    assert_eq!((p.l, p.c, p.b), (1, 2, 2));
    assert_eq!(p.main_params, (1..=16).map(f64::from).collect::<Vec<_>>());
    assert_eq!(p.extra_params, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    assert_eq!(p.state, [-1.0, -2.0, -3.0, -4.0]);
    assert_eq!(p.sequence, [1.0, 0.0, 0.0, 1.0]);
    assert!(LstmInput::parse("1 2 2 1 2 3").is_err());
    assert!(LstmInput::parse(&format!("{text} 7")).is_err());
}

/// Generated vs hand-written on one of ADBench's files, with ADBench's measure.
fn check_file(name: &str, sizes: (usize, usize, usize)) {
    let Some(dir) = data_dir() else {
        println!("ADBench's inputs are absent (set ADBENCH_DIR): skipping {name}");
        return;
    };
    let p = LstmInput::read(&dir.join(format!("lstm/{name}.txt"))).unwrap();
    assert_eq!((p.l, p.c, p.b), sizes, "{name}: sizes");
    // Start the tape count (kept only with the `autodiff/tape-stats` feature) from zero.
    let _ = autodiff::tape_stats::take();
    let (generated, hand) = both(&p, name);
    if let Some(bytes) = autodiff::tape_stats::take() {
        println!("{name}: the generated gradient's tapes held {bytes} bytes");
    }
    let err = max_relative_error(&generated, &hand);
    println!("{name}: max relative error, generated vs hand-written: {err:e}");
    assert!(err < 1e-8, "{name}: max relative error {err:e}");
}

#[test]
fn adbench_l2_c1024_agrees_with_hand_written() {
    check_file("lstm_l2_c1024", (2, 1024, 14));
}

#[test]
fn adbench_l4_c1024_agrees_with_hand_written() {
    check_file("lstm_l4_c1024", (4, 1024, 14));
}
