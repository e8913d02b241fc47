//! The `#[differentiate]` attribute. Use it through the `autodiff` crate, which documents it.
//!
//! The expansion is a pipeline, one module a stage:
//! [`args`] (the attribute's options) -> [`parse`] (the signature) -> [`lower`] (the body to the
//! [`ir`]) -> [`analyze`] (activity) -> [`codegen`] (forward replay and reverse sweep, calling
//! the adjoint [`rules`]). Every stage reports into [`diag::Diagnostics`]; this file is the one
//! place errors become `compile_error!`.
#![forbid(unsafe_code)]

mod analyze;
mod args;
mod codegen;
mod diag;
mod ir;
mod lower;
mod parse;
mod rules;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::ItemFn;

/// Generates `NAME_grad` and `NAME_vjp` beside the function. See the `autodiff` crate's docs.
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
            let error = syn::Error::new(
                proc_macro2::Span::call_site(),
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
        }
    });
    let sig = parse::parse_signature(&item_fn, &options, &mut diag);
    let graph = sig.as_ref().map(|s| lower::lower(&item_fn, s, &mut diag));

    let companions = match (&sig, &graph) {
        (Some(sig), Some(graph)) if !diag.has_errors() => {
            let activity = analyze::activity(graph, sig);
            codegen::generate(&item_fn, sig, graph, &activity, &options)
        }
        (Some(sig), _) => codegen::fallback(&item_fn, sig, &options),
        _ => TokenStream2::new(),
    };
    let errors = diag.into_result().err().map(|e| e.to_compile_error());
    quote! {
        #item_fn
        #errors
        #companions
    }
}
