//! Robustness of the expansion against mutated input (issue 6: "the macro never panics,
//! whatever it is given").
//!
//! A corpus of valid `#[differentiate]` functions (scalars, generics, loops, branches, early
//! returns, slices and arrays, ndarray models, calls, parameter structs, `wrt(...)`) is mutated at
//! the token level by a small deterministic generator: tokens deleted, duplicated, swapped,
//! replaced by others of their kind, wrapped in `(..)`, `&`, `-`, groups truncated or unwrapped,
//! `return`, `break`, `?`, `.await`, `as f64`, closures and macros inserted, pieces of other
//! functions spliced in, the attribute's arguments rewritten, and now and then the text itself
//! cut (a mutant that no longer lexes is skipped, as rustc would never pass it to a macro) or a
//! piece wrapped in an invisible group (what `macro_rules!` hands over for `$x:ty`). Every mutant
//! goes through [`expand`] under `catch_unwind`, and the expansion must
//!
//! - not panic (`mutants_never_panic`), whatever the input;
//! - when the input is one item rustc would parse (rustc only ever passes one), parse as a
//!   `syn::File`, and for a function contain it exactly as written, and `NAME_vjp` or a
//!   `compile_error!` (`mutants_expand_to_valid_rust_with_companions_or_an_error`); for other
//!   input, carry a `compile_error!`.
//!
//! syn accepts a little that rustc's parser rejects before any macro runs (`x + let v = 1.0`):
//! such mutants are counted as not Rust and only held to the first rule. Placeholder
//! companions (an `unreachable!` body) without a `compile_error!` are the macro leaving an error
//! to rustc, which is right only if rustc does reject the function: the long run lists them for
//! review rather than failing on them.
//!
//! It does not check that an expansion compiles or that its gradients are right: the integration
//! tests and `autodiff-fuzz` do that. A mutant whose expansion hangs is reported, with its text,
//! by a watchdog rather than hanging the test run; a stack overflow cannot be caught and aborts
//! the run, so the expansions run on threads with the 8 MiB stack rustc gives a proc macro.
//!
//! Failures are grouped (a panic by its location), the few smallest mutants of each group are
//! minimized by deleting tokens while they still fail the same way, and the test's message lists
//! each group with its distinct minimized inputs, the mutants they came from and how to
//! regenerate them: `AUTODIFF_MUTANTS_SEED=<seed>` and the mutant's index.
//!
//! ```text
//! cargo test -p autodiff-macros robustness                  # the quick run, 3000 mutants
//! AUTODIFF_MUTANTS=200000 cargo test -p autodiff-macros \
//!     robustness::many_mutants -- --ignored --nocapture     # the long run
//! ```
//!
//! The long run is meant for a debug build, as a user's `cargo build` runs the macro: overflow
//! checks and debug assertions are panics to find too.

use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use proc_macro2::{Delimiter, Group, Spacing, TokenStream, TokenTree};
use syn::ext::IdentExt;

use super::expand;

/// The stack rustc runs a proc macro on (its main thread's, `RUST_MIN_STACK` aside).
const RUSTC_STACK: usize = 8 << 20;

/// How long one mutant's expansion may take before the watchdog calls it a hang. A debug
/// expansion of a corpus function takes about a millisecond.
const HANG_LIMIT: Duration = Duration::from_secs(30);

/// The seed of the quick run, fixed so that CI always tries the same mutants.
const QUICK_SEED: u64 = 0x0006_ad0b_0a57;

// ----- the corpus -----------------------------------------------------------------------------

/// Valid inputs: `(attribute arguments, function)`, covering the body language DESIGN.md lists.
const CORPUS: &[(&str, &str)] = &[
    (
        "",
        r"
        /// Rosenbrock's banana.
        pub fn rosen(x: f64, y: f64) -> f64 {
            let a = 1.0 - x;
            let b = y - x * x;
            a * a + 100.0 * b * b
        }",
    ),
    (
        "",
        r"
        fn neuron(x1: f64, x2: f64, w1: f64, w2: f64, b: f64) -> f64 {
            let n = x1 * w1 + x2 * w2 + b;
            n.tanh()
        }",
    ),
    (
        "wrt(x, y)",
        r"
        fn with_constant(x: f64, y: f64, c: f64) -> f64 {
            (x * y + c) * c + x
        }",
    ),
    (
        "",
        r"
        fn poly<T: Float>(x: T, y: T) -> T {
            sq(x) * y + sq(y - x).sin() * T::from(0.5).unwrap()
        }",
    ),
    (
        "",
        r"
        pub(crate) fn softsign<T>(x: T) -> T
        where
            T: num_traits::Float,
        {
            x / (T::one() + x.abs())
        }",
    ),
    (
        "",
        r"
        fn piecewise<T: Float>(x: T) -> T {
            let y = if x < T::zero() {
                -x * c(2.0)
            } else if x < T::one() {
                x * x
            } else {
                x.ln() + T::one()
            };
            y * c(3.0)
        }",
    ),
    (
        "",
        r"
        fn early(x: f64) -> f64 {
            if x > 2.0 {
                return x * x;
            }
            let y = x.exp();
            return y + 1.0;
        }",
    ),
    (
        "",
        r"
        fn return_in_loop(x: &[f64]) -> f64 {
            let mut s = 0.0;
            for i in 0..x.len() {
                s += x[i] * x[i];
                if s > 2.0 {
                    return s.sqrt();
                }
            }
            s
        }",
    ),
    (
        "",
        r"
        fn series(x: f64, n: usize) -> f64 {
            let mut s = 0.0;
            for i in 1..n {
                s += x.powi(i as i32) / (i as f64);
            }
            s
        }",
    ),
    (
        "wrt(a)",
        r"
        fn newton_cbrt(a: f64) -> f64 {
            let mut x = a;
            let mut k = 0;
            while (x * x * x - a).abs() > 1e-13 && k < 100 {
                x = x - (x * x * x - a) / (3.0 * x * x);
                k += 1;
            }
            x
        }",
    ),
    (
        "",
        r"
        fn halving(x: f64) -> f64 {
            let mut y = x;
            let mut k = 0;
            loop {
                y = y * 0.5 + x.sin();
                k += 1;
                if k >= 5 {
                    break;
                }
            }
            y
        }",
    ),
    (
        "",
        r"
        fn norm2(v: &[f64]) -> f64 {
            let mut s = 0.0;
            for &x in v.iter() {
                s += x * x;
            }
            s.sqrt()
        }",
    ),
    (
        "",
        r"
        fn scaled_sum(v: Vec<f64>, scale: f64) -> f64 {
            let mut s = 0.0;
            for x in &v {
                s += x * scale;
            }
            s
        }",
    ),
    (
        "",
        r"
        fn cyclic(x: [f64; 3]) -> f64 {
            let mut y = [0.0; 3];
            for i in 0..3 {
                y[i] = x[i] * x[(i + 1) % 3];
            }
            y[0] + y[1] * 2.0 + y[2].cos()
        }",
    ),
    (
        "wrt(x)",
        r"
        fn quad_form(a: &[f64], x: &[f64], n: usize) -> f64 {
            let mut s = 0.0;
            for i in 0..n {
                for j in 0..n {
                    s += x[i] * a[i * n + j] * x[j];
                }
            }
            s
        }",
    ),
    (
        "",
        r"
        fn horner(c: &[f64], x: f64) -> f64 {
            let mut acc = 0.0;
            for i in (0..c.len()).rev() {
                acc = acc * x + c[i];
            }
            acc
        }",
    ),
    (
        "",
        r"
        fn linreg(x: &Array2<f64>, w: &Array1<f64>, b: f64, y: &Array1<f64>) -> f64 {
            ((x.dot(w) + b - y).powi(2)).mean().unwrap()
        }",
    ),
    (
        "wrt(w1, b1, w2, b2)",
        r"
        fn mlp(
            x: &Array2<f64>,
            labels: &[usize],
            w1: &Array2<f64>,
            b1: &Array1<f64>,
            w2: &Array2<f64>,
            b2: &Array1<f64>,
        ) -> f64 {
            let h = (x.dot(w1) + b1).mapv(f64::tanh);
            let logits = h.dot(w2) + b2;
            autodiff::cross_entropy(&logits, labels)
        }",
    ),
    (
        "wrt(w, b)",
        r"
        fn softmax_loss(x: &Array2<f64>, onehot: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>) -> f64 {
            let z = x.dot(w) + b;
            let p = autodiff::softmax(&z, Axis(1));
            let picked = (p.ln() * onehot).sum_axis(Axis(1));
            -picked.mean().unwrap()
        }",
    ),
    (
        "",
        r"
        fn attention(q: &Array2<f64>, k: &Array2<f64>, v: &Array2<f64>, d: usize) -> f64 {
            let scores = q.dot(&k.t()) / (d as f64).sqrt();
            let a = autodiff::softmax(&scores, Axis(1));
            let out = a.dot(v);
            out.sum()
        }",
    ),
    (
        "",
        r"
        pub fn layer(x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>) -> Array2<f64> {
            (x.dot(w) + b).mapv(autodiff::relu)
        }",
    ),
    (
        "",
        r"
        fn logistic(x: &Array2<f32>, w: &Array1<f32>, b: f32, y: &Array1<f32>) -> f32 {
            let p = (x.dot(w) + b).mapv(autodiff::sigmoid);
            let ll = y * &p.ln() + (1.0 - y) * &(1.0 - &p).ln();
            -ll.mean().unwrap()
        }",
    ),
    (
        "wrt(p)",
        r"
        fn mlp_loss(p: &Mlp, x: &Array2<f64>, labels: &[usize]) -> f64 {
            let h = (x.dot(&p.l1.w) + &p.l1.b).mapv(f64::tanh);
            let logits = (h.dot(&p.l2.w) + &p.l2.b) / p.temperature;
            let mut penalty = 0.0;
            for i in 0..p.extra.len() {
                penalty += p.extra[i] * p.extra[i];
            }
            autodiff::cross_entropy(&logits, labels) + 0.1 * penalty
        }",
    ),
    (
        "wrt(s)",
        r"
        fn spring_energy(s: Spring, x: f64) -> f64 {
            0.5 * s.k * x * x + s.c[0] * x.sin() + s.c[1] * s.k.ln()
        }",
    ),
    (
        "wrt(p)",
        r"
        fn weighted(p: &Params, x: &[f64]) -> f64 {
            let mut s = 0.0;
            for i in 0..x.len() {
                s += p.w[i] * x[i];
            }
            (s + p.b).tanh()
        }",
    ),
    (
        "",
        r"
        fn through_a_buffer(x: &[f64]) -> f64 {
            let mut buf = vec![0.0; x.len()];
            for i in 0..x.len() {
                buf[i] = x[i] * 2.0;
            }
            let first = norm2(&buf);
            first * norm2(x) + poly(x[0], x[1])
        }",
    ),
    (
        "",
        r"
        #[inline]
        #[allow(clippy::many_single_char_names)]
        pub fn ackley(x: f64, y: f64) -> f64 {
            use std::f64::consts::{E, PI};
            let r = (0.5 * (x * x + y * y)).sqrt();
            let c = 0.5 * ((2.0 * PI * x).cos() + f64::cos(2.0 * PI * y));
            -20.0 * (-0.2 * r).exp() - c.exp() + E + 20.0
        }",
    ),
    (
        "",
        r"
        fn smooth32(x: f32, y: f32) -> f32 {
            let t = 1.0_f32.tanh() * x;
            let u = f32::hypot(x, y) + f32::EPSILON;
            t.atan2(u) + x.mul_add(y, 0.5).max(y.min(2.0)).clamp(-1.0, 1.0) + y.exp_m1()
        }",
    ),
    (
        "",
        r"
        fn swap(x: f64, y: f64) -> f64 {
            let (a, b) = (x * x, y);
            let (a, b) = (b, a);
            let a = a * std::f64::consts::PI;
            a * 3.0 + b
        }",
    ),
    (
        "",
        r"
        fn by_integer<T: Float>(x: T, n: i32) -> T {
            match n {
                0 => x,
                1 | 2 => x * x,
                k if k < 10 => x.sin() * T::from(k).unwrap(),
                _ => x.exp(),
            }
        }",
    ),
    (
        "wrt(x)",
        r"
        fn struct_pattern(mut x: f64, p: Pair) -> f64 {
            let Pair { a, b } = p;
            let mut q = x;
            q *= a;
            q -= b;
            q /= 2.0;
            x += q;
            x * b + q.powf(2.0)
        }",
    ),
    (
        "",
        r"
        fn trace_sq(a: &Array2<f64>) -> f64 {
            let mut s = 0.0;
            for i in 0..a.nrows() {
                for j in 0..a.ncols() {
                    s += a[[i, j]] * a[[j, i]];
                }
            }
            s
        }",
    ),
    (
        "",
        r#"
        fn logged(x: f64, n: usize) -> f64 {
            let k = n as f64 + 1.0;
            println!("{k}");
            let g = f64::sqrt(x * x + 1.0).ln_1p();
            x.powi(n as i32) * k + x.floor() + g.log10() + x.cbrt().recip()
        }"#,
    ),
    (
        "",
        r"
        fn lse(v: &Array1<f64>, temperature: f64) -> f64 {
            autodiff::log_sum_exp(&(v / temperature)) * temperature + autodiff::softplus(temperature)
        }",
    ),
    (
        "crate = ::autodiff",
        r"
        fn with_crate_path(x: f64) -> f64 {
            let mut a = x;
            a = a.sinh() * a.cosh();
            {
                let a = a.asinh();
                a * a
            }
        }",
    ),
    (
        "wrt(x)",
        r"
        fn skip_masked(x: &[f64], mask: &[bool]) -> f64 {
            let mut s = 0.0;
            let mut i = 0;
            while i < x.len() {
                if mask[i] {
                    i += 1;
                    continue;
                }
                s = s + x[i].exp2();
                i += 1;
            }
            s
        }",
    ),
    (
        "forward",
        r"
        pub fn forward_and_reverse(x: f64, y: f64) -> f64 {
            let mut s = x;
            for _ in 0..3 {
                s = s * y + x.sin();
            }
            s.tanh()
        }",
    ),
    (
        "forward, wrt(w)",
        r"
        fn forward_slice(x: &[f64], w: f64) -> f64 {
            let mut s = 0.0;
            for i in 0..x.len() {
                s += (x[i] * w).sin();
            }
            s
        }",
    ),
    (
        "vjp = soft_clip_rule",
        r"
        /// A custom derivative: the body is not differentiated.
        fn soft_clip(x: f64, limit: f64) -> f64 {
            if x.abs() < limit { x } else { limit * x.signum() }
        }",
    ),
    (
        "",
        r"
        fn power<T: Float>(x: T, n: u32) -> T {
            if n == 0 {
                T::one()
            } else if n % 2 == 0 {
                let h = power(x, n / 2);
                h * h
            } else {
                x * power(x, n - 1)
            }
        }",
    ),
];

