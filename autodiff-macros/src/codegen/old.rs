//! Code generation: the forward replay and the reverse sweep, as `NAME_vjp` and `NAME_grad`.
//!
//! Input:
//! ```text
//! #[differentiate]
//! fn f(x: f64, y: f64) -> f64 { let a = x * y; a.sin() }
//! ```
//! Output (abridged):
//! ```text
//! fn f_vjp(x: f64, y: f64, d_out: f64) -> (f64, (f64, f64)) {
//!     let __a_2 = x * y;                       // forward: the user's code, one node a line
//!     let __t3 = __a_2.sin();
//!     let __d_a_2 = rt::sin_adjoint(&__a_2, &__t3, &d_out);    // reverse, last node first
//!     let __d_x_0 = rt::mul_adjoint_lhs(&x, &y, &__a_2, &__d_a_2);
//!     let __d_y_1 = rt::mul_adjoint_rhs(&x, &y, &__a_2, &__d_a_2);
//!     (__t3, (__d_x_0, __d_y_1))
//! }
//! fn f_grad(x: f64, y: f64) -> (f64, (f64, f64)) { f_vjp(x, y, rt::one()) }
//! ```
//!
//! The first contribution to an adjoint declares it; later ones go through `accumulate`. Values
//! without an adjoint (see [`crate::analyze`]) get no reverse code at all.

use std::collections::HashMap;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{Attribute, ItemFn, Type};

use crate::analyze::Activity;
use crate::args::Options;
use crate::ir::{CallForm, Graph, Op, Stmt, ValueId};
use crate::parse::Signature;
use crate::rules;

/// The companions' names, signatures and docs, shared by the real expansion and the fallback.
struct Companions<'a> {
    item: &'a ItemFn,
    sig: &'a Signature,
    /// `::autodiff::__private`.
    rt: TokenStream,
    d_out: Ident,
}

