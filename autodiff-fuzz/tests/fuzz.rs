//! Differential fuzzing of `#[differentiate]`: random programs of the supported language are
//! compiled through the macro in a scratch crate, and each `_grad` is compared at random points
//! with forward mode (`num-dual`, running the same generic source) and central differences, each
//! `_hvp` (also the `f64` twin's) with central differences of `num-dual`'s gradient.
//!
//! ```sh
//! cargo test -p autodiff-fuzz --test fuzz                      # 300 programs (CI)
//! AUTODIFF_FUZZ_PROGRAMS=10000 cargo test -p autodiff-fuzz --test fuzz -- --nocapture
//! ```
//!
//! Environment: `AUTODIFF_FUZZ_PROGRAMS` (default 300), `AUTODIFF_FUZZ_SEED` (default 1),
//! `AUTODIFF_FUZZ_BATCH` (programs per scratch build, default 500), `AUTODIFF_FUZZ_POINTS`
//! (points per program, default 4), `AUTODIFF_FUZZ_ONLY` (comma-separated program numbers, to
//! rerun some), `AUTODIFF_FUZZ_MINIMIZE` (how many failures to shrink, default 3; 0 to skip),
//! `AUTODIFF_FUZZ_VERBOSE` (print cargo's output), `AUTODIFF_FUZZ_KNOWN_BUGS=1` (also generate
//! what `Config::excluding_known_bugs` leaves out, to check a fix).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use autodiff_fuzz::gen::{generate, Config};
use autodiff_fuzz::harness::{Category, Failure, Harness, Program};
use autodiff_fuzz::oracle::Point;
use autodiff_fuzz::rng::mix;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// Program `i`: every third one also checks its `f64` twin (plain literals, `as f64` casts).
fn program(seed: u64, i: u64, cfg: &Config) -> Program {
    Program {
        function: generate(seed, i, cfg),
        point_seed: mix(seed ^ 0x0050_1475, i),
        label: format!("AUTODIFF_FUZZ_SEED={seed} AUTODIFF_FUZZ_ONLY={i}"),
        twin: i % 3 == 0,
    }
}

/// A failure as a reproducer: the function, the call, what went wrong.
fn describe(function: &autodiff_fuzz::ast::Function, point_seed: u64, f: &Failure) -> String {
    let mut s = function.render("f", true);
    if f.kind.starts_with("f64-") || f.message.contains("_f64") {
        s.push_str(&function.render_in("f_f64", true, autodiff_fuzz::ast::Dialect::F64));
    }
    if let Some(k) = f.point {
        let p = Point::sample(point_seed, k);
        s.push_str(&format!(
            "// at f_grad::<f64>({})\n",
            p.args(function.shape)
        ));
    }
    s.push_str(&format!(
        "// {:?} / {}: {}\n",
        f.category, f.kind, f.message
    ));
    s
}

#[test]
fn random_programs_differentiate_like_num_dual() {
    let total = env_u64("AUTODIFF_FUZZ_PROGRAMS", 300);
    let seed = env_u64("AUTODIFF_FUZZ_SEED", 1);
    let batch = env_u64("AUTODIFF_FUZZ_BATCH", 500).max(1);
    let to_minimize = env_u64("AUTODIFF_FUZZ_MINIMIZE", 3);
    let only: Option<Vec<u64>> = std::env::var("AUTODIFF_FUZZ_ONLY").ok().map(|v| {
        v.split(',')
            .map(|s| s.trim().parse().expect("AUTODIFF_FUZZ_ONLY: numbers"))
            .collect()
    });
    let mut harness = Harness::for_test_binary();
    harness.points = env_u64("AUTODIFF_FUZZ_POINTS", 4);
    harness.verbose = std::env::var("AUTODIFF_FUZZ_VERBOSE").is_ok();
    // With `AUTODIFF_FUZZ_KNOWN_BUGS=1`, also the constructs known macro bugs break.
    let cfg = if std::env::var("AUTODIFF_FUZZ_KNOWN_BUGS").is_ok_and(|v| v == "1") {
        Config::default()
    } else {
        Config::excluding_known_bugs()
    };

    let indices: Vec<u64> = only.unwrap_or_else(|| (0..total).collect());
    let start = Instant::now();
    let (mut build, mut run, mut builds) = (Duration::ZERO, Duration::ZERO, 0);
    let (mut checked, mut skipped, mut cd, mut hvp, mut plain_warnings) = (0, 0, 0, 0, 0);
    let mut failures: Vec<(Program, Failure)> = Vec::new();
    let mut warning_examples: Vec<String> = Vec::new();
    for chunk in indices.chunks(batch as usize) {
        let mut programs: Vec<Program> = chunk.iter().map(|&i| program(seed, i, &cfg)).collect();
        // A program that does not type-check in the generator's own model is its bug.
        programs.retain(|p| match autodiff_fuzz::ast::check(&p.function) {
            Ok(()) => true,
            Err(e) => {
                failures.push((
                    p.clone(),
                    Failure {
                        category: Category::Generator,
                        kind: "ill-formed".into(),
                        point: None,
                        message: e,
                    },
                ));
                false
            }
        });
        let report = harness.run(&programs);
        build += report.build_time;
        run += report.run_time;
        builds += report.builds;
        for (p, o) in programs.iter().zip(report.outcomes) {
            checked += o.checked;
            skipped += o.skipped;
            cd += o.cd;
            hvp += o.hvp;
            plain_warnings += o.plain_warnings.len();
            if warning_examples.len() < 3 {
                warning_examples.extend(o.plain_warnings.iter().take(1).cloned());
            }
            if let Some(f) = o.failures.first() {
                failures.push((p.clone(), f.clone()));
            }
        }
        eprintln!(
            "autodiff-fuzz: {} of {} programs, {} failing, {:.0?}",
            chunk.last().map_or(0, |l| l + 1),
            total,
            failures.len(),
            start.elapsed()
        );
    }
    eprintln!(
        "autodiff-fuzz: seed {seed}: {} programs in {:.1?} (cargo build {:.1?} in {builds} builds, checks {:.1?}); \
         {checked} points compared with num-dual, {skipped} skipped as non-finite, {cd} gradient components \
         also with central differences, {hvp} Hessian-vector product components with central differences \
         of num-dual's gradient; {} failing; {plain_warnings} warnings in the plain programs",
        indices.len(),
        start.elapsed(),
        build,
        run,
        failures.len()
    );
    for w in &warning_examples {
        eprintln!("  e.g. {w}");
    }
    if failures.is_empty() {
        return;
    }

    // Group by kind, print every failure's label and one reproducer per kind, shrunk.
    let mut by_kind: BTreeMap<(String, String), Vec<&(Program, Failure)>> = BTreeMap::new();
    for pf in &failures {
        by_kind
            .entry((format!("{:?}", pf.1.category), pf.1.kind.clone()))
            .or_default()
            .push(pf);
    }
    let mut text = String::new();
    let mut shrunk = 0;
    for ((cat, kind), list) in &by_kind {
        text.push_str(&format!(
            "\n=== {cat} / {kind}: {} programs ===\n",
            list.len()
        ));
        for (p, f) in list.iter().take(20) {
            let mut m = f.message.clone();
            if m.len() > 240 {
                let mut cut = 240;
                while !m.is_char_boundary(cut) {
                    cut -= 1;
                }
                m.truncate(cut);
                m.push('…');
            }
            text.push_str(&format!("  {}: {m}\n", p.label));
        }
        let (p, f) = list[0];
        text.push_str(&format!("--- {} ---\n", p.label));
        text.push_str(&describe(&p.function, p.point_seed, f));
        if shrunk < to_minimize {
            shrunk += 1;
            let (small, sf) = harness.minimize(p, f, Duration::from_secs(300));
            text.push_str("--- minimised ---\n");
            text.push_str(&describe(&small, p.point_seed, &sf));
        }
    }
    panic!(
        "{} of {} programs fail:{text}",
        failures.len(),
        indices.len()
    );
}