/// Pieces inserted at random points: control flow, operators, casts, closures, macros, items,
/// names the expansion itself uses, and odd but lexable Rust.
const SNIPPETS: &[&str] = &[
    "return",
    "return x;",
    "return;",
    "break",
    "break;",
    "break 'outer x;",
    "'outer:",
    "continue;",
    "?",
    ".await",
    "as f64",
    "as usize",
    "as i32 as f64",
    "|v| v",
    "|v: f64| v * 2.0",
    "move || x",
    "(|v: f64| v)(x)",
    "vec![0.0; 3]",
    "vec![x, y]",
    r#"println!("{}", x);"#,
    "todo!()",
    "unreachable!()",
    "assert!(x > 0.0);",
    "m!()",
    "macro_rules! m { () => {} }",
    "let",
    "let _ = x;",
    "let mut t = x;",
    "let t: f64;",
    "let (a, b) = x;",
    "let [a, b] = y;",
    "let Some(v) = x else { return 0.0 };",
    ";",
    ",",
    "loop { break; }",
    "loop {}",
    "while x > 0.0 {}",
    "for i in 0..n {}",
    "for _ in x {}",
    "x.len()",
    "..",
    "..=",
    "async move { x }",
    "match x { _ => 1.0 }",
    "if true { 1.0 } else { 2.0 }",
    "if x > 0.0 { return 1.0; }",
    "if let Some(v) = x { v } else { 0.0 }",
    "unsafe { x }",
    "fn g() {}",
    "#[inline]",
    "#[cfg(test)]",
    "#[allow(unused)]",
    "#![allow(unused)]",
    "/// doc",
    "const C: f64 = 1.0;",
    "static S: f64 = 1.0;",
    "struct S;",
    "impl S {}",
    "use std::f64::consts::PI;",
    "x = y;",
    "[0.0; 3]",
    "[x; 2]",
    "(a, b)",
    "()",
    "{}",
    "[]",
    ".0",
    ".1 .0",
    "[i]",
    "[[i, j]]",
    "[1..]",
    ".t()",
    ".dot(&w)",
    ".mapv(f64::tanh)",
    ".mapv(|v| v.max(0.0))",
    ".mapv(autodiff::sigmoid)",
    "autodiff::softmax(&z, Axis(1))",
    "Axis(0)",
    ".sum_axis(Axis(1))",
    ".mean().unwrap()",
    ".sum()",
    ".iter()",
    ".iter().sum::<f64>()",
    ".clone()",
    ".to_vec()",
    ".view()",
    "-1",
    "1e308",
    "1e999",
    "0.0_f32",
    "i32::MAX",
    "T::zero()",
    "T::from(0.5).unwrap()",
    "<T as Float>::one()",
    "f64::EPSILON",
    "std::f64::consts::PI",
    "Self::C",
    "self",
    "self.w",
    "super::f(x)",
    "crate::g(x)",
    "x.powi(2147483647)",
    "x.powi(i as i32)",
    "x.powi(-3)",
    "x.powf(y)",
    "x.atan2(y)",
    "x.mul_add(y, z)",
    "x.clamp(0.0, 1.0)",
    "x.sin(y)",
    "x.max()",
    "f64::max(x, y)",
    "f64::sin()",
    "autodiff::sigmoid(x)",
    "autodiff::relu",
    "autodiff::log_sum_exp(&v)",
    "x.frobnicate()",
    "yield x",
    "&mut x",
    "*x",
    "ref",
    "mut",
    "dyn",
    "impl Fn(f64) -> f64",
    "where T: Float",
    "<T: Float>",
    "<const N: usize>",
    "<'a>",
    "-> f64",
    "-> ()",
    "-> !",
    "-> impl Float",
    "-> Array2<f64>",
    "r#try",
    "r#fn",
    "'a",
    "&'a [f64]",
    "x: f64",
    ", y: f64",
    ", n: usize",
    ", d_out: f64",
    "self,",
    "&self",
    "d_out",
    "grad",
    "__private",
    "__value",
    "__g_0",
    "::core::panic!()",
    "#[differentiate]",
    "#[differentiate(wrt(x))]",
    "x @ 1..=2",
    "Some(x)",
    "Ok(x)?",
    "x.0 .1",
    "1.0.sin()",
    "1.0_f64.tanh()",
    "y[i] = x[i];",
    "y[i] += 1.0;",
    "s -= x;",
    "s /= 2.0;",
    "s *= s;",
    "s %= 2.0;",
    "x << 1",
    "x ^ y",
    "x && y",
    "x == y",
    "!x",
    "x as u8 as f64",
    "0..",
    "..x.len()",
    "(0..n).rev()",
    "&x[1..]",
    "x[..2].iter()",
    "'c'",
    "b\"bytes\"",
    "\"text\"",
    // Whole statements, with the corpus's usual names.
    "if x > 0.0 { break; }",
    "if s > 1.0 { continue; }",
    "if x > 1.0 { return x * x; }",
    "while s < 10.0 { s = s * 2.0; if s > 5.0 { return s; } }",
    "let s = loop { break x * 2.0; };",
    "let v = 'b: { if x > 0.0 { break 'b x; } 1.0 };",
    "'outer: for i in 0..3 { for j in 0..3 { if j > i { continue 'outer; } s += x; } }",
    "for i in 0..3 { s = s * x; break; }",
    "loop { if s > 1.0 { return s; } s += x; }",
    "let s = { return x; };",
    "match x > 0.0 { true => return x, false => {} }",
    "let t = if x > 0.0 { x } else { return y; };",
    "s = s * x;",
    "x = x * 2.0;",
    "let x = x.sin();",
    "let mut x = x;",
    "let mut y = y;",
    "a[0] = x;",
    "let mut a = [x; 3];",
    "let mut v = vec![x; 3];",
    "v[1] = v[0] * x;",
    "let (p, q) = (x, y);",
    "let [p, q] = [x, y];",
    "for &v in x.iter() { s += v; }",
    "for v in &x { s += v; }",
    "for (i, v) in x.iter().enumerate() { s += *v * i as f64; }",
    "for i in (0..x.len()).rev() { s = s * x[i]; }",
    "let z = x.dot(&w) + &b;",
    "let z = z.mapv(f64::tanh);",
    "let p = autodiff::softmax(&z, Axis(1));",
    "let h = norm2(&x);",
    "let h = poly(x, y);",
    "let h = power(x, 3);",
    "s += p.w[i] * x[i];",
    "let h = s.tanh() + s.exp() * s.ln();",
];

/// New names for an identifier renamed everywhere in a function: raw identifiers, non-ASCII,
/// the expansion's own naming scheme, keywords, names of types and crates.
const RENAMES: &[&str] = &[
    "r#type",
    "r#loop",
    "r#match",
    "r#in",
    "α",
    "变量",
    "ö_1",
    "_x",
    "_",
    "__t1",
    "__d_x_0",
    "__s_3",
    "__carry_s_3",
    "__tape_0",
    "__value",
    "__g_0",
    "__i_4",
    "d_out",
    "grad",
    "adj",
    "tape",
    "x",
    "y",
    "s",
    "T",
    "N",
    "self",
    "Self",
    "crate",
    "super",
    "f64",
    "Float",
    "Real",
    "autodiff",
    "core",
    "std",
    "unreachable",
    "compile_error",
    "zero_like",
    "Array2",
    "Axis",
];

/// Attribute arguments, valid and not.
const ATTRS: &[&str] = &[
    "",
    "wrt(x)",
    "wrt(x, y)",
    "wrt(y, x)",
    "wrt()",
    "wrt",
    "wrt = x",
    "wrt(x, x)",
    "wrt(self)",
    "wrt(1)",
    "wrt(x,)",
    "wrt(,)",
    "wrt(x), wrt(y)",
    "wrt(x) wrt(y)",
    "wrt[x]",
    "wrt{x}",
    "wrt(r#fn)",
    "wrt(_)",
    "wrt(x::y)",
    "wrt(x = 1)",
    "wrt(x(y))",
    "crate = ::autodiff",
    "crate = autodiff",
    "crate = 1",
    "crate",
    "crate =",
    "crate = a::b::<T>",
    "crate = crate",
    "crate = ::autodiff, crate = ::other",
    "vjp = rule",
    "vjp = my::rule::<f64>",
    "vjp =",
    "vjp",
    "vjp = rule, wrt(x)",
    "vjp(rule)",
    "wrt(x), crate = ::autodiff",
    "crate = ::autodiff, wrt(x, y)",
    "foo",
    "foo = 1",
    "= =",
    ",",
    "wrt(x),",
    "#[x]",
    "\"s\"",
    "1",
    "::wrt(x)",
    "self::wrt(x)",
    "forward",
    "forward, wrt(x)",
    "wrt(x), forward",
    "forward = 1",
    "forward(x)",
    "forward, forward",
    "forward, vjp = rule",
    "forward, crate = ::autodiff",
    "trace",
    "trace, forward, wrt(x)",
    "trace = 1",
];

/// Idents, literals and puncts beyond the corpus's own, for replacements.
const EXTRA_IDENTS: &str =
    "fn let mut return if else for while loop break continue match self Self \
    super crate in as ref move async await dyn impl where type struct enum const static unsafe pub \
    use mod trait true false _ r#fn r#match f32 f64 i32 usize u8 bool str Vec Array1 Array2 ArrayD \
    ArrayView2 Float T N x y z d_out grad adj tape __private __value autodiff ndarray core std \
    r#type r#loop α 变量";
