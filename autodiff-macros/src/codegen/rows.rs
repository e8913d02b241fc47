//! Rows of arrays cut once before a loop over a range, for the loop to index with its variable.
//!
//! Input: a loop over the range `__t38` with variable `__j_39`, whose body reads elements at the
//! variable plus an offset the same in every iteration (GMM's `x − mu`):
//! ```text
//! for __j_39 in ::core::clone::Clone::clone(&__t38) {
//!     let __t40 = ::core::clone::Clone::clone(&x[__ix_35 * d + __j_39]);
//!     let __t41 = __ik_37 * d + __j_39;
//!     let __t42 = means[__t41];
//!     __xcentered_29[__j_39] = __t40 - __t42;
//! }
//! ```
//! Output: each such array's row cut before the loop, and the body indexing the rows with the
//! variable:
//! ```text
//! let __x_row39 = rt::row(&x[..], &__t38, || __ix_35 * d);
//! let __means_row39 = rt::row(&means[..], &__t38, || __ik_37 * d);
//! let __xcentered_29_row39 = rt::row_mut(&mut __xcentered_29[..], &__t38, || 0);
//! for __j_39 in ::core::clone::Clone::clone(&__t38) {
//!     let __t40 = ::core::clone::Clone::clone(&__x_row39[__j_39]);
//!     let __t41 = __ik_37 * d + __j_39;
//!     let __t42 = __means_row39[__j_39];
//!     __xcentered_29_row39[__j_39] = __t40 - __t42;
//! }
//! ```
//! A row's length is the range's end, which the loop's own bound tells the optimiser: the bounds
//! checks and the per-array trip-count arithmetic of the vectorised loop go (GMM's gradient
//! 6–8% faster). The same elements read and written in the same order: the results are bit for
//! bit the same. See `autodiff_runtime::rows` for the row itself.
//!
//! The rewrite is on tokens, and only where it is plainly right:
//! - the arrays are slices, `Vec`s or fixed arrays (the caller names them);
//! - the index is `b + v`, `v + b` or `v` (`v` the loop variable, or a name bound to it), or a
//!   name the body binds once to one of those; `b` is integer arithmetic (`* / % + -`, `as`,
//!   parentheses) of names the body neither binds nor assigns nor lends `&mut`, and of literals;
//! - an array the body writes (`a[..] = `, `+= `, `&mut a[..]`) is indexed only that way, at one
//!   `b` (its row is the only way the loop reaches it); one it only reads keeps its other reads;
//! - one element of each row is read or written in a statement every iteration runs, so that the
//!   loop reaches the row's last element: a row out of bounds panics where the loop would;
//! - the body never leaves the loop early (`break`, `continue`, `return`, `?` outside loops of
//!   its own) and has no `match` (whose arms bind names this scan does not follow).

use crate::hash::{HashMap, HashSet};

use proc_macro2::{Delimiter, Group, Ident, Spacing, Span, TokenStream, TokenTree};
use quote::quote;

