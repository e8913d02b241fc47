//! Compile time of `#[differentiate]`: a crate of 100 differentiated functions against the same
//! crate without the attribute.
//!
//! ```sh
//! cargo run --release -p autodiff-fuzz --bin compile_time
//! cargo run --release -p autodiff-fuzz --bin compile_time -- --functions 200 --repeats 5 --release
//! ```
//!
//! It writes a scratch workspace into `<target>/compile-time/` (`<target>` is `CARGO_TARGET_DIR`
//! or the workspace's `target/`) with the workspace's `Cargo.lock`, and one target directory of
//! its own (`<target>/compile-time/target`, so the timings do not wait on other builds' locks):
//!
//! - `with/`: the functions under `#[differentiate]` (`NAME_grad`, `NAME_vjp`, `NAME_vjp_all`,
//!   `NAME_graph`; `NAME_hvp` and `NAME_hessian` for the generic ones);
//! - `without/`: the same bodies without the attribute. It still depends on `autodiff` (its
//!   tensor functions use `autodiff::ndarray`), so only the expansion differs;
//! - `expand/` and `expand-macro/`: the same bodies under an attribute that runs the macro's
//!   expansion and then keeps only the function as written. `expand-macro` is a copy of
//!   `autodiff-macros/src` with that attribute appended (calling its private `expand`), made at
//!   run time; the macro crate itself is not changed. `expand` minus `without` is the time the
//!   macro itself takes, without compiling what it writes.
//!
//! The functions come from a dozen templates of the shapes users write (scalar expressions,
//! Rosenbrock, loops over slices, a local buffer, branches, `match`, a `while` iteration, a
//! log-sum-exp, a generic `T: Float` function, ndarray tensors, calls between the functions),
//! with constants that differ from one function to the next.
//!
//! A warm-up builds and checks every crate (the dependencies are built once, there). Then each
//! repeat rewrites `src/lib.rs` of each crate (a changed comment: only that crate recompiles) and
//! times `cargo check` and `cargo build` (debug; `--release` adds `cargo build --release`), with
//! `CARGO_INCREMENTAL=0` so each is a whole compile of the crate. The crates and commands are
//! interleaved, so a load that comes and goes on a shared machine hits all of them alike. A
//! sample in which cargo compiled more than the crate (the workspace's own crates changed during
//! the run) is taken again. It prints every sample, the medians, the ratios, the extra time per
//! function and the size of the expansion.
//!
//! Options: `--functions N` (100), `--repeats N` (3), `--release`, `--verbose` (cargo's output).
//! Not part of `cargo test`: run it by hand.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The command line.
struct Options {
    functions: usize,
    repeats: usize,
    release: bool,
    verbose: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        functions: 100,
        repeats: 3,
        release: false,
        verbose: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("`{name}` takes a positive number"))
        };
        match arg.as_str() {
            "--functions" => options.functions = number("--functions")?,
            "--repeats" => options.repeats = number("--repeats")?,
            "--release" => options.release = true,
            "--verbose" => options.verbose = true,
            "--help" | "-h" => {
                return Err(
                    "usage: compile_time [--functions N] [--repeats N] [--release] [--verbose]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(options)
}

// ---------------------------------------------------------------------------------------------
// The functions.

/// How a function is annotated in each crate.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// `#[differentiate]`.
    With,
    /// No attribute.
    Without,
    /// `#[ct_expand_macro::expand_only]`: expanded, then only the function kept.
    Expand,
}

impl Variant {
    fn attribute(self, options: &str) -> String {
        let args = if options.is_empty() {
            String::new()
        } else {
            format!("({options})")
        };
        match self {
            Variant::With => format!("#[differentiate{args}]\n"),
            Variant::Without => String::new(),
            Variant::Expand => format!("#[ct_expand_macro::expand_only{args}]\n"),
        }
    }
}

/// The number of templates in [`function`].
const TEMPLATES: usize = 12;

/// A constant for function `k` that differs from one function to the next: `base + k · step`,
/// always written with a decimal point.
fn constant(k: usize, base: f64, step: f64) -> String {
    format!("{:.3}", base + k as f64 * step)
}

/// Function `f{k}`, from template `k % TEMPLATES`, for one variant.
fn function(k: usize, variant: Variant) -> String {
    let c1 = constant(k, 0.5, 0.013);
    let c2 = constant(k, 100.0, 0.7);
    let (options, body) = match k % TEMPLATES {
        // Rosenbrock.
        0 => (
            "",
            format!(
                "pub fn f{k}(x: f64, y: f64) -> f64 {{
    let a = {c1} - x;
    let b = y - x * x;
    a * a + {c2} * b * b
}}"
            ),
        ),
        // A 20-operation expression of three scalars.
        1 => (
            "",
            format!(
                "pub fn f{k}(x: f64, y: f64, z: f64) -> f64 {{
    let a = x * y + z.sin();
    let b = (a * {c1}).exp() / (1.0 + y * y);
    let c = b.ln_1p() + x.tanh() * z;
    let d = (c * c + {c1}).sqrt() - a.cos();
    d * x + c / (1.0 + z.abs()) + y.powi(3)
}}"
            ),
        ),
        // A loop over a slice, with an integer weight.
        2 => (
            "",
            format!(
                "pub fn f{k}(x: &[f64], w: f64) -> f64 {{
    let mut s = 0.0;
    for (i, &v) in x.iter().enumerate() {{
        let t = v * w - {c1} * i as f64;
        s += t * t;
    }}
    s / x.len() as f64
}}"
            ),
        ),
        // Extended Rosenbrock, by index.
        3 => (
            "",
            format!(
                "pub fn f{k}(x: &[f64]) -> f64 {{
    let mut s = 0.0;
    for i in 0..x.len() - 1 {{
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        s += a * a + {c2} * b * b;
    }}
    s
}}"
            ),
        ),
        // Branches as statements and values.
        4 => (
            "",
            format!(
                "pub fn f{k}(x: f64, y: f64) -> f64 {{
    let mut r = 0.0;
    if x < -1.0 {{
        r = -x * y;
    }} else if x < 1.0 {{
        r += x * x * {c1};
    }} else {{
        r = (x - 1.0).exp() + y;
    }}
    let s = if r > y {{ r - y }} else {{ (y - r).sqrt() }};
    s * r
}}"
            ),
        ),
        // `match` on an integer.
        5 => (
            "",
            format!(
                "pub fn f{k}(x: f64, n: usize) -> f64 {{
    let y = match n % 3 {{
        0 => x.sin(),
        1 => x.cos() * {c1},
        _ => x * x,
    }};
    if y > 0.0 {{
        y.sqrt()
    }} else {{
        -y
    }}
}}"
            ),
        ),
        // A `while` iteration (Newton's method for a square root).
        6 => (
            "",
            format!(
                "pub fn f{k}(a: f64) -> f64 {{
    let mut r = a.abs() + 1.0;
    let mut i = 0;
    while i < 8 {{
        r = 0.5 * (r + (a * a + {c1}) / r);
        i += 1;
    }}
    r
}}"
            ),
        ),
        // Softmax cross-entropy over a slice.
        7 => (
            "wrt(logits)",
            format!(
                "pub fn f{k}(logits: &[f64], label: usize) -> f64 {{
    let mut m = logits[0];
    for &v in logits.iter() {{
        m = m.max(v);
    }}
    let mut total = 0.0;
    for &v in logits.iter() {{
        total += (v - m).exp();
    }}
    m + total.ln() - logits[label] * {c1}
}}"
            ),
        ),
        // A local buffer: exponential smoothing and its error.
        8 => (
            "",
            format!(
                "pub fn f{k}(x: &[f64], alpha: f64) -> f64 {{
    let n = x.len();
    let mut y = vec![0.0; n];
    y[0] = x[0];
    for i in 1..n {{
        y[i] = alpha * x[i] + (1.0 - alpha) * y[i - 1];
    }}
    let mut s = 0.0;
    for i in 0..n {{
        s += (y[i] - x[i]).powi(2);
    }}
    s * {c1}
}}"
            ),
        ),
        // Generic over the float type (also `_hvp` and `_hessian`).
        9 => (
            "",
            format!(
                "pub fn f{k}<T: Float>(x: T, y: T) -> T {{
    let c = T::from({c1}).unwrap();
    let r = (x * x + y * y).sqrt();
    (r * c).sin() / (r + T::one()) + x.atan2(y)
}}"
            ),
        ),
        // Calls to two earlier functions (templates 0 and 1).
        10 => (
            "",
            format!(
                "pub fn f{k}(x: f64, y: f64) -> f64 {{
    let a = f{a}(x, y);
    let b = f{b}(y, x, a);
    a * b + (x - y).powi(2) * {c1}
}}",
                a = k - 10,
                b = k - 9
            ),
        ),
        // ndarray: a tanh layer's mean squared error.
        _ => (
            "wrt(w, b)",
            format!(
                "pub fn f{k}(x: &Array2<f64>, w: &Array1<f64>, b: f64, y: &Array1<f64>) -> f64 {{
    let z = (x.dot(w) + b).mapv(f64::tanh);
    let r = z - y;
    (&r * &r).mean().unwrap() * {c1}
}}"
            ),
        ),
    };
    format!("{}{body}\n", variant.attribute(options))
}