const EXTRA_LITERALS: &str = r##"0 1 2 3 0.0 1e999 1e-400 2147483648 4294967296
    340282366920938463463374607431768211456 0x7fff_ffff 0b1 0o7 1u8 1i128 1.0f32 1f64 1_000.5
    'c' b'c' "s" b"s" r"raw" r#"raw"# 1.0e10_f64 0."##;
const EXTRA_PUNCTS: &str = "+ - * / % ^ ! & | = < > @ . , ; : # $ ? ~";

// ----- the generator ------------------------------------------------------------------------

/// SplitMix64: tiny, and good enough to pick mutations.
struct Rng(u64);

impl Rng {
    /// The generator for mutant `index` of a run with `seed`, so any mutant can be regenerated
    /// on its own.
    fn for_mutant(seed: u64, index: u64) -> Self {
        let mut rng = Rng(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; `n` must not be zero.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A token tree that is easy to edit in place: groups own a vector of their contents.
#[derive(Clone)]
enum Tok {
    Leaf(TokenTree),
    Group(Delimiter, Vec<Tok>),
}

fn toks(stream: TokenStream) -> Vec<Tok> {
    stream
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(g) => Tok::Group(g.delimiter(), toks(g.stream())),
            leaf => Tok::Leaf(leaf),
        })
        .collect()
}

fn stream(toks: &[Tok]) -> TokenStream {
    toks.iter()
        .map(|t| match t {
            Tok::Leaf(leaf) => leaf.clone(),
            Tok::Group(delimiter, inner) => TokenTree::Group(Group::new(*delimiter, stream(inner))),
        })
        .collect()
}

fn size(toks: &[Tok]) -> usize {
    toks.iter()
        .map(|t| match t {
            Tok::Leaf(_) => 1,
            Tok::Group(_, inner) => 2 + size(inner),
        })
        .sum()
}

/// Paths to every token sequence: the top level (the empty path) and each group's contents.
fn sequences(toks: &[Tok]) -> Vec<Vec<usize>> {
    fn walk(toks: &[Tok], path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        for (i, t) in toks.iter().enumerate() {
            if let Tok::Group(_, inner) = t {
                path.push(i);
                out.push(path.clone());
                walk(inner, path, out);
                path.pop();
            }
        }
    }
    let mut out = vec![Vec::new()];
    walk(toks, &mut Vec::new(), &mut out);
    out
}

fn sequence_mut<'a>(toks: &'a mut Vec<Tok>, path: &[usize]) -> &'a mut Vec<Tok> {
    let mut seq = toks;
    for &i in path {
        seq = match &mut seq[i] {
            Tok::Group(_, inner) => inner,
            Tok::Leaf(_) => unreachable!("paths come from `sequences`"),
        };
    }
    seq
}

fn sequence<'a>(toks: &'a [Tok], path: &[usize]) -> &'a [Tok] {
    let mut seq = toks;
    for &i in path {
        seq = match &seq[i] {
            Tok::Group(_, inner) => inner,
            Tok::Leaf(_) => unreachable!("paths come from `sequences`"),
        };
    }
    seq
}

