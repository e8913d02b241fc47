//! Compile-time reverse-mode automatic differentiation.
//!
//! Put [`#[differentiate]`](macro@differentiate) on a plain Rust function of floats. The function
//! stays exactly as written; beside it the macro writes the gradient as ordinary Rust: the
//! function's own statements, then the adjoint statements in reverse order. No runtime graph, no
//! tape, no closures: the code is what you would write by hand, and the compiler optimises it the
//! same way.
//!
//! ```
//! use autodiff::differentiate;
//!
//! /// Rosenbrock's banana.
//! #[differentiate]
//! pub fn rosen(x: f64, y: f64) -> f64 {
//!     let a = 1.0 - x;
//!     let b = y - x * x;
//!     a * a + 100.0 * b * b
//! }
//!
//! let (value, (dx, dy)) = rosen_grad(-1.2, 1.0);
//! assert_eq!(value, rosen(-1.2, 1.0));
//! assert!((dx - -215.6).abs() < 1e-12 && (dy - -88.0).abs() < 1e-12);
//! ```
//!
//! # What is generated
//!
//! | companion | signature | |
//! | --- | --- | --- |
//! | `NAME_grad` | `(args…) -> (value, grad)` | value and gradient |
//! | `NAME_vjp` | `(args…, d_out) -> (value, grad)` | reverse mode seeded with `d_out`: `grad` is `d_out` times the gradient |
//!
//! Both have the function's visibility, generics and `#[cfg]`s. `value` is bit for bit what the
//! function returns: the forward part evaluates the same operations in the same order, and
//! side effects such as `println!` happen once. The one exception Rust itself makes is `powi`,
//! whose rounding it leaves unspecified: an optimised build may evaluate `1.3_f64.powi(3)` at
//! compile time (2.197) where the library gives 2.1970000000000005 at run time, so where one of
//! the two functions has the operands as constants and the other does not, their values can
//! differ in the last bit.
//!
//! `grad` holds the gradient with respect to each *active* parameter, in argument order: bare
//! when there is one, a tuple when there are several. Every `f64`, `f32` or generic `T: Float`
//! parameter is active unless `#[differentiate(wrt(x, y))]` names the active ones. Other
//! parameters (integers, `bool`, anything else) are constants. An active parameter that does
//! not reach the result gets a zero gradient.
//!
//! ```
//! use autodiff::differentiate;
//!
//! #[differentiate(wrt(w))]
//! fn loss(w: f64, x: f64, y: f64) -> f64 {
//!     let r = w * x - y;
//!     r * r
//! }
//!
//! let (l, dw) = loss_grad(0.5, 2.0, 3.0);
//! assert_eq!((l, dw), (4.0, -8.0));
//! let (_, dw3) = loss_vjp(0.5, 2.0, 3.0, 3.0);
//! assert_eq!(dw3, 3.0 * dw);
//! ```
//!
//! Generic functions work as written with `T: num_traits::Float`; the companions add the bound
//! `T: autodiff::Real`, which `f32` and `f64` satisfy.
//!
//! ```
//! use autodiff::differentiate;
//! use num_traits::Float;
//!
//! #[differentiate]
//! fn softplus<T: Float>(x: T) -> T {
//!     (T::one() + x.exp()).ln()
//! }
//!
//! let (_, d32) = softplus_grad(0.0_f32);
//! let (_, d64) = softplus_grad(0.0_f64);
//! assert!((d32 - 0.5).abs() < 1e-7 && (d64 - 0.5).abs() < 1e-15);
//! ```
//!
//! # The body language
//!
//! - `let`, `let mut`, reassignment, `+= -= *= /= %=`, nested blocks, shadowing,
//!   `let (a, b) = (e1, e2);`, `let [a, b, _] = x;` of a fixed array, `mut` parameters and
//!   `let mut a = a;`;
//! - `+ - * / %`, unary `-`, literals (also suffixed, and `2.0_f64.sqrt()`), constants such as
//!   `std::f64::consts::PI` or `f64::EPSILON`, and `as` casts of inactive integers (a float cast
//!   to an integer has derivative zero);
//! - float methods in both spellings, `x.sin()` and `f64::sin(x)` (or `T::sin(x)`):
//!   `sin cos tan asin acos atan atan2 sinh cosh tanh asinh acosh atanh exp exp2 exp_m1 ln ln_1p
//!   log log2 log10 sqrt cbrt powi powf recip abs hypot max min clamp mul_add fract to_degrees
//!   to_radians`; `signum floor ceil round trunc`, comparisons and `is_nan`-style tests have
//!   derivative zero;
//! - `if` / `else if` / `else` as statements and values, `match` on integers; `for` over ranges
//!   (also `.rev()`) and over arrays (`x.iter()`, `&x`, `.enumerate()`), `while`, `loop`,
//!   `break`, `continue`, and `return` anywhere (from outside loops only in a function returning
//!   an array, `Vec` or tensor), also `break 'outer` and `continue 'outer`
//!   from loops inside a labelled one;
//! - array arguments (`[T; N]`, `&[T]`, `&Vec<T>`, `Vec<T>`, nested), local `[0.0; N]` and
//!   `vec![0.0; n]`, literals of active values (`[a, b]`, `[x; 3]`, `vec![a, b]`: made as
//!   written, then each element written in again, so the writes carry the derivatives), element
//!   reads and writes;
//! - the differentiable helpers [`sigmoid`], [`relu`] and [`softplus`], called by their path
//!   (`autodiff::sigmoid(z)`), so a function of the user's with the same name is never taken for
//!   them;
//! - `println!`, `assert!`, `debug_assert!` and other statement macros, kept in the forward pass.
//!
//! ```
//! use autodiff::differentiate;
//!
//! /// Softmax cross-entropy of `logits` against `label`.
//! #[differentiate(wrt(logits))]
//! fn cross_entropy(logits: &[f64], label: usize) -> f64 {
//!     let mut m = logits[0];
//!     for &v in logits.iter() {
//!         m = m.max(v);
//!     }
//!     let mut total = 0.0;
//!     for &v in logits.iter() {
//!         total += (v - m).exp();
//!     }
//!     m + total.ln() - logits[label]
//! }
//!
//! let (loss, grad) = cross_entropy_grad(&[1.0, 2.0, 0.5], 1);
//! // The gradient is softmax(logits) minus the one-hot label: it sums to zero.
//! assert!(grad.iter().sum::<f64>().abs() < 1e-15 && grad[1] < 0.0 && loss > 0.0);
//! ```
//!
//! Any expression that reads no active value may be any Rust at all: it is evaluated as written
//! and treated as a constant.
//!
//! # Custom derivatives
//!
//! `#[differentiate(vjp = rule)]` does not look into the body (it may call anything: a C
//! library, an iterator chain, a numerically better formula) and takes the reverse pass from
//! `rule`, a function with `NAME_vjp`'s signature: the arguments, then `d_out`, returning
//! `(value, grad)` with `grad` bare for one active parameter and a tuple for several. The
//! signature is checked at compile time (a mismatch is an error at `rule` showing both). The
//! companions, `NAME_vjp_all` included, are generated as for any differentiated function, so
//! other differentiated functions call it as usual.
//!
//! ```
//! use autodiff::differentiate;
//!
//! #[differentiate(vjp = norm_rule)]
//! fn norm(v: &[f64]) -> f64 {
//!     v.iter().map(|a| a * a).sum::<f64>().sqrt()
//! }
//!
//! fn norm_rule(v: &[f64], d_out: f64) -> (f64, Vec<f64>) {
//!     let n = norm(v);
//!     (n, v.iter().map(|a| d_out * a / n).collect())
//! }
//!
//! let (n, g) = norm_grad(&[3.0, 4.0]);
//! assert_eq!((n, g), (5.0, vec![0.6, 0.8]));
//! ```
//!
//! # Parameter structs
//!
//! `#[derive(autodiff::Tangent)]` on a struct of floats, `Vec`s and arrays of them, ndarray
//! arrays and nested structs that derive it too makes the struct a value `#[differentiate]` can
//! take as an active argument, named in `wrt(...)` (a struct is never active by default). Its
//! gradient is the same struct. In the body, its fields are read as values (`p.l1.w`,
//! `p.extra[i]`), also passed to other differentiated functions. The [`Tangent`](trait@Tangent)
//! trait gives a training loop `scaled_add`, `inner`, `norm` and `zeros_like`:
//!
//! ```
//! use autodiff::ndarray::{Array1, Array2};
//! use autodiff::{differentiate, Tangent};
//!
//! #[derive(Clone, Tangent)]
//! struct Linear {
//!     w: Array1<f64>,
//!     b: f64,
//! }
//!
//! #[differentiate(wrt(p))]
//! fn mse(p: &Linear, x: &Array2<f64>, y: &Array1<f64>) -> f64 {
//!     let r = x.dot(&p.w) + p.b - y;
//!     (&r * &r).mean().unwrap()
//! }
//!
//! let x = Array2::from_shape_fn((20, 2), |(i, j)| ((i * 2 + j) as f64).sin());
//! let y = x.dot(&Array1::from_vec(vec![1.5, -0.5])) + 0.25;
//! let mut p = Linear { w: Array1::zeros(2), b: 0.0 };
//! for _ in 0..500 {
//!     let (_, g) = mse_grad(&p, &x, &y);
//!     p.scaled_add(-0.3, &g);
//! }
//! assert!(mse(&p, &x, &y) < 1e-6);
//! ```
//!
//! # Methods
//!
//! `#[differentiate]` on a method in an `impl` block generates methods beside it
//! (`model.loss_grad(&x, y)`). The receiver is a constant unless `wrt(self)` names it; then
//! `Self` must derive [`Tangent`](trait@Tangent) and the gradient includes a `Self`.
//! An associated function without a receiver (`fn energy(x: f64) -> f64` inside an `impl`) is
//! not supported: its companions call one another by their plain names, which inside an `impl`
//! need `Self::`; rustc reports it. Write it as a free function, or give it a `&self`.
//! A method of a trait `impl` cannot have the attribute: its companions are methods the trait
//! does not declare (rustc: "method `e_vjp` is not a member of trait `Energy`"). Differentiate a
//! free function (or an inherent method) and call it from the trait's method.
//!
//! # Calls between differentiated functions
//!
//! A `#[differentiate]` function may call another one (by name or path, generic or not, also
//! itself), passing active values: `f(x, &w)`. A function brought in with `use m::f;` needs its
//! companion imported too, `use m::{f, f_vjp_all};` (and `f_jvp_all` for a forward-mode
//! caller) (rustc's error suggests the line), or a call
//! by path, `m::f(x)`. The forward pass calls `f` as written; the reverse
//! pass calls its hidden companion `f_vjp_all`, which every `#[differentiate]` function has: the
//! value and one gradient slot per parameter. Calling a function that is not differentiated with
//! active arguments is rustc's error `cannot find function f_vjp_all` at the call: annotate `f`
//! with `#[differentiate]`, or pass it only inactive values. A callee's `wrt(...)` is a promise
//! that the other parameters are constants; passing an active value to one of them is a compile
//! error at the call ("the called function is not differentiated with respect to this
//! argument"). A `let mut` array passed to a callee is copied at the call, so writing it
//! afterwards does not change what the reverse pass reads. The callee's forward pass runs again
//! inside `f_vjp_all` (its values are recomputed, not stored).
//!
//! # Tensors
//!
//! [`ndarray`] arrays of `f32`/`f64` (also a generic `T: Float`) are values like floats:
//! arguments `&Array1<T>`, `&Array2<T>`, `&ArrayD<T>`, `Array<T, D>`, views (`ArrayView2<T>`)
//! and `ArcArray`s are active by default, and their gradient is an owned array of the same
//! shape. A function may return a tensor: it then has only `NAME_vjp`, seeded with a `d_out` of
//! the result's shape. In the body:
//!
//! - `a.dot(&b)` for matrix·matrix, matrix·vector, vector·matrix and vector·vector, `.t()`,
//!   `.sum()`, `.mean().unwrap()`, `.sum_axis(Axis(k))`, `.mean_axis(Axis(k)).unwrap()`,
//!   `.view()`, `.to_owned()`, `.clone()`;
//! - `+ - * /` and unary `-` between arrays, with scalars on either side, with or without `&`,
//!   broadcasting as ndarray does (a bias row added to a batch; `(3, 1) + (1, 4)`): the adjoint
//!   of a broadcast operand is summed back to its shape;
//! - ndarray's elementwise methods with a rule (`exp ln tanh sqrt sin powi powf abs …`), and
//!   `.mapv(f)` with `f` a float method path (`f64::tanh`) or a differentiable helper
//!   (`autodiff::sigmoid`, `autodiff::relu`, `autodiff::softplus`);
//! - the tensor helpers [`softmax`] and [`log_softmax`] along an axis, [`log_sum_exp`],
//!   [`cross_entropy`] (logits and integer labels, mean over the batch) and [`mse`], called by
//!   their path;
//! - element reads `x[[i, j]]` and writes into a local array, loops and branches around tensor
//!   code (a loop saves the arrays its reverse pass needs on its tape, as clones).
//!
//! Shapes are checked where ndarray checks them; a mismatch panics at the user's expression with
//! both shapes in the message. Use the crate's re-export `autodiff::ndarray` (or the same
//! ndarray version, 0.17) so that the types match.
//!
//! ```
//! use autodiff::differentiate;
//! use autodiff::ndarray::{array, Array1, Array2, Axis};
//!
//! /// A one-hidden-layer network's loss on a batch `x` with integer labels.
//! #[differentiate(wrt(w1, b1, w2))]
//! fn loss(x: &Array2<f64>, w1: &Array2<f64>, b1: &Array1<f64>, w2: &Array2<f64>, labels: &[usize]) -> f64 {
//!     let h = (x.dot(w1) + b1).mapv(f64::tanh);
//!     let logits = h.dot(w2);
//!     autodiff::cross_entropy(&logits, labels)
//! }
//!
//! let x = array![[0.5, -1.0], [1.5, 0.25], [-0.5, 2.0]];
//! let w1 = array![[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]];
//! let b1 = array![0.01, -0.02, 0.03];
//! let w2 = array![[0.2, -0.1], [0.3, 0.1], [-0.4, 0.2]];
//! let (value, (d_w1, d_b1, d_w2)) = loss_grad(&x, &w1, &b1, &w2, &[0, 1, 1]);
//! assert_eq!(value, loss(&x, &w1, &b1, &w2, &[0, 1, 1]));
//! assert_eq!((d_w1.dim(), d_b1.dim(), d_w2.dim()), ((2, 3), 3, (3, 2)));
//! // Softmax cross-entropy: the logits' adjoint sums to zero over the classes in each row, so
//! // every row of d_w2 (hᵀ times it) does too.
//! assert!(d_w2.sum_axis(Axis(1)).iter().all(|s| s.abs() < 1e-15));
//! ```
//!
//! A branch is differentiated as the branch taken (also exactly at the branch point), a loop
//! through the iterations that ran. Loops keep what their reverse pass needs on a plain `Vec`
//! tape, one entry per iteration; with the `tape-stats` feature, [`tape_stats::take`] reports
//! how many bytes the tapes held. A scratch array that a loop's body fills at its start
//! (`let mut xc = vec![0.0; d];` before the loop, `for j in 0..d { xc[j] = …; }` in it, and used
//! nowhere else) is saved whole once per iteration instead: the reverse pass copies it back
//! before it reverses that iteration, and reads the elements the iteration read after its last
//! write to the array from the array itself.
//!
//! # Errors
//!
//! Code the macro cannot differentiate is a compile error at the offending expression, saying
//! what is not supported and what to do instead; every error in a function is reported in one
//! build, and the companions still exist (with a body that is never reached) so calls to them do
//! not add errors of their own. The macro never panics.
//!
//! # Derivatives at kinks
//!
//! Where a derivative does not exist, the rules choose as PyTorch and JAX do: `abs'(0) = 0`;
//! `max`/`min` on a tie send the whole adjoint to the first argument (`x` in `x.max(y)`);
//! `clamp(x, lo, hi)` passes the adjoint to `x` for `lo <= x <= hi`; `hypot` at the origin has
//! gradient zero; `sqrt'(0)` and `ln'(0)` are `+inf`, as IEEE arithmetic gives them. The
//! operations with derivative zero (`floor`, `round`, `signum`, …) are zero everywhere, also at
//! their jumps.
//!
//! # Checking a gradient
//!
//! [`check_grad`] compares a gradient with central differences of the function and names the
//! worst component:
//!
//! ```
//! use autodiff::{check_grad, differentiate};
//!
//! #[differentiate]
//! fn f(x: f64, y: f64) -> f64 {
//!     x.sin() * y.exp() + x.atan2(y)
//! }
//!
//! let (_, (dx, dy)) = f_grad(0.3, -0.7);
//! check_grad(|v: &[f64]| f(v[0], v[1]), &[0.3, -0.7], &[dx, dy]).unwrap();
//!
//! // A wrong gradient names the worst component, with both values.
//! let err = check_grad(|v: &[f64]| f(v[0], v[1]), &[0.3, -0.7], &[dx, dy + 1e-3]).unwrap_err();
//! assert_eq!(err.index, 1);
//! println!("{err}");
//!
//! // The step and both tolerances are yours to choose (f32 needs looser ones).
//! let check = autodiff::GradCheck { step: 1e-4, rel_tol: 1e-6, abs_tol: 1e-9 };
//! check.check(|v: &[f64]| f(v[0], v[1]), &[0.3, -0.7], &[dx, dy]).unwrap();
//! ```
//!
//! [`numeric_grad`] gives the differences themselves. Every differentiated function also has
//! `NAME_graph()`, its computation graph as Graphviz DOT text (see `examples/graph.rs`).
//!
//! `#[differentiate(trace)]` adds `NAME_trace(args…) -> (value, grad, Trace)`: the gradient, and
//! a [`Trace`] with the value and adjoint of every operation each time it was evaluated. Print it
//! as a table, draw it with [`Trace::to_dot`] (`operation | value | grad` boxes), or list with
//! [`Trace::suspicious`] the adjoints that are not finite or vanish where the value does not.
//!
//! ```
//! use autodiff::differentiate;
//!
//! #[differentiate(trace)]
//! fn f(x: f64) -> f64 {
//!     (x * 1e3).tanh() + x
//! }
//!
//! let (_, _, trace) = f_trace(2.0);
//! println!("{trace}");
//! // tanh saturates: its input's adjoint vanishes while its value is 1.
//! assert_eq!(trace.suspicious().count(), 1);
//! ```
//!
//! # Forward mode
//!
//! `#[differentiate(forward)]` also generates `NAME_jvp(args…, tangents…) -> (value, tangent)`:
//! the directional derivative along one tangent per active parameter (of the parameter's own
//! type), in one forward pass, for floats, arrays, ndarray tensors (all the operations above),
//! parameter structs, loops and branches, and calls to other functions that
//! have forward mode too (through their hidden `NAME_jvp_all`, one tangent slot per parameter;
//! calling a function without `forward` is a compile error that says to add it).
//!
//! ```
//! use autodiff::differentiate;
//!
//! #[differentiate(forward)]
//! fn rosen(x: f64, y: f64) -> f64 {
//!     (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
//! }
//!
//! let (_, (gx, gy)) = rosen_grad(-1.2, 1.0);
//! let (_, along) = rosen_jvp(-1.2, 1.0, 0.6, 0.8);
//! assert!((along - (0.6 * gx + 0.8 * gy)).abs() < 1e-12);
//! ```
//!
//! # Second order
//!
//! A function with a float result whose float parameters are floats or slices, `Vec`s and
//! arrays of them (not ndarray arrays or structs) also gets
//! `NAME_hvp(args…, directions…) -> (value, grad, H v)` and `NAME_hessian(args…) -> (value, H)`.
//! The Hessian-vector product is forward over reverse: the generated reverse pass runs on the
//! runtime's dual numbers (`x + v ε`), whose `ε` parts of the gradient are `H v`; no tape, no
//! second transformation. The Hessian is one product per unit direction: `[[T; n]; n]` for `n`
//! float parameters, `Vec<Vec<T>>` for one slice or `Vec`. `examples/newton.rs` runs Newton's
//! method with it.
//!
//! A function generic over its float type (`fn f<T: Float>(..) -> T`, with bounds dual numbers
//! have) runs on them as it is. A function written on `f64` gets a hidden copy generic over its
//! float type (literals, `as` casts and `f64::consts` rewritten to the generic type), whose
//! reverse pass `NAME_hvp` runs. The copy is made only where it is sure to compile and to
//! compute what the original computes: the body reads only its own parameters and variables
//! (and `std::f64::consts`, imported or by path, and its const generics, as in
//! `fn f<const N: usize>(x: [f64; N])`),
//! names only `f64`, integer, `bool` and `char` types (and slices, arrays, `Vec`s of them),
//! calls only float methods and the runtime's helpers, and its `for` loops run over ranges or
//! over arrays (`for &v in x.iter()`, `for v in &x`, `for (i, v) in x.iter().enumerate()`, a
//! `zip`, and by value over an array or `Vec` the body made from values: `[0.0; N]`,
//! `vec![0.0; n]`). Elements and `let`s
//! taken by reference (`v`, `let r = &x[0];`) are read through `*` where the copy does
//! arithmetic on them, since a reference to a generic float has none. A function that reads a module's `const`, calls
//! another function, is a method, or works on `f32` (where Rust gives an untyped literal the
//! type `f64`, which the copy could not keep) gets no `NAME_hvp`: write it generic over
//! `T: Float`, or pass the constant in.
//!
//! ```
//! use autodiff::differentiate;
//!
//! #[differentiate]
//! fn energy(x: &[f64]) -> f64 {
//!     let mut e = 0.0;
//!     for i in 0..x.len() - 1 {
//!         e += 0.5 * (x[i + 1] - x[i]).powi(2) + (x[i] * std::f64::consts::PI).cos();
//!     }
//!     e
//! }
//!
//! let (_, h) = energy_hessian(&[0.1, 0.2, 0.4]);
//! let (_, _, hv) = energy_hvp(&[0.1, 0.2, 0.4], &[1.0, 0.0, 0.0]);
//! assert_eq!(hv, h[0]);
//! ```
//!
//! ```
//! use autodiff::differentiate;
//! use num_traits::Float;
//!
//! #[differentiate]
//! fn rosen<T: Float>(x: T, y: T) -> T {
//!     let a = T::one() - x;
//!     let b = y - x * x;
//!     a * a + T::from(100.0).unwrap() * b * b
//! }
//!
//! let (_, h) = rosen_hessian(1.0_f64, 1.0);
//! assert_eq!(h, [[802.0, -400.0], [-400.0, 200.0]]);
//! let (_, _, (hx, hy)) = rosen_hvp(1.0_f64, 1.0, 1.0, 1.0);
//! assert_eq!((hx, hy), (402.0, -200.0));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate self as autodiff;

