//! Long blocks of generated code declare their variables in groups.
//!
//! Every `let` opens a scope that lasts to the end of its block, so a block of `n` lets nests
//! `n` scopes deep, and rustc gives each its own lexical block in the debug info. LLVM walks
//! those recursively: a debug build of a 1 000-statement function's gradient (ten thousand
//! nested lets in its `NAME_vjp`) overflowed rustc's stack, and below that the time grew with
//! the square of the length (20 000 lets of plain Rust: 17 s).
//!
//! So in a block with more than [`LONG`] lets, runs of up to [`GROUP`] of them are declared by
//! one `let` and assigned where they stood:
//!
//! ```text
//! let __t5 = x * y;              let (__t5, __t6, mut __s_7);
//! let __t6 = __t5.sin();   ->    __t5 = x * y;
//! let mut __s_7 = __t6;          __t6 = __t5.sin();
//!                                __s_7 = __t6;
//! ```
//!
//! One scope for the group, the same values, the same code after optimisation (deferred
//! initialisation is checked by rustc as the `let`s were). Short blocks, what a reader of
//! `cargo expand` usually sees, are left as they are.
//!
//! A `let` moves into a group only when moving its declaration up changes nothing: its pattern
//! is a name (`x` or `mut x`) with no type; its initialiser cannot be a temporary whose
//! lifetime the `let` extends (`let r = &f();`); no statement of the group before it mentions
//! the name (an outer variable of that name would be shadowed early), and none has a macro
//! call (whose tokens may name it invisibly). Anything else ends the group.

use proc_macro2::{Delimiter, Group, Ident, Punct, Spacing, TokenStream, TokenTree};

use crate::hash::HashSet;

/// A block with more lets than this at its top level is grouped.
const LONG: usize = 128;

/// The most variables one `let` declares.
const GROUP: usize = 64;

/// Keywords the generated code uses, which the search for a name's mentions skips.
const KEYWORDS: [&str; 16] = [
    "let", "mut", "as", "if", "else", "for", "in", "while", "loop", "match", "return", "break",
    "continue", "move", "true", "false",
];

/// `body` (the statements of a block) with its long blocks' lets grouped, its own and those of
/// the blocks nested in it.
pub fn grouped(body: TokenStream) -> TokenStream {
    grouped_past(body, LONG)
}

/// [`grouped`], for blocks with more than `long` lets.
fn grouped_past(body: TokenStream, long: usize) -> TokenStream {
    let (mut idents, mut calls_macro) = (Vec::new(), false);
    walk(&body, long, &mut idents, &mut calls_macro).unwrap_or(body)
}

/// A statement of a block (or a run of statements between two `let`s), with the identifiers
/// it mentions, in its groups too, and whether it calls a macro.
#[derive(Default)]
struct Statement {
    tokens: Vec<TokenTree>,
    /// For `let [mut] name = init;` (see [`simple_let`]): the name and whether it is `mut`.
    simple: Option<(Ident, bool)>,
    idents: Vec<String>,
    calls_macro: bool,
}