/// One long function, 1 200 statements (3 200 operations), built in the test's profile (with
/// debug info in CI) and checked like the random ones, its `f64` twin too. A debug build of such
/// a function's companions overflowed rustc's stack (LLVM's debug info nested a scope per `let`)
/// until they declared their variables in groups.
#[test]
fn a_long_function_builds_and_differentiates() {
    use autodiff_fuzz::ast::{BinOp, Expr, Function, Lit, Method, Shape, Stmt};
    let var = |i: usize| Expr::Var(format!("v{i}"));
    let lit = |v: f64| Expr::Lit(Lit::From(v));
    let mut body = vec![Stmt::Let {
        name: "v0".into(),
        mutable: false,
        value: Expr::bin(BinOp::Mul, Expr::Var("a".into()), Expr::Var("b".into())),
    }];
    for i in 1..1200 {
        // Bounded values and derivatives: sin, tanh, and a difference that decays.
        let value = match i % 3 {
            0 => Expr::bin(
                BinOp::Add,
                Expr::Call(
                    Method::Sin,
                    Box::new(Expr::bin(BinOp::Mul, var(i - 1), lit(0.9))),
                    Vec::new(),
                ),
                Expr::Var("a".into()),
            ),
            1 => Expr::bin(
                BinOp::Add,
                Expr::bin(
                    BinOp::Mul,
                    Expr::Call(Method::Tanh, Box::new(var(i - 1)), Vec::new()),
                    lit(0.5),
                ),
                Expr::bin(BinOp::Mul, Expr::Var("b".into()), lit(0.25)),
            ),
            _ => Expr::bin(
                BinOp::Sub,
                var(i - 1),
                Expr::bin(BinOp::Mul, var(i - 2), lit(0.5)),
            ),
        };
        body.push(Stmt::Let {
            name: format!("v{i}"),
            mutable: false,
            value,
        });
    }
    let function = Function {
        shape: Shape::Scalars,
        wrt: None,
        body,
        tail: var(1199),
    };
    autodiff_fuzz::ast::check(&function).expect("a well-formed program");
    let program = Program {
        function,
        point_seed: 7,
        label: "the long function".into(),
        twin: true,
    };
    let mut harness = Harness::for_test_binary();
    // Its own scratch crate and binary: the random programs' test may be building and running
    // theirs at the same time, in the same target directory.
    harness.crate_dir = harness.target_dir.join("fuzz-crate-long");
    harness.package = "autodiff-fuzz-long".into();
    harness.parts = 1;
    let report = harness.run(std::slice::from_ref(&program));
    let outcome = &report.outcomes[0];
    assert!(
        outcome.failures.is_empty(),
        "{:?}",
        outcome.failures.first()
    );
    assert!(outcome.checked > 0, "no point was checked");
    eprintln!(
        "autodiff-fuzz: the long function: built in {:.1?}, {} points checked",
        report.build_time, outcome.checked
    );
}