/// Every token at every depth, as (path of its sequence, index in it), in pre-order.
fn positions(toks: &[Tok]) -> Vec<(Vec<usize>, usize)> {
    fn walk(toks: &[Tok], path: &mut Vec<usize>, out: &mut Vec<(Vec<usize>, usize)>) {
        for (i, t) in toks.iter().enumerate() {
            out.push((path.clone(), i));
            if let Tok::Group(_, inner) = t {
                path.push(i);
                walk(inner, path, out);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    walk(toks, &mut Vec::new(), &mut out);
    out
}

/// What replacements and insertions draw from, built per thread (tokens are not `Send`).
struct Pools {
    corpus: Vec<(Vec<Tok>, Vec<Tok>)>,
    snippets: Vec<Vec<Tok>>,
    attrs: Vec<Vec<Tok>>,
    idents: Vec<TokenTree>,
    literals: Vec<TokenTree>,
    puncts: Vec<TokenTree>,
}

fn lex(text: &str) -> TokenStream {
    text.parse()
        .unwrap_or_else(|e| panic!("test input does not lex: {e:?}\n{text}"))
}

impl Pools {
    fn new() -> Self {
        let corpus: Vec<(Vec<Tok>, Vec<Tok>)> = CORPUS
            .iter()
            .map(|(attr, item)| (toks(lex(attr)), toks(lex(item))))
            .collect();
        let mut idents = Vec::new();
        let mut literals = Vec::new();
        let mut puncts = Vec::new();
        let mut collect = |stream: TokenStream| {
            fn walk(
                stream: TokenStream,
                pools: &mut (
                    &mut Vec<TokenTree>,
                    &mut Vec<TokenTree>,
                    &mut Vec<TokenTree>,
                ),
            ) {
                for tree in stream {
                    match tree {
                        TokenTree::Group(g) => walk(g.stream(), pools),
                        TokenTree::Ident(_) => pools.0.push(tree),
                        TokenTree::Literal(_) => pools.1.push(tree),
                        TokenTree::Punct(_) => pools.2.push(tree),
                    }
                }
            }
            walk(stream, &mut (&mut idents, &mut literals, &mut puncts));
        };
        for (attr, item) in CORPUS {
            collect(lex(attr));
            collect(lex(item));
        }
        collect(lex(EXTRA_IDENTS));
        collect(lex(EXTRA_LITERALS));
        collect(lex(EXTRA_PUNCTS));
        Pools {
            corpus,
            snippets: SNIPPETS.iter().map(|s| toks(lex(s))).collect(),
            attrs: ATTRS.iter().map(|s| toks(lex(s))).collect(),
            idents,
            literals,
            puncts,
        }
    }
}

/// One input to [`expand`].
struct Mutant {
    attr: TokenStream,
    item: TokenStream,
}

/// Mutant `index` of the run with `seed`, or `None` when its text no longer lexes.
fn mutant(pools: &Pools, seed: u64, index: u64) -> Option<Mutant> {
    let mut rng = Rng::for_mutant(seed, index);
    let (attr, item) = rng.pick(&pools.corpus);
    let (mut attr, mut item) = (attr.clone(), item.clone());
    let mut edits = 1;
    while edits < 4 && rng.chance(45) {
        edits += 1;
    }
    for _ in 0..edits {
        mutate(&mut item, pools, &mut rng);
    }
    if rng.chance(25) {
        mutate_attr(&mut attr, &item, pools, &mut rng);
    }
    if rng.chance(15) {
        // A name changed everywhere, `wrt(...)` included, so the function often stays valid.
        let all = positions(&item);
        if let Some((path, at)) = (!all.is_empty()).then(|| rng.pick(&all).clone()) {
            if let Tok::Leaf(TokenTree::Ident(old)) = &sequence(&item, &path)[at] {
                let old = old.to_string();
                let name = *rng.pick::<&str>(RENAMES);
                let new = lex(name).into_iter().next();
                if let Some(new) = new {
                    rename(&mut item, &old, &new);
                    rename(&mut attr, &old, &new);
                }
            }
        }
    }
    // Through text, as rustc would hand the tokens over: what no longer lexes is skipped, and
    // punctuation spacing becomes what a lexer produces.
    let mut item_text = stream(&item).to_string();
    let attr_text = stream(&attr).to_string();
    if rng.chance(8) {
        cut_text(&mut item_text, &mut rng);
    }
    let attr = attr_text.parse::<TokenStream>().ok()?;
    let mut item = toks(item_text.parse::<TokenStream>().ok()?);
    if rng.chance(10) {
        wrap_run(&mut item, &mut rng, Delimiter::None);
    }
    Some(Mutant {
        attr,
        item: stream(&item),
    })
}

/// One random edit of `item`.
fn mutate(item: &mut Vec<Tok>, pools: &Pools, rng: &mut Rng) {
    let all = positions(item);
    if all.is_empty() {
        let snippet = rng.pick(&pools.snippets);
        insert(item, rng, snippet);
        return;
    }
    let (path, at) = rng.pick(&all).clone();
    match rng.below(20) {
        // Delete one token, or a short run.
        0 => {
            sequence_mut(item, &path).remove(at);
        }
        1 => {
            let seq = sequence_mut(item, &path);
            let end = (at + 2 + rng.below(3)).min(seq.len());
            seq.drain(at..end);
        }
        // Duplicate one.
        2 => {
            let seq = sequence_mut(item, &path);
            let copy = seq[at].clone();
            seq.insert(at + 1, copy);
        }
        // Swap two in the same sequence.
        3 => {
            let seq = sequence_mut(item, &path);
            let other = rng.below(seq.len());
            seq.swap(at, other);
        }
        // Copy another token of the function over this one.
        4 => {
            let (from_path, from) = rng.pick(&all).clone();
            let copy = sequence(item, &from_path)[from].clone();
            sequence_mut(item, &path)[at] = copy;
        }
        // Replace a leaf by another of its kind; change a group's delimiter.
        5 | 6 => {
            let seq = sequence_mut(item, &path);
            seq[at] = match &seq[at] {
                Tok::Leaf(TokenTree::Ident(_)) => Tok::Leaf(rng.pick(&pools.idents).clone()),
                Tok::Leaf(TokenTree::Literal(_)) => Tok::Leaf(rng.pick(&pools.literals).clone()),
                Tok::Leaf(_) => Tok::Leaf(rng.pick(&pools.puncts).clone()),
                Tok::Group(_, inner) => Tok::Group(
                    *rng.pick(&[Delimiter::Parenthesis, Delimiter::Bracket, Delimiter::Brace]),
                    inner.clone(),
                ),
            };
        }
        // Wrap a run in a group, or put an operator before it or a suffix after it.
        7 => {
            let delimiter =
                *rng.pick(&[Delimiter::Parenthesis, Delimiter::Bracket, Delimiter::Brace]);
            wrap_run(item, rng, delimiter);
        }
        8 => {
            let seq = sequence_mut(item, &path);
            let end = (at + 1 + rng.below(3)).min(seq.len());
            if rng.chance(50) {
                let prefix = *rng.pick(&["&", "-", "!", "*", "&mut", "&&", "--", "move", "box"]);
                seq.splice(at..at, toks(lex(prefix)));
            } else {
                let suffix = *rng.pick(&[
                    "?",
                    ".await",
                    "as f64",
                    ".unwrap()",
                    ".sin()",
                    ".clone()",
                    "[0]",
                    ".0",
                    "!",
                ]);
                seq.splice(end..end, toks(lex(suffix)));
            }
        }
        // Truncate a group, or unwrap it into its contents.
        9 => {
            let seq = sequence_mut(item, &path);
            if let Tok::Group(_, inner) = &mut seq[at] {
                let keep = rng.below(inner.len() + 1);
                inner.truncate(keep);
            } else {
                seq.truncate(at);
            }
        }
        10 => {
            let seq = sequence_mut(item, &path);
            if let Tok::Group(_, inner) = seq[at].clone() {
                seq.splice(at..=at, inner);
            } else {
                seq.remove(at);
            }
        }
        // Insert a snippet.
        11 | 12 => {
            let snippet = rng.pick(&pools.snippets);
            insert(item, rng, snippet);
        }
        // Gentler edits, which often leave a function the macro can still differentiate, so that
        // code generation sees mutants too: another arithmetic operator, another name of the
        // same function, another statement order.
        15 => {
            let seq = sequence_mut(item, &path);
            if let Tok::Leaf(TokenTree::Punct(p)) = &seq[at] {
                if "+-*/".contains(p.as_char()) && p.spacing() == Spacing::Alone {
                    let op = *rng.pick(&["+", "-", "*", "/"]);
                    seq.splice(at..=at, toks(lex(op)));
                }
            }
        }
        16 => {
            let names: Vec<TokenTree> = all
                .iter()
                .filter_map(|(p, i)| match &sequence(item, p)[*i] {
                    Tok::Leaf(leaf @ TokenTree::Ident(_)) => Some(leaf.clone()),
                    _ => None,
                })
                .collect();
            let seq = sequence_mut(item, &path);
            if matches!(seq[at], Tok::Leaf(TokenTree::Ident(_))) {
                seq[at] = Tok::Leaf(rng.pick(&names).clone());
            }
        }
        17..=18 => edit_statements(item, rng),
        // Splice in a piece of another corpus function.
        _ => {
            let (_, donor) = rng.pick(&pools.corpus);
            let donor_positions = positions(donor);
            let (donor_path, donor_at) = rng.pick(&donor_positions).clone();
            let mut donor = donor.clone();
            let donor_seq = sequence_mut(&mut donor, &donor_path);
            let end = (donor_at + 1 + rng.below(5)).min(donor_seq.len());
            let piece: Vec<Tok> = donor_seq[donor_at..end].to_vec();
            let seq = sequence_mut(item, &path);
            if rng.chance(50) {
                seq.splice(at..=at, piece);
            } else {
                seq.splice(at..at, piece);
            }
        }
    }
}

/// Replaces every identifier `old` by `new`.
fn rename(toks: &mut [Tok], old: &str, new: &TokenTree) {
    for t in toks {
        match t {
            Tok::Leaf(TokenTree::Ident(i)) if *i == old => *t = Tok::Leaf(new.clone()),
            Tok::Group(_, inner) => rename(inner, old, new),
            Tok::Leaf(_) => {}
        }
    }
}

/// Deletes, duplicates or swaps whole statements (runs ending in `;`) of a block.
fn edit_statements(item: &mut Vec<Tok>, rng: &mut Rng) {
    let blocks: Vec<Vec<usize>> = sequences(item)
        .into_iter()
        .filter(|path| {
            let Some((last, parent)) = path.split_last() else {
                return false;
            };
            matches!(
                sequence(item, parent)[*last],
                Tok::Group(Delimiter::Brace, _)
            )
        })
        .collect();
    if blocks.is_empty() {
        return;
    }
    let path = rng.pick(&blocks).clone();
    let block = sequence_mut(item, &path);
    let mut statements: Vec<Vec<Tok>> = vec![Vec::new()];
    for t in block.drain(..) {
        let ends = matches!(&t, Tok::Leaf(TokenTree::Punct(p)) if p.as_char() == ';');
        if let Some(last) = statements.last_mut() {
            last.push(t);
        }
        if ends {
            statements.push(Vec::new());
        }
    }
    let n = statements.len();
    let (a, b) = (rng.below(n), rng.below(n));
    match rng.below(3) {
        0 => {
            statements.remove(a);
        }
        1 => {
            let copy = statements[a].clone();
            statements.insert(b, copy);
        }
        _ => statements.swap(a, b),
    }
    block.extend(statements.into_iter().flatten());
}

fn insert(item: &mut Vec<Tok>, rng: &mut Rng, piece: &[Tok]) {
    let all = sequences(item);
    let path = rng.pick(&all).clone();
    let seq = sequence_mut(item, &path);
    let at = rng.below(seq.len() + 1);
    seq.splice(at..at, piece.iter().cloned());
}

/// Wraps a run of one to three tokens of some sequence in a group.
fn wrap_run(item: &mut Vec<Tok>, rng: &mut Rng, delimiter: Delimiter) {
    let all = sequences(item);
    let path = rng.pick(&all).clone();
    let seq = sequence_mut(item, &path);
    if seq.is_empty() {
        return;
    }
    let at = rng.below(seq.len());
    let end = (at + 1 + rng.below(3)).min(seq.len());
    let run: Vec<Tok> = seq.drain(at..end).collect();
    seq.insert(at, Tok::Group(delimiter, run));
}

/// The function's parameter names and other identifiers of its signature, for `wrt(...)`.
fn signature_idents(item: &[Tok]) -> Vec<TokenTree> {
    let Some(fn_at) = item
        .iter()
        .position(|t| matches!(t, Tok::Leaf(TokenTree::Ident(i)) if i == "fn"))
    else {
        return Vec::new();
    };
    item[fn_at..]
        .iter()
        .find_map(|t| match t {
            Tok::Group(Delimiter::Parenthesis, inner) => Some(
                inner
                    .iter()
                    .filter_map(|t| match t {
                        Tok::Leaf(leaf @ TokenTree::Ident(_)) => Some(leaf.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

fn mutate_attr(attr: &mut Vec<Tok>, item: &[Tok], pools: &Pools, rng: &mut Rng) {
    match rng.below(3) {
        0 => *attr = rng.pick(&pools.attrs).clone(),
        // `wrt(...)` over the function's own names (floats, integers, types, repeats).
        1 => {
            let mut names = signature_idents(item);
            names.push(rng.pick(&pools.idents).clone());
            let count = rng.below(4);
            let mut list = Vec::new();
            for i in 0..count {
                if i > 0 {
                    list.extend(toks(lex(",")));
                }
                list.push(Tok::Leaf(rng.pick(&names).clone()));
            }
            let mut new = toks(lex("wrt"));
            new.push(Tok::Group(Delimiter::Parenthesis, list));
            if rng.chance(20) {
                new.extend(toks(lex(", crate = ::autodiff")));
            }
            *attr = new;
        }
        _ => mutate(attr, pools, rng),
    }
}

/// Deletes a few characters of the text, or inserts one, which may leave it unlexable.
fn cut_text(text: &mut String, rng: &mut Rng) {
    if text.is_empty() {
        return;
    }
    let at = rng.below(text.len());
    if !text.is_char_boundary(at) {
        return;
    }
    if rng.chance(50) {
        let mut end = (at + 1 + rng.below(3)).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        text.replace_range(at..end, "");
    } else {
        let inserted = *rng.pick(&[
            "(", ")", "{", "}", "[", "]", "'", "\"", "#", "!", "&", "|", "<", ">", ".", ",", ";",
            ":", "0", "a", "_", " ", "\\", "/", "r#", "'a", "//",
        ]);
        text.insert_str(at, inserted);
    }
}

// ----- the check ------------------------------------------------------------------------------

/// A panic caught on the current thread: message, location, and the macro's frames.
struct Caught {
    message: String,
    location: String,
    frames: String,
}

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<Caught>> = const { RefCell::new(None) };
}

/// Installs, once per process, a panic hook that records panics on threads running
/// [`catching`] instead of printing them, and leaves every other panic to the previous hook
/// (other tests run in parallel, and their failures must still print).
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CAPTURING.with(Cell::get) {
                previous(info);
                return;
            }
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(a non-string panic payload)".to_owned());
            let location = info
                .location()
                .map_or_else(|| "(unknown)".to_owned(), ToString::to_string);
            let frames = macro_frames(&Backtrace::force_capture().to_string());
            CAUGHT.with(|c| {
                *c.borrow_mut() = Some(Caught {
                    message,
                    location,
                    frames,
                });
            });
        }));
    });
}

/// The backtrace lines in the macro's own code (not this test module's).
fn macro_frames(backtrace: &str) -> String {
    let lines: Vec<&str> = backtrace.lines().collect();
    let mut out = String::new();
    let mut shown = 0;
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        if shown < 8 && line.contains("autodiff_macros::") && !line.contains("robustness") {
            shown += 1;
            let _ = writeln!(out, "      {line}");
            if let Some(at) = lines.get(i + 1).map(|l| l.trim()) {
                if at.starts_with("at ") {
                    let _ = writeln!(out, "        {at}");
                }
            }
        }
    }
    out
}

/// Runs `f`, returning its panic (recorded by the hook) instead of unwinding.
fn catching<T>(f: impl FnOnce() -> T) -> Result<T, Caught> {
    install_hook();
    CAPTURING.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| c.set(false));
    result.map_err(|_| {
        CAUGHT.with(|c| c.borrow_mut().take()).unwrap_or(Caught {
            message: "(not recorded)".to_owned(),
            location: "(unknown)".to_owned(),
            frames: String::new(),
        })
    })
}

/// How one expansion went.
enum Verdict {
    /// Companions and no error.
    Generated,
    /// A `compile_error!` (with or without placeholder companions).
    Reported,
    /// Placeholder companions (an `unreachable!` body) and no `compile_error!`: the macro left
    /// the error to rustc. Right when rustc rejects the function; a runtime panic of `NAME_grad`
    /// when it does not, which a test cannot tell, so these are counted and shown, not failed.
    LeftToRustc,
    /// Expanded without a panic, but syn accepted syntax that rustc rejects before any macro
    /// runs (`x + let v = 1.0`), so nothing more is asked of the expansion.
    NotRust,
    /// Broke the contract: `key` groups failures of the same cause.
    Failed { key: String, detail: String },
}

const LEFT_TO_RUSTC: &str = "placeholder companions without a `compile_error!` (left to rustc)";

impl Verdict {
    /// What groups this verdict with others worth showing: failures and [`Verdict::LeftToRustc`].
    fn key(&self) -> Option<&str> {
        match self {
            Verdict::Failed { key, .. } => Some(key),
            Verdict::LeftToRustc => Some(LEFT_TO_RUSTC),
            Verdict::Generated | Verdict::Reported | Verdict::NotRust => None,
        }
    }
}

/// Expands one input and checks the contract in the module's docs.
fn check(attr: &TokenStream, item: &TokenStream) -> Verdict {
    check_timed(attr, item).0
}

/// [`check`], with the time the expansion took (not the checks).
fn check_timed(attr: &TokenStream, item: &TokenStream) -> (Verdict, Duration) {
    let start = Instant::now();
    let expanded = catching(|| expand(attr.clone(), item.clone()));
    let elapsed = start.elapsed();
    (check_expansion(item, expanded), elapsed)
}

/// Whether `expanded`, the expansion of `item` (or its panic), keeps the contract.
fn check_expansion(item: &TokenStream, expanded: Result<TokenStream, Caught>) -> Verdict {
    let out = match expanded {
        Ok(out) => out,
        Err(caught) => {
            return Verdict::Failed {
                key: format!("panic at {}", caught.location),
                detail: format!(
                    "panicked at {}:\n      {}\n    frames in the macro:\n{}",
                    caught.location, caught.message, caught.frames
                ),
            }
        }
    };
    let failed = |key: &str, why: String| Verdict::Failed {
        key: key.to_owned(),
        detail: format!("{why}\n    output: {}", clip(&render(&out), 1500)),
    };
    if syn::parse2::<syn::Item>(item.clone()).is_err() {
        // Not one item: rustc never passes this, and the input comes back as it came, beside
        // the error, so only the error is checked.
        let has_error = out
            .clone()
            .into_iter()
            .any(|t| matches!(&t, TokenTree::Ident(i) if i == "compile_error"));
        return if has_error {
            Verdict::Reported
        } else {
            failed(
                "no `compile_error!` for an input that is not an item",
                String::new(),
            )
        };
    }
    if !rustc_parses(item) {
        return Verdict::NotRust;
    }
    let file = match syn::parse2::<syn::File>(out.clone()) {
        Ok(file) => file,
        Err(e) => return failed("output does not parse as Rust items", format!("syn: {e}")),
    };
    let has_error = file.items.iter().any(|i| {
        matches!(i, syn::Item::Macro(m)
            if m.mac.path.segments.last().is_some_and(|s| s.ident == "compile_error"))
    });
    let Ok(function) = syn::parse2::<syn::ItemFn>(item.clone()) else {
        return if has_error {
            Verdict::Reported
        } else {
            failed(
                "no `compile_error!` for an item that is not a function",
                String::new(),
            )
        };
    };
    let original = quote::ToTokens::to_token_stream(&function).to_string();
    let kept = file.items.iter().any(|i| {
        matches!(i, syn::Item::Fn(f) if quote::ToTokens::to_token_stream(f).to_string() == original)
    });
    if !kept {
        return failed(
            "the original function is not kept as written",
            String::new(),
        );
    }
    let vjp = format!("{}_vjp", function.sig.ident.unraw());
    let vjp = file.items.iter().find_map(|i| match i {
        syn::Item::Fn(f) if f.sig.ident == vjp => Some(f),
        _ => None,
    });
    match (has_error, vjp) {
        (true, _) => Verdict::Reported,
        (false, Some(f))
            if quote::ToTokens::to_token_stream(&f.block)
                .to_string()
                .contains("reported an error for this function") =>
        {
            Verdict::LeftToRustc
        }
        (false, Some(_)) => Verdict::Generated,
        (false, None) => failed("neither `NAME_vjp` nor a `compile_error!`", String::new()),
    }
}

/// Whether rustc would parse an item that syn parses: not when it has a `let` expression outside
/// an `if` or `while` condition (syn accepts `x + let v = 1.0`, rustc does not).
fn rustc_parses(item: &TokenStream) -> bool {
    use syn::visit::Visit;

    struct StrayLet(bool);
    impl StrayLet {
        /// A condition: `let` is allowed in it, also in `&&` chains.
        fn condition(&mut self, e: &syn::Expr) {
            match e {
                syn::Expr::Let(l) => self.visit_expr(&l.expr),
                syn::Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) => {
                    self.condition(&b.left);
                    self.condition(&b.right);
                }
                syn::Expr::Paren(p) => self.visit_expr(&p.expr),
                other => self.visit_expr(other),
            }
        }
    }
    impl<'ast> Visit<'ast> for StrayLet {
        fn visit_expr_let(&mut self, _: &'ast syn::ExprLet) {
            self.0 = true;
        }
        fn visit_expr_if(&mut self, e: &'ast syn::ExprIf) {
            self.condition(&e.cond);
            self.visit_block(&e.then_branch);
            if let Some((_, otherwise)) = &e.else_branch {
                self.visit_expr(otherwise);
            }
        }
        fn visit_expr_while(&mut self, e: &'ast syn::ExprWhile) {
            self.condition(&e.cond);
            self.visit_block(&e.body);
        }
    }
    let Ok(item) = syn::parse2::<syn::Item>(item.clone()) else {
        return false;
    };
    let mut stray = StrayLet(false);
    stray.visit_item(&item);
    !stray.0
}