/// Cuts the rows the loop over `range` with variable `var` indexes (see the module docs), among
/// `arrays`. Returns the statements that cut them, to go right before the loop, and the body
/// indexing them; or nothing to cut and the body as it was.
pub(super) fn cut_rows(
    body: TokenStream,
    var: &Ident,
    range: &Ident,
    arrays: &[Ident],
    rt: &TokenStream,
) -> (TokenStream, TokenStream) {
    let mut facts = Facts::default();
    facts.scan(&body, false, 0);
    let var_name = var.to_string();
    if facts.leaves || facts.bound.contains_key(&var_name) || facts.assigned.contains(&var_name) {
        return (TokenStream::new(), body);
    }
    let arrays: Vec<&Ident> = arrays
        .iter()
        .filter(|a| !facts.bound.contains_key(&a.to_string()))
        .collect();
    let names: Vec<String> = arrays.iter().map(ToString::to_string).collect();
    if names.is_empty() {
        return (TokenStream::new(), body);
    }
    let mut walk = Walk {
        facts: &facts,
        var: &var_name,
        arrays: &names,
        scopes: vec![Vec::new()],
        mentions: Vec::new(),
        rewrites: None,
        next: 0,
    };
    walk.walk(body.clone(), false, false);
    let mentions = std::mem::take(&mut walk.mentions);
    let suffix = var_name.rsplit('_').next().unwrap_or_default().to_string();
    let mut prelude = TokenStream::new();
    let mut rewrites: Vec<Option<Ident>> = vec![None; mentions.len()];
    for (a, array) in names.iter().enumerate() {
        let mine: Vec<usize> = (0..mentions.len())
            .filter(|m| mentions[*m].array == a)
            .collect();
        if mine.iter().any(|m| mentions[*m].class == Class::Unknown) {
            continue;
        }
        let written = mine.iter().any(|m| mentions[*m].class == Class::Write);
        // The rows, by offset: each offset's mentions.
        let mut rows: Vec<(String, Option<TokenStream>, Vec<usize>)> = Vec::new();
        for &m in &mine {
            let Some(base) = &mentions[m].base else {
                continue;
            };
            let key = base.as_ref().map(ToString::to_string).unwrap_or_default();
            match rows.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, _, ms)) => ms.push(m),
                None => rows.push((key, base.clone(), vec![m])),
            }
        }
        if written && (rows.len() != 1 || rows[0].2.len() != mine.len()) {
            continue;
        }
        let array_ident = arrays[a];
        let mut n = 0;
        for (_, base, ms) in rows {
            if !ms.iter().any(|m| mentions[*m].every_iteration) {
                continue;
            }
            let name = if n == 0 {
                format!("{array}_row{suffix}")
            } else {
                format!("{array}_row{suffix}_{n}")
            };
            n += 1;
            let row = Ident::new(&name, Span::mixed_site());
            let base = base.unwrap_or_else(|| quote!(0));
            prelude.extend([if written {
                quote!(let #row = #rt::row_mut(&mut #array_ident[..], &#range, || #base);)
            } else {
                quote!(let #row = #rt::row(&#array_ident[..], &#range, || #base);)
            }]);
            for m in ms {
                rewrites[m] = Some(row.clone());
            }
        }
    }
    if prelude.is_empty() {
        return (prelude, body);
    }
    let mut walk = Walk {
        facts: &facts,
        var: &var_name,
        arrays: &names,
        scopes: vec![Vec::new()],
        mentions: Vec::new(),
        rewrites: Some((&rewrites, var)),
        next: 0,
    };
    let body = walk.walk(body, false, false);
    (prelude, body)
}

/// What the whole body does to names: which it binds (and how often), which it may change, and
/// whether it may leave the loop early.
#[derive(Default)]
struct Facts {
    bound: HashMap<String, usize>,
    assigned: HashSet<String>,
    leaves: bool,
}

