//! The `#[differentiate]` attribute. Use it through the `autodiff` crate, which documents it.
//!
//! The expansion is a pipeline, one module a stage:
//! [`args`] (the attribute's options) -> [`parse`] (the signature) -> [`lower`] (the body to the
//! [`ir`]) -> [`analyze`] (activity) -> [`codegen`] (forward replay and reverse sweep, calling
//! the adjoint [`rules`]). Every stage reports into [`diag::Diagnostics`]; this file is the one
//! place errors become `compile_error!`.
#![forbid(unsafe_code)]
#![allow(
    rustdoc::private_intra_doc_links,
    reason = "the crate docs describe its private pipeline, for its maintainers"
)]

mod analyze;
mod args;
mod codegen;
mod concrete;
mod derive;
mod diag;
mod hash;
mod ir;
mod lower;
mod parse;
#[cfg(test)]
mod robustness;
mod rules;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::ItemFn;

/// Generates `NAME_grad` and `NAME_vjp` beside the function. See the `autodiff` crate's docs.
/// Makes a struct of floats, arrays and ndarray tensors (and nested structs that derive it) a
/// value `#[differentiate]` can take as an active argument (named in `wrt(...)`), with the
/// struct itself as its gradient type, and gives it `autodiff::Tangent`'s `scaled_add`, `inner`
/// and `norm` for training loops. `#[tangent(crate = path)]` names the crate if it was renamed
/// in `Cargo.toml`, as `#[differentiate(crate = path)]` does.
#[proc_macro_derive(Tangent, attributes(tangent))]
pub fn derive_tangent(item: TokenStream) -> TokenStream {
    derive::derive_tangent(item.into()).into()
}

#[proc_macro_attribute]
pub fn differentiate(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into()).into()
}

/// The whole expansion, on `proc_macro2` tokens so tests can call it. Returns the original
/// function followed by its companions, or by the errors and placeholder companions. Never
/// panics.
fn expand(attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let item_fn: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let span = item
                .clone()
                .into_iter()
                .next()
                .map_or_else(proc_macro2::Span::call_site, |t| t.span());
            let error = syn::Error::new(
                span,
                "`#[differentiate]` goes on a function, as in `#[differentiate] fn f(x: f64) -> f64 { ... }`",
            )
            .to_compile_error();
            return quote!(#error #item);
        }
    };
    let mut diag = diag::Diagnostics::default();
    let options = args::parse_options(attr).unwrap_or_else(|e| {
        diag.push(e);
        args::Options {
            wrt: None,
            krate: syn::parse_quote!(::autodiff),
            vjp: None,
            forward: false,
            trace: false,
        }
    });
    let sig = parse::parse_signature(&item_fn, &options, &mut diag);
    let krate = &options.krate;
    let rt = quote!(#krate::__private);
    // A custom derivative: the body is the user's business, the rule gives the reverse.
    if let Some(rule) = &options.vjp {
        let companions = if sig.is_complete() {
            codegen::custom(&item_fn, &sig, &options, rule)
        } else {
            TokenStream2::new()
        };
        let errors = diag.into_result().err().map(|e| e.to_compile_error());
        return quote! {
            #item_fn
            #errors
            #companions
        };
    }
    // An expression nested too deep for the passes' recursion is an error, not a crash.
    let too_deep = lower::too_deep(&item_fn.block);
    if let Some(span) = too_deep {
        diag.error(span, format!("this expression nests more than {} levels deep, more than `#[differentiate]` follows: bind parts of it to variables with `let` (a long sum `a + b + c + ...` nests one level per term)", lower::MAX_NESTING));
    }
    let graph = too_deep
        .is_none()
        .then(|| lower::lower(&item_fn, &sig, &rt, &mut diag));

    let companions = if !sig.is_complete() {
        TokenStream2::new()
    } else if diag.blocks_codegen() {
        codegen::fallback(&item_fn, &sig, &options)
    } else if let Some(graph) = graph {
        let activity = analyze::activity(&graph);
        match codegen::generate(&item_fn, &sig, &graph, &activity, &options) {
            Ok(tokens) => tokens,
            Err(e) => {
                diag.push(e);
                codegen::fallback(&item_fn, &sig, &options)
            }
        }
    } else {
        codegen::fallback(&item_fn, &sig, &options)
    };
    let errors = diag.into_result().err().map(|e| e.to_compile_error());
    // The function as it came (printing the parsed one again would cost as much as parsing
    // it); the companions move in: interpolating them would copy their tokens. Streams join as
    // streams (`extend([stream])`): `extend(stream)` would take it apart token by token, which
    // inside rustc is a round trip to the compiler for every token at its top level.
    let mut out = item;
    out.extend(errors);
    out.extend([companions]);
    out
}

