//! Compiles a batch of generated functions through `#[differentiate]` in a scratch crate, runs
//! their checks, and sorts every failure into generator bugs and macro bugs; shrinks a failing
//! function to a small one that fails the same way.
//!
//! The scratch workspace (`<target>/fuzz-crate` by default) has one member crate per core, so
//! that cargo expands and compiles them in parallel; each has three modules with the same lines
//! and columns: `plain.rs` holds its functions as written, `ad.rs` the same functions under
//! `#[autodiff::differentiate]`, `cases.rs` the table [`crate::oracle::run_cases`] walks. So:
//!
//! - an error in `plain.rs` is the generator's (it wrote ill-typed Rust);
//! - an error only in `ad.rs` is the macro's: without an error code it is the macro's own
//!   `compile_error!` (it rejected the program), with one its expansion does not compile;
//! - a warning in `ad.rs` at a line and column where `plain.rs` has none was added by the macro.
//!
//! It builds with the workspace's target directory and profile, so the dependencies (the macro,
//! the runtime, `num-dual`) are the ones the test itself was built with.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ast::{Dialect, Function};

/// One function of a batch.
#[derive(Clone, Debug)]
pub struct Program {
    /// The function.
    pub function: Function,
    /// Where its sample points come from.
    pub point_seed: u64,
    /// A label for reports (`seed 1 #17`).
    pub label: String,
    /// Also check the function's `f64` twin (the same body for `f64`, plain literals).
    pub twin: bool,
}

/// Failure categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    /// The plain function does not compile, or panics: a generator bug.
    Generator,
    /// The macro rejected the program with its own diagnostic.
    MacroRejected,
    /// The macro's expansion does not compile.
    ExpansionError,
    /// The macro's expansion compiles with a warning the plain function does not have.
    MacroWarning,
    /// Wrong values or gradients, or a panic in `_grad` (see the kind).
    Wrong,
    /// The case list (harness) does not compile, or the run crashed.
    Harness,
}

/// One failure of one function.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The category.
    pub category: Category,
    /// For [`Category::Wrong`], the kind from [`crate::oracle::kind`]; else a short tag.
    pub kind: String,
    /// The point index (for run-time failures).
    pub point: Option<u64>,
    /// The details (diagnostic or numbers).
    pub message: String,
}

/// What became of one function.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Its failures (empty: it passed).
    pub failures: Vec<Failure>,
    /// Points compared with `num-dual`.
    pub checked: usize,
    /// Points skipped (non-finite values).
    pub skipped: usize,
    /// Components compared with central differences.
    pub cd: usize,
    /// Components of Hessian-vector products compared with central differences.
    pub hvp: usize,
    /// Warnings of the plain function (the generator's, not failures).
    pub plain_warnings: Vec<String>,
}

/// A batch's results.
#[derive(Debug, Default)]
pub struct Report {
    /// One per program, in order.
    pub outcomes: Vec<Outcome>,
    /// Time spent in `cargo build`.
    pub build_time: Duration,
    /// Time spent running the checks.
    pub run_time: Duration,
    /// Builds needed (1 when everything compiles).
    pub builds: usize,
}

/// Where and how to build.
#[derive(Clone, Debug)]
pub struct Harness {
    /// The `autodiff` package (the workspace root).
    pub autodiff: PathBuf,
    /// This package.
    pub fuzz: PathBuf,
    /// The cargo target directory to build in.
    pub target_dir: PathBuf,
    /// The cargo profile (`dev`, `release`, …).
    pub profile: String,
    /// Where the scratch crate is written.
    pub crate_dir: PathBuf,
    /// Points per function.
    pub points: u64,
    /// Limit for one run of the checks.
    pub run_timeout: Duration,
    /// Print cargo's output.
    pub verbose: bool,
    /// Member crates the batch is split into: cargo builds them in parallel (rustc's front end,
    /// which expands the macro, uses one core per crate).
    pub parts: usize,
    /// The member crates' names, `{package}{part}`: two harnesses building at once in one
    /// target directory need different ones (their binaries land side by side).
    pub package: String,
}

