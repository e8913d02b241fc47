//! The signature: which parameters are active, what their gradient types are, and what the
//! generated companions' signatures look like.
//!
//! The macro sees types only as syntax. A parameter is a float when its type is `f64`, `f32`, or
//! a generic parameter bounded by `Float` (or our `Real`); only floats can be active. Everything
//! here reports into [`Diagnostics`] and goes on, so every signature problem shows at once.

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericParam, Ident, ItemFn, Pat, ReturnType, Type, TypeParamBound, WherePredicate,
};

use crate::args::Options;
use crate::diag::Diagnostics;

/// One parameter of the user's function.
pub struct Param {
    /// Its name (parameters must be plain identifiers).
    pub ident: Ident,
    /// Its type as written.
    pub ty: Type,
    /// Whether its type is a float we can differentiate.
    pub is_float: bool,
    /// Whether the gradient is taken with respect to it.
    pub active: bool,
}

/// The parts of the signature the later stages need.
pub struct Signature {
    /// The parameters, in order.
    pub params: Vec<Param>,
    /// The return type (a float).
    pub ret: Type,
    /// Generic type parameters bounded by `Float`/`Real`: the companions bound them by `Real`.
    pub float_generics: Vec<Ident>,
}

impl Signature {
    /// The active parameters, in argument order.
    pub fn active(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.active)
    }
}

/// Reads the signature of `item` under `options`. Returns `None` when it is too broken to build
/// companion signatures from (errors are in `diag`).
pub fn parse_signature(
    item: &ItemFn,
    options: &Options,
    diag: &mut Diagnostics,
) -> Option<Signature> {
    let sig = &item.sig;
    if let Some(t) = &sig.asyncness {
        diag.error(
            t.span,
            "`#[differentiate]` cannot differentiate an `async fn`: make it a plain `fn`",
        );
    }
    if let Some(t) = &sig.unsafety {
        diag.error(
            t.span,
            "`#[differentiate]` does not accept `unsafe fn`: differentiated code must be safe Rust",
        );
    }
    if let Some(v) = &sig.variadic {
        diag.error(
            v.span(),
            "`#[differentiate]` cannot differentiate a variadic function",
        );
    }

    let float_generics = float_generic_params(item);
    let is_float_type = |ty: &Type| match ty {
        Type::Path(tp) if tp.qself.is_none() => {
            tp.path.is_ident("f64")
                || tp.path.is_ident("f32")
                || float_generics.iter().any(|g| tp.path.is_ident(g))
        }
        Type::Paren(p) => {
            matches!(&*p.elem, Type::Path(tp) if tp.path.is_ident("f64") || tp.path.is_ident("f32"))
        }
        _ => false,
    };

    let mut params = Vec::new();
    let mut broken = false;
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                diag.error(
                    r.span(),
                    "`#[differentiate]` does not support methods yet: write a free function that takes the fields it needs",
                );
                broken = true;
            }
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    let ty = (*pt.ty).clone();
                    let is_float = is_float_type(&ty);
                    params.push(Param {
                        ident: pi.ident.clone(),
                        ty,
                        is_float,
                        active: is_float,
                    });
                }
                other => {
                    diag.error(
                        other.span(),
                        "`#[differentiate]` needs each parameter to be a plain name, as in `x: f64`; destructure inside the body instead",
                    );
                    broken = true;
                }
            },
        }
    }

    if let Some(wrt) = &options.wrt {
        for p in &mut params {
            p.active = false;
        }
        for (i, name) in wrt.iter().enumerate() {
            if wrt[..i].iter().any(|earlier| earlier == name) {
                diag.error(
                    name.span(),
                    format!("`{name}` is listed twice in `wrt(...)`"),
                );
                continue;
            }
            if name == "self" {
                diag.error(
                    name.span(),
                    "`wrt(self)` needs methods, which `#[differentiate]` does not support yet",
                );
                continue;
            }
            match params.iter_mut().find(|p| p.ident == *name) {
                Some(p) if p.is_float => p.active = true,
                Some(p) => diag.error(
                    name.span(),
                    format!(
                        "`{name}` has type `{}`, which is not a float: only `f64`, `f32` and `T: Float` parameters can be differentiated; remove it from `wrt(...)`",
                        p.ty.to_token_stream()
                    ),
                ),
                None => {
                    let names: Vec<String> = params.iter().map(|p| format!("`{}`", p.ident)).collect();
                    let list = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
                    diag.error(
                        name.span(),
                        format!("`wrt` names `{name}`, but the function has no such parameter (its parameters: {list})"),
                    );
                }
            }
        }
    } else if !broken && !params.iter().any(|p| p.is_float) {
        diag.error(
            sig.paren_token.span.join(),
            "nothing to differentiate: no parameter is a float (`f64`, `f32` or a `T: Float`)",
        );
    }

    let ret = match &sig.output {
        ReturnType::Type(_, ty) if is_float_type(ty) => Some((**ty).clone()),
        ReturnType::Type(_, ty) => {
            diag.error(
                ty.span(),
                format!(
                    "`#[differentiate]` needs a function that returns a float (`f64`, `f32` or a `T: Float`), but this one returns `{}`",
                    ty.to_token_stream()
                ),
            );
            None
        }
        ReturnType::Default => {
            diag.error(
                sig.ident.span(),
                "`#[differentiate]` needs a function that returns a float (`f64`, `f32` or a `T: Float`), but this one returns nothing",
            );
            None
        }
    };

    if broken {
        return None;
    }
    Some(Signature {
        params,
        ret: ret?,
        float_generics,
    })
}

/// Type parameters with a `Float` or `Real` bound, inline or in the `where` clause.
fn float_generic_params(item: &ItemFn) -> Vec<Ident> {
    let is_float_bound = |b: &TypeParamBound| match b {
        TypeParamBound::Trait(t) => t
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Float" || s.ident == "Real"),
        _ => false,
    };
    let mut found: Vec<Ident> = Vec::new();
    for gp in &item.sig.generics.params {
        if let GenericParam::Type(tp) = gp {
            if tp.bounds.iter().any(is_float_bound) {
                found.push(tp.ident.clone());
            }
        }
    }
    if let Some(wc) = &item.sig.generics.where_clause {
        for pred in &wc.predicates {
            if let WherePredicate::Type(pt) = pred {
                if let Type::Path(tp) = &pt.bounded_ty {
                    if let Some(id) = tp.path.get_ident() {
                        if pt.bounds.iter().any(is_float_bound) && !found.contains(id) {
                            found.push(id.clone());
                        }
                    }
                }
            }
        }
    }
    found
}