#[cfg(test)]
mod tests {
    //! Unit tests of the pure passes: IR dumps of small bodies, and the expansion entry point on
    //! inputs that must give errors, not panics.

    use super::*;

    /// Lowers a function and prints its IR, or its errors.
    fn ir_of(item: TokenStream2) -> String {
        let item_fn: ItemFn = syn::parse2(item).expect("test input is a function");
        let options = args::parse_options(TokenStream2::new()).expect("no options");
        let mut diag = diag::Diagnostics::default();
        let sig = parse::parse_signature(&item_fn, &options, &mut diag);
        let graph = lower::lower(&item_fn, &sig, &quote!(::autodiff::__private), &mut diag);
        match diag.into_result() {
            Ok(()) => graph.to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn straight_line_lowers_to_one_node_per_operation() {
        let ir = ir_of(quote! {
            fn rosen(x: f64, y: f64) -> f64 {
                let a = 1.0 - x;
                let b = y - x * x;
                a * a + 100.0 * b * b
            }
        });
        assert_eq!(
            ir,
            "%0 = param x\n%1 = param y\n%2 = verbatim `1.0`\n%3 = sub(%2, %0) ; a\n\
             %4 = mul(%0, %0)\n%5 = sub(%1, %4) ; b\n%6 = mul(%3, %3)\n%7 = verbatim `100.0`\n\
             %8 = mul(%7, %5)\n%9 = mul(%8, %5)\n%10 = add(%6, %9)\nreturn %10"
        );
    }

    #[test]
    fn reassignment_and_shadowing_make_new_values() {
        let ir = ir_of(quote! {
            fn f(x: f64) -> f64 {
                let mut s = x.sin();
                s += x;
                let s = s * 2.0;
                { let s = s.exp(); s }
            }
        });
        assert_eq!(
            ir,
            "%0 = param x\n%1 = sin(%0) ; s\n%2 = add(%1, %0) ; s\n%3 = verbatim `2.0`\n\
             %4 = mul(%2, %3) ; s\n%5 = exp(%4) ; s\nreturn %5"
        );
    }

    #[test]
    fn inactive_expressions_are_kept_with_variables_renamed() {
        let ir = ir_of(quote! {
            fn f(x: f64, n: usize) -> f64 {
                let k = n as f64 + 1.0;
                println!("{k}");
                x.powi(n as i32) * k + x.floor()
            }
        });
        assert_eq!(
            ir,
            "%0 = param x\n%1 = param n\n%2 = verbatim `n as f64 + 1.0` ; k\n\
             keep `println ! (\"{k}\") ;`\n%3 = verbatim `n as i32`\n%4 = powi(%0, %3)\n\
             %5 = mul(%4, %2)\n%6 = verbatim `x . floor ()`\n%7 = add(%5, %6)\nreturn %7"
        );
    }

    #[test]
    fn unsupported_constructs_are_all_reported() {
        let ir = ir_of(quote! {
            fn f(x: f64) -> f64 {
                let a = (|v: f64| v)(x);
                let b = x.frobnicate();
                a + b
            }
        });
        assert!(ir.starts_with("error: calling this expression"), "{ir}");
        let all = {
            let item_fn: ItemFn = syn::parse2(quote! {
                fn f(x: f64) -> f64 { let a = (|v: f64| v)(x); let b = x.frobnicate(); a + b }
            })
            .expect("function");
            let options = args::parse_options(TokenStream2::new()).expect("no options");
            let mut diag = diag::Diagnostics::default();
            let sig = parse::parse_signature(&item_fn, &options, &mut diag);
            lower::lower(&item_fn, &sig, &quote!(::autodiff::__private), &mut diag);
            diag.into_result()
                .expect_err("two errors")
                .into_iter()
                .count()
        };
        assert_eq!(all, 2);
    }

    #[test]
    fn expansion_never_panics_on_odd_input() {
        let inputs = [
            quote!(
                struct S;
            ),
            quote!(
                fn f() {}
            ),
            quote!(
                fn f(x: f64) {}
            ),
            quote!(
                fn f(x: f64) -> f64 {}
            ),
            quote!(
                fn f(x: f64) -> f64 {
                    return;
                }
            ),
            quote!(
                fn f(self) -> f64 {
                    1.0
                }
            ),
            quote!(
                fn f((a, b): (f64, f64)) -> f64 {
                    a
                }
            ),
            quote!(
                fn f(x: f64) -> f64 {
                    let x;
                    x
                }
            ),
            quote!(
                fn f(x: f64) -> f64 {
                    let (a, b) = x;
                    a
                }
            ),
            quote!(
                fn f(x: f64) -> f64 {
                    x += 1.0;
                    x
                }
            ),
            quote!(
                fn f(x: f64) -> f64 {
                    y = x;
                    x
                }
            ),
            quote!(
                fn f(x: f64) -> f64 {
                    x.powi()
                }
            ),
            quote!(
                fn f(x: f64) -> f64 {
                    f64::sin()
                }
            ),
            quote!(
                fn f(x: f64) -> f64 {
                    x.clamp(1.0)
                }
            ),
            quote!(
                fn f(x: f64) -> f64 {
                    {}
                }
            ),
            quote!(
                fn f(x: f64) -> f64 {
                    loop {}
                }
            ),
            quote!(
                async unsafe fn f(x: f64) -> Vec<f64> {
                    x
                }
            ),
        ];
        for input in inputs {
            let out = expand(TokenStream2::new(), input.clone());
            assert!(!out.is_empty(), "no output for {input}");
        }
        for attr in [
            quote!(wrt),
            quote!(wrt()),
            quote!(wrt(z)),
            quote!(crate),
            quote!(foo = 1),
            quote!(wrt(x, x)),
        ] {
            let out = expand(
                attr.clone(),
                quote!(
                    fn f(x: f64, n: usize) -> f64 {
                        x
                    }
                ),
            );
            assert!(
                out.to_string().contains("compile_error"),
                "no error for {attr}"
            );
        }
    }
}

#[cfg(test)]
mod region_tests {
    //! IR dumps of branches and loops.

    use super::*;

    /// The expansion of `item` (a function `f`), from `f_vjp` up to `f_grad`.
    fn vjp_of(item: TokenStream2) -> String {
        let out = expand(TokenStream2::new(), item).to_string();
        let from = out.find("fn f_vjp (").expect("a vjp");
        let to = out.find("fn f_grad").expect("a grad");
        out[from..to].to_string()
    }

    fn ir_of(item: TokenStream2) -> String {
        let item_fn: ItemFn = syn::parse2(item).expect("test input is a function");
        let options = args::parse_options(TokenStream2::new()).expect("no options");
        let mut diag = diag::Diagnostics::default();
        let sig = parse::parse_signature(&item_fn, &options, &mut diag);
        let graph = lower::lower(&item_fn, &sig, &quote!(rt), &mut diag);
        match diag.into_result() {
            Ok(()) => graph.to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn a_branch_merges_the_variables_it_changes() {
        let ir = ir_of(quote! {
            fn f(x: f64) -> f64 {
                let mut y = x;
                if x > 0.0 { y = x.sin(); }
                y
            }
        });
        assert_eq!(
            ir,
            "%0 = param x\n%1 = verbatim `x > 0.0`\nif %1 {\n  %2 = sin(%0) ; y\n} else {\n} merge [%3 = (%2, %0)]\nreturn %3"
        );
    }

    #[test]
    fn a_loop_carries_what_its_body_changes() {
        let ir = ir_of(quote! {
            fn f(x: &[f64]) -> f64 {
                let mut s = 0.0;
                for i in 0..x.len() { s += x[i] * x[i]; }
                s
            }
        });
        assert_eq!(
            ir,
            "%0 = param x\n%1 = verbatim `0.0` ; s\n%2 = verbatim `:: core :: iter :: IntoIterator :: into_iter (0 .. x . len ())`\n\
             for `__i_4` in %2 carry [%3 = (%1, %7) -> %8] {\n  %5 = index(%0, [%4])\n  %6 = mul(%5, %5)\n  %7 = add(%3, %6) ; s\n}\nreturn %8"
        );
    }

    /// A scratch array filled at the top of each iteration is saved whole once per iteration;
    /// the reverse pass reads its reads after the fill from the iteration's snapshot, so the
    /// loops reading it keep no tape.
    #[test]
    fn scratch_arrays_are_saved_whole_once_per_iteration() {
        let item = quote! {
            fn f(x: &[f64], mu: &[f64], d: usize, m: usize, n: usize) -> f64 {
                let mut xc = vec![0.0; d];
                let mut t = vec![0.0; m];
                let mut total = 0.0;
                for p in 0..n {
                    for k in 0..m {
                        for j in 0..d {
                            xc[j] = x[p * d + j] - mu[k * d + j];
                        }
                        let mut s = 0.0;
                        for j in 0..d {
                            s += xc[j] * xc[j];
                        }
                        t[k] = s.sqrt();
                    }
                    let mut e = 0.0;
                    for k in 0..m {
                        e += t[k].exp();
                    }
                    total += e.ln();
                }
                total
            }
        };
        let out = expand(TokenStream2::new(), item).to_string();
        let vjp = &out[out.find("fn f_vjp").expect("a vjp")..];
        for wanted in [
            "__snap_xc_5 . save_slice (& __xc_5 [..])",
            "let __view_xc_5 = __snap_xc_5 . view_top (__xc_5 . len ())",
            "__snap_xc_5 . drop_top (__xc_5 . len ())",
            "__view_xc_5 [__j_24]",
            // The loop over `j` reading `xc` has no tape: it reads `xc` again.
            "for __j_24 in :: core :: iter :: Iterator :: rev",
        ] {
            assert!(vjp.contains(wanted), "no `{wanted}` in {vjp}");
        }
    }

    /// Adjacent loops over one range whose reverses keep no tape and commute run as one loop
    /// walking the range forwards; a loop reading a neighbour of what the loop before it wrote
    /// runs on its own, backwards.
    #[test]
    fn adjacent_reverse_loops_run_as_one() {
        let item = quote! {
            fn f(x: &[f64], w: &[f64]) -> f64 {
                let n = x.len();
                let mut a = vec![0.0; n];
                let mut b = vec![0.0; n];
                for j in 0..n {
                    a[j] = x[j] * w[j];
                }
                for j in 0..n {
                    b[j] = a[j] * x[j] + w[j];
                }
                let mut s = 0.0;
                for j in 0..n {
                    s += b[j] * x[j];
                }
                s
            }
        };
        let first = vjp_of(item);
        assert_eq!(first.matches("Iterator :: rev").count(), 0, "{first}");
        assert_eq!(
            first.matches("for __j_").count(),
            3,
            "three forward loops (the first two element-wise ones fused), one reverse: {first}"
        );
        assert!(first.contains("let __j_6 = __j_12 ;"), "{first}");

        let item = quote! {
            fn f(x: &[f64], w: &[f64]) -> f64 {
                let n = x.len();
                let mut a = vec![0.0; n];
                let mut b = vec![0.0; n];
                for j in 0..n - 1 {
                    a[j] = x[j] * w[j];
                }
                for j in 0..n - 1 {
                    b[j] = a[j + 1] * x[j];
                }
                let mut s = 0.0;
                for j in 0..n {
                    s += b[j] * x[j];
                }
                s
            }
        };
        let second = vjp_of(item);
        assert_eq!(
            second.matches("for __j_").count(),
            5,
            "three forward loops (`a[j + 1]` read after the loop writing `a`: not fused), two reverse: {second}"
        );
    }

    /// Element-wise forward loops over one range run as one loop; a loop reading another
    /// element of an array the loop before it writes, or printing, runs alone.
    #[test]
    fn adjacent_forward_loops_run_as_one() {
        // The forward loops walk a copy of their range, which the reverse walks again.
        let forward_loops = |item: TokenStream2| {
            vjp_of(item)
                .matches(" in :: core :: clone :: Clone :: clone (& __t")
                .count()
        };
        let fused = quote! {
            fn f(x: &[f64], w: &[f64]) -> f64 {
                let n = x.len();
                let mut a = vec![0.0; n];
                let mut b = vec![0.0; n];
                let mut c = vec![0.0; n];
                for j in 0..n {
                    a[j] = x[j] * w[j];
                }
                for j in 0..n {
                    b[j] = a[j].sin() + w[j];
                }
                for j in 0..n {
                    c[j] = b[n - 1 - j] * a[j];
                }
                c[0] + b[1]
            }
        };
        assert_eq!(forward_loops(fused), 2, "a and b fused, c alone");
        let printing = quote! {
            fn f(x: &[f64], w: &[f64]) -> f64 {
                let n = x.len();
                let mut a = vec![0.0; n];
                let mut b = vec![0.0; n];
                for j in 0..n {
                    a[j] = x[j] * w[j];
                    println!("{j}");
                }
                for j in 0..n {
                    b[j] = a[j].sin() + w[j];
                }
                b[0]
            }
        };
        assert_eq!(forward_loops(printing), 2, "a printing loop runs alone");
        // Inactive loops (no reverse): an element of `a` read at another index, kept as
        // written, reads any element.
        let inactive = quote! {
            fn f(x: &[f64], w: f64) -> f64 {
                let n = x.len();
                let mut a = vec![0.0; n];
                let mut b = vec![0.0; n];
                for i in 0..n {
                    a[i] = 0.5;
                }
                for i in 0..n {
                    b[i] = a[n - 1 - i];
                }
                b[0] * w
            }
        };
        let vjp = vjp_of(inactive);
        assert_eq!(vjp.matches("for __i_").count(), 2, "{vjp}");
    }

    /// A running maximum read by nothing else in its loop saves nothing: the forward loop
    /// records the iteration that won last (`won`), and the reverse runs that one iteration.
    /// Read again in the loop, it is saved and reversed as any carried value.
    #[test]
    fn a_running_maximum_reverses_the_iteration_that_won() {
        let vjp = vjp_of(quote! {
            fn f(x: &[f64]) -> f64 {
                let mut m = x[0];
                for i in 1..x.len() {
                    m = m.max(x[i] * x[i]);
                }
                m * 2.0
            }
        });
        assert!(vjp.contains("max_keeps_lhs"), "{vjp}");
        assert!(!vjp.contains("Tape"), "{vjp}");
        assert!(!vjp.contains("Iterator :: rev"), "{vjp}");
        assert!(
            vjp.contains("if let :: core :: option :: Option :: Some (__i_"),
            "{vjp}"
        );
        let vjp = vjp_of(quote! {
            fn f(x: &[f64]) -> f64 {
                let mut m = x[0];
                let mut s = 0.0;
                for i in 1..x.len() {
                    m = m.max(x[i] * x[i]);
                    s += m;
                }
                m * s
            }
        });
        assert!(!vjp.contains("max_keeps_lhs"), "{vjp}");
        assert!(vjp.contains("max_adjoint_lhs"), "{vjp}");
    }

    /// A range over an array's length, `0..x.len()`, is computed again by the reverse pass like
    /// `0..n`: the loop around it saves only its carried float, in slots.
    #[test]
    fn ranges_over_lengths_are_not_saved() {
        let item = quote! {
            fn f(x: &[f64], n: usize) -> f64 {
                let mut s = 0.0;
                for i in 0..n {
                    for j in 0..x.len() {
                        s = (s * 0.5 + x[j]).sin();
                    }
                    s = s * x[x.len() - 1] + i as f64;
                }
                s
            }
        };
        let out = expand(TokenStream2::new(), item).to_string();
        let vjp = &out[out.find("fn f_vjp").expect("a vjp")..];
        assert!(vjp.contains("* __slot = (__s_"), "{vjp}");
        assert!(!vjp.contains(". push ((__t"), "{vjp}");
    }

    #[test]
    fn break_sets_flags_and_guards_the_rest() {
        let ir = ir_of(quote! {
            fn f(x: f64) -> f64 {
                let mut y = x;
                loop {
                    y = y * 0.5;
                    if y < 1.0 { break; }
                    y = y + 0.1;
                }
                y
            }
        });
        assert!(ir.contains("} until %"), "{ir}");
        assert!(
            ir.contains("verbatim `! (__t"),
            "the rest runs under a guard: {ir}"
        );
    }
}