/// Diagnostics of one build, by file.
#[derive(Debug, Default)]
struct Diagnostics {
    /// `(file, line, col, level, code, message)`
    items: Vec<(String, usize, usize, String, Option<String>, String)>,
    other_errors: Vec<String>,
}

fn parse_diagnostics(stderr: &str) -> Diagnostics {
    let mut d = Diagnostics::default();
    for line in stderr.lines() {
        let Some((loc, rest)) = line.split_once(": ") else {
            continue;
        };
        let mut parts = loc.rsplitn(3, ':');
        let (Some(col), Some(ln), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
            if line.starts_with("error") && !line.starts_with("error: could not compile") {
                d.other_errors.push(line.to_string());
            }
            continue;
        };
        let (Ok(ln), Ok(col)) = (ln.parse::<usize>(), col.parse::<usize>()) else {
            continue;
        };
        let (head, msg) = rest.split_once(": ").unwrap_or((rest, ""));
        let (level, code) = match head.split_once('[') {
            Some((l, c)) => (l.to_string(), Some(c.trim_end_matches(']').to_string())),
            None => (head.to_string(), None),
        };
        if level != "error" && level != "warning" {
            continue;
        }
        d.items
            .push((file.to_string(), ln, col, level, code, msg.to_string()));
    }
    d
}

/// Line ranges of each function in the written files.
struct Layout {
    /// `(part, first line, last line, program index)` in `ad.rs` / `plain.rs`.
    functions: Vec<(usize, usize, usize, usize)>,
    /// The same in `cases.rs`.
    cases: Vec<(usize, usize, usize, usize)>,
}

/// The program at `line` of a file of member crate `part`.
fn find(ranges: &[(usize, usize, usize, usize)], part: usize, line: usize) -> Option<usize> {
    ranges
        .iter()
        .find(|(p, a, b, _)| *p == part && (*a..=*b).contains(&line))
        .map(|r| r.3)
}

/// The member crate of a diagnostic's file (`part1/src/ad.rs`), and the file's name.
fn part_of(file: &str) -> Option<(usize, &str)> {
    let rest = file.strip_prefix("part")?;
    let (k, name) = rest.split_once("/src/")?;
    Some((k.parse().ok()?, name))
}