impl Facts {
    /// `loops`: how many loops of the body's own `tokens` are in (a `break` there leaves them,
    /// not the loop cut for).
    fn scan(&mut self, tokens: &TokenStream, in_macro: bool, loops: usize) {
        let tts: Vec<TokenTree> = tokens.clone().into_iter().collect();
        let mut loop_header = false;
        let mut k = 0;
        while k < tts.len() {
            match &tts[k] {
                TokenTree::Ident(id) => {
                    let word = id.to_string();
                    match word.as_str() {
                        "let" => {
                            // The pattern: bound, not assigned.
                            let pattern = tts[k + 1..]
                                .iter()
                                .position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == '=' || p.as_char() == ';'))
                                .map_or(tts.len(), |e| k + 1 + e);
                            self.bind_until(&tts[k + 1..pattern], &[], None);
                            k = pattern;
                            continue;
                        }
                        "for" => {
                            loop_header = true;
                            self.bind_until(&tts[k + 1..], &[], Some("in"));
                        }
                        "while" | "loop" => loop_header = true,
                        "return" => self.leaves = true,
                        "break" | "continue" => {
                            let labelled = matches!(tts.get(k + 1), Some(TokenTree::Punct(p)) if p.as_char() == '\'');
                            if loops == 0 || labelled {
                                self.leaves = true;
                            }
                        }
                        _ => {
                            if in_macro
                                || assigns(&tts[k + 1..])
                                || (k >= 2
                                    && matches!(&tts[k - 1], TokenTree::Ident(m) if m == "mut")
                                    && matches!(&tts[k - 2], TokenTree::Punct(p) if p.as_char() == '&'))
                            {
                                self.assigned.insert(word);
                            }
                        }
                    }
                }
                TokenTree::Punct(p) => match p.as_char() {
                    '?' => self.leaves = true,
                    // A `match` arm binds names this scan does not follow.
                    '=' if p.spacing() == Spacing::Joint
                        && matches!(tts.get(k + 1), Some(TokenTree::Punct(q)) if q.as_char() == '>') =>
                    {
                        self.leaves = true;
                    }
                    '|' if closure_start(&tts, k) => {
                        let end = tts[k + 1..]
                            .iter()
                            .position(|t| matches!(t, TokenTree::Punct(q) if q.as_char() == '|'))
                            .map_or(tts.len(), |e| k + 1 + e);
                        self.bind_until(&tts[k + 1..end], &[], None);
                        k = end;
                    }
                    _ => {}
                },
                TokenTree::Group(g) => {
                    let macro_call =
                        k > 0 && matches!(&tts[k - 1], TokenTree::Punct(p) if p.as_char() == '!');
                    let body_of_loop = loop_header && g.delimiter() == Delimiter::Brace;
                    if body_of_loop {
                        loop_header = false;
                    }
                    self.scan(
                        &g.stream(),
                        in_macro || macro_call,
                        loops + usize::from(body_of_loop),
                    );
                }
                TokenTree::Literal(_) => {}
            }
            k += 1;
        }
    }

    /// Records every name in `tts` up to the first punctuation in `stops` or the word `stop`
    /// (all of them if neither comes) as bound.
    fn bind_until(&mut self, tts: &[TokenTree], stops: &[char], stop: Option<&str>) {
        for t in tts {
            match t {
                TokenTree::Punct(p) if stops.contains(&p.as_char()) => return,
                TokenTree::Ident(id) if stop.is_some_and(|s| id == s) => return,
                TokenTree::Ident(id) => *self.bound.entry(id.to_string()).or_default() += 1,
                TokenTree::Group(g) => {
                    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                    self.bind_until(&inner, &[], None);
                }
                _ => {}
            }
        }
    }
}

/// Whether the `|` at `k` opens a closure's parameters (rather than being `a | b`).
fn closure_start(tts: &[TokenTree], k: usize) -> bool {
    match k.checked_sub(1).map(|p| &tts[p]) {
        None => true,
        Some(TokenTree::Punct(p)) => p.as_char() != '|' || p.spacing() == Spacing::Alone,
        Some(TokenTree::Ident(id)) => id == "move" || id == "return",
        _ => false,
    }
}

/// Whether `rest`, what follows a place, starts with an assignment to it (`=`, `+=`, `<<=`, …).
fn assigns(rest: &[TokenTree]) -> bool {
    let punct = |k: usize| match rest.get(k) {
        Some(TokenTree::Punct(p)) => Some((p.as_char(), p.spacing())),
        _ => None,
    };
    match (punct(0), punct(1), punct(2)) {
        (Some(('=', Spacing::Alone)), _, _) => true,
        (Some((op, Spacing::Joint)), Some(('=', _)), _) => "+-*/%^&|".contains(op),
        (Some((a, Spacing::Joint)), Some((b, Spacing::Joint)), Some(('=', _))) => {
            (a == '<' && b == '<') || (a == '>' && b == '>')
        }
        _ => false,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Reads the element or the whole array (`a[k]`, `&a[..]`, `a.len()`).
    Read,
    /// Writes it (`a[k] = `, `a[k] += `, `&mut a[k]`, `a = `).
    Write,
    /// Anything else (a method on an element, the array moved, in a macro's tokens).
    Unknown,
}

/// One mention of an array in the body.
struct Mention {
    array: usize,
    class: Class,
    /// `Some(offset)` when it is an element at the loop variable plus `offset` (`None`: plus 0).
    base: Option<Option<TokenStream>>,
    /// In a statement every iteration runs.
    every_iteration: bool,
}

/// One walk through the body: finds the mentions, or (with `rewrites`) rewrites them.
struct Walk<'a> {
    facts: &'a Facts,
    var: &'a str,
    arrays: &'a [String],
    /// The names bound by `let name = …;` in the blocks around, innermost last.
    scopes: Vec<Vec<(String, Vec<TokenTree>)>>,
    mentions: Vec<Mention>,
    /// Per mention, the row it indexes instead, and the loop variable it indexes it with.
    rewrites: Option<(&'a [Option<Ident>], &'a Ident)>,
    next: usize,
}