/// Tokens as text, with invisible groups shown as `⟦..⟧` (plain `to_string` drops them).
fn render(tokens: &TokenStream) -> String {
    fn walk(tokens: TokenStream, out: &mut String) {
        for tree in tokens {
            match tree {
                TokenTree::Group(g) => {
                    let (open, close) = match g.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::Brace => ("{ ", "}"),
                        Delimiter::None => ("⟦", "⟧"),
                    };
                    out.push_str(open);
                    walk(g.stream(), out);
                    out.truncate(out.trim_end().len());
                    out.push_str(close);
                    out.push(' ');
                }
                TokenTree::Punct(p) => {
                    out.push(p.as_char());
                    if p.spacing() == Spacing::Alone {
                        out.push(' ');
                    }
                }
                other => {
                    let _ = write!(out, "{other} ");
                }
            }
        }
    }
    let mut out = String::new();
    walk(tokens.clone(), &mut out);
    out.trim_end().to_owned()
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{} …", &text[..end]),
        None => text.to_owned(),
    }
}

// ----- runs -----------------------------------------------------------------------------------

/// How many of the smallest mutants of each group of failures are kept, minimized and shown
/// (deduplicated), so that two causes behind one symptom both show.
const SAMPLES: usize = 6;

/// One group of failures: how many, and its smallest mutants as `(size, index, detail)`.
struct Failure {
    count: usize,
    samples: Vec<(usize, u64, String)>,
}

#[derive(Default)]
struct Report {
    tried: u64,
    /// Mutants that no longer lex, or whose syntax rustc rejects before any macro runs.
    not_rust: u64,
    generated: u64,
    reported: u64,
    left_to_rustc: u64,
    /// Failures by key, and [`LEFT_TO_RUSTC`] (not a failure).
    groups: BTreeMap<String, Failure>,
    slowest: (Duration, u64),
}

impl Report {
    fn merge(&mut self, other: Report) {
        self.tried += other.tried;
        self.not_rust += other.not_rust;
        self.generated += other.generated;
        self.reported += other.reported;
        self.left_to_rustc += other.left_to_rustc;
        for (key, failure) in other.groups {
            self.add(key, failure);
        }
        self.slowest = self.slowest.max(other.slowest);
    }

    fn add(&mut self, key: String, failure: Failure) {
        let kept = self.groups.entry(key).or_insert(Failure {
            count: 0,
            samples: Vec::new(),
        });
        kept.count += failure.count;
        kept.samples.extend(failure.samples);
        kept.samples.sort_by_key(|(size, index, _)| (*size, *index));
        kept.samples.truncate(SAMPLES);
    }
}

/// What a worker thread is expanding, for the watchdog.
type InFlight = Arc<Mutex<Option<(Instant, u64)>>>;

/// Tries mutants `first, first + stride, ...` below `count`.
fn run_share(seed: u64, count: u64, first: u64, stride: u64, in_flight: &InFlight) -> Report {
    let pools = Pools::new();
    let mut report = Report::default();
    let mut index = first;
    while index < count {
        report.tried += 1;
        if let Some(m) = mutant(&pools, seed, index) {
            *in_flight.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), index));
            let start = Instant::now();
            let verdict = check(&m.attr, &m.item);
            report.slowest = report.slowest.max((start.elapsed(), index));
            match verdict {
                Verdict::Generated => report.generated += 1,
                Verdict::Reported => report.reported += 1,
                Verdict::NotRust => report.not_rust += 1,
                Verdict::LeftToRustc | Verdict::Failed { .. } => {
                    if matches!(verdict, Verdict::LeftToRustc) {
                        report.left_to_rustc += 1;
                    }
                    let size = size(&toks(m.attr)) + size(&toks(m.item));
                    let (key, detail) = match verdict {
                        Verdict::Failed { key, detail } => (key, detail),
                        _ => (LEFT_TO_RUSTC.to_owned(), String::new()),
                    };
                    report.add(
                        key,
                        Failure {
                            count: 1,
                            samples: vec![(size, index, detail)],
                        },
                    );
                }
            }
        } else {
            report.not_rust += 1;
        }
        index += stride;
    }
    *in_flight.lock().unwrap_or_else(|e| e.into_inner()) = None;
    report
}

