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
//! about 6% faster, 4–6% fewer instructions). The same elements read and written in the same
//! order: the results are bit for bit the same. See `autodiff_runtime::rows` for the row.
//!
//! The rewrite is on tokens, and only where it is plainly right:
//! - the arrays are slices, `Vec`s or fixed arrays (the caller names them);
//! - the index is `b + v`, `v + b` or `v` (`v` the loop variable, or a name bound to it), or a
//!   name the body binds once to one of those; `b` is integer arithmetic (`* / % +`,
//!   parentheses; no `-` or `as`, which may wrap around) of literals and of names neither the
//!   body nor the loop's pattern binds, and the body neither assigns (alone or in a tuple) nor
//!   lends `&mut` nor calls a method on that may change them;
//! - an array the body writes (`a[..] = `, `+= `, `&mut a[..]`) is indexed only that way, at one
//!   `b` (its row is the only way the loop reaches it); one it only reads keeps its other reads;
//! - one element of each row is read or written in a statement every iteration runs, so that the
//!   loop reaches the row's last element: a row out of bounds panics where the loop would;
//! - the body never leaves the loop early (`break`, `continue`, `return`, `?` outside loops of
//!   its own) and has no `match` (whose arms bind names this scan does not follow).

use crate::hash::{HashMap, HashSet};

use proc_macro2::{Delimiter, Group, Ident, Spacing, Span, TokenStream, TokenTree};
use quote::quote;
use syn::ext::IdentExt;

