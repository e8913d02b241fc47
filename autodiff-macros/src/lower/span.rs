//! The span of an expression without printing it.
//!
//! `syn`'s `expr.span()` prints the whole expression to tokens to join its first and last
//! token's spans. Lowering asks for the span of every subexpression, so that printing made it
//! quadratic in an expression's depth, and inside the compiler each token printed is a call
//! across the proc-macro bridge. Here the first and last tokens are found by walking the
//! expression's edges; the result is the same span (`first.join(last)`, or `first` where spans
//! do not join, as on a stable compiler). Forms not handled here fall back to `syn`. (Checked
//! against `syn` on every form here with proc-macro2's `span-locations`, which the unit tests
//! do not enable because it slows every expansion they time; the trybuild cases check the
//! spans errors point at.)

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, Member, PathArguments, RangeLimits, Type};

/// The span `syn` gives `e`, found without printing it.
pub fn span_of(e: &Expr) -> Span {
    match (first(e), last(e)) {
        (Some(a), Some(b)) => a.join(b).unwrap_or(a),
        _ => e.span(),
    }
}

/// The span of the first token of `e`, where it is found cheaply.
fn first(e: &Expr) -> Option<Span> {
    if has_attributes(e) {
        return None;
    }
    match e {
        Expr::Binary(b) => first(&b.left),
        Expr::MethodCall(m) => first(&m.receiver),
        Expr::Call(c) => first(&c.func),
        Expr::Field(f) => first(&f.base),
        Expr::Index(i) => first(&i.expr),
        Expr::Cast(c) => first(&c.expr),
        Expr::Try(t) => first(&t.expr),
        Expr::Assign(a) => first(&a.left),
        Expr::Range(r) => match &r.start {
            Some(s) => first(s),
            None => Some(limits(&r.limits).0),
        },
        Expr::Paren(p) => Some(p.paren_token.span.join()),
        Expr::Tuple(t) => Some(t.paren_token.span.join()),
        Expr::Array(a) => Some(a.bracket_token.span.join()),
        Expr::Repeat(r) => Some(r.bracket_token.span.join()),
        Expr::Lit(l) => Some(l.lit.span()),
        Expr::Path(p) => {
            if let Some(q) = &p.qself {
                Some(q.lt_token.span)
            } else if let Some(c) = &p.path.leading_colon {
                Some(c.spans[0])
            } else {
                p.path.segments.first().map(|s| s.ident.span())
            }
        }
        Expr::Unary(u) => Some(match u.op {
            syn::UnOp::Deref(t) => t.span,
            syn::UnOp::Not(t) => t.span,
            syn::UnOp::Neg(t) => t.span,
            _ => return None,
        }),
        Expr::Reference(r) => Some(r.and_token.span),
        Expr::If(i) => Some(i.if_token.span),
        Expr::Match(m) => Some(m.match_token.span),
        Expr::Block(b) if b.label.is_none() => Some(b.block.brace_token.span.join()),
        Expr::Return(r) => Some(r.return_token.span),
        _ => None,
    }
}

/// The span of the last token of `e`, where it is found cheaply.
fn last(e: &Expr) -> Option<Span> {
    if has_attributes(e) {
        return None;
    }
    match e {
        Expr::Binary(b) => last(&b.right),
        Expr::MethodCall(m) => Some(m.paren_token.span.join()),
        Expr::Call(c) => Some(c.paren_token.span.join()),
        Expr::Field(f) => Some(match &f.member {
            Member::Named(i) => i.span(),
            Member::Unnamed(i) => i.span,
        }),
        Expr::Index(i) => Some(i.bracket_token.span.join()),
        Expr::Cast(c) => match &*c.ty {
            Type::Path(tp) if tp.qself.is_none() => tp
                .path
                .segments
                .last()
                .filter(|s| matches!(s.arguments, PathArguments::None))
                .map(|s| s.ident.span()),
            _ => None,
        },
        Expr::Try(t) => Some(t.question_token.span),
        Expr::Assign(a) => last(&a.right),
        Expr::Range(r) => match &r.end {
            Some(end) => last(end),
            None => Some(limits(&r.limits).1),
        },
        Expr::Paren(p) => Some(p.paren_token.span.join()),
        Expr::Tuple(t) => Some(t.paren_token.span.join()),
        Expr::Array(a) => Some(a.bracket_token.span.join()),
        Expr::Repeat(r) => Some(r.bracket_token.span.join()),
        Expr::Lit(l) => Some(l.lit.span()),
        Expr::Path(p) => p
            .path
            .segments
            .last()
            .filter(|s| matches!(s.arguments, PathArguments::None))
            .map(|s| s.ident.span()),
        Expr::Unary(u) => last(&u.expr),
        Expr::Reference(r) => last(&r.expr),
        Expr::If(i) => match &i.else_branch {
            Some((_, e)) => last(e),
            None => Some(i.then_branch.brace_token.span.join()),
        },
        Expr::Match(m) => Some(m.brace_token.span.join()),
        Expr::Block(b) if b.label.is_none() => Some(b.block.brace_token.span.join()),
        Expr::Return(r) => match &r.expr {
            Some(e) => last(e),
            None => Some(r.return_token.span),
        },
        _ => None,
    }
}

/// The first and last character's spans of `..` or `..=`.
fn limits(l: &RangeLimits) -> (Span, Span) {
    match l {
        RangeLimits::HalfOpen(t) => (t.spans[0], t.spans[1]),
        RangeLimits::Closed(t) => (t.spans[0], t.spans[2]),
    }
}

/// Attributes come first: such an expression is left to `syn`.
fn has_attributes(e: &Expr) -> bool {
    match e {
        Expr::Binary(x) => !x.attrs.is_empty(),
        Expr::MethodCall(x) => !x.attrs.is_empty(),
        Expr::Call(x) => !x.attrs.is_empty(),
        Expr::Field(x) => !x.attrs.is_empty(),
        Expr::Index(x) => !x.attrs.is_empty(),
        Expr::Cast(x) => !x.attrs.is_empty(),
        Expr::Try(x) => !x.attrs.is_empty(),
        Expr::Assign(x) => !x.attrs.is_empty(),
        Expr::Range(x) => !x.attrs.is_empty(),
        Expr::Paren(x) => !x.attrs.is_empty(),
        Expr::Tuple(x) => !x.attrs.is_empty(),
        Expr::Array(x) => !x.attrs.is_empty(),
        Expr::Repeat(x) => !x.attrs.is_empty(),
        Expr::Lit(x) => !x.attrs.is_empty(),
        Expr::Path(x) => !x.attrs.is_empty(),
        Expr::Unary(x) => !x.attrs.is_empty(),
        Expr::Reference(x) => !x.attrs.is_empty(),
        Expr::If(x) => !x.attrs.is_empty(),
        Expr::Match(x) => !x.attrs.is_empty(),
        Expr::Block(x) => !x.attrs.is_empty(),
        Expr::Return(x) => !x.attrs.is_empty(),
        _ => true,
    }
}
