//! The signature: which parameters are active, what their gradient types are, and whether the
//! companions' signatures can be built.
//!
//! The macro sees types only as syntax. A parameter is a float when its type is `f64`, `f32`, or
//! a generic parameter bounded by `Float` (or our `Real`); only floats can be active. Everything
//! here reports into [`Diagnostics`] and goes on, so every signature problem shows at once, and
//! the body is lowered (and its errors reported) even when the signature is broken.

use quote::ToTokens;
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
    /// Whether its type is one we can differentiate (a float, or an array or slice of them).
    pub is_float: bool,
    /// The type of its gradient, when it can have one.
    pub tangent: Option<Type>,
    /// Whether the parameter is a reference (`&[f64]`), which changes how its zero is made.
    pub is_ref: bool,
    /// Whether it is an ndarray tensor (`&Array2<f64>`, `ArrayView1<f32>`, ...).
    pub is_tensor: bool,
    /// Written `mut x` by the user.
    pub mutable: bool,
    /// Whether the gradient is taken with respect to it.
    pub active: bool,
}

/// The parts of the signature the later stages need.
pub struct Signature {
    /// The parameters that are plain names, in order.
    pub params: Vec<Param>,
    /// The return type, when it is a float or a tensor.
    pub ret: Option<Type>,
    /// The type of the returned value's adjoint (`d_out`): the float itself, or the owned
    /// array for a tensor.
    pub ret_tangent: Option<Type>,
    /// Whether the function returns a scalar (a float): only then is there a `NAME_grad`.
    pub ret_scalar: bool,
    /// Generic type parameters bounded by `Float`/`Real`: the companions bound them by `Real`.
    pub float_generics: Vec<Ident>,
    /// Whether some parameter could not be read (a pattern, `self`): no companion signature.
    pub broken: bool,
}

impl Signature {
    /// The active parameters, in argument order.
    pub fn active(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.active)
    }

    /// Whether the companions' signatures can be written.
    pub fn is_complete(&self) -> bool {
        !self.broken && self.ret.is_some()
    }
}

/// A type as a user writes it: `Vec<f64>`, not `Vec < f64 >`.
pub fn type_text(ty: &impl ToTokens) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (from, to) in [
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" ,", ","),
        (" :: ", "::"),
        (":: ", "::"),
        ("& ", "&"),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
        ("( ", "("),
        (" )", ")"),
        ("' ", "'"),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// Reads the signature of `item` under `options`, reporting what cannot be differentiated.