/// Cuts the rows, among `arrays`, that the loop over `range` indexes with its variable `var`
/// (see the module docs; `pattern` binds `var` and any other names the loop binds). Returns the
/// statements that cut them, to go right before the loop, and the body indexing them; or
/// nothing to cut and the body as it was.
pub(super) fn cut_rows(
    body: TokenStream,
    (var, range, pattern): (&Ident, &Ident, &TokenStream),
    arrays: &[Ident],
    rt: &TokenStream,
) -> (TokenStream, TokenStream) {
    let Some(scan) = Scan::of(&body, (var, pattern), arrays) else {
        return (TokenStream::new(), body);
    };
    let mentions = &scan.mentions;
    let suffix = scan.var.rsplit('_').next().unwrap_or_default().to_string();
    let names: Vec<String> = scan.arrays.iter().map(|a| a.unraw().to_string()).collect();
    let mut prelude = TokenStream::new();
    let mut rewrites: Vec<Option<TokenStream>> = vec![None; mentions.len()];
    let mut written_rows: Vec<&Ident> = Vec::new();
    for (a, array) in scan.arrays.iter().enumerate() {
        let name = &names[a];
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
        let mut n = 0;
        for (_, base, ms) in rows {
            if !ms.iter().any(|m| mentions[*m].every_iteration) {
                continue;
            }
            let name = if n == 0 {
                format!("{name}_row{suffix}")
            } else {
                format!("{name}_row{suffix}_{n}")
            };
            n += 1;
            let row = Ident::new(&name, Span::mixed_site());
            // A bare name may be a `&usize` (`for st in starts.iter()`): `+ 0` makes any
            // offset a `usize`, as `st + j` is.
            let base = match base {
                None => quote!(0),
                Some(b) if b.clone().into_iter().count() == 1 => quote!(#b + 0),
                Some(b) => b,
            };
            if written {
                written_rows.push(array);
            }
            prelude.extend([if written {
                quote!(let #row = #rt::row_mut(&mut #array[..], &#range, || #base);)
            } else {
                quote!(let #row = #rt::row(&#array[..], &#range, || #base);)
            }]);
            for m in ms {
                rewrites[m] = Some(quote!(#row[#var]));
            }
        }
    }
    if prelude.is_empty() {
        return (prelude, body);
    }
    let rewritten = scan.rewrite(body.clone(), &rewrites);
    // A written array's row borrows it for the loop: no mention of it may be left.
    if written_rows.iter().any(|a| names_array(&rewritten, a)) {
        return (TokenStream::new(), body);
    }
    (prelude, rewritten)
}

/// Whether the name at `tts[k]` is a field or method (`s.x`, not `0..x`) or a path's segment
/// (`a::x`), not a variable.
fn after_path(tts: &[TokenTree], k: usize) -> bool {
    let punct = |i: Option<usize>, c: char| matches!(i.map(|i| &tts[i]), Some(TokenTree::Punct(p)) if p.as_char() == c);
    let (one, two) = (k.checked_sub(1), k.checked_sub(2));
    (punct(one, '.') && !punct(two, '.')) || (punct(one, ':') && punct(two, ':'))
}

/// Whether `tokens` name `array` (as a variable: not a field, method or path segment).
fn names_array(tokens: &TokenStream, array: &Ident) -> bool {
    let tts: Vec<TokenTree> = tokens.clone().into_iter().collect();
    tts.iter().enumerate().any(|(k, t)| match t {
        TokenTree::Ident(id) => id == array && !after_path(&tts, k),
        TokenTree::Group(g) => names_array(&g.stream(), array),
        _ => false,
    })
}

/// Carries from one iteration to the next, in locals, the elements of arrays a loop adds to
/// at its variable and one past it: the reverse of reading `x[j]` and `x[j + 1]`
/// (Rosenbrock's, any first difference) adds to `d_x[j]` and `d_x[j + 1]`, and the next
/// iteration adds to one of the two again. Walking upwards (`up`):
///
/// ```text
/// for j in r { …; rt::accumulate(&mut d[j], a); rt::accumulate(&mut d[t], b); }   // t = j + 1
/// ```
/// becomes
/// ```text
/// let d_start = rt::row_start(&r);                              // first, or None
/// let d_end = rt::row_end(&r);                                  // last + 1
/// let mut d_at = rt::carry_from(&d[..], d_start);               // d[first]
/// for j in r {
///     let mut d_next = d[j + 1];
///     …; rt::accumulate(&mut d_at, a); rt::accumulate(&mut d_next, b);
///     d[j] = d_at;                                              // nothing adds to it after
///     d_at = d_next;
/// }
/// rt::carry_end(&mut d[..], d_end, d_at);                       // d[last + 1]
/// ```
/// and walking downwards the same with the offsets' roles swapped (`d_at` is `d[j + 1]`,
/// starting from `d[last + 1]`; `d_next` is `d[j]`, read fresh; `d[first]` stored after).
/// Each element gets the same additions in the same order: the same bits. In memory, an
/// iteration read back the element the one before had just stored, and the optimiser, pairing
/// the two additions into one two-element load and store, made that read straddle the store,
/// which the processor cannot forward (Rosenbrock's gradient ran 2.5–3x slower, in some builds
/// and not others); in locals there is one store and one load of untouched memory per
/// iteration, whatever the optimiser pairs.
///
/// Only where every mention of the array in the body is such an `accumulate` (of a float
/// element: `arrays` are the arrays of floats), at offsets 0 and 1 both, with one at offset 1
/// in a statement every iteration runs (so `d[last + 1]` is in bounds, as the loop reaches it),
/// and the loop never leaves early. Returns what goes before the loop, the body, and what goes
/// after the loop.
pub(super) fn carry_neighbours(
    body: TokenStream,
    (var, range, pattern, up): (&Ident, &Ident, &TokenStream, bool),
    arrays: &[Ident],
    rt: &TokenStream,
) -> (TokenStream, TokenStream, TokenStream) {
    let nothing = |body| (TokenStream::new(), body, TokenStream::new());
    let Some(scan) = Scan::of(&body, (var, pattern), arrays) else {
        return nothing(body);
    };
    let mentions = &scan.mentions;
    let [mut before, mut head, mut tail, mut after] = [(); 4].map(|()| TokenStream::new());
    let mut rewrites: Vec<Option<TokenStream>> = vec![None; mentions.len()];
    let mut carried: Vec<&Ident> = Vec::new();
    for (a, array) in scan.arrays.iter().enumerate() {
        let mine: Vec<usize> = (0..mentions.len())
            .filter(|m| mentions[*m].array == a)
            .collect();
        // Offset 0 or 1 of each mention.
        let offsets: Option<Vec<bool>> = mine
            .iter()
            .map(|m| match &mentions[*m].base {
                _ if !mentions[*m].accumulated => None,
                Some(None) => Some(false),
                Some(Some(b)) if b.to_string() == "1" => Some(true),
                _ => None,
            })
            .collect();
        let Some(offsets) = offsets else {
            continue;
        };
        let reaches_next = mine
            .iter()
            .zip(&offsets)
            .any(|(m, one)| *one && mentions[*m].every_iteration);
        if !offsets.contains(&false) || !reaches_next {
            continue;
        }
        let name = array.unraw();
        let local = |what: &str| Ident::new(&format!("{name}_{what}"), Span::mixed_site());
        let (at, next, start, end) = (local("at"), local("next"), local("start"), local("end"));
        // Upwards the element at offset 1 is carried and the one at 0 done; downwards the
        // reverse.
        let (first, last, fresh, done) = if up {
            (&start, &end, quote!(#var + 1), quote!(#var))
        } else {
            (&end, &start, quote!(#var), quote!(#var + 1))
        };
        for (m, one) in mine.iter().zip(&offsets) {
            rewrites[*m] = Some(if *one == up {
                quote!(#next)
            } else {
                quote!(#at)
            });
        }
        carried.push(array);
        // The range's ends are taken before the loop, which may consume the range.
        before.extend(quote! {
            let #start = #rt::row_start(&#range);
            let #end = #rt::row_end(&#range);
            let mut #at = #rt::carry_from(&#array[..], #first);
        });
        head.extend(quote!(let mut #next = #array[#fresh];));
        tail.extend(quote!(#array[#done] = #at; #at = #next;));
        after.extend(quote!(#rt::carry_end(&mut #array[..], #last, #at);));
    }
    if before.is_empty() {
        return nothing(body);
    }
    let rewritten = scan.rewrite(body.clone(), &rewrites);
    // Every mention of a carried array is now its locals'.
    if carried.iter().any(|a| names_array(&rewritten, a)) {
        return nothing(body);
    }
    (before, quote!(#head #rewritten #tail), after)
}

/// A loop body's facts and its mentions of the arrays.
struct Scan<'a> {
    facts: Facts,
    var: String,
    /// The arrays the body does not bind again.
    arrays: Vec<&'a Ident>,
    names: Vec<String>,
    mentions: Vec<Mention>,
}

impl<'a> Scan<'a> {
    /// `None` when nothing may be cut: the body leaves the loop early, changes its variable, or
    /// binds every array again.
    fn of(
        body: &TokenStream,
        (var, pattern): (&Ident, &TokenStream),
        arrays: &'a [Ident],
    ) -> Option<Self> {
        let mut facts = Facts::default();
        facts.scan(body, false, 0);
        let var = var.to_string();
        // The loop's pattern binds its other names (a tape's entries) for each iteration.
        let pattern: Vec<TokenTree> = pattern.clone().into_iter().collect();
        let mut names = Facts::default();
        names.bind_until(&pattern, &[], None);
        for (name, n) in names.bound {
            if name != var {
                *facts.bound.entry(name).or_default() += n;
            }
        }
        if facts.leaves || facts.bound.contains_key(&var) || facts.assigned.contains(&var) {
            return None;
        }
        let arrays: Vec<&Ident> = arrays
            .iter()
            .filter(|a| !facts.bound.contains_key(&a.to_string()))
            .collect();
        if arrays.is_empty() {
            return None;
        }
        let names: Vec<String> = arrays.iter().map(ToString::to_string).collect();
        let mut walk = Walk {
            facts: &facts,
            var: &var,
            arrays: &names,
            scopes: vec![Vec::new()],
            mentions: Vec::new(),
            rewrites: None,
            next: 0,
            in_accumulate: false,
        };
        walk.walk(body.clone(), false, false);
        let mentions = walk.mentions;
        Some(Scan {
            facts,
            var,
            arrays,
            names,
            mentions,
        })
    }

    /// `body` with each mention that has a replacement replaced.
    fn rewrite(&self, body: TokenStream, rewrites: &[Option<TokenStream>]) -> TokenStream {
        let mut walk = Walk {
            facts: &self.facts,
            var: &self.var,
            arrays: &self.names,
            scopes: vec![Vec::new()],
            mentions: Vec::new(),
            rewrites: Some(rewrites),
            next: 0,
            in_accumulate: false,
        };
        walk.walk(body, false, false)
    }
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
                        // An item (`const OFF: usize = 3;`, `use m::K;`) binds a name this scan
                        // does not follow: leave the loop as it is.
                        "const" | "static" | "use" | "fn" | "struct" | "enum" | "type" | "mod"
                        | "impl" | "trait" | "macro_rules" => self.leaves = true,
                        "break" | "continue" => {
                            let labelled = matches!(tts.get(k + 1), Some(TokenTree::Punct(p)) if p.as_char() == '\'');
                            if loops == 0 || labelled {
                                self.leaves = true;
                            }
                        }
                        _ => {
                            if in_macro
                                || assigns(&tts[k + 1..])
                                || changing_method(&tts[k + 1..])
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
                    // A macro may hide a `continue`, a `break` or a `return`: only those known
                    // not to are followed.
                    if macro_call
                        && !matches!(k.checked_sub(2).map(|p| &tts[p]), Some(TokenTree::Ident(m))
                            if crate::lower::QUIET_MACROS.contains(&m.to_string().as_str()))
                    {
                        self.leaves = true;
                    }
                    let body_of_loop = loop_header && g.delimiter() == Delimiter::Brace;
                    if body_of_loop {
                        loop_header = false;
                    }
                    // A tuple assigned (`(a, b) = (b, a);`, the loop's carried values): every
                    // name in it may change.
                    if g.delimiter() == Delimiter::Parenthesis && assigns(&tts[k + 1..]) {
                        self.assign_all(&g.stream());
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

    /// Records every name in `tokens` as assigned.
    fn assign_all(&mut self, tokens: &TokenStream) {
        for t in tokens.clone() {
            match t {
                TokenTree::Ident(id) => {
                    self.assigned.insert(id.to_string());
                }
                TokenTree::Group(g) => self.assign_all(&g.stream()),
                _ => {}
            }
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

/// Whether `rest`, what follows a name, calls a method that may change it (`b.add_assign(1)`,
/// `b.clone_from(&c)`): any but a few that only read.
fn changing_method(rest: &[TokenTree]) -> bool {
    // Of integers (the offsets): arrays' own methods do not matter here.
    const READ_ONLY: [&str; 5] = ["min", "max", "pow", "abs", "clone"];
    match rest {
        [TokenTree::Punct(dot), TokenTree::Ident(method), ..] if dot.as_char() == '.' => {
            !READ_ONLY.contains(&method.to_string().as_str())
        }
        _ => false,
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
    /// The whole first argument of a call to `accumulate`: `rt::accumulate(&mut a[k], v)`.
    accumulated: bool,
}

/// One walk through the body: finds the mentions, or (with `rewrites`) rewrites them.
struct Walk<'a> {
    facts: &'a Facts,
    var: &'a str,
    arrays: &'a [String],
    /// The names bound by `let name = …;` in the blocks around, innermost last.
    scopes: Vec<Vec<(String, Vec<TokenTree>)>>,
    mentions: Vec<Mention>,
    /// Per mention, what replaces its `array[index]` (`row[v]`, a local).
    rewrites: Option<&'a [Option<TokenStream>]>,
    next: usize,
    /// The tokens walked are the arguments of a call to `accumulate`.
    in_accumulate: bool,
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
                    if let Some(a) = self.arrays.iter().position(|x| *x == name) {
                        if !after_path(&tts, k) {
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
                    let accumulate = g.delimiter() == Delimiter::Parenthesis
                        && matches!(k.checked_sub(1).map(|p| &tts[p]), Some(TokenTree::Ident(f)) if f == "accumulate");
                    let outer = std::mem::replace(&mut self.in_accumulate, accumulate);
                    let inner = self.walk(
                        g.stream(),
                        conditional || guarded || (block && !plain),
                        in_macro || macro_call,
                    );
                    self.in_accumulate = outer;
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
        let replacement = match self.rewrites {
            None => {
                let accumulated = self.in_accumulate
                    && k == 2
                    && end == k + 2
                    && matches!(&tts[0], TokenTree::Punct(p) if p.as_char() == '&')
                    && matches!(tts.get(end), Some(TokenTree::Punct(p)) if p.as_char() == ',');
                self.mentions.push(Mention {
                    array: a,
                    class,
                    base,
                    every_iteration: !conditional,
                    accumulated,
                });
                None
            }
            Some(rewrites) => rewrites[n].clone().filter(|_| index.is_some()),
        };
        // The indices are walked too (`a[b[j]]`), in both walks alike, so that the mentions
        // are counted the same; a replaced mention's first index is dropped.
        match replacement {
            Some(tokens) => out.extend(tokens),
            None => out.push(tts[k].clone()),
        }
        for (i, t) in tts[k + 1..end].iter().enumerate() {
            let TokenTree::Group(g) = t else {
                continue;
            };
            let inner = self.walk(g.stream(), conditional, in_macro);
            let mut group = Group::new(g.delimiter(), inner);
            group.set_span(g.span());
            if i == 0 && self.rewrites.is_some_and(|r| r[n].is_some()) && index.is_some() {
                continue;
            }
            out.push(TokenTree::Group(group));
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

    /// Whether `tts` is an offset the same in every iteration: `* / % +` of names the body
    /// neither binds nor changes, and of literals. (No `-` and no `as`: an offset that wraps
    /// around, `k - 1` at `k = 0` in a release build, indexes in range where a row from it
    /// cannot start.)
    fn offset(&self, tts: &[TokenTree]) -> bool {
        let operator = |t: Option<&TokenTree>| matches!(t, Some(TokenTree::Punct(p)) if "*/%+".contains(p.as_char()) && p.spacing() == Spacing::Alone);
        if tts.is_empty() || operator(tts.first()) || operator(tts.last()) {
            return false;
        }
        tts.iter().enumerate().all(|(i, t)| {
            let next = tts.get(i + 1);
            // An operand is followed by an operator or nothing.
            let operand_end = next.is_none() || operator(next);
            match t {
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
            (&ident("j"), &ident("r"), &quote!(j)),
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
             let x_rowj_1 = rt :: row (& x [..] , & r , || n + 0) ;"
        );
        assert_eq!(body, "s += x_rowj [j] * x_rowj_1 [j] + x [l] ; l += 1 ;");
    }

    #[test]
    fn no_row_where_it_might_not_be_right() {
        for body in [
            // The offset changes in the loop, or is bound in it, or lent `&mut`, or may be
            // changed by a method.
            quote!(s += x[n + j]; n += 1;),
            quote!(s += x[n + j]; n.add_assign(1);),
            quote!(s += x[n + j]; (n, m) = (m, n);),
            quote!(let n = f(j); s += x[n + j];),
            quote!(g(&mut n); s += x[n + j];),
            // Not an offset: a call, a method, a product with the variable, a subtraction.
            quote!(s += x[f(n) + j];),
            quote!(s += x[v.len() + j];),
            quote!(s += x[2 * j];),
            quote!(s += x[n - j];),
            // An offset that may wrap around in a release build, or be a cast.
            quote!(s += x[k - 1 + j];),
            quote!(s += x[k as usize + j];),
            // Read only in an iteration that may not come: the last element may be out of
            // bounds.
            quote!(if j + 1 < n {
                s += x[j + 1];
            }),
            quote!(let c = j > 0 && x[j + 1] > 0.0;),
            quote!(for k in q {
                s += x[j + 1];
            }),
            // The loop may end early, or a macro may make it.
            quote!(if c { break; } s += x[j + 1];),
            quote!(skip_last!(j, n); s += x[j + 1];),
            // An item of the body may bind the offset's name.
            quote!(const OFF: usize = 3; s += x[OFF + j];),
            quote!(use m::K; s += x[K + j];),
            quote!(s += x[j + 1]; if c { return s; }),
            // A written array indexed at two offsets, or otherwise.
            quote!(y[j + 1] = y[j];),
            quote!(y[j] = 1.0; h(&mut y);),
            quote!(y[j] = 1.0; y.push(0.0);),
            // A written array also read whole after `..`, or inside another index.
            quote!(y[j] = 1.0; for k in 0..y.len() { s += 1.0; }),
            quote!(y[j] = a[(y[k] * 0.0) as usize];),
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
    fn mentions_after_ranges_and_in_indices_are_rewritten_too() {
        let (rows, body) = cut(quote! {
            y[j] = 1.0;
            for k in 0..y[j] as usize { s += a[(y[j] * 0.0) as usize]; }
        });
        assert_eq!(
            rows,
            "let y_rowj = rt :: row_mut (& mut y [..] , & r , || 0) ;"
        );
        assert_eq!(
            body,
            "y_rowj [j] = 1.0 ; \
             for k in 0 .. y_rowj [j] as usize { s += a [(y_rowj [j] * 0.0) as usize] ; }"
        );
    }

    #[test]
    fn raw_names_make_plain_rows() {
        let (rows, body) = cut_rows(
            quote!(s += r#in[j];),
            (&ident("j"), &ident("r"), &quote!(j)),
            &[Ident::new_raw("in", Span::call_site())],
            &quote!(rt),
        );
        assert_eq!(
            rows.to_string(),
            "let in_rowj = rt :: row (& r#in [..] , & r , || 0) ;"
        );
        assert_eq!(body.to_string(), "s += in_rowj [j] ;");
    }

    #[test]
    fn names_the_loop_pattern_binds_are_not_offsets() {
        // A reverse loop reading the tape: `k` is this iteration's entry.
        let (rows, _) = cut_rows(
            quote!(s += x[k + j];),
            (&ident("j"), &ident("r"), &quote!((j, (k, t)))),
            &[ident("x")],
            &quote!(rt),
        );
        assert!(rows.is_empty(), "{rows}");
    }

    #[test]
    fn quiet_macros_leave_rows_be() {
        let (rows, _) = cut(quote! {
            s += x[n + j];
            println!("{}", s);
            debug_assert!(s.is_finite());
        });
        assert_eq!(rows, "let x_rowj = rt :: row (& x [..] , & r , || n + 0) ;");
    }

    #[test]
    fn a_break_of_an_inner_loop_is_not_the_loops() {
        let (rows, _) = cut(quote! {
            s += x[n + j];
            loop { if s > 1.0 { break; } s *= 2.0; }
            while s > 4.0 { s /= 2.0; if s < 5.0 { continue; } }
        });
        assert_eq!(rows, "let x_rowj = rt :: row (& x [..] , & r , || n + 0) ;");
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
            "let x_rowj = rt :: row (& x [..] , & r , || b + 0) ; \
             let y_rowj = rt :: row_mut (& mut y [..] , & r , || c + 0) ;"
        );
        assert_eq!(
            body,
            "{ let k = j ; s += x_rowj [j] ; } { let m = j ; let t = c + m ; y_rowj [j] = s ; }"
        );
    }

    /// The elements carried for a loop over `r` with variable `j`, among the float arrays
    /// `d` and `e`.
    fn carry(body: TokenStream) -> (String, String, String) {
        let (before, body, after) = carry_neighbours(
            body,
            (&ident("j"), &ident("r"), &quote!(j), true),
            &[ident("d"), ident("e")],
            &quote!(rt),
        );
        (before.to_string(), body.to_string(), after.to_string())
    }

    #[test]
    fn neighbouring_additions_are_carried() {
        let (before, body, after) = carry(quote! {
            let t = j + 1;
            rt::accumulate(&mut d[j], a);
            { rt::accumulate(&mut d[t], b); }
            if c { rt::accumulate(&mut d[j], g); }
        });
        assert_eq!(
            before,
            "let d_start = rt :: row_start (& r) ; let d_end = rt :: row_end (& r) ; \
             let mut d_at = rt :: carry_from (& d [..] , d_start) ;"
        );
        assert_eq!(
            body,
            "let mut d_next = d [j + 1] ; let t = j + 1 ; rt :: accumulate (& mut d_at , a) ; \
             { rt :: accumulate (& mut d_next , b) ; } \
             if c { rt :: accumulate (& mut d_at , g) ; } \
             d [j] = d_at ; d_at = d_next ;"
        );
        assert_eq!(after, "rt :: carry_end (& mut d [..] , d_end , d_at) ;");
    }

    #[test]
    fn walking_down_carries_the_other_element() {
        let (before, body, after) = (
            carry_neighbours(
                quote!(rt::accumulate(&mut d[j], a); rt::accumulate(&mut d[j + 1], b);),
                (&ident("j"), &ident("r"), &quote!(j), false),
                &[ident("d")],
                &quote!(rt),
            ),
            (),
            (),
        )
            .0;
        assert!(before
            .to_string()
            .ends_with("let mut d_at = rt :: carry_from (& d [..] , d_end) ;"));
        assert_eq!(
            body.to_string(),
            "let mut d_next = d [j] ; rt :: accumulate (& mut d_next , a) ; \
             rt :: accumulate (& mut d_at , b) ; d [j + 1] = d_at ; d_at = d_next ;"
        );
        assert_eq!(
            after.to_string(),
            "rt :: carry_end (& mut d [..] , d_start , d_at) ;"
        );
    }

    #[test]
    fn no_carry_where_it_might_not_be_right() {
        for body in [
            // One offset only: nothing carried from one iteration to the next.
            quote!(rt::accumulate(&mut d[j], a);),
            quote!(rt::accumulate(&mut d[j + 1], a);),
            // Offset 1 only in some iterations: `d[last + 1]` may be past the end.
            quote!(rt::accumulate(&mut d[j], a); if c { rt::accumulate(&mut d[j + 1], b); }),
            // Another offset, or the array touched otherwise.
            quote!(rt::accumulate(&mut d[j], a); rt::accumulate(&mut d[j + 2], b);),
            quote!(rt::accumulate(&mut d[j], a); rt::accumulate(&mut d[j + 1], b); let v = d[j];),
            quote!(rt::accumulate(&mut d[j], a); rt::accumulate(&mut d[j + 1], b); d[j] = 0.0;),
            // Not an array of floats.
            quote!(rt::accumulate(&mut y[j], a); rt::accumulate(&mut y[j + 1], b);),
            // The loop may end early, or a macro may make it.
            quote!(rt::accumulate(&mut d[j], a); rt::accumulate(&mut d[j + 1], b); if c { break; }),
            quote!(rt::accumulate(&mut d[j], a); rt::accumulate(&mut d[j + 1], b); skip!(j);),
        ] {
            let original = body.to_string();
            let (before, after_body, after) = carry(body);
            assert!(
                before.is_empty() && after.is_empty(),
                "{original}: {before}"
            );
            assert_eq!(after_body, original);
        }
    }
}