/// `src/lib.rs` of a crate: `n` functions; `edit` is written in a comment, so that a new value
/// makes cargo compile the crate again.
fn library(n: usize, variant: Variant, edit: usize) -> String {
    let mut s = String::from(
        "//! Generated by autodiff-fuzz's compile_time benchmark.\n\
         \n\
         use autodiff::ndarray::{Array1, Array2};\n\
         use num_traits::Float;\n",
    );
    if variant == Variant::With {
        s.push_str("use autodiff::differentiate;\n");
    }
    for k in 0..n {
        s.push('\n');
        s.push_str(&function(k, variant));
    }
    let _ = writeln!(s, "\n// edit {edit}");
    s
}

// ---------------------------------------------------------------------------------------------
// The scratch workspace.

/// A member crate of the scratch workspace.
struct Member {
    /// Its folder, also its label in the report.
    dir: &'static str,
    /// Its package name.
    package: &'static str,
    variant: Variant,
}

const MEMBERS: [Member; 3] = [
    Member {
        dir: "without",
        package: "ct-without",
        variant: Variant::Without,
    },
    Member {
        dir: "with",
        package: "ct-with",
        variant: Variant::With,
    },
    Member {
        dir: "expand",
        package: "ct-expand",
        variant: Variant::Expand,
    },
];