impl Walk<'_> {
    /// Walks `tokens`, a group's contents: `conditional` when they may not run in an
    /// iteration, `in_macro` inside a macro's tokens. Returns them rewritten.
    fn walk(&mut self, tokens: TokenStream, conditional: bool, in_macro: bool) -> TokenStream {
        let tts: Vec<TokenTree> = tokens.into_iter().collect();
        let mut out: Vec<TokenTree> = Vec::with_capacity(tts.len());
        // The rest of the statement may not run (after `&&`, `||`, a closure, `else`, ...).
        let mut guarded = false;
        let mut k = 0;
        while k < tts.len() {
            match &tts[k] {
                TokenTree::Ident(id) if id == "let" => {
                    if let Some(binding) = single_binding(&tts[k + 1..]) {
                        if self.facts.bound.get(&binding.0) == Some(&1) {
                            if let Some(scope) = self.scopes.last_mut() {
                                scope.push(binding);
                            }
                        }
                    }
                }
                TokenTree::Ident(id)
                    if matches!(
                        id.to_string().as_str(),
                        "if" | "else" | "while" | "for" | "loop" | "match"
                    ) =>
                {
                    guarded = true;
                }
                TokenTree::Ident(id) => {
                    let name = id.to_string();
                    let after_path = k > 0
                        && matches!(&tts[k - 1], TokenTree::Punct(p) if p.as_char() == '.' || p.as_char() == ':');
                    if let Some(a) = self.arrays.iter().position(|x| *x == name) {
                        if !after_path {
                            let consumed = self.mention(
                                &tts,
                                k,
                                a,
                                conditional || guarded,
                                in_macro,
                                &mut out,
                            );
                            k += consumed;
                            continue;
                        }
                    }
                }
                TokenTree::Punct(p) => match p.as_char() {
                    ';' => guarded = false,
                    '|' | '?' => guarded = true,
                    '&' if p.spacing() == Spacing::Joint
                        && matches!(tts.get(k + 1), Some(TokenTree::Punct(q)) if q.as_char() == '&') =>
                    {
                        guarded = true;
                    }
                    _ => {}
                },
                TokenTree::Group(g) => {
                    let block = g.delimiter() == Delimiter::Brace;
                    // A block statement of its own (`{ … }` after a `;` or another block, or as
                    // a value: `= { … }`) runs when the statement does; any other block (an
                    // `if`'s, a loop's, an `else`'s) may not.
                    let plain = match k.checked_sub(1).map(|p| &tts[p]) {
                        None => true,
                        Some(TokenTree::Punct(p)) => matches!(p.as_char(), ';' | '='),
                        Some(TokenTree::Group(prev)) => prev.delimiter() == Delimiter::Brace,
                        _ => false,
                    };
                    let macro_call =
                        k > 0 && matches!(&tts[k - 1], TokenTree::Punct(p) if p.as_char() == '!');
                    if block {
                        self.scopes.push(Vec::new());
                    }
                    let inner = self.walk(
                        g.stream(),
                        conditional || guarded || (block && !plain),
                        in_macro || macro_call,
                    );
                    if block {
                        self.scopes.pop();
                    }
                    let mut group = Group::new(g.delimiter(), inner);
                    group.set_span(g.span());
                    out.push(TokenTree::Group(group));
                    k += 1;
                    continue;
                }
                TokenTree::Literal(_) => {}
            }
            out.push(tts[k].clone());
            k += 1;
        }
        out.into_iter().collect()
    }

    /// The mention of array `a` at `tts[k]`: records it (or rewrites it into `out`). Returns
    /// how many tokens it took.
    fn mention(
        &mut self,
        tts: &[TokenTree],
        k: usize,
        a: usize,
        conditional: bool,
        in_macro: bool,
        out: &mut Vec<TokenTree>,
    ) -> usize {
        let index = match tts.get(k + 1) {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket => Some(g.clone()),
            _ => None,
        };
        let mut end = k + 1;
        while matches!(tts.get(end), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket)
        {
            end += 1;
        }
        let by_mut = k > 0 && matches!(&tts[k - 1], TokenTree::Ident(m) if m == "mut");
        let dot = matches!(tts.get(end), Some(TokenTree::Punct(p)) if p.as_char() == '.');
        let class = if in_macro {
            Class::Unknown
        } else if by_mut || assigns(&tts[end..]) {
            Class::Write
        } else if index.is_some() {
            if dot {
                Class::Unknown
            } else {
                Class::Read
            }
        } else if dot {
            let read_only = matches!(
                (tts.get(end + 1), tts.get(end + 2)),
                (Some(TokenTree::Ident(m)), Some(TokenTree::Group(_)))
                    if ["len", "is_empty", "iter", "get", "first", "last", "to_vec"]
                        .contains(&m.to_string().as_str())
            );
            if read_only {
                Class::Read
            } else {
                Class::Unknown
            }
        } else if k > 0 && matches!(&tts[k - 1], TokenTree::Punct(p) if p.as_char() == '&') {
            Class::Read
        } else {
            Class::Unknown
        };
        let base = index.as_ref().and_then(|g| {
            let inner: Vec<TokenTree> = g.stream().into_iter().collect();
            self.resolve(&inner, 0)
        });
        let n = self.next;
        self.next += 1;
        match self.rewrites {
            None => {
                self.mentions.push(Mention {
                    array: a,
                    class,
                    base,
                    every_iteration: !conditional,
                });
                out.extend(tts[k..end].iter().cloned());
            }
            Some((rewrites, var)) => {
                match (&rewrites[n], &index) {
                    (Some(row), Some(g)) => {
                        // `row[v]` for `array[b + v]`; any further indices stay.
                        out.push(TokenTree::Ident(row.clone()));
                        let mut group = Group::new(Delimiter::Bracket, quote!(#var));
                        group.set_span(g.span());
                        out.push(TokenTree::Group(group));
                        out.extend(tts[k + 2..end].iter().cloned());
                    }
                    _ => out.extend(tts[k..end].iter().cloned()),
                }
            }
        }
        end - k
    }

    /// The offset of `index` from the loop variable: `Some(None)` for the variable itself,
    /// `Some(Some(b))` for `b + v` or `v + b`, `None` for anything else.
    fn resolve(&self, index: &[TokenTree], depth: usize) -> Option<Option<TokenStream>> {
        if depth > 8 {
            return None;
        }
        match index {
            [TokenTree::Group(g)] if g.delimiter() == Delimiter::Parenthesis => {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                return self.resolve(&inner, depth + 1);
            }
            [TokenTree::Ident(id)] => {
                let name = id.to_string();
                if name == self.var {
                    return Some(None);
                }
                if self.facts.assigned.contains(&name) {
                    return None;
                }
                let bound = self
                    .scopes
                    .iter()
                    .rev()
                    .flat_map(|s| s.iter().rev())
                    .find(|(n, _)| *n == name)?;
                return self.resolve(&bound.1, depth + 1);
            }
            _ => {}
        }
        let pluses: Vec<usize> = index
            .iter()
            .enumerate()
            .filter(|(_, t)| matches!(t, TokenTree::Punct(p) if p.as_char() == '+' && p.spacing() == Spacing::Alone))
            .map(|(i, _)| i)
            .collect();
        let is_var = |tts: &[TokenTree]| matches!(self.resolve(tts, depth + 1), Some(None));
        if let Some(&last) = pluses.last() {
            if is_var(&index[last + 1..]) && self.offset(&index[..last]) {
                return Some(Some(index[..last].iter().cloned().collect()));
            }
        }
        if let Some(&first) = pluses.first() {
            let rest = &index[first + 1..];
            let additive = rest.iter().any(
                |t| matches!(t, TokenTree::Punct(p) if p.as_char() == '+' || p.as_char() == '-'),
            );
            if is_var(&index[..first]) && !additive && self.offset(rest) {
                return Some(Some(rest.iter().cloned().collect()));
            }
        }
        None
    }

    /// Whether `tts` is an offset the same in every iteration: integer arithmetic of names the
    /// body neither binds nor changes, and of literals.
    fn offset(&self, tts: &[TokenTree]) -> bool {
        let operator = |t: Option<&TokenTree>| matches!(t, Some(TokenTree::Punct(p)) if "*/%+-".contains(p.as_char()) && p.spacing() == Spacing::Alone);
        let word =
            |t: Option<&TokenTree>, w: &str| matches!(t, Some(TokenTree::Ident(id)) if id == w);
        if tts.is_empty() || operator(tts.first()) || operator(tts.last()) {
            return false;
        }
        tts.iter().enumerate().all(|(i, t)| {
            let next = tts.get(i + 1);
            // An operand is followed by an operator, `as`, or nothing.
            let operand_end = next.is_none() || operator(next) || word(next, "as");
            match t {
                TokenTree::Ident(id) if id == "as" => matches!(next, Some(TokenTree::Ident(_))),
                // The type of an `as`.
                TokenTree::Ident(_) if i > 0 && word(tts.get(i - 1), "as") => operand_end,
                TokenTree::Ident(id) => {
                    let name = id.to_string();
                    operand_end
                        && name != self.var
                        && !self.facts.bound.contains_key(&name)
                        && !self.facts.assigned.contains(&name)
                        && !is_keyword(&name)
                }
                TokenTree::Literal(_) => operand_end,
                TokenTree::Punct(_) => operator(Some(t)) && !operator(next),
                TokenTree::Group(g) => {
                    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                    g.delimiter() == Delimiter::Parenthesis && operand_end && self.offset(&inner)
                }
            }
        })
    }
}

/// `let name = init;` (a single name, not `mut`, no type): the name and `init`.
fn single_binding(rest: &[TokenTree]) -> Option<(String, Vec<TokenTree>)> {
    let [TokenTree::Ident(name), TokenTree::Punct(eq), init @ ..] = rest else {
        return None;
    };
    if name == "mut" || eq.as_char() != '=' || eq.spacing() != Spacing::Alone {
        return None;
    }
    let end = init
        .iter()
        .position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ';'))?;
    Some((name.to_string(), init[..end].to_vec()))
}