pub fn parse_signature(item: &ItemFn, options: &Options, diag: &mut Diagnostics) -> Signature {
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
        diag.error_spanned(
            v,
            "`#[differentiate]` cannot differentiate a variadic function",
        );
    }

    let float_generics = float_generic_params(item);
    let krate = &options.krate;
    let other_generics: Vec<&Ident> = sig
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) if !float_generics.contains(&t.ident) => Some(&t.ident),
            _ => None,
        })
        .collect();
    let is_float_type = |ty: &Type| match strip_parens(ty) {
        Type::Path(tp) if tp.qself.is_none() => {
            tp.path.is_ident("f64")
                || tp.path.is_ident("f32")
                || float_generics.iter().any(|g| tp.path.is_ident(g))
        }
        _ => false,
    };
    // A bare type parameter without a float bound, as in `fn f<T>(x: T) -> T`.
    let unbounded_generic = |ty: &Type| match strip_parens(ty) {
        Type::Path(tp) if tp.qself.is_none() => other_generics
            .iter()
            .find(|g| tp.path.is_ident(**g))
            .copied(),
        _ => None,
    };
    let mut bound_hint_given = false;
    let mut hint_bound = |diag: &mut Diagnostics, g: &Ident| {
        if !bound_hint_given {
            bound_hint_given = true;
            diag.error(
                g.span(),
                format!("`{g}` needs a float bound to be differentiated: write `{g}: num_traits::Float`"),
            );
        }
    };

    let mut params = Vec::new();
    let mut broken = false;
    for input in &sig.inputs {
        match input {
            // A method's receiver: a parameter named `self` (inactive unless `wrt(self)`).
            FnArg::Receiver(r) => {
                let ty = (*r.ty).clone();
                params.push(Param {
                    ident: Ident::new("self", r.self_token.span),
                    is_ref: matches!(strip_parens(&ty), Type::Reference(_)),
                    ty,
                    is_float: false,
                    tangent: None,
                    is_tensor: false,
                    mutable: r.mutability.is_some(),
                    active: false,
                });
            }
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    let ty = (*pt.ty).clone();
                    let tangent = tangent_type(&ty, &is_float_type, krate);
                    let is_float = tangent.is_some();
                    let is_ref = matches!(strip_parens(&ty), Type::Reference(_));
                    let is_tensor = tensor_tangent(&ty, &is_float_type, krate).is_some();
                    params.push(Param {
                        ident: pi.ident.clone(),
                        ty,
                        is_float,
                        tangent,
                        is_ref,
                        is_tensor,
                        mutable: pi.mutability.is_some(),
                        active: is_float,
                    });
                }
                other => {
                    diag.error_spanned(
                        other,
                        "`#[differentiate]` needs each parameter to be a plain name, as in `x: f64`; destructure inside the body instead",
                    );
                    broken = true;
                }
            },
        }
    }

    let explicit = options.wrt.is_some();
    if let Some(wrt) = &options.wrt {
        for p in &mut params {
            p.active = false;
        }
        for (i, name) in wrt.iter().enumerate() {
            if wrt[..i].iter().any(|earlier| earlier == name) {
                diag.error(
                    name.span(),
                    format!("`{name}` is listed twice in `wrt(...)`: remove the second `{name}`"),
                );
                continue;
            }
            if name == "self" && !params.iter().any(|p| p.ident == "self") {
                diag.error(
                    name.span(),
                    "`wrt(self)` names the receiver of a method, and this function has none",
                );
                continue;
            }
            match params.iter_mut().find(|p| p.ident == *name) {
                Some(p) if p.is_float => p.active = true,
                // A parameter struct (`#[derive(autodiff::Tangent)]`): its gradient is the
                // struct itself; a struct without the derive is reported by rustc at `zero_like`.
                Some(p) if unbounded_generic(&p.ty).is_none() && struct_tangent(&p.ty).is_some() => {
                    p.tangent = struct_tangent(&p.ty);
                    p.is_float = true;
                    p.active = true;
                }
                Some(p) => match unbounded_generic(&p.ty) {
                    Some(g) => hint_bound(diag, g),
                    None => diag.error(
                        name.span(),
                        format!(
                            "`{name}` has type `{}`, which is not a float: only `f64`, `f32`, `T: Float` parameters and arrays, slices and `Vec`s of them can be differentiated; remove it from `wrt(...)`",
                            type_text(&p.ty)
                        ),
                    ),
                },
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
    }

    if !explicit && !broken && !params.iter().any(|p| p.is_float) {
        match params.iter().find_map(|p| unbounded_generic(&p.ty)) {
            Some(g) => hint_bound(diag, g),
            None => diag.error(
                sig.paren_token.span.join(),
                "nothing to differentiate: no parameter is a float (`f64`, `f32` or a `T: Float`); add one, or remove `#[differentiate]`",
            ),
        }
    }

    let mut ret_tangent = None;
    let ret = match &sig.output {
        ReturnType::Type(_, ty) if is_float_type(ty) => {
            ret_tangent = Some(strip_parens(ty).clone());
            Some((**ty).clone())
        }
        ReturnType::Type(_, ty) if tensor_tangent(ty, &is_float_type, krate).is_some() => {
            ret_tangent = tensor_tangent(ty, &is_float_type, krate);
            Some((**ty).clone())
        }
        // An owned array of floats (`Vec<f64>`, `[f64; 3]`): a vector-valued function.
        ReturnType::Type(_, ty)
            if matches!(strip_parens(ty), Type::Path(_) | Type::Array(_))
                && tangent_type(ty, &is_float_type, krate).is_some() =>
        {
            ret_tangent = tangent_type(ty, &is_float_type, krate);
            Some((**ty).clone())
        }
        ReturnType::Type(_, ty) => {
            match unbounded_generic(ty) {
                Some(g) => hint_bound(diag, g),
                None => diag.error_spanned(
                    ty,
                    format!(
                        "`#[differentiate]` needs a function that returns one float (`f64`, `f32` or a `T: Float`), an array or `Vec` of floats, or an ndarray array of floats, but this one returns `{}`: return one of those",
                        type_text(ty)
                    ),
                ),
            }
            None
        }
        ReturnType::Default => {
            diag.error(
                sig.ident.span(),
                "`#[differentiate]` needs a function that returns a float, but this one returns nothing: add `-> f64` and end the body with the value",
            );
            None
        }
    };
    let ret_scalar = matches!(&sig.output, ReturnType::Type(_, ty) if is_float_type(ty));

    Signature {
        params,
        ret,
        ret_tangent,
        ret_scalar,
        float_generics,
        broken,
    }
}

fn strip_parens(mut ty: &Type) -> &Type {
    while let Type::Paren(p) = ty {
        ty = &p.elem;
    }
    ty
}

/// The gradient type of a parameter type: the same float for a float; `[G; N]` for `[T; N]`
/// and `&[T; N]`; `Vec<G>` for `&[T]`, `&Vec<T>` and `Vec<T>`, where `G` is `T`'s gradient
/// type (so `&[Vec<f64>]` has `Vec<Vec<f64>>`). `None` when the type cannot have a gradient.
fn tangent_type(ty: &Type, is_float: &dyn Fn(&Type) -> bool, krate: &syn::Path) -> Option<Type> {
    if is_float(ty) {
        return Some(strip_parens(ty).clone());
    }
    if let Some(t) = tensor_tangent(ty, is_float, krate) {
        return Some(t);
    }
    match strip_parens(ty) {
        Type::Array(a) => {
            let elem = tangent_type(&a.elem, is_float, krate)?;
            let len = &a.len;
            Some(syn::parse_quote!([#elem; #len]))
        }
        Type::Slice(s) => {
            let elem = tangent_type(&s.elem, is_float, krate)?;
            Some(syn::parse_quote!(::std::vec::Vec<#elem>))
        }
        Type::Reference(r) if !is_float(&r.elem) => tangent_type(&r.elem, is_float, krate),
        Type::Path(tp) if tp.qself.is_none() => {
            let last = tp.path.segments.last()?;
            if last.ident != "Vec" {
                return None;
            }
            let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            let Some(syn::GenericArgument::Type(elem)) = args.args.first() else {
                return None;
            };
            let elem = tangent_type(elem, is_float, krate)?;
            Some(syn::parse_quote!(::std::vec::Vec<#elem>))
        }
        _ => None,
    }
}

/// The gradient type of an ndarray tensor type of floats: the owned array of the same
/// dimension, named through the facade (`::autodiff::ndarray::Array2<f64>` for `&Array2<f64>`,
/// `ArrayView2<'_, f64>` or `ArcArray2<f64>`). `None` for anything else.
pub fn tensor_tangent(
    ty: &Type,
    is_float: &dyn Fn(&Type) -> bool,
    krate: &syn::Path,
) -> Option<Type> {
    let tp = match strip_parens(ty) {
        Type::Reference(r) => return tensor_tangent(&r.elem, is_float, krate),
        Type::Path(tp) if tp.qself.is_none() => tp,
        _ => return None,
    };
    let last = tp.path.segments.last()?;
    let name = last.ident.to_string();
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    let elem = *types.first()?;
    if !is_float(elem) {
        return None;
    }
    // `Array<T, D>` and friends name the dimension; `Array2<T>` and friends in their name.
    let suffix = ["ArrayView", "ArcArray", "CowArray", "Array"]
        .iter()
        .find_map(|stem| name.strip_prefix(stem))?;
    match (suffix, types.as_slice()) {
        ("", [_, dim]) => Some(syn::parse_quote!(#krate::ndarray::Array<#elem, #dim>)),
        ("D" | "0" | "1" | "2" | "3" | "4" | "5" | "6", [_]) => {
            let owned = syn::Ident::new(&format!("Array{suffix}"), last.ident.span());
            Some(syn::parse_quote!(#krate::ndarray::#owned<#elem>))
        }
        _ => None,
    }
}

/// The gradient type of a parameter struct named in `wrt(...)`: the struct itself, owned
/// (`Params` for `&Params`). `None` for types that are not structs of the user's: primitives
/// and the standard library's containers.
fn struct_tangent(ty: &Type) -> Option<Type> {
    const NOT_STRUCTS: &[&str] = &[
        "String", "Option", "Result", "Box", "Rc", "Arc", "Cell", "RefCell", "HashMap", "BTreeMap",
        "HashSet", "BTreeSet", "Range", "Vec", "VecDeque",
    ];
    match strip_parens(ty) {
        Type::Reference(r) if r.mutability.is_none() => struct_tangent(&r.elem),
        Type::Path(tp) if tp.qself.is_none() => {
            let last = tp.path.segments.last()?;
            let name = last.ident.to_string();
            let struct_like = name.starts_with(|c: char| c.is_ascii_uppercase())
                && !NOT_STRUCTS.contains(&name.as_str())
                && !name.starts_with("Array")
                && !name.starts_with("ArcArray")
                && !name.starts_with("CowArray");
            struct_like.then(|| Type::Path(tp.clone()))
        }
        _ => None,
    }
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