/// Runs `count` mutants of `seed` on a few threads under a watchdog.
fn run(seed: u64, count: u64) -> Outcome {
    let threads = thread::available_parallelism().map_or(2, |n| n.get().min(8)) as u64;
    let start = Instant::now();
    let workers: Vec<(InFlight, thread::JoinHandle<Report>)> = (0..threads)
        .map(|first| {
            let in_flight: InFlight = Arc::default();
            let watched = Arc::clone(&in_flight);
            let handle = thread::Builder::new()
                .name(format!("mutants-{first}"))
                .stack_size(RUSTC_STACK)
                .spawn(move || run_share(seed, count, first, threads, &watched))
                .expect("spawn a worker");
            (in_flight, handle)
        })
        .collect();
    while !workers.iter().all(|(_, h)| h.is_finished()) {
        for (in_flight, _) in &workers {
            let current = *in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((since, index)) = current {
                if since.elapsed() > HANG_LIMIT {
                    let text = mutant(&Pools::new(), seed, index)
                        .map(|m| format!("#[differentiate({})]\n{}", m.attr, render(&m.item)));
                    panic!(
                        "mutant {index} of seed {seed:#x} has been expanding for over {HANG_LIMIT:?}:\n{}",
                        text.unwrap_or_default()
                    );
                }
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    let mut report = Report::default();
    for (_, handle) in workers {
        match handle.join() {
            Ok(share) => report.merge(share),
            Err(e) => panic::resume_unwind(e),
        }
    }
    let elapsed = start.elapsed();
    let summary = format!(
        "{} mutants (seed {seed:#x}) in {elapsed:.2?} on {threads} threads: {} expanded with companions, \
         {} with a compile_error!, {} with placeholder companions left to rustc, {} not Rust (no \
         longer lex, or rejected by rustc's parser), {} failing in {} distinct ways; slowest expansion {:.2?} (mutant {})",
        report.tried,
        report.generated,
        report.reported,
        report.left_to_rustc,
        report.not_rust,
        report
            .groups
            .iter()
            .filter(|(key, _)| *key != LEFT_TO_RUSTC)
            .map(|(_, f)| f.count)
            .sum::<usize>(),
        report.groups.keys().filter(|key| *key != LEFT_TO_RUSTC).count(),
        report.slowest.0,
        report.slowest.1,
    );
    Outcome {
        seed,
        summary,
        report,
    }
}

/// What a run found: a one-line summary, and the counts and samples.
struct Outcome {
    seed: u64,
    summary: String,
    report: Report,
}

impl Outcome {
    /// The groups `shown` accepts, minimized and described; empty when there are none.
    fn describe(&self, shown: impl Fn(&str) -> bool) -> String {
        describe(self.seed, &self.report, shown)
    }
}

fn is_panic(key: &str) -> bool {
    key.starts_with("panic")
}

/// A broken contract other than a panic.
fn is_invalid_output(key: &str) -> bool {
    !is_panic(key) && key != LEFT_TO_RUSTC
}

/// Each group whose key `shown` accepts: its cause and count, then for each of its kept mutants
/// that minimizes to something new, the minimized input, what went wrong with it, and the
/// mutant it came from.
fn describe(seed: u64, report: &Report, shown: impl Fn(&str) -> bool) -> String {
    let pools = Pools::new();
    let mut out = String::new();
    for (key, failure) in report.groups.iter().filter(|(key, _)| shown(key)) {
        let _ = writeln!(out, "\n== {key} ({} mutants)", failure.count);
        let mut seen = Vec::new();
        for (_, index, detail) in &failure.samples {
            let Some(m) = mutant(&pools, seed, *index) else {
                continue;
            };
            let (attr, item) = minimize(&m.attr, &m.item, key);
            let minimized = format!("#[differentiate({})]\n    {}", render(&attr), render(&item));
            if seen.contains(&minimized) {
                continue;
            }
            let detail = match check(&attr, &item) {
                Verdict::Failed { detail, .. } => detail,
                _ => detail.clone(),
            };
            let _ = write!(
                out,
                "  minimized:\n    {minimized}\n  {}\n  from mutant {index} (AUTODIFF_MUTANTS_SEED={seed:#x}):\n    #[differentiate({})]\n    {}\n\n",
                detail.trim_end(),
                render(&m.attr),
                clip(&render(&m.item), 800),
            );
            seen.push(minimized);
        }
    }
    out
}

/// Deletes tokens, unwraps and empties groups, while the input still fails with `key`.
fn minimize(attr: &TokenStream, item: &TokenStream, key: &str) -> (TokenStream, TokenStream) {
    let mut parts = [toks(attr.clone()), toks(item.clone())];
    let still_fails =
        |parts: &[Vec<Tok>; 2]| check(&stream(&parts[0]), &stream(&parts[1])).key() == Some(key);
    let mut budget = 4_000;
    let mut progress = true;
    while progress && budget > 0 {
        progress = false;
        for part in [1, 0] {
            let mut k = 0;
            while let Some(candidate) = reduction(&parts[part], k) {
                budget -= 1;
                if budget == 0 {
                    break;
                }
                let mut trial = parts.clone();
                trial[part] = candidate;
                if still_fails(&trial) {
                    parts = trial;
                    progress = true;
                } else {
                    k += 1;
                }
            }
        }
    }
    let [attr, item] = parts;
    (stream(&attr), stream(&item))
}

/// The `k`th one-step reduction of `toks`: per position, drop the rest of its sequence, remove
/// the statement it starts (up to its `;`), remove it, replace a group by its contents, or
/// empty the group.
fn reduction(toks: &[Tok], k: usize) -> Option<Vec<Tok>> {
    let mut k = k;
    for (path, at) in positions(toks) {
        for step in 0..5 {
            let mut candidate = toks.to_vec();
            let seq = sequence_mut(&mut candidate, &path);
            let applies = match (step, &seq[at]) {
                (0, _) if at > 0 && at + 1 < seq.len() => {
                    seq.truncate(at);
                    true
                }
                (1, _) => match seq[at..]
                    .iter()
                    .position(|t| matches!(t, Tok::Leaf(TokenTree::Punct(p)) if p.as_char() == ';'))
                {
                    Some(semi) if semi > 0 => {
                        seq.drain(at..=at + semi);
                        true
                    }
                    _ => false,
                },
                (2, _) => {
                    seq.remove(at);
                    true
                }
                (3, Tok::Group(_, inner)) => {
                    let inner = inner.clone();
                    seq.splice(at..=at, inner);
                    true
                }
                (4, Tok::Group(_, inner)) if !inner.is_empty() => {
                    if let Tok::Group(_, inner) = &mut seq[at] {
                        inner.clear();
                    }
                    true
                }
                _ => false,
            };
            if applies {
                if k == 0 {
                    return Some(candidate);
                }
                k -= 1;
            }
        }
    }
    None
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let value = value.trim().replace('_', "");
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

// ----- the tests ------------------------------------------------------------------------------

/// The corpus itself is valid: every function expands to companions without an error, so the
/// mutants start from inputs that reach code generation.
#[test]
fn the_corpus_expands_without_errors() {
    for (attr, item) in CORPUS {
        match check(&lex(attr), &lex(item)) {
            Verdict::Generated => {}
            Verdict::Reported | Verdict::LeftToRustc | Verdict::NotRust => panic!(
                "corpus entry does not generate:\n{item}\n{}",
                expand(lex(attr), lex(item))
            ),
            Verdict::Failed { detail, .. } => panic!("corpus entry fails:\n{item}\n{detail}"),
        }
    }
}

/// Inputs the long runs found failing, each kept to the contract now: a literal ending in its
/// point (`0.`) and a raw identifier among `f64::consts` (`r#in`) panicked in the generic copy
/// behind `NAME_hvp`; a rule named `rule<>` without
/// the turbofish, and a crate path through `Self`, gave output that does not parse.
#[test]
fn inputs_long_runs_found_keep_the_contract() {
    for (attr, item, want_error) in [
        (
            "",
            "fn rosen(x: f64) -> f64 { let a = 0. - x; a * 2. }",
            false,
        ),
        ("vjp = rule<>", "fn soft_clip(x: f64) -> f64 { x }", false),
        (
            "vjp = rule<f64>",
            "fn soft_clip(x: f64) -> f64 { x }",
            false,
        ),
        ("vjp = rule(f64)", "fn soft_clip(x: f64) -> f64 { x }", true),
        ("crate = Self", "fn f(x: f64) -> f64 { x }", true),
        (
            "",
            "fn f(x: f64) -> f64 { let a = ::f64::consts::r#in; x }",
            false,
        ),
        (
            "crate = Self::C::autodiff",
            "fn f(x: f64) -> f64 { x }",
            true,
        ),
    ] {
        let verdict = check(&lex(attr), &lex(item));
        let want = if want_error { "an error" } else { "companions" };
        match verdict {
            Verdict::Generated if !want_error => {}
            Verdict::Reported if want_error => {}
            Verdict::Failed { detail, .. } => panic!("#[differentiate({attr})] {item}:\n{detail}"),
            _ => panic!(
                "#[differentiate({attr})] {item}: expected {want}, got\n{}",
                expand(lex(attr), lex(item))
            ),
        }
    }
}

/// The quick run, shared by the tests that read it: 3000 mutants, about a second and a half on
/// two cores in a debug build.
fn quick_run() -> &'static Outcome {
    static QUICK: OnceLock<Outcome> = OnceLock::new();
    QUICK.get_or_init(|| {
        let seed = env_u64("AUTODIFF_MUTANTS_SEED").unwrap_or(QUICK_SEED);
        let outcome = run(seed, 3000);
        eprintln!("robustness: {}", outcome.summary);
        outcome
    })
}

#[test]
fn mutants_never_panic() {
    let outcome = quick_run();
    let panics = outcome.describe(is_panic);
    assert!(panics.is_empty(), "{}\n{panics}", outcome.summary);
}

#[test]
fn mutants_expand_to_valid_rust_with_companions_or_an_error() {
    let outcome = quick_run();
    let invalid = outcome.describe(is_invalid_output);
    assert!(invalid.is_empty(), "{}\n{invalid}", outcome.summary);
}

/// The long run: `AUTODIFF_MUTANTS` mutants (default 200 000), seed `AUTODIFF_MUTANTS_SEED`
/// (default 1). Also lists the functions given placeholder companions and no error, to review.
#[test]
#[ignore = "about a minute per 200 000 mutants on two cores: AUTODIFF_MUTANTS=200000 cargo test -p autodiff-macros robustness::many_mutants -- --ignored --nocapture"]
fn many_mutants() {
    let seed = env_u64("AUTODIFF_MUTANTS_SEED").unwrap_or(1);
    let count = env_u64("AUTODIFF_MUTANTS").unwrap_or(200_000);
    let outcome = run(seed, count);
    eprintln!("robustness: {}", outcome.summary);
    if outcome.report.left_to_rustc > 0 {
        eprintln!(
            "robustness: functions given placeholder companions and no error (right only if rustc rejects them):{}",
            outcome.describe(|key| key == LEFT_TO_RUSTC)
        );
    }
    let failures = outcome.describe(|key| key != LEFT_TO_RUSTC);
    assert!(failures.is_empty(), "{}\n{failures}", outcome.summary);
}

// ----- big inputs -----------------------------------------------------------------------------

/// Runs `f` on a thread with rustc's stack, re-raising its panic.
fn on_rustc_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    thread::Builder::new()
        .stack_size(RUSTC_STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .unwrap_or_else(|e| panic::resume_unwind(e))
}

/// Expands `item` on rustc's stack, checks the contract, and requires companions without an
/// error. Returns the expansion time.
fn expands_cleanly(name: &'static str, item: String) -> Duration {
    on_rustc_stack(move || {
        let item = lex(&item);
        let (verdict, elapsed) = check_timed(&TokenStream::new(), &item);
        match verdict {
            Verdict::Generated => {}
            Verdict::Reported | Verdict::LeftToRustc | Verdict::NotRust => panic!(
                "{name}: no companions: {}",
                clip(&expand(TokenStream::new(), item).to_string(), 2000)
            ),
            Verdict::Failed { detail, .. } => panic!("{name}: {detail}"),
        }
        eprintln!("robustness: {name} expanded in {elapsed:.2?}");
        elapsed
    })
}

/// A chain of `let v{i} = ...;` on earlier values, with `operations` operations in all
/// (arithmetic, float methods; literals are not counted), then `v{last}`. Each statement does
/// one to four (`let v{i} = -v{a} + v{b}.exp().ln();` does four), 15 per 8 statements.
fn straight_line(operations: usize) -> String {
    let mut body = String::from("let v0 = x * y;\nlet v1 = v0 + x;\n");
    let mut done = 2;
    let mut i = 2;
    while done < operations {
        let (a, b) = (i - 1, i - 2);
        let (statement, ops) = match i % 8 {
            0 => (format!("let v{i} = v{a} * v{b};"), 1),
            2 => (format!("let v{i} = v{a}.sin();"), 1),
            3 => (format!("let v{i} = v{a} - v{b} * 0.5;"), 2),
            4 => (format!("let v{i} = v{a} / (1.0 + v{b} * v{b});"), 3),
            5 => (format!("let v{i} = v{a}.tanh();"), 1),
            6 => (format!("let v{i} = v{a}.powi(2) + y;"), 2),
            7 => (format!("let v{i} = -v{a} + v{b}.exp().ln();"), 4),
            _ => (format!("let v{i} = v{a} + x;"), 1),
        };
        // The last statement does exactly what is left.
        let (statement, ops) = if done + ops > operations {
            (format!("let v{i} = v{a} + x;"), 1)
        } else {
            (statement, ops)
        };
        body.push_str(&statement);
        body.push('\n');
        done += ops;
        i += 1;
    }
    format!(
        "fn long_chain(x: f64, y: f64) -> f64 {{\n{body}v{}\n}}",
        i - 1
    )
}

/// The operations of a function's IR: its nodes less parameters, constants and region values.
fn operations_in(item: &str) -> usize {
    let item_fn: syn::ItemFn = syn::parse_str(item).expect("a function");
    let options = crate::args::parse_options(TokenStream::new()).expect("no options");
    let mut diag = crate::diag::Diagnostics::default();
    let sig = crate::parse::parse_signature(&item_fn, &options, &mut diag);
    let rt = quote::quote!(::autodiff::__private);
    let graph = crate::lower::lower(&item_fn, &sig, &rt, &mut diag);
    graph
        .nodes
        .iter()
        .filter(|n| {
            !matches!(
                n.op,
                crate::ir::Op::Param(_) | crate::ir::Op::Verbatim(..) | crate::ir::Op::Region
            )
        })
        .count()
}

/// `depth` constructs nested in one another, each level doing some work on `y`, chosen from
/// `kinds` in turn: `if`, `for`, `while`, `loop`, and a block.
fn nested(name: &str, depth: usize, kinds: &[&str]) -> String {
    let mut open = String::new();
    let mut close = String::new();
    for level in 0..depth {
        let work = format!("y = y * 0.5 + x.sin() * {level}.0;");
        let (head, tail) = match kinds[level % kinds.len()] {
            "if" => (format!("if y > -{level}.0 {{ {work}"), "}".to_owned()),
            "for" => (format!("for i{level} in 0..2 {{ {work}"), "}".to_owned()),
            "while" => (
                format!("let mut k{level} = 0; while k{level} < 2 {{ k{level} += 1; {work}"),
                "}".to_owned(),
            ),
            "loop" => (
                format!("let mut k{level} = 0; loop {{ k{level} += 1; if k{level} > 1 {{ break; }} {work}"),
                "}".to_owned(),
            ),
            "return" => (
                format!("if y > 1e300 {{ return y; }} {{ {work}"),
                "}".to_owned(),
            ),
            _ => (format!("{{ {work}"), "}".to_owned()),
        };
        open.push_str(&head);
        open.push('\n');
        close.push_str(&tail);
    }
    format!("fn {name}(x: f64) -> f64 {{\nlet mut y = x;\n{open}{close}\ny\n}}")
}

/// Tokens in `stream`, counting inside groups.
fn token_count(stream: TokenStream) -> usize {
    stream
        .into_iter()
        .map(|t| match t {
            TokenTree::Group(g) => 1 + token_count(g.stream()),
            _ => 1,
        })
        .sum()
}

/// A 5000-operation function expands (its time printed: speed is measured, not asserted), and
/// the expansion is linear in the input: five times the operations, five times the code.
#[test]
fn a_five_thousand_operation_function_expands() {
    let item = straight_line(5000);
    assert_eq!(operations_in(&item), 5000);
    expands_cleanly("5000 operations", item);
    let size = |n: usize| {
        let item = lex(&straight_line(n));
        let tokens_in = token_count(item.clone());
        let tokens_out = token_count(expand(TokenStream::new(), item));
        (tokens_in, tokens_out)
    };
    let ((in_1000, out_1000), (in_5000, out_5000)) = (size(1000), size(5000));
    let ratio_in = in_5000 as f64 / in_1000 as f64;
    let ratio_out = out_5000 as f64 / out_1000 as f64;
    eprintln!(
        "robustness: 1000 operations -> {out_1000} tokens, 5000 -> {out_5000} ({:.1} tokens out per token in)",
        out_5000 as f64 / in_5000 as f64
    );
    assert!(
        (ratio_out / ratio_in - 1.0).abs() < 0.05,
        "the expansion grows {ratio_out:.2}x for {ratio_in:.2}x the input"
    );
}

/// The time to expand 2 500 to 20 000 operations, to see that it grows linearly: `cargo test
/// -p autodiff-macros --lib expansion_time_by_size -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, printed"]
fn expansion_time_by_size() {
    for n in [2500, 5000, 10_000, 20_000] {
        let elapsed = expands_cleanly("a chain", straight_line(n));
        eprintln!("robustness: {n} operations expanded in {elapsed:.2?}");
    }
}

#[test]
fn fifty_nested_ifs_expand() {
    expands_cleanly("50 nested ifs", nested("nested_ifs", 50, &["if"]));
}

#[test]
fn fifty_nested_loops_expand() {
    expands_cleanly("50 nested for loops", nested("nested_fors", 50, &["for"]));
    expands_cleanly(
        "50 nested loops of every kind, ifs and early returns",
        nested(
            "nested_mixed",
            50,
            &["for", "if", "while", "loop", "return", "block"],
        ),
    );
}

#[test]
fn a_deeply_nested_expression_expands() {
    // `((((x + 1.0) * x) + 1.0) * x ...)`, 50 levels of parentheses, and a 50-call method chain.
    let mut expr = String::from("x");
    for level in 0..50 {
        expr = if level % 2 == 0 {
            format!("({expr} + 1.0)")
        } else {
            format!("({expr} * x)")
        };
    }
    let chain: String = (0..50)
        .map(|i| [".sin()", ".cos()", ".tanh()", ".exp()"][i % 4])
        .collect();
    expands_cleanly(
        "50 nested parentheses and a 50-call chain",
        format!("fn deep(x: f64) -> f64 {{ let a = {expr}; a * x{chain} }}"),
    );
}

/// One long expression: a 1000-call method chain and a 1000-term sum expand; nested past
/// [`crate::lower::MAX_NESTING`] (a 3000-call chain, a 3000-term sum), they are a compile error
/// at the expression, where they used to overflow rustc's stack.
#[test]
fn long_single_expressions_expand_or_are_an_error() {
    let chain = |n: usize| format!("fn chain(x: f64) -> f64 {{ x{} }}", ".sin()".repeat(n));
    let sum = |n: usize| {
        format!(
            "fn sum(x: f64, y: f64) -> f64 {{ {} }}",
            vec!["x * y"; n].join(" + ")
        )
    };
    expands_cleanly("a 1000-call method chain", chain(1000));
    expands_cleanly("a 1000-term sum", sum(1000));
    for (name, item) in [
        ("a 3000-call method chain", chain(3000)),
        ("a 3000-term sum", sum(3000)),
    ] {
        let message = on_rustc_stack(move || {
            let out = expand(TokenStream::new(), lex(&item));
            assert!(
                matches!(check(&TokenStream::new(), &lex(&item)), Verdict::Reported),
                "{name}: no error"
            );
            out.to_string()
        });
        assert!(
            message.contains("nests more than 1200 levels deep"),
            "{name}: {}",
            clip(&message, 500)
        );
    }
}

// ----- placeholders left to rustc on valid Rust -----------------------------------------------

/// What the functions checked by [`left_to_rustc_only_on_invalid_rust`] may use: the corpus's
/// imports and helpers.
const LTR_PRELUDE: &str = r"
pub use ndarray::{Array1, Array2, ArrayD, ArrayView2, Axis};
pub use num_traits::Float;
pub fn sq<T: Float>(x: T) -> T { x * x }
pub fn c<T: Float>(v: f64) -> T { T::from(v).unwrap() }
pub struct Layer { pub w: Array2<f64>, pub b: Array1<f64> }
pub struct Mlp { pub l1: Layer, pub l2: Layer, pub temperature: f64, pub extra: Vec<f64> }
#[derive(Clone, Copy)]
pub struct Spring { pub k: f64, pub c: [f64; 2] }
pub struct Params { pub w: Vec<f64>, pub b: f64 }
#[derive(Clone, Copy)]
pub struct Pair { pub a: f64, pub b: f64 }
pub fn norm2(v: &[f64]) -> f64 { v.iter().map(|x| x * x).sum::<f64>().sqrt() }
pub fn poly<T: Float>(x: T, y: T) -> T { sq(x) * y }
pub fn power<T: Float>(x: T, n: u32) -> T { x.powi(n as i32) }
pub fn soft_clip_rule(x: f64, limit: f64, d_out: f64) -> (f64, f64) { let _ = (x, limit); (d_out, 0.0) }
";

/// Hand-written functions that are valid Rust and that the macro might leave to rustc.
const LTR_CANDIDATES: &[(&str, &str)] = &[
    ("", "fn ends_in_panic(x: f64) -> f64 { let _y = x * 2.0; panic!() }"),
    ("", "fn ends_in_unreachable(x: f64) -> f64 { let _y = x * 2.0; unreachable!() }"),
    ("", "fn ends_in_todo(x: f64) -> f64 { let _y = x * 2.0; todo!() }"),
    ("", "fn ends_in_loop(x: f64) -> f64 { let _y = x * 2.0; loop {} }"),
    ("", "fn ends_in_exit(x: f64) -> f64 { let _y = x * 2.0; std::process::exit(0) }"),
    ("", "fn branch_panics(x: f64) -> f64 { if x > 0.0 { x * x } else { panic!(\"neg\") } }"),
    ("", "fn branch_loops(x: f64) -> f64 { if x > 0.0 { x * x } else { loop {} } }"),
    ("", "fn match_all_return(x: f64, n: i32) -> f64 { match n { 0 => return x, _ => return x * x, } }"),
    ("", "fn match_all_return_stmt(x: f64, n: i32) -> f64 { match n { 0 => return x, _ => return x * x, }; }"),
    ("", "fn match_arm_panics(x: f64, n: i32) -> f64 { match n { 0 => x, _ => panic!() } }"),
    ("", "fn match_arm_unreachable(x: f64, n: i32) -> f64 { let y = match n { 0 => x * x, _ => unreachable!() }; y }"),
    ("", "fn deferred(x: f64) -> f64 { let y: f64; y = x * x; y }"),
    ("", "fn deferred_untyped(x: f64) -> f64 { let y; y = x * x; y }"),
    ("", "fn deferred_branch(x: f64) -> f64 { let y; if x > 0.0 { y = x; } else { y = -x; } y * x }"),
    ("", "fn if_else_return(x: f64) -> f64 { if x > 0.0 { return x * x; } else { return x; } }"),
    ("", "fn if_else_return_semi(x: f64) -> f64 { if x > 0.0 { return x * x; } else { return x; }; }"),
    ("", "fn if_elseif_return(x: f64) -> f64 { if x > 0.0 { return x * x; } else if x < -1.0 { return x; } else { return 0.0; } }"),
    ("", "fn last_return_semi(x: f64) -> f64 { return x * x; }"),
    ("", "fn two_returns(x: f64) -> f64 { return x * x; return x; }"),
    ("", "fn nested_blocks(x: f64) -> f64 { { { x * x } } }"),
    ("", "fn nested_block_let(x: f64) -> f64 { let y = { { x * x } }; y }"),
    ("", "fn labeled_block(x: f64) -> f64 { let v = 'b: { if x > 0.0 { break 'b x * x; } x }; v }"),
    ("", "fn labeled_block_tail(x: f64) -> f64 { 'b: { if x > 0.0 { break 'b x * x; } x } }"),
    ("", "fn loop_break_value(x: f64) -> f64 { let v = loop { break x * x; }; v }"),
    ("", "fn shadow_types(x: f64) -> f64 { let y: f64 = x; let y: f32 = y as f32; let y: f64 = y as f64; y * x }"),
    ("", "fn shadow_tuple_ann(x: f64) -> f64 { let (a, b): (f64, f64) = (x, x); a * b }"),
    ("", "fn tuple_ann_alias(x: f64) -> f64 { type P = (f64, f64); let (a, b): P = (x, x); a * b }"),
    ("", "fn tuple_ann_paren(x: f64) -> f64 { let (a, b): ((f64, f64)) = (x, x); a * b }"),
    ("", "fn tuple_ann_infer(x: f64) -> f64 { let (a, b): _ = (x, x); a * b }"),
    ("", "fn unit_ret(x: f64) { let _y = x * x; }"),
    ("", "fn unit_ret_explicit(x: f64) -> () { let _y = x * x; }"),
    ("", "fn never_ret(x: f64) -> ! { let _y = x * x; panic!() }"),
    ("", "fn ret_unit_block(x: f64) -> f64 { let y = x * x; { y } }"),
    ("", "fn if_without_else_value(x: f64) -> f64 { let mut y = x; if x > 0.0 { y = x * x } y }"),
    ("", "fn if_unit_value(x: f64) -> f64 { let mut y = x; let _u = if x > 0.0 { y = x * x; }; y }"),
    ("", "fn block_unit_value(x: f64) -> f64 { let mut y = x; let _u = { y = x * x; }; y }"),
    ("", "fn unit_let(x: f64) -> f64 { let mut y = x; let () = { y = y * x; }; y }"),
    ("", "fn assign_later(x: f64) -> f64 { let y; y = x; let z = y * y; z }"),
    ("", "fn assign_in_loop_deferred(x: f64) -> f64 { let mut s = 0.0; for _ in 0..3 { let y; y = x * s; s = s + y; } s }"),
    ("", "fn compound_on_deferred(x: f64) -> f64 { let mut y: f64; y = x; y += x; y }"),
    ("", "fn shadow_immutable(x: f64) -> f64 { let y = x; let y = y * y; y }"),
    ("", "fn assign_outer_mut_shadowed(x: f64) -> f64 { let mut y = x; { let y2 = y; y = y2 * x; } y }"),
    ("", "fn shadowed_in_block(x: f64) -> f64 { let mut y = x; { let y = 2.0; let _ = y; } y = y * x; y }"),
    ("", "fn mut_param(mut x: f64) -> f64 { x = x * x; x }"),
    ("", "fn mut_param_pat((a, b): (f64, f64)) -> f64 { a * b }"),
    ("", "fn break_in_closure(x: f64) -> f64 { let f = || loop { break 1.0; }; x * f() }"),
    ("", "fn continue_in_closure(x: &[f64]) -> f64 { let mut s = 0.0; for v in x { s += v; } let _f = || for _ in 0..2 { continue; }; s }"),
    ("", "fn return_in_closure(x: f64) -> f64 { let f = |v: f64| { return v * 2.0; }; f(x) * x }"),
    ("", "fn bare_return_unit(x: f64) { let _ = x; return; }"),
    ("", "fn bare_return_in_if(x: f64) -> f64 { if x > 0.0 { let _ = || { return; }; } x * x }"),
    ("", "fn try_in_closure(x: f64) -> f64 { let f = || -> Option<f64> { Some(Some(1.0)?) }; x * f().unwrap() }"),
    ("", "fn bit_ops_int(x: f64, n: u32) -> f64 { let k = (n << 1) ^ 3; x.powi(k as i32) }"),
    ("", "fn bit_ops_bool(x: f64) -> f64 { let b = (x > 0.0) & (x < 1.0); if b { x * x } else { x } }"),
    ("", "fn bit_ops_bool_xor(x: f64, y: f64) -> f64 { if (x > 0.0) ^ (y > 0.0) { x * y } else { x } }"),
    ("", "fn sigmoid_path(x: f64) -> f64 { let f = autodiff::sigmoid; f(x) }"),
    ("", "fn method_arity_user_trait(x: f64) -> f64 { trait Sin2 { fn sin(self, k: f64) -> f64; } impl Sin2 for f64 { fn sin(self, k: f64) -> f64 { k * f64::sin(self) } } Sin2::sin(x, 2.0) }"),
    ("", "fn assoc_max(x: f64, y: f64) -> f64 { f64::max(x, y) * x }"),
    ("", "fn powi_ufcs(x: f64) -> f64 { f64::powi(x, 2) }"),
    ("", "fn float_ufcs_generic<T: Float>(x: T) -> T { Float::powi(x, 2) + T::sin(x) }"),
    ("", "fn mul_add_path(x: f64) -> f64 { f64::mul_add(x, 2.0, 1.0) }"),
    ("", "fn never_let(x: f64) -> f64 { let _: () = (); x * x }"),
    ("", "fn if_let_else_return(x: Option<f64>, y: f64) -> f64 { let v = if let Some(v) = x { v } else { return y; }; v * y }"),
    ("", "fn let_else(x: Option<f64>, y: f64) -> f64 { let Some(v) = x else { return y; }; v * y }"),
    ("", "fn while_true_return(x: f64) -> f64 { let mut s = x; loop { s = s * 0.5; if s < 1.0 { return s; } } }"),
    ("", "fn loop_return_only(x: f64) -> f64 { loop { return x * x; } }"),
    ("", "fn while_then_unreachable(x: f64) -> f64 { let mut s = x; while s > 1.0 { s = s * 0.5; if s < 2.0 { return s; } } unreachable!() }"),
    ("", "fn match_unit_arms(x: f64, n: i32) -> f64 { let mut y = x; match n { 0 => y = y * x, _ => {} } y }"),
    ("", "fn match_stmt_value(x: f64, n: i32) -> f64 { let mut y = x; match n { 0 => { y = y * x; } _ => (), } y }"),
    ("", "fn match_tail_value(x: f64, n: i32) -> f64 { match n { 0 => { let y = x * x; y } _ => x } }"),
    ("", "fn match_arm_return_value(x: f64, n: i32) -> f64 { match n { 0 => return x * x, _ => x } }"),
    ("", "fn match_all_return_value_let(x: f64, n: i32) -> f64 { let y = match n { 0 => x * x, _ => return x }; y }"),
    ("", "fn if_arm_return_value(x: f64) -> f64 { let y = if x > 0.0 { x * x } else { return x; }; y }"),
    ("", "fn nested_if_unit_stmt(x: f64) -> f64 { let mut y = x; if x > 0.0 { if x > 1.0 { y = y * x; } } y }"),
    ("", "fn nested_unit_block_tail(x: f64) -> f64 { let mut y = x; { { y = y * x; } } y }"),
    ("", "fn tuple_from_call(x: f64) -> f64 { let (a, b): (f64, f64) = (x.sin(), x.cos()); a * b }"),
    ("", "fn tuple_ann_partial(x: f64) -> f64 { let (a, b): (f64, _) = (x, x); a * b }"),
    ("", "fn helper_arity(x: f64) -> f64 { use autodiff::sigmoid as s; s(x) * x }"),
    ("", "fn deref_assign(x: f64) -> f64 { let mut y = x; let r = &mut y; *r = *r * 2.0; y * x }"),
    ("", "fn return_unit_value(x: f64) -> f64 { let mut y = x; if x > 1.0 { y = 2.0 * y; } return y; }"),
    ("", "fn ret_paren(x: f64) -> f64 { return (x * x); }"),
    ("", "fn ret_block(x: f64) -> f64 { return { x * x }; }"),
    ("", "fn return_if(x: f64) -> f64 { return if x > 0.0 { x * x } else { x }; }"),
    ("", "fn return_match(x: f64, n: i32) -> f64 { return match n { 0 => x * x, _ => x }; }"),
    ("", "fn if_return_semi_tail(x: f64) -> f64 { let y = x * x; if y > 1.0 { return y; } return x; }"),
    ("", "fn return_return(x: f64) -> f64 { return return x * x; }"),
    ("", "fn unsafe_block(x: f64) -> f64 { unsafe { x * x } }"),
    ("", "fn const_block(x: f64) -> f64 { const { 2.0 } * x }"),
    ("", "fn mod_compound(x: f64) -> f64 { let mut y = x; y %= 2.0; y * x }"),
    ("", "fn loop_break_stmt_only(x: f64) -> f64 { let mut y = x; loop { y = y * 0.5; if y < 1.0 { break } } y }"),
    ("", "fn if_in_let_without_value(x: f64) -> f64 { let mut y = x; let _: () = if x > 0.0 { y = y * x; }; y }"),
    ("", "fn range_pattern(x: f64) -> f64 { match x as i32 { 0..=3 => x * x, _ => x } }"),
    ("", "fn assign_bool_and(x: f64) -> f64 { let mut b = true; b &= x > 0.0; if b { x * x } else { x } }"),
    ("", "fn int_shift_assign(x: f64) -> f64 { let mut k = 1u32; k <<= 2; x.powi(k as i32) }"),
    ("", "fn int_bitand_assign(x: f64) -> f64 { let mut k = 7u32; k &= 3; x * k as f64 }"),
    ("", "fn int_bitand_assign_varied(x: f64) -> f64 { let mut k = x as u32; k &= 3; x * k as f64 }"),
    ("", "fn bool_var_bitand(x: f64) -> f64 { let b = x > 0.0; let c = b & (x < 2.0); if c { x } else { x * x } }"),
    ("", "fn bool_var_bitor(x: f64, y: f64) -> f64 { let b = x > y | y > 1.0; if b { x } else { y } }"),
    ("", "fn bool_not(x: f64) -> f64 { let b = !(x > 0.0); if b { x } else { x * x } }"),
    ("", "fn f64_clone(x: f64) -> f64 { f64::clone(&x) * x }"),
    ("", "fn t_clone<T: Float>(x: T) -> T { T::clone(&x) * x }"),
    ("", "fn f64_to_owned(x: f64) -> f64 { f64::to_owned(&x) * x }"),
    ("", "fn qself_clone<T: Float>(x: T) -> T { <T as Clone>::clone(&x) * x }"),
    ("", "fn match_mut_binding(x: f64, n: i32) -> f64 { match n { mut k => { k += 1; x * k as f64 } } }"),
    ("", "fn match_mut_binding_float(x: f64) -> f64 { match x { mut v => { v *= 2.0; v } } }"),
    ("", "fn if_else_unreachable_let(x: f64) -> f64 { let y = if x > 0.0 { x * x } else { unreachable!() }; y }"),
    ("", "fn panic_in_block_let(x: f64) -> f64 { let y = if x.is_nan() { panic!(\"nan\") } else { x * 2.0 }; y }"),
    ("", "fn tail_if_panic_first(x: f64) -> f64 { if x < 0.0 { panic!() } else { x.sqrt() } }"),
    ("", "fn if_let_value_unit(x: f64) -> f64 { let mut y = x; let _v: () = if x > 1.0 { y *= 2.0 } else { y *= 3.0 }; y }"),
    ("", "fn match_arm_loop(x: f64, n: i32) -> f64 { let y = match n { 0 => x * x, _ => loop {} }; y }"),
    ("", "fn deferred_diverge_else_compound(x: f64) -> f64 { let mut y; if x > 0.0 { y = x; } else { return 0.0; } y += x; y }"),
    ("", "fn deferred_panic_else_compound(x: f64) -> f64 { let mut y; if x > 0.0 { y = x; } else { panic!() } y *= x; y }"),
    ("", "fn deferred_diverge_else_read(x: f64) -> f64 { let y; if x > 0.0 { y = x * x; } else { return 0.0; } y * x }"),
];

/// Writes `functions` as modules `m0`, `m1`, ... of one lib crate in `dir` (depending on
/// num-traits, ndarray and this workspace's `autodiff`) and `cargo check`s it, dropping the
/// modules rustc reports errors in until the rest checks cleanly. Returns which functions rustc
/// accepts. Lints cannot fail the build (`--cap-lints=allow`): a user can allow them.
fn rustc_accepts(dir: &std::path::Path, functions: &[String]) -> Vec<bool> {
    use std::process::Command;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().expect("workspace root");
    let _ = std::fs::remove_dir_all(dir.join("src"));
    std::fs::create_dir_all(dir.join("src")).expect("create the crate");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"ltr_check\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\n\
             num-traits = \"0.2\"\nndarray = \"0.17\"\nautodiff = {{ path = {:?} }}\n\n[workspace]\n",
            root.display().to_string()
        ),
    )
    .expect("write Cargo.toml");
    std::fs::write(dir.join("src/prelude.rs"), LTR_PRELUDE).expect("write the prelude");
    for (i, f) in functions.iter().enumerate() {
        std::fs::write(
            dir.join(format!("src/m{i}.rs")),
            format!("#[allow(unused_imports)]\nuse super::prelude::*;\n{f}\n"),
        )
        .expect("write a module");
    }
    let mut alive: Vec<bool> = vec![true; functions.len()];
    loop {
        let mut lib = String::from("#![allow(warnings)]\npub mod prelude;\n");
        for (i, _) in alive.iter().enumerate().filter(|(_, a)| **a) {
            let _ = writeln!(lib, "pub mod m{i};");
        }
        std::fs::write(dir.join("src/lib.rs"), lib).expect("write lib.rs");
        let out = Command::new("cargo")
            .args(["check", "--offline", "--quiet", "--message-format=short"])
            .env("RUSTFLAGS", "--cap-lints=allow")
            .env_remove("CARGO_TARGET_DIR")
            .current_dir(dir)
            .output()
            .expect("run cargo check");
        if out.status.success() {
            return alive;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut dropped = 0;
        for line in stderr.lines() {
            // `src/m12.rs:3:5: error[E0308]: ...`
            let Some(rest) = line.strip_prefix("src/m") else {
                continue;
            };
            if !line.contains(": error") {
                continue;
            }
            let Some(i) = rest
                .split(".rs")
                .next()
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if alive.get(i) == Some(&true) {
                alive[i] = false;
                dropped += 1;
            }
        }
        assert!(
            dropped > 0,
            "cargo check fails with no error in a module:\n{}",
            clip(&stderr, 4000)
        );
    }
}

/// Tokens as rustc would read them: invisible groups as parentheses.
fn render_for_rustc(tokens: &TokenStream) -> String {
    fn visible(tokens: TokenStream) -> TokenStream {
        tokens
            .into_iter()
            .map(|t| match t {
                TokenTree::Group(g) => {
                    let delimiter = match g.delimiter() {
                        Delimiter::None => Delimiter::Parenthesis,
                        other => other,
                    };
                    let mut group = Group::new(delimiter, visible(g.stream()));
                    group.set_span(g.span());
                    TokenTree::Group(group)
                }
                other => other,
            })
            .collect()
    }
    visible(tokens.clone()).to_string()
}

/// Placeholder companions without an error are right only when rustc rejects the function.
/// Collects the mutants (and hand-written candidates) the macro leaves to rustc, checks each
/// original function with `cargo check` in a crate under `AUTODIFF_LTR_DIR` (default
/// `/tmp/ltr`), and fails listing those rustc accepts: their `NAME_grad` would panic at run time.
#[test]
#[ignore = "runs cargo check: AUTODIFF_MUTANTS=20000 cargo test -p autodiff-macros robustness::left_to_rustc_only_on_invalid_rust -- --ignored --nocapture"]
fn left_to_rustc_only_on_invalid_rust() {
    let seed = env_u64("AUTODIFF_MUTANTS_SEED").unwrap_or(1);
    let count = env_u64("AUTODIFF_MUTANTS").unwrap_or(20_000);
    let dir = std::env::var("AUTODIFF_LTR_DIR").unwrap_or_else(|_| "/tmp/ltr".to_owned());
    let (texts, origins) = on_rustc_stack(move || {
        let pools = Pools::new();
        let mut texts: Vec<String> = Vec::new();
        let mut origins: Vec<String> = Vec::new();
        for (attr, item) in LTR_CANDIDATES {
            let verdict = check(&lex(attr), &lex(item));
            let kind = match &verdict {
                Verdict::Generated => "companions",
                Verdict::Reported => "compile_error!",
                Verdict::LeftToRustc => "left to rustc",
                Verdict::NotRust => "not Rust",
                Verdict::Failed { .. } => "FAILED",
            };
            let name = item.split('(').next().unwrap_or(item);
            eprintln!("robustness: candidate {name}: {kind}");
            if matches!(verdict, Verdict::LeftToRustc) {
                texts.push((*item).to_owned());
                origins.push(format!("candidate #[differentiate({attr})]"));
            }
        }
        for index in 0..count {
            let Some(m) = mutant(&pools, seed, index) else {
                continue;
            };
            if !matches!(check(&m.attr, &m.item), Verdict::LeftToRustc) {
                continue;
            }
            let text = render_for_rustc(&m.item);
            // A `#[cfg]`-gated function may not compile here and yet be broken under its cfg;
            // its companions carry the same `#[cfg]`, so they vanish with it: nothing to check.
            if text.contains("# [cfg") {
                continue;
            }
            if !texts.contains(&text) {
                texts.push(text);
                origins.push(format!(
                    "mutant {index} (AUTODIFF_MUTANTS_SEED={seed:#x}) #[differentiate({})]",
                    m.attr
                ));
            }
        }
        (texts, origins)
    });
    eprintln!(
        "robustness: {} distinct functions left to rustc; checking them",
        texts.len()
    );
    let accepted = rustc_accepts(std::path::Path::new(&dir), &texts);
    let mut bad = String::new();
    for (i, ok) in accepted.iter().enumerate() {
        if *ok {
            let _ = writeln!(bad, "\n== m{i}: {}\n{}", origins[i], texts[i]);
        }
    }
    let n = accepted.iter().filter(|a| **a).count();
    assert!(
        n == 0,
        "{n} of {} functions left to rustc compile (their `NAME_grad` panics at run time):\n{bad}",
        texts.len()
    );
}
