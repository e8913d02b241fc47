//! Adjoint elements kept in a local for one iteration of a loop's reverse.
//!
//! Input: the bodies of one iteration of a fused reverse loop over `i` (GMM's row: the
//! triangular product's reverse, then the diagonal's, then `x − mu`'s), in which `d_xc` is
//! touched only at the loop variable:
//! ```text
//! { …; __d_xc_29[__i_55] = __d_t60; }
//! { let __j_46 = __i_55; …; rt::accumulate(&mut __d_xc_29[__j_46], __d_t49);
//!   rt::accumulate(&mut __d_qdiags_13[__t47], __d_t48); }
//! { let __j_39 = __i_55; let __d_t43 = __d_xc_29[__j_39]; … }
//! ```
//! Output: the element read once into a local, the bodies on the local, the element written
//! back once:
//! ```text
//! let mut __d_xc_29_at = __d_xc_29[__i_55];
//! { …; __d_xc_29_at = __d_t60; }
//! { let __j_46 = __i_55; …; rt::accumulate(&mut __d_xc_29_at, __d_t49); … }
//! { let __j_39 = __i_55; let __d_t43 = __d_xc_29_at; … }
//! __d_xc_29[__i_55] = __d_xc_29_at;
//! ```
//! The optimiser cannot tell `__d_xc_29`'s buffer from `__d_qdiags_13`'s, so between the
//! stores into the two it kept storing and loading the element again; in a local it stays in
//! a register (GMM's gradient 3–7% faster). The same operations on the same values in the same
//! order: the results are bit for bit the same.
//!
//! The rewrite is on tokens, and only where it is plainly right: every mention of the array in
//! the bodies is `array[v]` with `v` the loop variable or one of its aliases (the fused loops'
//! variables), an element not indexed or called further, and one of those mentions is in a
//! statement every iteration runs (not in a block, not after a condition or `&&`), so the read
//! at the iteration's start reads an element the iteration reads anyway.

use proc_macro2::{Delimiter, Group, Ident, Spacing, Span, TokenStream, TokenTree};
use quote::quote;