impl Harness {
    /// The harness for a test binary of this package: the target directory and profile are the
    /// ones the running test was built with (found from its path, `<target>/<profile>/deps/…`).
    pub fn for_test_binary() -> Harness {
        let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let autodiff = fuzz.parent().expect("the workspace").to_path_buf();
        let exe = std::env::current_exe().expect("the test binary's path");
        let deps = exe.parent().expect("deps");
        let profile_dir = deps.parent().expect("profile dir");
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let profile = match profile_dir.file_name().and_then(|s| s.to_str()) {
            Some("debug") | None => "dev".to_string(),
            Some(p) => p.to_string(),
        };
        Harness {
            autodiff,
            fuzz,
            crate_dir: target_dir.join("fuzz-crate"),
            target_dir,
            profile,
            points: 4,
            run_timeout: Duration::from_secs(300),
            verbose: false,
            parts: std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8)),
            package: "autodiff-fuzz-part".to_string(),
        }
    }

    fn profile_dir(&self) -> PathBuf {
        let name = match self.profile.as_str() {
            "dev" | "test" => "debug",
            "bench" => "release",
            p => p,
        };
        self.target_dir.join(name)
    }

    /// Writes the scratch workspace for the programs selected by `include`: program `i` goes to
    /// member crate `part{i % parts}`.
    fn write_crate(&self, programs: &[Program], include: &[bool]) -> std::io::Result<Layout> {
        std::fs::create_dir_all(&self.crate_dir)?;
        let parts = self.parts.max(1);
        let members: Vec<String> = (0..parts).map(|k| format!("\"part{k}\"")).collect();
        write_if_changed(
            &self.crate_dir.join("Cargo.toml"),
            &format!(
                "# Generated by autodiff-fuzz: its own workspace, not a member of the one it is written into.\n\
                 [workspace]\nmembers = [{}]\nresolver = \"2\"\n",
                members.join(", ")
            ),
        )?;
        // The workspace's lock file: the same dependency versions, and no network.
        let lock = self.crate_dir.join("Cargo.lock");
        if !lock.exists() {
            if let Ok(l) = std::fs::read_to_string(self.autodiff.join("Cargo.lock")) {
                std::fs::write(&lock, l)?;
            }
        }
        let mut layout = Layout {
            functions: Vec::new(),
            cases: Vec::new(),
        };
        for part in 0..parts {
            let dir = self.crate_dir.join(format!("part{part}"));
            let src = dir.join("src");
            std::fs::create_dir_all(&src)?;
            write_if_changed(
                &dir.join("Cargo.toml"),
                &format!(
                    "[package]\nname = \"{}{part}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
                     [dependencies]\nautodiff = {{ path = {:?} }}\nautodiff-fuzz = {{ path = {:?} }}\nnum-traits = \"0.2\"\n",
                    self.package, self.autodiff, self.fuzz
                ),
            )?;
            write_if_changed(
                &src.join("lib.rs"),
                "//! Generated by autodiff-fuzz.\npub mod ad;\npub mod cases;\npub mod plain;\n",
            )?;
            write_if_changed(
                &src.join("main.rs"),
                &format!(
                    "fn main() {{\n    autodiff_fuzz::oracle::main_with_args(&{}{part}::cases::cases());\n}}\n",
                    self.package.replace('-', "_")
                ),
            )?;
            let mut ad = String::from("//! The functions under `#[differentiate]`.\n\n");
            let mut plain = String::from("//! The same functions, as written.\n\n");
            let mut cases = String::from(
                "//! The table of checks.\n\n/// Every function of the batch.\npub fn cases() -> Vec<autodiff_fuzz::oracle::Case> {\n    vec![\n",
            );
            for (i, p) in programs.iter().enumerate() {
                if !include[i] || i % parts != part {
                    continue;
                }
                let name = format!("f{i}");
                let first = ad.lines().count() + 1;
                let mut a = p.function.render(&name, true);
                let mut b = p.function.render(&name, false);
                if p.twin {
                    let twin = format!("f{i}_f64");
                    a.push_str(&p.function.render_in(&twin, true, Dialect::F64));
                    b.push_str(&p.function.render_in(&twin, false, Dialect::F64));
                }
                ad.push_str(&a);
                ad.push('\n');
                plain.push_str(&b);
                plain.push('\n');
                layout
                    .functions
                    .push((part, first, first + a.lines().count() - 1, i));
                let first = cases.lines().count() + 1;
                let entry = case_entry(i, p);
                layout
                    .cases
                    .push((part, first, first + entry.lines().count() - 1, i));
                cases.push_str(&entry);
            }
            cases.push_str("    ]\n}\n");
            std::fs::write(src.join("ad.rs"), ad)?;
            std::fs::write(src.join("plain.rs"), plain)?;
            std::fs::write(src.join("cases.rs"), cases)?;
        }
        Ok(layout)
    }

    fn cargo_build(&self) -> (bool, String) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut cmd = Command::new(cargo);
        cmd.arg("build")
            .arg("--workspace")
            .arg("--quiet")
            .arg("--message-format=short")
            .arg("--profile")
            .arg(&self.profile)
            .arg("--manifest-path")
            .arg(self.crate_dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .current_dir(&self.crate_dir);
        let out = cmd.output().expect("running cargo");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if self.verbose {
            eprintln!("{stderr}");
        }
        (out.status.success(), stderr)
    }

    /// Builds and checks a batch.
    pub fn run(&self, programs: &[Program]) -> Report {
        let mut report = Report {
            outcomes: vec![Outcome::default(); programs.len()],
            ..Report::default()
        };
        let mut include = vec![true; programs.len()];
        let (layout, diags) = loop {
            let layout = self
                .write_crate(programs, &include)
                .expect("writing the scratch crate");
            let t = Instant::now();
            let (ok, stderr) = self.cargo_build();
            report.build_time += t.elapsed();
            report.builds += 1;
            let diags = parse_diagnostics(&stderr);
            if ok {
                break (layout, diags);
            }
            let excluded = attribute_errors(&diags, &layout, &mut report.outcomes);
            if excluded.is_empty() {
                panic!(
                    "the scratch crate does not compile, and no error names a function ({:?}):\n{stderr}",
                    diags.other_errors
                );
            }
            for i in excluded {
                include[i] = false;
            }
        };
        attribute_warnings(&diags, &layout, &mut report.outcomes);
        let t = Instant::now();
        self.run_checks(programs, &include, &mut report.outcomes);
        report.run_time = t.elapsed();
        report
    }

    /// Runs the built checks; a crash or time-out fails the function that was running, and the
    /// rest run again without it.
    fn run_checks(&self, programs: &[Program], include: &[bool], outcomes: &mut [Outcome]) {
        for part in 0..self.parts.max(1) {
            let exe = self.profile_dir().join(format!(
                "{}{part}{}",
                self.package,
                std::env::consts::EXE_SUFFIX
            ));
            let mine: Vec<bool> = (0..programs.len())
                .map(|i| include[i] && i % self.parts.max(1) == part)
                .collect();
            self.run_part(&exe, &mine, outcomes);
        }
    }

    /// Runs the checks of one member crate (`include`: its programs).
    fn run_part(&self, exe: &Path, include: &[bool], outcomes: &mut [Outcome]) {
        let skip: BTreeSet<usize> = (0..include.len()).filter(|&i| !include[i]).collect();
        let mut done: BTreeSet<usize> = BTreeSet::new();
        loop {
            let mut cmd = Command::new(exe);
            cmd.arg(self.points.to_string());
            for &s in skip.iter().chain(done.iter()) {
                cmd.arg(s.to_string());
            }
            let mut child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("running the checks");
            let mut stdout = child.stdout.take().expect("stdout");
            let reader = std::thread::spawn(move || {
                let mut s = String::new();
                let _ = stdout.read_to_string(&mut s);
                s
            });
            let mut stderr = child.stderr.take().expect("stderr");
            let err_reader = std::thread::spawn(move || {
                let mut s = String::new();
                let _ = stderr.read_to_string(&mut s);
                s
            });
            let start = Instant::now();
            let status = loop {
                if let Some(st) = child.try_wait().expect("waiting") {
                    break Some(st);
                }
                if start.elapsed() > self.run_timeout {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let out = reader.join().unwrap_or_default();
            let err = err_reader.join().unwrap_or_default();
            let mut running: Option<usize> = None;
            for line in out.lines() {
                let mut w = line.splitn(5, ' ');
                let tag = w.next().unwrap_or("");
                let Some(id) = w.next().and_then(|s| s.parse::<usize>().ok()) else {
                    continue;
                };
                match tag {
                    "RUN" => running = Some(id),
                    "FAIL" => {
                        let kind = w.next().unwrap_or("").to_string();
                        let point = w.next().and_then(|s| s.parse().ok());
                        let message = w.next().unwrap_or("").to_string();
                        let category = if kind == crate::oracle::kind::PANIC_ORIGINAL
                            || kind == crate::oracle::kind::VALUE_ORACLE
                        {
                            Category::Generator
                        } else {
                            Category::Wrong
                        };
                        outcomes[id].failures.push(Failure {
                            category,
                            kind,
                            point,
                            message,
                        });
                    }
                    "DONE" => {
                        let nums: Vec<usize> = line
                            .split(' ')
                            .skip(2)
                            .filter_map(|s| s.parse().ok())
                            .collect();
                        if let [c, s, d, h] = nums[..] {
                            outcomes[id].checked += c;
                            outcomes[id].skipped += s;
                            outcomes[id].cd += d;
                            outcomes[id].hvp += h;
                        }
                        done.insert(id);
                        running = None;
                    }
                    _ => {}
                }
            }
            let clean = status.is_some_and(|s| s.success());
            match (clean, running) {
                (true, _) => return,
                (false, Some(id)) => {
                    let what = match status {
                        None => format!("timed out after {:?}", self.run_timeout),
                        Some(s) => format!("crashed ({s}): {}", err.trim()),
                    };
                    outcomes[id].failures.push(Failure {
                        category: Category::Wrong,
                        kind: "crash".into(),
                        point: None,
                        message: format!("the checks {what}"),
                    });
                    done.insert(id);
                }
                (false, None) => {
                    for (i, o) in outcomes.iter_mut().enumerate() {
                        if include[i] && !done.contains(&i) {
                            o.failures.push(Failure {
                                category: Category::Harness,
                                kind: "crash".into(),
                                point: None,
                                message: format!("the check binary failed: {}", err.trim()),
                            });
                        }
                    }
                    return;
                }
            }
        }
    }

    /// Shrinks `program` while some one-step simplification still fails like `failure` (same
    /// category and kind), trying candidates smallest first in batches. Returns the smallest
    /// failing function found and its failure.
    pub fn minimize(
        &self,
        program: &Program,
        failure: &Failure,
        budget: Duration,
    ) -> (Function, Failure) {
        let start = Instant::now();
        let mut best = program.function.clone();
        let mut best_failure = failure.clone();
        'rounds: while start.elapsed() < budget {
            let candidates = best.shrink_candidates();
            for chunk in candidates.chunks(48).take(4) {
                let batch: Vec<Program> = chunk
                    .iter()
                    .map(|f| Program {
                        function: f.clone(),
                        point_seed: program.point_seed,
                        label: program.label.clone(),
                        twin: program.twin,
                    })
                    .collect();
                let report = self.run(&batch);
                let hit = report.outcomes.iter().enumerate().find_map(|(i, o)| {
                    o.failures
                        .iter()
                        .find(|f| f.category == failure.category && f.kind == failure.kind)
                        .map(|f| (i, f.clone()))
                });
                if let Some((i, f)) = hit {
                    best = chunk[i].clone();
                    best_failure = f;
                    continue 'rounds;
                }
                if start.elapsed() > budget {
                    break 'rounds;
                }
            }
            break;
        }
        (best, best_failure)
    }
}