/// Appended to the copy of `autodiff-macros/src/lib.rs`.
const EXPAND_ONLY: &str = r#"
/// Added by the compile_time benchmark: the whole expansion, then only the function as written.
#[proc_macro_attribute]
pub fn expand_only(attr: TokenStream, item: TokenStream) -> TokenStream {
    let expanded: TokenStream = expand(attr.into(), item.clone().into()).into();
    if let Ok(path) = std::env::var("CT_EXPANSION_STATS") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{} {}", item.to_string().len(), expanded.to_string().len());
        }
    }
    drop(expanded);
    item
}
"#;

struct Scratch {
    /// The scratch workspace.
    dir: PathBuf,
    /// Its target directory.
    target: PathBuf,
    verbose: bool,
}

fn write_if_changed(path: &Path, contents: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents)?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            let contents = std::fs::read(entry.path())?;
            if std::fs::read(&target).ok().as_deref() != Some(&contents[..]) {
                std::fs::write(&target, contents)?;
            }
        }
    }
    Ok(())
}

/// The `[dependencies]` table of a manifest, as written.
fn dependencies(manifest: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in manifest.lines() {
        if line.trim_start().starts_with('[') {
            inside = line.trim() == "[dependencies]";
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

impl Scratch {
    /// Writes the workspace: the manifests, the lock file, the macro copy and every member's
    /// `src/lib.rs` (edit 0).
    fn write(root: &Path, functions: usize, verbose: bool) -> std::io::Result<Scratch> {
        let target_root = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let dir = target_root.join("compile-time");
        std::fs::create_dir_all(&dir)?;
        write_if_changed(
            &dir.join("Cargo.toml"),
            "# Generated by autodiff-fuzz's compile_time benchmark: its own workspace.\n\
             [workspace]\nmembers = [\"with\", \"without\", \"expand\", \"expand-macro\"]\nresolver = \"2\"\n",
        )?;
        // The workspace's lock file: the same dependency versions, and no network.
        let lock = dir.join("Cargo.lock");
        if !lock.exists() {
            if let Ok(l) = std::fs::read_to_string(root.join("Cargo.lock")) {
                std::fs::write(&lock, l)?;
            }
        }
        // The copy of the macro crate, with `expand_only`.
        let macros = root.join("autodiff-macros");
        let copy = dir.join("expand-macro");
        copy_dir(&macros.join("src"), &copy.join("src"))?;
        let lib = std::fs::read_to_string(macros.join("src/lib.rs"))?;
        std::fs::write(copy.join("src/lib.rs"), format!("{lib}{EXPAND_ONLY}"))?;
        let manifest = std::fs::read_to_string(macros.join("Cargo.toml"))?;
        write_if_changed(
            &copy.join("Cargo.toml"),
            &format!(
                "[package]\nname = \"ct-expand-macro\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
                 [lib]\nproc-macro = true\n\n{}",
                dependencies(&manifest)
            ),
        )?;
        for member in &MEMBERS {
            let src = dir.join(member.dir).join("src");
            std::fs::create_dir_all(&src)?;
            let extra = if member.variant == Variant::Expand {
                "ct-expand-macro = { path = \"../expand-macro\" }\n"
            } else {
                ""
            };
            write_if_changed(
                &dir.join(member.dir).join("Cargo.toml"),
                &format!(
                    "[package]\nname = \"{}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
                     [dependencies]\nautodiff = {{ path = {:?} }}\nnum-traits = \"0.2\"\n{extra}",
                    member.package, root
                ),
            )?;
            std::fs::write(src.join("lib.rs"), library(functions, member.variant, 0))?;
        }
        Ok(Scratch {
            target: dir.join("target"),
            dir,
            verbose,
        })
    }

    /// Rewrites a member's `src/lib.rs` with a new edit number.
    fn touch(&self, member: &Member, functions: usize, edit: usize) -> std::io::Result<()> {
        let path = self.dir.join(member.dir).join("src/lib.rs");
        std::fs::write(path, library(functions, member.variant, edit))
    }

    /// Runs `cargo <args> -p <package>`; the time it took, or cargo's error output.
    fn cargo(
        &self,
        args: &[&str],
        package: &str,
        env: &[(&str, &str)],
    ) -> Result<(Duration, String), String> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut cmd = Command::new(cargo);
        cmd.args(args)
            .arg("-p")
            .arg(package)
            .arg("--manifest-path")
            .arg(self.dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_INCREMENTAL", "0")
            .current_dir(&self.dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let start = Instant::now();
        let out = cmd.output().map_err(|e| format!("running cargo: {e}"))?;
        let elapsed = start.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if self.verbose {
            eprintln!("{stderr}");
        }
        if out.status.success() {
            Ok((elapsed, stderr))
        } else {
            Err(stderr)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Timing.

/// A timed command.
struct Mode {
    label: &'static str,
    args: &'static [&'static str],
    /// The verb cargo prints for the crate (`Checking`, `Compiling`).
    verb: &'static str,
}

const CHECK: Mode = Mode {
    label: "cargo check",
    args: &["check"],
    verb: "Checking",
};
const BUILD: Mode = Mode {
    label: "cargo build",
    args: &["build"],
    verb: "Compiling",
};
const BUILD_RELEASE: Mode = Mode {
    label: "cargo build --release",
    args: &["build", "--release"],
    verb: "Compiling",
};

fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Rewrites a member's `src/lib.rs` and times one `mode` of it. When cargo compiled more than
/// the member (the workspace's crates changed under the benchmark: they are path dependencies),
/// the sample is dropped and taken again, up to five times.
fn timed(
    scratch: &Scratch,
    mode: &Mode,
    member: &Member,
    functions: usize,
    edit: &mut usize,
) -> Duration {
    let mut attempt = 1;
    loop {
        *edit += 1;
        scratch
            .touch(member, functions, *edit)
            .unwrap_or_else(|e| panic!("rewriting {}: {e}", member.dir));
        let (time, stderr) = scratch
            .cargo(mode.args, member.package, &[])
            .unwrap_or_else(|e| panic!("`{}` of `{}` failed:\n{e}", mode.label, member.dir));
        let compiled: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(mode.verb))
            .collect();
        if compiled.len() == 1 && compiled[0].contains(member.package) {
            return time;
        }
        eprintln!(
            "note: `{}` of `{}` also compiled other crates ({compiled:?}): {}",
            mode.label,
            member.dir,
            if attempt < 5 { "taken again" } else { "kept" }
        );
        if attempt == 5 {
            return time;
        }
        attempt += 1;
    }
}

fn main() {
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("autodiff-fuzz is inside the workspace")
        .to_path_buf();
    let scratch = Scratch::write(&root, options.functions, options.verbose)
        .unwrap_or_else(|e| panic!("writing the scratch crates: {e}"));
    println!(
        "compile time of {} functions, {} repeats, in {}",
        options.functions,
        options.repeats,
        scratch.dir.display()
    );

    let mut modes = vec![CHECK, BUILD];
    if options.release {
        modes.push(BUILD_RELEASE);
    }

    // Warm-up: the dependencies, in every mode. A crate that does not compile is left out (the
    // `expand` copy calls a private function of the macro crate, which may change).
    let start = Instant::now();
    let mut members: Vec<&Member> = Vec::new();
    for member in &MEMBERS {
        let ok = modes
            .iter()
            .all(|mode| match scratch.cargo(mode.args, member.package, &[]) {
                Ok(_) => true,
                Err(stderr) => {
                    eprintln!(
                        "`{}` of `{}` failed, left out:\n{stderr}",
                        mode.label, member.dir
                    );
                    false
                }
            });
        if ok {
            members.push(member);
        } else if member.variant != Variant::Expand {
            std::process::exit(1);
        }
    }
    println!(
        "warm-up (dependencies and a first build of each crate): {}",
        seconds(start.elapsed())
    );

    // samples[mode][member]
    let mut samples = vec![vec![Vec::new(); members.len()]; modes.len()];
    let mut edit = 0;
    for repeat in 0..options.repeats {
        for (m, mode) in modes.iter().enumerate() {
            for (c, member) in members.iter().enumerate() {
                let time = timed(&scratch, mode, member, options.functions, &mut edit);
                println!(
                    "repeat {}: {:<22} {:<8} {}",
                    repeat + 1,
                    mode.label,
                    member.dir,
                    seconds(time)
                );
                samples[m][c].push(time);
            }
        }
    }

    // The size of the expansion, from one more (untimed) compile of `expand`.
    let mut sizes = None;
    if let Some(member) = members.iter().find(|m| m.variant == Variant::Expand) {
        let stats = scratch.dir.join("expansion-stats.txt");
        let _ = std::fs::remove_file(&stats);
        edit += 1;
        let stats_path = stats.to_string_lossy().into_owned();
        if scratch.touch(member, options.functions, edit).is_ok()
            && scratch
                .cargo(
                    CHECK.args,
                    member.package,
                    &[("CT_EXPANSION_STATS", &stats_path)],
                )
                .is_ok()
        {
            let text = std::fs::read_to_string(&stats).unwrap_or_default();
            let (mut input, mut output) = (0usize, 0usize);
            for line in text.lines() {
                let mut parts = line.split(' ').filter_map(|p| p.parse::<usize>().ok());
                input += parts.next().unwrap_or(0);
                output += parts.next().unwrap_or(0);
            }
            if input > 0 {
                sizes = Some((input, output));
            }
        }
    }

    println!(
        "\nmedians of {} repeats ({} functions):\n",
        options.repeats, options.functions
    );
    let mut header = format!("| {:<22} |", "");
    let mut rule = format!("| {:<22} |", "---");
    for member in &members {
        let _ = write!(header, " {:>9} |", member.dir);
        rule.push_str(" ---: |");
    }
    header.push_str(" with / without | (with - without) / function |");
    rule.push_str(" ---: | ---: |");
    let expand = members.iter().position(|m| m.variant == Variant::Expand);
    if expand.is_some() {
        header.push_str(" expansion alone |");
        rule.push_str(" ---: |");
    }
    println!("{header}\n{rule}");
    for (m, mode) in modes.iter().enumerate() {
        let medians: Vec<Duration> = samples[m].iter().map(|s| median(s)).collect();
        let mut line = format!("| {:<22} |", mode.label);
        for d in &medians {
            let _ = write!(line, " {:>9} |", seconds(*d));
        }
        let (without, with) = (medians[0].as_secs_f64(), medians[1].as_secs_f64());
        let _ = write!(line, " {:>14} |", format!("{:.2}x", with / without));
        let per_function = (with - without) * 1e3 / options.functions as f64;
        let _ = write!(line, " {:>26} |", format!("{per_function:.1} ms"));
        if let Some(e) = expand {
            let alone = medians[e].as_secs_f64() - without;
            let _ = write!(line, " {:>15} |", format!("{alone:.2} s"));
        }
        println!("{line}");
    }
    println!(
        "\n`expansion alone` is `expand` minus `without`: the macro's own time, without compiling \
         what it writes."
    );
    if let Some((input, output)) = sizes {
        println!(
            "the expansion writes {output} characters of tokens for {input} of input ({:.1}x)",
            output as f64 / input as f64
        );
    }
}