impl<'a> Companions<'a> {
    fn new(item: &'a ItemFn, sig: &'a Signature, options: &Options) -> Self {
        let krate = &options.krate;
        Companions {
            item,
            sig,
            rt: quote!(#krate::__private),
            d_out: Ident::new("d_out", Span::mixed_site()),
        }
    }

    fn names(&self) -> (Ident, Ident) {
        let name = &self.item.sig.ident;
        (
            format_ident!("{}_vjp", name),
            format_ident!("{}_grad", name),
        )
    }

    /// The gradient's type: the active parameters' types, bare for one, a tuple for several.
    fn grad_type(&self) -> TokenStream {
        let tys: Vec<&Type> = self.sig.active().map(|p| &p.ty).collect();
        match tys.as_slice() {
            [one] => one.to_token_stream(),
            many => quote!((#(#many),*)),
        }
    }

    /// Attributes the companions inherit: conditional compilation and lint levels.
    fn inherited_attrs(&self) -> Vec<&Attribute> {
        self.item
            .attrs
            .iter()
            .filter(|a| {
                ["cfg", "cfg_attr", "allow", "warn", "deny", "inline"]
                    .iter()
                    .any(|name| a.path().is_ident(name))
            })
            .collect()
    }

    /// `let _ = NAME::<T, ..>;`: a use of the original function, so that a user who calls only
    /// the gradient is not told the function is never used. Omitted when the function has
    /// `impl Trait` parameters, which forbid naming its generic arguments.
    fn use_of_original(&self) -> TokenStream {
        let generics = &self.item.sig.generics;
        if generics.params.iter().any(
            |p| matches!(p, syn::GenericParam::Type(t) if t.ident.to_string().starts_with("impl")),
        ) {
            return TokenStream::new();
        }
        let has_impl_trait = self.sig.params.iter().any(|p| {
            p.ty.to_token_stream()
                .into_iter()
                .any(|t| t.to_string() == "impl")
        });
        if has_impl_trait {
            return TokenStream::new();
        }
        let args: Vec<TokenStream> = generics
            .params
            .iter()
            .filter_map(|p| match p {
                syn::GenericParam::Type(t) => Some(t.ident.to_token_stream()),
                syn::GenericParam::Const(c) => Some(c.ident.to_token_stream()),
                syn::GenericParam::Lifetime(_) => None,
            })
            .collect();
        let name = &self.item.sig.ident;
        if args.is_empty() {
            quote!(let _ = #name;)
        } else {
            quote!(let _ = #name::<#(#args),*>;)
        }
    }

    /// The function's generics with `T: Real` added to each float type parameter, beside the
    /// user's own `Float` bound (inline or in the `where` clause, wherever the user put it).
    fn generics_with_real_bounds(&self) -> syn::Generics {
        let mut generics = self.item.sig.generics.clone();
        let rt = &self.rt;
        let real: syn::TypeParamBound = syn::parse_quote!(#rt::Real);
        for g in &self.sig.float_generics {
            let in_where = generics.where_clause.as_mut().and_then(|wc| {
                wc.predicates.iter_mut().find_map(|p| match p {
                    syn::WherePredicate::Type(pt) if matches!(&pt.bounded_ty, Type::Path(tp) if tp.path.is_ident(g)) => Some(pt),
                    _ => None,
                })
            });
            if let Some(pt) = in_where {
                pt.bounds.push(real.clone());
                continue;
            }
            for p in &mut generics.params {
                if let syn::GenericParam::Type(tp) = p {
                    if tp.ident == *g {
                        tp.bounds.push(real.clone());
                    }
                }
            }
        }
        generics
    }

    /// `NAME_vjp` and `NAME_grad` around the given `NAME_vjp` body.
    fn emit(&self, vjp_body: &TokenStream) -> TokenStream {
        let item = self.item;
        let vis = &item.vis;
        let name = &item.sig.ident;
        let (vjp, grad) = self.names();
        let generics = self.generics_with_real_bounds();
        let (impl_generics, _, where_clause) = generics.split_for_impl();
        let params = self.sig.params.iter().map(|p| {
            let (ident, ty) = (&p.ident, &p.ty);
            quote!(#ident: #ty)
        });
        let params2 = params.clone();
        let args = self.sig.params.iter().map(|p| &p.ident);
        let ret = &self.sig.ret;
        let grad_ty = self.grad_type();
        let d_out = &self.d_out;
        let rt = &self.rt;
        let attrs = self.inherited_attrs();
        let use_of_original = self.use_of_original();
        let wrt: Vec<String> = self
            .sig
            .active()
            .map(|p| format!("`{}`", p.ident))
            .collect();
        let wrt = wrt.join(", ");
        let grad_shape = if self.sig.active().count() == 1 {
            "the gradient".to_owned()
        } else {
            "the gradient, a tuple with one entry per active parameter in argument order".to_owned()
        };
        let vjp_doc = format!(
            " Reverse mode of [`{name}`]: its value and the vector-Jacobian product with `d_out`, with respect to {wrt}.\n\n Returns `(value, grad)`, {grad_shape}, each entry scaled by `d_out`. Generated by `#[differentiate]`; other differentiated functions call this."
        );
        let grad_doc = format!(
            " Value and gradient of [`{name}`] with respect to {wrt}.\n\n Returns `(value, grad)`: `value` is exactly what `{name}` returns, and `grad` is {grad_shape}. Generated by `#[differentiate]`."
        );
        quote! {
            #[doc = #vjp_doc]
            #(#attrs)*
            #[allow(dead_code, reason = "a companion the user may not call")]
            #vis fn #vjp #impl_generics (#(#params,)* #d_out: #ret) -> (#ret, #grad_ty) #where_clause {
                #use_of_original
                #vjp_body
            }

            #[doc = #grad_doc]
            #(#attrs)*
            #[allow(dead_code, reason = "a companion the user may not call")]
            #[inline]
            #[must_use]
            #vis fn #grad #impl_generics (#(#params2),*) -> (#ret, #grad_ty) #where_clause {
                #vjp(#(#args,)* #rt::one())
            }
        }
    }
}

/// The companions of a function that lowered without errors.
pub fn generate(
    item: &ItemFn,
    sig: &Signature,
    graph: &Graph,
    activity: &Activity,
    options: &Options,
) -> TokenStream {
    let companions = Companions::new(item, sig, options);
    let forward = forward_pass(graph);
    let (reverse, adjoints) = reverse_sweep(graph, activity, &companions.rt, &companions.d_out);
    let rt = &companions.rt;
    let grads = sig
        .params
        .iter()
        .enumerate()
        .filter(|(_, p)| p.active)
        .map(|(i, p)| {
            let param_value = graph
                .nodes
                .iter()
                .position(|n| matches!(n.op, Op::Param(j) if j == i));
            match param_value
                .and_then(|v| adjoints.get(&ValueId(u32::try_from(v).unwrap_or(u32::MAX))))
            {
                Some(adjoint) => adjoint.to_token_stream(),
                None => {
                    let ident = &p.ident;
                    quote!(#rt::zero_like(&#ident))
                }
            }
        });
    let grads: Vec<TokenStream> = grads.collect();
    let grad = match grads.as_slice() {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    };
    let value = graph.value_ident(graph.ret);
    let body = quote! {
        #forward
        #reverse
        (#value, #grad)
    };
    companions.emit(&body)
}

/// Companions with the right signatures and an unreachable body, emitted beside the errors so
/// that callers of `NAME_grad` do not get a second error.
pub fn fallback(item: &ItemFn, sig: &Signature, options: &Options) -> TokenStream {
    let companions = Companions::new(item, sig, options);
    let params = sig.params.iter().map(|p| &p.ident);
    let d_out = &companions.d_out;
    companions.emit(&quote! {
        let _ = (#(#params,)* #d_out);
        ::core::unreachable!("#[differentiate] reported an error for this function")
    })
}

/// The user's computation, one node a statement.
fn forward_pass(graph: &Graph) -> TokenStream {
    let mut out = TokenStream::new();
    for stmt in &graph.body.stmts {
        match stmt {
            Stmt::Eval(v) => {
                let node = graph.node(*v);
                let name = graph.value_ident(*v);
                let ty = node.ty.as_ref().map(|t| quote!(: #t));
                let expr = forward_expr(graph, &node.op);
                out.extend(quote_spanned!(node.span=> let #name #ty = #expr;));
            }
            Stmt::Verbatim { bindings, tokens } => {
                if bindings.is_empty() {
                    out.extend(tokens.clone());
                } else {
                    let binds = bindings.iter().map(|(ident, v)| {
                        let value = graph.value_ident(*v);
                        quote!(let #ident = #value;)
                    });
                    out.extend(quote!({ #(#binds)* #tokens }));
                }
            }
        }
    }
    out
}

/// The expression a node evaluates, in the user's spelling.
fn forward_expr(graph: &Graph, op: &Op) -> TokenStream {
    let v = |id: &ValueId| graph.value_ident(*id);
    let call = |form: &CallForm, args: &[&ValueId]| {
        let args: Vec<Ident> = args.iter().map(|a| v(a)).collect();
        match form {
            CallForm::Method(m) => {
                let (recv, rest) = (&args[0], &args[1..]);
                quote!(#recv.#m(#(#rest),*))
            }
            CallForm::Path(p) => quote!(#p(#(#args),*)),
        }
    };
    match op {
        Op::Param(_) => quote!(),
        Op::Verbatim(tokens) => tokens.clone(),
        Op::Unary(f, _, x) if f.name == "neg" => {
            let x = v(x);
            quote!(-#x)
        }
        Op::Unary(_, form, x) => call(form, &[x]),
        Op::Binary(f, None, l, r) => {
            let (l, r) = (v(l), v(r));
            match f.name {
                "add" => quote!(#l + #r),
                "sub" => quote!(#l - #r),
                "mul" => quote!(#l * #r),
                "div" => quote!(#l / #r),
                _ => quote!(#l % #r),
            }
        }
        Op::Binary(_, Some(form), l, r) => call(form, &[l, r]),
        Op::Powi(form, x, n) => call(form, &[x, n]),
        Op::MulAdd(form, a, b, c) | Op::Clamp(form, a, b, c) => call(form, &[a, b, c]),
        Op::Copy(x) => v(x).to_token_stream(),
    }
}

/// The adjoint statements, last node first, and the identifier holding each value's adjoint.
fn reverse_sweep(
    graph: &Graph,
    activity: &Activity,
    rt: &TokenStream,
    d_out: &Ident,
) -> (TokenStream, HashMap<ValueId, Ident>) {
    let mut adjoints: HashMap<ValueId, Ident> = HashMap::new();
    let mut out = TokenStream::new();
    if !activity.is_active(graph.ret) {
        return (out, adjoints);
    }

    // The returned value's adjoint is `d_out` itself: no node that reaches the result can read
    // the result (the graph has no cycles), so nothing else contributes to it.
    adjoints.insert(graph.ret, d_out.clone());

    // Every contribution, in the order the reverse sweep makes them.
    let mut contributions: Vec<(ValueId, TokenStream, Span)> = Vec::new();
    let value = |v: ValueId| graph.value_ident(v);
    for stmt in graph.body.stmts.iter().rev() {
        let Stmt::Eval(v) = stmt else { continue };
        if !activity.is_active(*v) {
            continue;
        }
        let node = graph.node(*v);
        let d = if *v == graph.ret {
            d_out.clone()
        } else {
            graph.adjoint_ident(*v)
        };
        let wants = |o: ValueId| activity.is_active(o);
        for c in rules::contributions(&node.op, *v, &wants) {
            contributions.push((c.target, rules::render(&c, rt, &value, &d), node.span));
        }
    }

    let mut counts: HashMap<ValueId, usize> = HashMap::new();
    for (target, _, _) in &contributions {
        *counts.entry(*target).or_default() += 1;
    }
    for (target, expr, span) in contributions {
        if let Some(adjoint) = adjoints.get(&target) {
            out.extend(quote_spanned!(span=> #rt::accumulate(&mut #adjoint, #expr);));
        } else {
            let adjoint = graph.adjoint_ident(target);
            let mutability = (counts.get(&target).copied().unwrap_or(0) > 1).then(|| quote!(mut));
            out.extend(quote_spanned!(span=> let #mutability #adjoint = #expr;));
            adjoints.insert(target, adjoint);
        }
    }
    (out, adjoints)
}