fn write_if_changed(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// The `Case` literal of program `i`.
fn case_entry(i: usize, p: &Program) -> String {
    let f = &p.function;
    let shape = f.shape;
    let active = f.active();
    let params = |used: &[&str]| {
        ["x", "a", "b", "n"]
            .iter()
            .map(|q| {
                if used.contains(q) {
                    (*q).to_string()
                } else {
                    format!("_{q}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sig: Vec<&str> = ["x", "a", "b", "n"]
        .into_iter()
        .filter(|q| match *q {
            "x" => shape.has_x(),
            "a" => shape.has_a(),
            "b" => shape.has_b(),
            _ => shape.has_n(),
        })
        .collect();
    let args = sig.join(", ");
    let (pattern, flatten) = unpacked(&active, 'g');
    let active_flags = format!(
        "[{}, {}, {}]",
        active.contains(&"x"),
        active.contains(&"a"),
        active.contains(&"b")
    );
    let mut s = String::new();
    let variants: &[(bool, String)] =
        &[(false, format!("f{i}::<f64>")), (true, format!("f{i}_f64"))];
    for (twin, f64_name) in variants {
        if *twin && !p.twin {
            continue;
        }
        let grad_name = if *twin {
            format!("f{i}_f64_grad")
        } else {
            format!("f{i}_grad::<f64>")
        };
        let _ = writeln!(s, "        autodiff_fuzz::oracle::Case {{");
        let _ = writeln!(
            s,
            "            id: {i},\n            point_seed: {},\n            shape: autodiff_fuzz::ast::Shape::{},\n            active: {active_flags},\n            twin: {twin},",
            p.point_seed,
            shape.variant()
        );
        let _ = writeln!(
            s,
            "            value: |{}| crate::ad::{f64_name}({args}),",
            params(&sig)
        );
        let _ = writeln!(
            s,
            "            dual: |{}| crate::ad::f{i}::<autodiff_fuzz::oracle::Fwd>({args}),",
            params(&sig)
        );
        let _ = writeln!(
            s,
            "            grad: |{}| {{\n                let (v, {pattern}) = crate::ad::{grad_name}({args});\n                let mut g = Vec::new();{flatten}\n                (v, g)\n            }},",
            params(&sig)
        );
        // Second order: `_hvp` (the twin's runs the generic copy the macro makes of an `f64`
        // function), its direction unflattened like the gradient is flattened.
        {
            let hvp_name = if *twin {
                format!("f{i}_f64_hvp")
            } else {
                format!("f{i}_hvp::<f64>")
            };
            let mut unflatten = String::from("let mut at = 0;");
            let mut dirs = Vec::new();
            for q in &active {
                if *q == "x" {
                    let _ = write!(
                        unflatten,
                        " let dx = &dir[at..at + x.len()]; at += x.len();"
                    );
                    dirs.push("dx".to_string());
                } else {
                    let _ = write!(unflatten, " let d{q} = dir[at]; at += 1;");
                    dirs.push(format!("d{q}"));
                }
            }
            let _ = write!(unflatten, " let _ = at;");
            let (hv_pattern, hv_flatten) = unpacked(&active, 'h');
            let _ = writeln!(
                s,
                "            hvp: Some(|{}, dir| {{\n                {unflatten}\n                let (v, {pattern}, {hv_pattern}) = crate::ad::{hvp_name}({args}, {});\n                let mut g = Vec::new();{flatten}\n                let mut h = Vec::new();{hv_flatten}\n                (v, g, h)\n            }}),",
                params(&sig),
                dirs.join(", ")
            );
        }
        let _ = writeln!(s, "        }},");
    }
    s
}

/// A companion's per-parameter result (a gradient, a Hessian-vector product) as a pattern
/// (`g0` or `(g0, g1)`) and the statements that flatten it into the vector `v` (`v` the letter
/// given), `x`'s components first.
fn unpacked(active: &[&str], v: char) -> (String, String) {
    let names: Vec<String> = (0..active.len()).map(|k| format!("{v}{k}")).collect();
    let pattern = if names.len() == 1 {
        names[0].clone()
    } else {
        format!("({})", names.join(", "))
    };
    let mut flatten = String::new();
    for (name, p) in names.iter().zip(active) {
        if *p == "x" {
            let _ = write!(flatten, " {v}.extend({name});");
        } else {
            let _ = write!(flatten, " {v}.push({name});");
        }
    }
    (pattern, flatten)
}

/// Marks the functions named by errors as failed; returns them.
fn attribute_errors(d: &Diagnostics, layout: &Layout, outcomes: &mut [Outcome]) -> Vec<usize> {
    let mut plain_err: BTreeMap<usize, String> = BTreeMap::new();
    let mut ad_err: BTreeMap<usize, (Option<String>, String, usize)> = BTreeMap::new();
    let mut case_err: BTreeMap<usize, String> = BTreeMap::new();
    for (file, line, col, level, code, msg) in &d.items {
        if level != "error" {
            continue;
        }
        let text = format!(
            "{file}:{line}:{col}: error{}: {msg}",
            code.as_ref().map(|c| format!("[{c}]")).unwrap_or_default()
        );
        let Some((part, name)) = part_of(file) else {
            continue;
        };
        match name {
            "plain.rs" => {
                if let Some(i) = find(&layout.functions, part, *line) {
                    plain_err.entry(i).or_insert(text);
                }
            }
            "ad.rs" => {
                if let Some(i) = find(&layout.functions, part, *line) {
                    let first = layout
                        .functions
                        .iter()
                        .find(|r| r.3 == i)
                        .map_or(0, |r| r.1);
                    ad_err
                        .entry(i)
                        .or_insert((code.clone(), text, line - first + 1));
                }
            }
            "cases.rs" => {
                if let Some(i) = find(&layout.cases, part, *line) {
                    case_err.entry(i).or_insert(text);
                }
            }
            _ => {}
        }
    }
    let mut failed: BTreeSet<usize> = BTreeSet::new();
    for (i, text) in &plain_err {
        outcomes[*i].failures.push(Failure {
            category: Category::Generator,
            kind: "plain-error".into(),
            point: None,
            message: text.clone(),
        });
        failed.insert(*i);
    }
    for (i, (code, text, rel_line)) in &ad_err {
        if plain_err.contains_key(i) {
            continue;
        }
        let (category, kind) = if code.is_none() {
            (Category::MacroRejected, "rejected")
        } else {
            (Category::ExpansionError, "expansion-error")
        };
        outcomes[*i].failures.push(Failure {
            category,
            kind: kind.into(),
            point: None,
            message: format!("{text} (line {rel_line} of the function)"),
        });
        failed.insert(*i);
    }
    for (i, text) in &case_err {
        if failed.contains(i) {
            continue;
        }
        outcomes[*i].failures.push(Failure {
            category: Category::ExpansionError,
            kind: "companion-signature".into(),
            point: None,
            message: text.clone(),
        });
        failed.insert(*i);
    }
    failed.into_iter().collect()
}

/// Records the macro's warnings (in `ad.rs`, not at the same place in `plain.rs`) as failures,
/// and the plain ones as the generator's.
fn attribute_warnings(d: &Diagnostics, layout: &Layout, outcomes: &mut [Outcome]) {
    let plain: BTreeSet<(usize, usize, usize, String)> = d
        .items
        .iter()
        .filter(|it| it.3 == "warning")
        .filter_map(|it| match part_of(&it.0) {
            Some((part, "plain.rs")) => Some((part, it.1, it.2, it.5.clone())),
            _ => None,
        })
        .collect();
    for (file, line, col, level, _, msg) in &d.items {
        if level != "warning" {
            continue;
        }
        let Some((part, name)) = part_of(file) else {
            continue;
        };
        let text = format!("{file}:{line}:{col}: warning: {msg}");
        match name {
            "plain.rs" => {
                if let Some(i) = find(&layout.functions, part, *line) {
                    outcomes[i].plain_warnings.push(text);
                }
            }
            "ad.rs" => {
                if plain.contains(&(part, *line, *col, msg.clone())) {
                    continue;
                }
                if let Some(i) = find(&layout.functions, part, *line) {
                    outcomes[i].failures.push(Failure {
                        category: Category::MacroWarning,
                        kind: "warning".into(),
                        point: None,
                        message: text,
                    });
                }
            }
            _ => {
                let i = find(&layout.cases, part, *line).unwrap_or(0);
                if let Some(o) = outcomes.get_mut(i) {
                    o.failures.push(Failure {
                        category: Category::Harness,
                        kind: "warning".into(),
                        point: None,
                        message: text,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_diagnostics_parse() {
        let d = parse_diagnostics(
            "part0/src/ad.rs:12:5: error[E0308]: mismatched types: expected `T`\n\
             part1/src/ad.rs:30:1: error: `frobnicate` has no derivative rule\n\
             part0/src/plain.rs:4:9: warning: unused variable: `t0`\n\
             error: could not compile `x` (lib) due to 2 previous errors\n",
        );
        assert_eq!(d.items.len(), 3);
        assert_eq!(d.items[0].4.as_deref(), Some("E0308"));
        assert_eq!(d.items[1].4, None);
        assert_eq!(d.items[2].3, "warning");
        assert!(d.other_errors.is_empty());
        assert_eq!(part_of(&d.items[1].0), Some((1, "ad.rs")));
    }
}