/// Walks `stream` once, token by token: adds the identifiers it mentions to `idents`, notes a
/// macro call in `calls_macro`, and returns it with its long blocks grouped (its own lets
/// too, when it is one), or `None` where nothing changed.
fn walk(
    stream: &TokenStream,
    long: usize,
    idents: &mut Vec<String>,
    calls_macro: &mut bool,
) -> Option<TokenStream> {
    let mut statements: Vec<Statement> = Vec::new();
    let mut current = Statement::default();
    let mut in_let = false;
    let mut changed = false;
    for t in stream.clone() {
        let t = match t {
            TokenTree::Group(g) => {
                let bang = matches!(current.tokens.last(), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                current.calls_macro |= bang;
                match walk(
                    &g.stream(),
                    long,
                    &mut current.idents,
                    &mut current.calls_macro,
                ) {
                    Some(inner) => {
                        changed = true;
                        let mut regrouped = Group::new(g.delimiter(), inner);
                        regrouped.set_span(g.span());
                        TokenTree::Group(regrouped)
                    }
                    None => TokenTree::Group(g),
                }
            }
            TokenTree::Ident(i) => {
                let text = i.to_string();
                let starts_let = text == "let"
                    && !in_let
                    && match current.tokens.last() {
                        None => true,
                        Some(TokenTree::Punct(p)) => p.as_char() == ';',
                        Some(TokenTree::Group(g)) => g.delimiter() == Delimiter::Brace,
                        Some(_) => false,
                    };
                if starts_let {
                    if !current.tokens.is_empty() {
                        statements.push(std::mem::take(&mut current));
                    }
                    in_let = true;
                }
                // A field or method name (`a.b`, `a.f()`) or a keyword names no variable; the
                // end of a range (`0..n`) does.
                let dot = |k: usize| {
                    current.tokens.len().checked_sub(k).is_some_and(|at| {
                        matches!(&current.tokens[at], TokenTree::Punct(p) if p.as_char() == '.')
                    })
                };
                let after_dot = dot(1) && !dot(2);
                if !after_dot && !KEYWORDS.contains(&text.as_str()) {
                    current.idents.push(text);
                }
                TokenTree::Ident(i)
            }
            other => other,
        };
        let ends = in_let && matches!(&t, TokenTree::Punct(p) if p.as_char() == ';');
        current.tokens.push(t);
        if ends {
            current.simple = simple_let(&current.tokens);
            statements.push(std::mem::take(&mut current));
            in_let = false;
        }
    }
    if !current.tokens.is_empty() {
        statements.push(current);
    }
    *calls_macro |= statements.iter().any(|s| s.calls_macro);
    let lets = statements.iter().filter(|s| s.simple.is_some()).count();
    if lets <= long {
        // Nothing here needs its statements' identifiers again: they move to the caller.
        for statement in &mut statements {
            idents.append(&mut statement.idents);
        }
        return changed.then(|| statements.into_iter().flat_map(|s| s.tokens).collect());
    }
    for statement in &statements {
        idents.extend(statement.idents.iter().cloned());
    }
    // Gathered as trees and made a stream once: inside rustc, each `extend` is a call to it.
    let mut out: Vec<TokenTree> = Vec::new();
    let mut group = Gathered::default();
    for statement in statements {
        if statement.calls_macro {
            group.flush(&mut out);
            out.extend(statement.tokens);
            continue;
        }
        match statement.simple {
            // `let x = x + 1;` reads an outer `x`: it stays a `let`.
            Some((name, mutable)) if !reads_itself(&name.to_string(), &statement.idents) => {
                let text = name.to_string();
                if group.mentioned.contains(&text) || group.names.len() == GROUP {
                    group.flush(&mut out);
                }
                group.names.push((name, mutable));
                group
                    .items
                    .push((statement.tokens, Some(if mutable { 2 } else { 1 })));
            }
            _ => group.items.push((statement.tokens, None)),
        }
        group.mentioned.extend(statement.idents);
    }
    group.flush(&mut out);
    Some(out.into_iter().collect())
}

/// Whether a `let`'s name is among the identifiers of its statement twice: once in the
/// pattern, once (or more) in the initialiser.
fn reads_itself(name: &str, idents: &[String]) -> bool {
    let mut seen = 0;
    for i in idents {
        if i == name {
            seen += 1;
            if seen == 2 {
                return true;
            }
        }
    }
    false
}

/// The group being gathered: the names it declares, its statements (for a grouped `let`, where
/// its assignment starts: after `let` or `let mut`), and the identifiers they mention.
#[derive(Default)]
struct Gathered {
    names: Vec<(Ident, bool)>,
    items: Vec<(Vec<TokenTree>, Option<usize>)>,
    mentioned: HashSet<String>,
}

impl Gathered {
    /// Writes the group: `let (a, mut b, ...);` and its statements, the grouped `let`s as
    /// assignments; a group of one as it came.
    fn flush(&mut self, out: &mut Vec<TokenTree>) {
        let names = std::mem::take(&mut self.names);
        let items = std::mem::take(&mut self.items);
        self.mentioned.clear();
        if names.len() < 2 {
            out.extend(items.into_iter().flat_map(|(statement, _)| statement));
            return;
        }
        // `let (a, mut b, ...);`, made tree by tree (inside rustc, every `quote!` is calls to it).
        let span = names[0].0.span();
        let mut declared = Vec::with_capacity(3 * names.len());
        for (name, mutable) in names {
            if mutable {
                declared.push(TokenTree::Ident(Ident::new("mut", span)));
            }
            declared.push(TokenTree::Ident(name));
            declared.push(TokenTree::Punct(Punct::new(',', Spacing::Alone)));
        }
        declared.pop(); // the last comma: a group has two names or more
        out.push(TokenTree::Ident(Ident::new("let", span)));
        out.push(TokenTree::Group(Group::new(
            Delimiter::Parenthesis,
            declared.into_iter().collect(),
        )));
        out.push(TokenTree::Punct(Punct::new(';', Spacing::Alone)));
        for (statement, assignment) in items {
            out.extend(statement.into_iter().skip(assignment.unwrap_or(0)));
        }
    }
}

/// `let name = init;` or `let mut name = init;`, with an initialiser whose temporaries the `let`
/// does not extend: the name and whether it is `mut`.
fn simple_let(statement: &[TokenTree]) -> Option<(Ident, bool)> {
    let (first, rest) = statement.split_first()?;
    if !matches!(first, TokenTree::Ident(i) if i == "let") {
        return None;
    }
    let (mutable, rest) = match rest.split_first()? {
        (TokenTree::Ident(i), rest) if i == "mut" => (true, rest),
        _ => (false, rest),
    };
    let (TokenTree::Ident(name), rest) = rest.split_first()? else {
        return None;
    };
    if name == "_" {
        return None;
    }
    let (TokenTree::Punct(eq), init) = rest.split_first()? else {
        return None;
    };
    // `=`, not `==` or `=>` (which would not parse anyway).
    if eq.as_char() != '=' || eq.spacing() == Spacing::Joint {
        return None;
    }
    let (TokenTree::Punct(semi), init) = init.split_last()? else {
        return None;
    };
    if semi.as_char() != ';' || init.is_empty() || may_extend(init) {
        return None;
    }
    Some((name.clone(), mutable))
}

/// Whether an initialiser may hold a temporary the `let` keeps alive (`&f()`, `(&a, &g())`,
/// `S { r: &h() }`, a block ending in one): any `&` outside a call's arguments. Cautious: `a & b`
/// counts too.
fn may_extend(init: &[TokenTree]) -> bool {
    let mut previous: Option<&TokenTree> = None;
    for t in init {
        match t {
            TokenTree::Punct(p) if p.as_char() == '&' => return true,
            TokenTree::Group(g) => {
                let call = g.delimiter() == Delimiter::Parenthesis
                    && (matches!(previous, Some(TokenTree::Ident(_)))
                        || matches!(previous, Some(TokenTree::Punct(p)) if p.as_char() == '>'));
                let stream: Vec<TokenTree> = g.stream().into_iter().collect();
                if !call && may_extend(&stream) {
                    return true;
                }
            }
            _ => {}
        }
        previous = Some(t);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// `body` grouped as if every block were long.
    fn all_grouped(body: TokenStream) -> String {
        grouped_past(body, 0).to_string()
    }

    #[test]
    fn short_blocks_are_left_alone() {
        let body = quote!(let a = x * y; let b = a.sin(); (b, a));
        assert_eq!(grouped(body.clone()).to_string(), body.to_string());
    }

    #[test]
    fn long_blocks_declare_their_lets_in_groups() {
        let got = all_grouped(quote!(
            let a = x * y;
            let mut b = a.sin();
            b += 1.0;
            let c = if b > 0.0 { b } else { -b };
            (c, a)
        ));
        let want = quote!(
            let (a, mut b, c);
            a = x * y;
            b = a.sin();
            b += 1.0;
            c = if b > 0.0 { b } else { -b };
            (c, a)
        );
        assert_eq!(got, want.to_string());
    }

    #[test]
    fn lets_whose_meaning_would_change_stay() {
        // A temporary the `let` keeps alive, a read of the shadowed name, a type, a pattern.
        let kept = quote!(
            let r = &f();
            let s = (1.0, &g());
            let x = x + 1.0;
            let v: f64 = 1.0;
            let (p, q) = t;
            let _ = h();
        );
        assert_eq!(all_grouped(kept.clone()), kept.to_string());
        // `&` in a call's arguments is fine.
        assert_eq!(
            all_grouped(quote!(let a = f(&x); let b = a.g(&y);)),
            quote!(let (a, b); a = f(&x); b = a.g(&y);).to_string()
        );
    }

    #[test]
    fn a_name_read_before_its_let_ends_the_group() {
        // `b` reads the outer `s`: declaring the inner one first would shadow it early.
        let got = all_grouped(quote!(let a = 1.0; let b = s; let s = 2.0; let t = s;));
        let want = quote!(let (a, b); a = 1.0; b = s; let (s, t); s = 2.0; t = s;);
        assert_eq!(got, want.to_string());
        // Names declared twice: the second starts a new group.
        let got = all_grouped(quote!(let n = f(); g(n); let n = h(); k(n);));
        let want = quote!(let n = f(); g(n); let n = h(); k(n););
        assert_eq!(got, want.to_string());
    }

    #[test]
    fn the_end_of_a_range_is_a_mention() {
        // `n` in `0..n` is the outer `n`; `v.n` is a field.
        let got = all_grouped(quote!(let a = v.n; let r = 0..n; let n = 2;));
        let want = quote!(let (a, r); a = v.n; r = 0..n; let n = 2;);
        assert_eq!(got, want.to_string());
    }

    #[test]
    fn a_macro_call_ends_the_group() {
        let got =
            all_grouped(quote!(let a = 1.0; let b = 2.0; println!("{a}"); let c = a; let d = b;));
        let want = quote!(let (a, b); a = 1.0; b = 2.0; println!("{a}"); let (c, d); c = a; d = b;);
        assert_eq!(got, want.to_string());
    }

    #[test]
    fn nested_blocks_and_group_size() {
        let got = all_grouped(quote!(for i in r {
            let a = i;
            let b = a;
            s += b;
        }));
        let want = quote!(for i in r {
            let (a, b);
            a = i;
            b = a;
            s += b;
        });
        assert_eq!(got, want.to_string());
        let names: Vec<Ident> = (0..GROUP + 1)
            .map(|i| quote::format_ident!("v{i}"))
            .collect();
        let body = quote!(#(let #names = 1.0;)*);
        let got = grouped_past(body, 0).to_string();
        assert_eq!(got.matches("let (").count(), 1, "{got}");
        assert!(got.ends_with(&format!("let v{GROUP} = 1.0 ;")), "{got}");
    }
}
