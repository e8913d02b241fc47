//! The attribute's options: `#[differentiate(wrt(x, y), crate = path)]`.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Ident, Path, Token};

/// What the user wrote inside `#[differentiate(...)]`.
pub struct Options {
    /// `wrt(a, b)`: the only active parameters. `None` means every float parameter.
    pub wrt: Option<Vec<Ident>>,
    /// Where the facade crate is: `::autodiff` unless `crate = path` says otherwise.
    pub krate: Path,
    /// `vjp = path`: a custom derivative. The body is not differentiated; `NAME_vjp` calls the
    /// user's rule, which has `NAME_vjp`'s signature.
    pub vjp: Option<Path>,
    /// `forward`: also generate `NAME_jvp`, forward mode.
    pub forward: bool,
    /// `trace`: also generate `NAME_trace`, the gradient with every value and adjoint recorded.
    pub trace: bool,
}

/// Parses the attribute's arguments.
pub fn parse_options(attr: TokenStream) -> syn::Result<Options> {
    let mut wrt: Option<Vec<Ident>> = None;
    let mut krate: Option<Path> = None;
    let mut vjp: Option<Path> = None;
    let mut forward = false;
    let mut trace = false;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("wrt") {
            if wrt.is_some() {
                return Err(meta
                    .error("`wrt` is given twice: list every active parameter in one `wrt(...)`"));
            }
            if !meta.input.peek(syn::token::Paren) {
                return Err(
                    meta.error("write the active parameters in parentheses, as in `wrt(x, y)`")
                );
            }
            let content;
            syn::parenthesized!(content in meta.input);
            let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                &content,
                syn::ext::IdentExt::parse_any,
            )?;
            if names.is_empty() {
                return Err(
                    meta.error("`wrt()` is empty: name at least one parameter, as in `wrt(x)`")
                );
            }
            wrt = Some(names.into_iter().collect());
            Ok(())
        } else if meta.path.is_ident("crate") {
            if !meta.input.peek(Token![=]) {
                return Err(meta
                    .error("write the path of the `autodiff` crate, as in `crate = ::autodiff`"));
            }
            let path: syn::Path = meta.value()?.parse()?;
            // Generated code `use`s the crate's path, where `Self` cannot be named.
            if let Some(s) = path.segments.iter().find(|s| s.ident == "Self") {
                return Err(syn::Error::new_spanned(
                    s,
                    "the crate's path cannot go through `Self`: write it as in `crate = ::autodiff` or `crate = my_crate::autodiff`",
                ));
            }
            if let Some(s) = path
                .segments
                .iter()
                .find(|s| !matches!(s.arguments, syn::PathArguments::None))
            {
                return Err(syn::Error::new_spanned(
                    s,
                    "the crate's path takes no generic arguments: write it as in `crate = ::autodiff` or `crate = my_crate::autodiff`",
                ));
            }
            krate = Some(path);
            Ok(())
        } else if meta.path.is_ident("forward") || meta.path.is_ident("trace") {
            let name = if meta.path.is_ident("forward") {
                "forward"
            } else {
                "trace"
            };
            if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                return Err(meta.error(format!(
                    "`{name}` takes no value: write it alone, as in `#[differentiate({name})]`"
                )));
            }
            if (name == "forward" && forward) || (name == "trace" && trace) {
                return Err(meta.error(format!("`{name}` is given twice: write it once")));
            }
            if name == "trace" {
                trace = true;
                return Ok(());
            }
            if vjp.is_some() {
                return Err(meta.error(
                    "`forward` cannot go with a custom `vjp = rule`: the rule gives the reverse pass only, so there is no forward mode to generate; drop `forward`, or the rule",
                ));
            }
            forward = true;
            Ok(())
        } else if meta.path.is_ident("vjp") {
            if !meta.input.peek(Token![=]) {
                return Err(meta.error(
                    "name the function that computes the derivative, as in `vjp = my_rule`",
                ));
            }
            if forward {
                return Err(meta.error(
                    "a custom `vjp = rule` cannot go with `forward`: the rule gives the reverse pass only, so there is no forward mode to generate; drop `forward`, or the rule",
                ));
            }
            let input = meta.value()?;
            let mut path: Path = input.parse()?;
            if input.peek(syn::token::Paren) {
                return Err(input.error(
                    "name the rule as a function path, as in `vjp = my_rule` or `vjp = my_rule::<f64>`: `NAME_vjp` calls it with its own arguments",
                ));
            }
            // The rule is named in an expression: generic arguments need the turbofish there
            // (`rule::<f64>`), which a path in an attribute may leave out (`rule<f64>`).
            for s in &mut path.segments {
                match &mut s.arguments {
                    syn::PathArguments::None => {}
                    syn::PathArguments::AngleBracketed(a) => {
                        a.colon2_token.get_or_insert_with(Default::default);
                    }
                    syn::PathArguments::Parenthesized(_) => {
                        return Err(syn::Error::new_spanned(
                            s,
                            "name the rule as a function path, as in `vjp = my_rule` or `vjp = my_rule::<f64>`",
                        ));
                    }
                }
            }
            vjp = Some(path);
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown option `{}`: `#[differentiate]` takes `wrt(x, ...)`, `forward`, `trace`, `vjp = path` and `crate = path`",
                path_text(&meta.path)
            )))
        }
    });
    parser.parse2(attr)?;
    Ok(Options {
        wrt,
        krate: krate.unwrap_or_else(|| syn::parse_quote!(::autodiff)),
        vjp,
        forward,
        trace,
    })
}

fn path_text(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