/// Generates `NAME_grad` and `NAME_vjp` beside a function of floats; see the [crate docs](crate).
///
/// Options: `wrt(a, b)` makes only the named parameters active (also `self`, and parameter
/// structs); `forward` also generates `NAME_jvp`; `vjp = rule` takes the reverse pass from a
/// function of your own instead of the body; `crate = path` names this crate when it is not
/// reachable as `::autodiff` (for instance when renamed in `Cargo.toml`).
pub use autodiff_macros::differentiate;
/// Derives [`Tangent`](trait@Tangent) (and the traits generated code needs) on a struct of
/// floats, arrays and ndarray tensors, fieldwise: see [Parameter structs](crate#parameter-structs).
pub use autodiff_macros::Tangent;
pub use autodiff_runtime::ndarray;
pub use autodiff_runtime::{
    check_grad, cross_entropy, jacobian, jacobian_rows, log_softmax, log_sum_exp, mse,
    numeric_grad, relu, sigmoid, softmax, softplus, tape_stats, GradCheck, GradMismatch, Real,
    Tangent, Trace, TraceEntry,
};

/// What generated code calls. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use autodiff_runtime::calls::{
        accumulate_gradient, callee_gradient, callee_gradient_scaled, forward_slot,
        AccumulateGradient, CalleeGradient, ForwardCall, ForwardSlot, HasForwardMode,
        NotDifferentiated,
    };
    pub use autodiff_runtime::dual::{cast_float, cast_int, seed, CastTo, Dual, DualParts};
    pub use autodiff_runtime::ndarray;
    pub use autodiff_runtime::num_traits::{Float, NumCast};
    pub use autodiff_runtime::rows::{carry_end, carry_from, row, row_end, row_mut, row_start};
    pub use autodiff_runtime::rules::*;
    pub use autodiff_runtime::tape_stats::record as record_tape;
    pub use autodiff_runtime::tensor::*;
    pub use autodiff_runtime::Real;
    pub use autodiff_runtime::Tape;
    pub use autodiff_runtime::Trace;
    pub use autodiff_runtime::{Accumulate, Tangent, ZeroLike};
}