/// Keeps each element `array[index]` of `arrays` that the iteration's `bodies` touch only as
/// `array[v]`, `v` in `vars` (the loop variable `index` and its aliases), in a local for the
/// iteration: rewrites the bodies, and returns what goes before them (the read) and after
/// them (the write back, when a body writes the element).
pub(super) fn localize(
    bodies: &mut [TokenStream],
    arrays: &[Ident],
    vars: &[Ident],
    index: &Ident,
) -> (TokenStream, TokenStream) {
    let mut before = TokenStream::new();
    let mut after = TokenStream::new();
    for array in arrays {
        let mut uses = Uses::default();
        for body in bodies.iter() {
            let mut guarded = false;
            scan(
                body.clone(),
                array,
                vars,
                true,
                false,
                &mut guarded,
                &mut uses,
            );
        }
        if uses.other || uses.count < 2 || !uses.unconditional {
            continue;
        }
        let local = Ident::new(&format!("{array}_at"), Span::mixed_site());
        for body in bodies.iter_mut() {
            *body = replace(body.clone(), array, vars, &local);
        }
        if uses.written {
            before.extend([quote!(let mut #local = #array[#index];)]);
            after.extend([quote!(#array[#index] = #local;)]);
        } else {
            before.extend([quote!(let #local = #array[#index];)]);
        }
    }
    (before, after)
}

/// How the bodies mention one array.
#[derive(Default)]
struct Uses {
    /// Mentions `array[v]`.
    count: usize,
    /// One of them runs in every iteration.
    unconditional: bool,
    /// One of them writes the element (`= `, `+= `, `&mut`).
    written: bool,
    /// Some mention is not an element at a loop variable (the whole array, another index,
    /// an element indexed or called further).
    other: bool,
}

/// Words after which the rest of a statement may not run, or may run more than once.
const CONDITIONAL: [&str; 9] = [
    "if", "else", "match", "while", "for", "loop", "return", "break", "continue",
];

/// Records in `uses` the mentions of `array` in `tokens`: `top` when `tokens` are a body's own
/// statements, `braced` when inside a block; `guarded` when the current statement has passed
/// something after which it may not run on.
fn scan(
    tokens: TokenStream,
    array: &Ident,
    vars: &[Ident],
    top: bool,
    braced: bool,
    guarded: &mut bool,
    uses: &mut Uses,
) {
    let tts: Vec<TokenTree> = tokens.into_iter().collect();
    let mut k = 0;
    while k < tts.len() {
        match &tts[k] {
            TokenTree::Ident(id) if id == array => {
                let element = at_var(tts.get(k + 1), vars)
                    && !matches!(
                        tts.get(k + 2),
                        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket
                    )
                    && !matches!(tts.get(k + 2), Some(TokenTree::Punct(p)) if p.as_char() == '.');
                if !element {
                    uses.other = true;
                    k += 1;
                    continue;
                }
                uses.count += 1;
                uses.unconditional |= !braced && !*guarded;
                let by_mut = k > 0 && matches!(&tts[k - 1], TokenTree::Ident(m) if m == "mut");
                uses.written |= by_mut || assigns(&tts[k + 2..]);
                k += 2;
                continue;
            }
            TokenTree::Ident(id) if CONDITIONAL.contains(&id.to_string().as_str()) => {
                *guarded = true;
            }
            TokenTree::Punct(p) => match p.as_char() {
                ';' if top => *guarded = false,
                '?' | '|' => *guarded = true,
                '&' if p.spacing() == Spacing::Joint
                    && matches!(tts.get(k + 1), Some(TokenTree::Punct(q)) if q.as_char() == '&') =>
                {
                    *guarded = true;
                }
                _ => {}
            },
            TokenTree::Group(g) => {
                let block = g.delimiter() == Delimiter::Brace;
                scan(
                    g.stream(),
                    array,
                    vars,
                    false,
                    braced || block,
                    guarded,
                    uses,
                );
                if top && block {
                    // A block statement (`if … { … }`, `for … { … }`, `{ … }`) ends here.
                    *guarded = false;
                }
            }
            _ => {}
        }
        k += 1;
    }
}

/// Whether `next` is `[v]` with `v` one of `vars`.
fn at_var(next: Option<&TokenTree>, vars: &[Ident]) -> bool {
    let Some(TokenTree::Group(g)) = next else {
        return false;
    };
    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
    g.delimiter() == Delimiter::Bracket
        && matches!(inner.as_slice(), [TokenTree::Ident(v)] if vars.contains(v))
}

/// Whether `rest`, what follows an element, starts with an assignment to it (`=`, `+=`, …).
fn assigns(rest: &[TokenTree]) -> bool {
    match rest {
        [TokenTree::Punct(p), ..] if p.as_char() == '=' => p.spacing() == Spacing::Alone,
        [TokenTree::Punct(op), TokenTree::Punct(eq), ..] => {
            "+-*/%".contains(op.as_char()) && op.spacing() == Spacing::Joint && eq.as_char() == '='
        }
        _ => false,
    }
}

/// `tokens` with every `array[v]`, `v` in `vars`, replaced by `local`.
fn replace(tokens: TokenStream, array: &Ident, vars: &[Ident], local: &Ident) -> TokenStream {
    let tts: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(tts.len());
    let mut k = 0;
    while k < tts.len() {
        match &tts[k] {
            TokenTree::Ident(id) if id == array && at_var(tts.get(k + 1), vars) => {
                out.push(TokenTree::Ident(local.clone()));
                k += 2;
                continue;
            }
            TokenTree::Group(g) => {
                let mut inner = Group::new(g.delimiter(), replace(g.stream(), array, vars, local));
                inner.set_span(g.span());
                out.push(TokenTree::Group(inner));
            }
            tt => out.push(tt.clone()),
        }
        k += 1;
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(s: &str) -> Ident {
        Ident::new(s, Span::call_site())
    }

    fn run(bodies: &[TokenStream]) -> (String, String, String) {
        let mut bodies = bodies.to_vec();
        let (before, after) = localize(
            &mut bodies,
            &[ident("d_a")],
            &[ident("i"), ident("j")],
            &ident("i"),
        );
        let bodies: TokenStream = bodies.into_iter().collect();
        (before.to_string(), bodies.to_string(), after.to_string())
    }

    #[test]
    fn an_element_touched_at_the_loop_variable_lives_in_a_local() {
        let (before, bodies, after) = run(&[
            quote!(let t = g(); d_a[i] = t;),
            quote!(let j = i; rt::accumulate(&mut d_a[j], u); let w = d_a[j];),
        ]);
        assert_eq!(before, "let mut d_a_at = d_a [i] ;");
        assert_eq!(
            bodies,
            "let t = g () ; d_a_at = t ; let j = i ; rt :: accumulate (& mut d_a_at , u) ; let w = d_a_at ;"
        );
        assert_eq!(after, "d_a [i] = d_a_at ;");
        // Read only: no write back.
        let (before, _, after) = run(&[quote!(let p = d_a[i] * 2.0; let q = d_a[i];)]);
        assert_eq!(before, "let d_a_at = d_a [i] ;");
        assert!(after.is_empty());
    }

    #[test]
    fn other_mentions_leave_the_array_alone() {
        for bodies in [
            // Another index, the whole array, an element indexed or called further.
            vec![quote!(d_a[i] = t; d_a[k] += u;)],
            vec![quote!(d_a[i] = t; f(&mut d_a);)],
            vec![quote!(d_a[i][k] = t; d_a[i] = u;)],
            vec![quote!(d_a[i] = t; let n = d_a[i].len();)],
            // Once only: nothing to gain.
            vec![quote!(d_a[i] += t;)],
            // Only in a block or after a condition: the element may not be read at all.
            vec![quote!(if c {
                d_a[i] += t;
                d_a[i] += u;
            })],
            vec![quote!(let v = c && d_a[i] > 0.0; for k in r { d_a[i] += t; })],
        ] {
            let (before, bodies_after, after) = run(&bodies);
            let original: TokenStream = bodies.into_iter().collect();
            assert!(before.is_empty() && after.is_empty(), "{original}");
            assert_eq!(bodies_after, original.to_string());
        }
        // A block statement ends before the next statement, which every iteration runs.
        let (before, _, _) = run(&[quote!(if c { d_a[i] += t; } d_a[i] += u;)]);
        assert!(!before.is_empty());
    }
}