fn is_keyword(name: &str) -> bool {
    matches!(
        name,
        "self" | "Self" | "crate" | "super" | "true" | "false" | "if" | "else" | "match" | "let"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(s: &str) -> Ident {
        Ident::new(s, Span::call_site())
    }

    /// The rows cut for a loop over `r` with variable `j`, among the arrays `a`, `x`, `y`.
    fn cut(body: TokenStream) -> (String, String) {
        let (rows, body) = cut_rows(
            body,
            &ident("j"),
            &ident("r"),
            &[ident("a"), ident("x"), ident("y")],
            &quote!(rt),
        );
        (rows.to_string(), body.to_string())
    }

    #[test]
    fn offsets_the_same_in_every_iteration_give_rows() {
        let (rows, body) = cut(quote! {
            let t = i * d + j;
            let v = a[t] * x[j + (i + 1) * d];
            y[j] = v;
            let k = j;
            y[k] += a[t] + x[j + (i + 1) * d];
        });
        assert_eq!(
            rows,
            "let a_rowj = rt :: row (& a [..] , & r , || i * d) ; \
             let x_rowj = rt :: row (& x [..] , & r , || (i + 1) * d) ; \
             let y_rowj = rt :: row_mut (& mut y [..] , & r , || 0) ;"
        );
        assert_eq!(
            body,
            "let t = i * d + j ; let v = a_rowj [j] * x_rowj [j] ; y_rowj [j] = v ; \
             let k = j ; y_rowj [j] += a_rowj [j] + x_rowj [j] ;"
        );
    }

    #[test]
    fn read_only_arrays_keep_their_other_reads() {
        // `x` at two offsets and at a counter: two rows, the counter's read as it was.
        let (rows, body) = cut(quote! {
            s += x[j] * x[n + j] + x[l];
            l += 1;
        });
        assert_eq!(
            rows,
            "let x_rowj = rt :: row (& x [..] , & r , || 0) ; \
             let x_rowj_1 = rt :: row (& x [..] , & r , || n) ;"
        );
        assert_eq!(body, "s += x_rowj [j] * x_rowj_1 [j] + x [l] ; l += 1 ;");
    }

    #[test]
    fn no_row_where_it_might_not_be_right() {
        for body in [
            // The offset changes in the loop, or is bound in it, or lent `&mut`.
            quote!(s += x[n + j]; n += 1;),
            quote!(let n = f(j); s += x[n + j];),
            quote!(g(&mut n); s += x[n + j];),
            // Not an offset: a call, a method, a product with the variable, a subtraction.
            quote!(s += x[f(n) + j];),
            quote!(s += x[v.len() + j];),
            quote!(s += x[2 * j];),
            quote!(s += x[n - j];),
            // Read only in an iteration that may not come: the last element may be out of
            // bounds.
            quote!(if j + 1 < n {
                s += x[j + 1];
            }),
            quote!(let c = j > 0 && x[j + 1] > 0.0;),
            quote!(for k in q {
                s += x[j + 1];
            }),
            // The loop may end early.
            quote!(if c { break; } s += x[j + 1];),
            quote!(s += x[j + 1]; if c { return s; }),
            // A written array indexed at two offsets, or otherwise.
            quote!(y[j + 1] = y[j];),
            quote!(y[j] = 1.0; h(&mut y);),
            quote!(y[j] = 1.0; y.push(0.0);),
            // In a macro's tokens, or a method on an element: not followed.
            quote!(s += x[j]; m!(x[j]);),
            quote!(y[j] = 1.0; y[j].clear();),
            // The array or the variable bound again in the body; a `match`.
            quote!(let x = w; s += x[j];),
            quote!(let j = 0; s += x[j];),
            quote!(s += match c { 0 => x[j], n => x[n + j] };),
        ] {
            let original = body.to_string();
            let (rows, after) = cut(body);
            assert!(rows.is_empty(), "{original}: {rows}");
            assert_eq!(after, original);
        }
    }

    #[test]
    fn a_break_of_an_inner_loop_is_not_the_loops() {
        let (rows, _) = cut(quote! {
            s += x[n + j];
            loop { if s > 1.0 { break; } s *= 2.0; }
            while s > 4.0 { s /= 2.0; if s < 5.0 { continue; } }
        });
        assert_eq!(rows, "let x_rowj = rt :: row (& x [..] , & r , || n) ;");
    }

    #[test]
    fn plain_blocks_run_every_iteration() {
        // Fused loops' bodies are blocks of their own, with the variable's alias.
        let (rows, body) = cut(quote! {
            { let k = j; s += x[b + k]; }
            { let m = j; let t = c + m; y[t] = s; }
        });
        assert_eq!(
            rows,
            "let x_rowj = rt :: row (& x [..] , & r , || b) ; \
             let y_rowj = rt :: row_mut (& mut y [..] , & r , || c) ;"
        );
        assert_eq!(
            body,
            "{ let k = j ; s += x_rowj [j] ; } { let m = j ; let t = c + m ; y_rowj [j] = s ; }"
        );
    }
}
