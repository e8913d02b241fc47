//! Forward mode: `NAME_jvp`, the value and the directional derivative along given tangents, in
//! one pass that carries a tangent beside every active value.
//!
//! Input (IR): `%2 = mul(%0, %1)`, `%3 = sin(%2)`.
//! Output:
//! ```text
//! let __t2 = x * y;
//! let __dt_t2 = rt::mul_adjoint_lhs(&y, &tangent_x) + rt::mul_adjoint_rhs(&x, &tangent_y);
//! let __t3 = __t2.sin();
//! let __dt_t3 = rt::sin_adjoint(&__t2, &__dt_t2);
//! ```
//! Every rule of [`crate::rules`] is linear in its adjoint `d`: `rule(reads, d)` is the partial
//! derivative times `d`. Given a tangent instead of an adjoint it is the tangent's share, so the
//! reverse rules serve forward mode unchanged, one term per active operand. Branches return
//! their values' tangents with their values; loops carry them with their carried values; an
//! array has a tangent array, written where the array is.

use crate::hash::HashMap;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};

use super::reverse::Context;
use crate::ir::{Block, IfRegion, LoopKind, LoopRegion, Op, Stmt, ValueId};
use crate::rules;

/// The body of `NAME_jvp`: the forward statements with tangents, then `(value, tangent)`.
/// `tangents` names the tangent parameter of each active parameter.
pub(super) fn body(cx: &Context<'_>, tangents: &[(usize, Ident)]) -> syn::Result<TokenStream> {
    let mut j = Jvp {
        cx,
        tangent: HashMap::default(),
        param_tangent: HashMap::default(),
        errors: None,
    };
    // A tensor given by reference is read through a view, a value like the other tangents.
    let mut views = TokenStream::new();
    for (i, node) in cx.graph.nodes.iter().enumerate() {
        if let Op::Param(p) = node.op {
            if let Some((_, t)) = tangents.iter().find(|(q, _)| *q == p) {
                let v = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
                let param = &cx.sig.params[p];
                j.param_tangent.insert(v, t.clone());
                if param.is_tensor && param.is_ref {
                    let view = Ident::new(&format!("__view_{t}"), Span::mixed_site());
                    views.extend([quote!(let #view = #t.view();)]);
                    j.tangent.insert(v, view);
                } else {
                    j.tangent.insert(v, t.clone());
                }
            }
        }
    }
    let stmts = j.block(&cx.graph.body);
    let stmts = quote!(#views #stmts);
    let ret = cx.graph.ret;
    let value = cx.graph.value_ident(ret);
    let tangent = j.tangent_or_zero(ret);
    match j.errors {
        Some(e) => Err(e),
        None => Ok(quote! {
            #stmts
            (#value, #tangent)
        }),
    }
}

struct Jvp<'a> {
    cx: &'a Context<'a>,
    /// The tangent of each active value defined so far (a tangent parameter, or a binding).
    tangent: HashMap<ValueId, Ident>,
    /// The tangent parameter of each active parameter, as given (a reference stays one; the
    /// `tangent` map may hold a view of it).
    param_tangent: HashMap<ValueId, Ident>,
    errors: Option<syn::Error>,
}

impl Jvp<'_> {
    fn error(&mut self, span: Span, message: &str) {
        let e = syn::Error::new(span, message);
        match &mut self.errors {
            Some(all) => all.combine(e),
            None => self.errors = Some(e),
        }
    }

    fn name(&self, v: ValueId) -> Ident {
        let adjoint = self.cx.graph.adjoint_ident(v).to_string();
        Ident::new(&format!("__dt{}", &adjoint[3..]), Span::mixed_site())
    }

    fn active(&self, v: ValueId) -> bool {
        self.cx.activity.is_active(v)
    }

    /// A value's tangent, or a zero of its shape when it has none (a constant).
    fn tangent_or_zero(&self, v: ValueId) -> TokenStream {
        match self.tangent.get(&v) {
            Some(t) => quote!(#t),
            None => {
                let rt = self.cx.rt;
                let r = self.cx.reference(v);
                quote!(#rt::zero_like(#r))
            }
        }
    }

    fn block(&mut self, b: &Block) -> TokenStream {
        let mut out = TokenStream::new();
        for stmt in &b.stmts {
            match stmt {
                Stmt::Eval(v) => self.eval(*v, &mut out),
                Stmt::Verbatim { bindings, tokens } => {
                    out.extend([super::forward::verbatim_statement(
                        self.cx, bindings, tokens,
                    )]);
                }
                Stmt::Store {
                    array,
                    indices,
                    value,
                    span,
                } => {
                    let a = self.cx.graph.value_ident(*array);
                    let idx: Vec<Ident> = indices
                        .iter()
                        .map(|i| self.cx.graph.value_ident(*i))
                        .collect();
                    let val = self.cx.graph.value_ident(*value);
                    out.extend([quote_spanned!(*span=> #a #([#idx])* = #val;)]);
                    if let Some(ta) = self.tangent.get(array).cloned() {
                        let tv = match self.tangent.get(value) {
                            Some(t) => quote!(#t),
                            None => {
                                let rt = self.cx.rt;
                                quote!(#rt::zero_like(&#val))
                            }
                        };
                        out.extend([quote_spanned!(*span=> #ta #([#idx])* = #tv;)]);
                    }
                }
                Stmt::If(r) => self.if_region(r, &mut out),
                Stmt::Loop(l) => self.loop_region(l, &mut out),
            }
        }
        out
    }

    fn eval(&mut self, v: ValueId, out: &mut TokenStream) {
        let cx = self.cx;
        let node = cx.graph.node(v);
        let name = cx.graph.value_ident(v);
        let ty = node.ty.as_ref().map(|t| quote!(: #t));
        let mutability = node.mutable.then(|| quote!(mut));
        if let (Op::Call(c, args), true) = (&node.op, self.active(v)) {
            self.call(v, c, args, out);
            return;
        }
        let expr = super::forward::expression(cx, v);
        out.extend([quote_spanned!(node.span=> let #mutability #name #ty = #expr;)]);
        if !self.active(v) {
            return;
        }
        let rt = cx.rt;
        let t = self.name(v);
        // An array made here: its tangent starts at zero, and stores write it.
        if cx.layout.arrays.contains(&v) && matches!(node.op, Op::Verbatim(..)) {
            out.extend([quote!(let mut #t = #rt::zero_like(&#name);)]);
            self.tangent.insert(v, t);
            return;
        }
        let expr = match &node.op {
            Op::Param(_) | Op::Region | Op::Verbatim(..) => return,
            Op::Index(array, indices) => {
                let Some(ta) = self.tangent.get(array).cloned() else {
                    return;
                };
                let idx = indices.iter().map(|i| cx.graph.value_ident(*i));
                quote!(#ta #([#idx])*)
            }
            Op::Element(array, counter, _) => {
                let Some(ta) = self.tangent.get(array).cloned() else {
                    return;
                };
                let k = cx.graph.value_ident(*counter);
                quote!(#ta[#k])
            }
            // A field of a parameter struct: the same field of the struct's tangent.
            Op::Field(base, member) => {
                let Some(tb) = self.tangent.get(base).cloned() else {
                    return;
                };
                quote!(::core::clone::Clone::clone(&#tb.#member))
            }
            Op::Call(..) => return,
            Op::Tensor(f, args) => match self.tensor_tangent(v, f.name, args) {
                Some(expr) => expr,
                None => {
                    self.error(
                        node.span,
                        &format!("forward mode (`NAME_jvp`) does not support `{}` yet: use the reverse-mode companions for this function", f.name),
                    );
                    return;
                }
            },
            // Broadcasting arithmetic on possible tensors: the forward operations on tangents.
            Op::Binary(f, None, l, r) if !cx.scalar_node(v) => {
                let Some(expr) = self.arithmetic_tangent(v, f.name, *l, *r) else {
                    self.error(
                        node.span,
                        "forward mode (`NAME_jvp`) does not support `%` on arrays",
                    );
                    return;
                };
                expr
            }
            // `a.powf(p)` of an array: the reverse's rule for `a` applied to `a`'s tangent is
            // the tangent, elementwise; `p`'s would sum over the elements.
            Op::Binary(f, Some(_), _, r)
                if !cx.scalar_node(v) && f.name == "powf" && self.tangent.contains_key(r) =>
            {
                self.error(
                    node.span,
                    "forward mode (`NAME_jvp`) takes `powf` of an ndarray array with a constant exponent only: make the exponent inactive (`wrt(...)`), or write `(p * a.ln()).exp()`",
                );
                // A stand-in, so that what uses the value reports nothing more.
                let t = self.name(v);
                self.tangent.insert(v, t);
                return;
            }
            op if !cx.scalar_node(v)
                && !matches!(op, Op::Unary(..) | Op::Powi(..))
                && !matches!(op, Op::Binary(f, Some(_), _, _) if f.name == "powf") =>
            {
                self.error(
                    node.span,
                    "forward mode (`NAME_jvp`) does not support this operation on ndarray arrays yet",
                );
                return;
            }
            op => {
                let wants = |o: ValueId| self.tangent.contains_key(&o);
                let value = |x: ValueId| cx.graph.value_ident(x);
                let reference = |x: ValueId| cx.reference(x);
                let general = !cx.scalar_node(v);
                let terms: Vec<TokenStream> = rules::contributions(op, v, &wants, general)
                    .iter()
                    .map(|c| rules::render(c, rt, &value, &reference, &self.tangent[&c.target]))
                    .collect();
                match terms.as_slice() {
                    [] => return,
                    [one] => one.clone(),
                    [first, rest @ ..] => quote!(#first #(+ #rest)*),
                }
            }
        };
        out.extend([quote_spanned!(node.span=> let #t = #expr;)]);
        self.tangent.insert(v, t);
    }

    /// A tangent or, for a value without one, nothing.
    /// A call to another differentiated function: its `NAME_jvp_all` with the tangent of each
    /// argument that has one (`forward_slot(tangent)`), the default (no tangent, or `()`) for the
    /// others.
    fn call(&mut self, v: ValueId, c: &crate::ir::CallFn, args: &[ValueId], out: &mut TokenStream) {
        let cx = self.cx;
        let rt = cx.rt;
        let node = cx.graph.node(v);
        let name = cx.graph.value_ident(v);
        let t = self.name(v);
        let path = Context::companion_path(c, "jvp_all");
        let call_args = cx.call_arguments(c, args);
        // A parameter given by reference passes its tangent parameter on as it came (a
        // reference of the parameter's type); other tangents go by reference or by value as the
        // argument does, made owned (`to_owned`: a view becomes an array, a slice a `Vec`).
        let slots = args.iter().enumerate().map(|(i, a)| {
            let span = cx.graph.node(*a).span;
            let by_ref = c.by_ref.get(i).copied().unwrap_or(false);
            let is_ref_param = matches!(cx.graph.node(*a).op, Op::Param(p)
                if cx.sig.params.get(p).is_some_and(|p| p.is_ref));
            match (self.tangent.get(a), self.param_tangent.get(a)) {
                (Some(_), Some(tp)) if is_ref_param => {
                    quote_spanned!(span=> #rt::forward_slot(#tp))
                }
                (Some(ta), _) if cx.is_scalar(*a) && by_ref => {
                    quote_spanned!(span=> #rt::forward_slot(&#ta))
                }
                (Some(ta), _) if cx.is_scalar(*a) => {
                    quote_spanned!(span=> #rt::forward_slot(#ta.to_owned()))
                }
                // A tensor: a reference to an owned copy, which the slot takes as it is, clones
                // into an owned parameter, or views for a view parameter.
                (Some(ta), _) => quote_spanned!(span=> #rt::forward_slot(&#ta.to_owned())),
                (None, _) => quote!(::core::default::Default::default()),
            }
        });
        let mutability = node.mutable.then(|| quote!(mut));
        out.extend([quote_spanned!(node.span=>
            let (#mutability #name, #mutability #t) = #path(#(#call_args,)* #(#slots,)* #rt::ForwardCall);
        )]);
        self.tangent.insert(v, t);
    }

    fn tangent_ref(&self, v: ValueId) -> Option<TokenStream> {
        self.tangent.get(&v).map(|t| quote!(&#t))
    }

    /// The tangent of `l op r` where either may be an array: the broadcasting operations
    /// themselves, on tangents (`d(l r) = dl r + l dr`).
    fn arithmetic_tangent(
        &self,
        v: ValueId,
        op: &str,
        l: ValueId,
        r: ValueId,
    ) -> Option<TokenStream> {
        let rt = self.cx.rt;
        let (lv, rv, yv) = (
            self.cx.reference(l),
            self.cx.reference(r),
            self.cx.reference(v),
        );
        let (tl, tr) = (self.tangent_ref(l), self.tangent_ref(r));
        Some(match (op, tl, tr) {
            ("add", Some(tl), Some(tr)) => quote!(#rt::add(#tl, #tr)),
            ("sub", Some(tl), Some(tr)) => quote!(#rt::sub(#tl, #tr)),
            // One side constant: its zero keeps the broadcast shape.
            ("add" | "sub", Some(tl), None) => quote!(#rt::add(#tl, &#rt::zero_like(#rv))),
            ("add", None, Some(tr)) => quote!(#rt::add(&#rt::zero_like(#lv), #tr)),
            ("sub", None, Some(tr)) => quote!(#rt::sub(&#rt::zero_like(#lv), #tr)),
            ("mul", Some(tl), Some(tr)) => {
                quote!(#rt::add(&#rt::mul(#tl, #rv), &#rt::mul(#lv, #tr)))
            }
            ("mul", Some(tl), None) => quote!(#rt::mul(#tl, #rv)),
            ("mul", None, Some(tr)) => quote!(#rt::mul(#lv, #tr)),
            ("div", Some(tl), Some(tr)) => {
                quote!(#rt::div(&#rt::sub(#tl, &#rt::mul(#yv, #tr)), #rv))
            }
            ("div", Some(tl), None) => quote!(#rt::div(#tl, #rv)),
            ("div", None, Some(tr)) => quote!(#rt::neg(&#rt::div(&#rt::mul(#yv, #tr), #rv))),
            _ => return None,
        })
    }

    /// The tangent of an ndarray operation or tensor helper, or `None` where there is no
    /// forward rule yet.
    fn tensor_tangent(&self, v: ValueId, name: &str, args: &[ValueId]) -> Option<TokenStream> {
        let cx = self.cx;
        let rt = cx.rt;
        let a = *args.first()?;
        let ta_own = self.tangent.get(&a);
        let av = cx.reference(a);
        let yv = cx.reference(v);
        let arg = |i: usize| args.get(i).map(|x| cx.graph.value_ident(*x));
        let one = quote!(&#rt::one());
        Some(match name {
            "dot" => {
                let b = *args.get(1)?;
                let bv = cx.reference(b);
                match (self.tangent_ref(a), self.tangent_ref(b)) {
                    (Some(ta), Some(tb)) => {
                        quote!(#rt::add(&#rt::dot(#ta, #bv), &#rt::dot(#av, #tb)))
                    }
                    (Some(ta), None) => quote!(#rt::dot(#ta, #bv)),
                    (None, Some(tb)) => quote!(#rt::dot(#av, #tb)),
                    (None, None) => return None,
                }
            }
            "t" => {
                let ta = ta_own?;
                quote!(#rt::t_adjoint(&#ta))
            }
            "sum" => {
                let ta = ta_own?;
                quote!(#ta.sum())
            }
            "mean" => {
                let ta = ta_own?;
                quote!(#ta.mean().unwrap())
            }
            "sum_axis" => {
                let (ta, axis) = (ta_own?, arg(1)?);
                quote!(#ta.sum_axis(#axis))
            }
            "mean_axis" => {
                let (ta, axis) = (ta_own?, arg(1)?);
                quote!(#ta.mean_axis(#axis).unwrap())
            }
            // The softmax's Jacobian is symmetric: its reverse rule is its forward rule.
            "softmax" => {
                let (ta, axis) = (ta_own?, arg(1)?);
                quote!(#rt::softmax_adjoint(#yv, #axis, &#ta))
            }
            "log_softmax" => {
                let (ta, axis) = (ta_own?, arg(1)?);
                quote!(#rt::log_softmax_tangent(#yv, #axis, &#ta))
            }
            // Scalar results: the gradient's inner product with the tangent.
            "log_sum_exp" => {
                let ta = ta_own?;
                quote!(#rt::tangent_inner(&#rt::log_sum_exp_adjoint(#av, #yv, #one), &#ta))
            }
            "cross_entropy" => {
                let (ta, labels) = (ta_own?, arg(1)?);
                quote!(#rt::tangent_inner(&#rt::cross_entropy_adjoint(#av, #labels, #one), &#ta))
            }
            "mse" => {
                let b = *args.get(1)?;
                let bv = cx.reference(b);
                let left = self.tangent_ref(a).map(
                    |ta| quote!(#rt::tangent_inner(&#rt::mse_adjoint_lhs(#av, #bv, #one), #ta)),
                );
                let right = self.tangent_ref(b).map(
                    |tb| quote!(#rt::tangent_inner(&#rt::mse_adjoint_rhs(#av, #bv, #one), #tb)),
                );
                match (left, right) {
                    (Some(l), Some(r)) => quote!(#l + #r),
                    (Some(t), None) | (None, Some(t)) => t,
                    (None, None) => return None,
                }
            }
            _ => return None,
        })
    }

    fn if_region(&mut self, r: &IfRegion, out: &mut TokenStream) {
        let cx = self.cx;
        let cond = cx.graph.value_ident(r.cond);
        let then_body = self.block(&r.then_block);
        let then_vals = self.merge_values(r, |m| m.1);
        let else_body = self.block(&r.else_block);
        let else_vals = self.merge_values(r, |m| m.2);
        let mut outs: Vec<TokenStream> = r
            .merges
            .iter()
            .map(|(o, _, _)| {
                let name = cx.graph.value_ident(*o);
                let mutability = cx.graph.node(*o).mutable.then(|| quote!(mut));
                quote!(#mutability #name)
            })
            .collect();
        for (o, _, _) in &r.merges {
            if self.active(*o) {
                let t = self.name(*o);
                let mutability = cx.graph.node(*o).mutable.then(|| quote!(mut));
                outs.push(quote!(#mutability #t));
                self.tangent.insert(*o, t);
            }
        }
        if outs.is_empty() {
            out.extend([quote!(if #cond { #then_body } else { #else_body })]);
        } else {
            out.extend([quote! {
                let (#(#outs,)*) = if #cond {
                    #then_body
                    (#(#then_vals,)*)
                } else {
                    #else_body
                    (#(#else_vals,)*)
                };
            }]);
        }
    }

    /// The values one side of a branch gives its merges, then their tangents.
    fn merge_values(
        &self,
        r: &IfRegion,
        pick: fn(&(ValueId, ValueId, ValueId)) -> ValueId,
    ) -> Vec<TokenStream> {
        let mut vals: Vec<TokenStream> = r
            .merges
            .iter()
            .map(|m| self.cx.owned_copy(pick(m)))
            .collect();
        for m in &r.merges {
            if self.active(m.0) {
                vals.push(self.tangent_or_zero(pick(m)));
            }
        }
        vals
    }

    fn loop_region(&mut self, l: &LoopRegion, out: &mut TokenStream) {
        let cx = self.cx;
        let graph = cx.graph;
        for c in &l.carried {
            let phi = graph.value_ident(c.phi);
            let init = cx.owned_copy(c.init);
            out.extend([quote!(let mut #phi = #init;)]);
            if self.active(c.phi) {
                let t = self.name(c.phi);
                let t_init = self.tangent_or_zero(c.init);
                out.extend([quote!(let mut #t = #t_init;)]);
                self.tangent.insert(c.phi, t);
            }
        }
        let mut body = self.block(&l.body);
        // Values and tangents for the next iteration, all read before any is set if needed.
        let mut updates = Vec::new();
        for c in &l.carried {
            if c.next != c.phi {
                let next = graph.value_ident(c.next);
                updates.push((graph.value_ident(c.phi), quote!(#next)));
                if self.active(c.phi) {
                    updates.push((self.name(c.phi), self.tangent_or_zero(c.next)));
                }
            }
        }
        body.extend([super::forward::carried_updates(updates)]);
        if let Some(broke) = l.broke {
            let broke = graph.value_ident(broke);
            body.extend([quote!(if #broke { break; })]);
        }
        out.extend([match &l.kind {
            LoopKind::For { iter, pattern, .. } => {
                let iter = graph.value_ident(*iter);
                quote_spanned!(l.span=> for #pattern in #iter { #body })
            }
            LoopKind::Loop => quote_spanned!(l.span=> loop { #body }),
        }]);
        for c in &l.carried {
            let exit = graph.value_ident(c.exit);
            let phi = graph.value_ident(c.phi);
            out.extend([quote!(let #exit = #phi;)]);
            if self.active(c.exit) {
                let t = self.name(c.exit);
                let t_phi = self.tangent_or_zero(c.phi);
                out.extend([quote!(let #t = #t_phi;)]);
                self.tangent.insert(c.exit, t);
            }
        }
    }
}
