//! `#[derive(Tangent)]`: a struct of floats, arrays and tensors (and nested structs that derive
//! it) becomes a value `#[differentiate]` can take as an active argument, with itself as its
//! gradient type, and gets the vector-space operations of a training loop.
//!
//! Input: `struct Mlp { w1: Array2<f64>, b1: Array1<f64> }`.
//! Output (abridged): `impl ZeroLike for Mlp { type Tangent = Mlp; .. }`, `impl Accumulate`,
//! `impl CalleeGradient`, `impl Tangent` (`scaled_add`, `inner`), each fieldwise.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::{Data, DeriveInput, Fields, Member};

/// The impls for `input`, or a compile error for anything but a struct.
pub fn derive_tangent(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let Data::Struct(data) = &input.data else {
        return syn::Error::new_spanned(
            &input.ident,
            "`#[derive(Tangent)]` works on structs of floats, arrays and ndarray tensors: an enum or a union has no gradient to add up",
        )
        .to_compile_error();
    };
    let mut krate: syn::Path = syn::parse_quote!(::autodiff);
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("tangent")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                krate = meta.value()?.parse()?;
                Ok(())
            } else {
                Err(meta.error(
                    "`#[tangent(...)]` takes `crate = path` only, the path of the `autodiff` crate if it was renamed",
                ))
            }
        });
        if let Err(e) = parsed {
            return e.to_compile_error();
        }
    }
    let rt = quote!(#krate::__private);
    let name = &input.ident;
    let members: Vec<Member> = match &data.fields {
        Fields::Named(f) => f
            .named
            .iter()
            .filter_map(|f| f.ident.clone().map(Member::Named))
            .collect(),
        Fields::Unnamed(f) => (0..f.unnamed.len())
            .map(|i| {
                Member::Unnamed(syn::Index {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    span: Span::call_site(),
                })
            })
            .collect(),
        Fields::Unit => Vec::new(),
    };
    let types: Vec<&syn::Type> = data.fields.iter().map(|f| &f.ty).collect();
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut predicates: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(ToTokens::to_token_stream).collect())
        .unwrap_or_default();
    // Bounds on the fields only for a generic struct: for concrete field types rustc checks the
    // impls themselves (and bounds on them can send its solver in circles).
    let generic = input.generics.type_params().next().is_some();
    let field_bounds = |t: &&syn::Type| generic.then(|| t.to_token_stream());
    let zero_bounds: Vec<TokenStream> = types
        .iter()
        .filter_map(field_bounds)
        .map(|t| quote!(#t: #rt::ZeroLike<Tangent = #t> + #rt::Accumulate))
        .collect();
    let mut base = predicates.clone();
    base.extend(zero_bounds.iter().cloned());
    let construct = match &data.fields {
        Fields::Named(_) => {
            quote!(#name { #(#members: #rt::ZeroLike::zero_like(&self.#members)),* })
        }
        Fields::Unnamed(_) => quote!(#name ( #(#rt::ZeroLike::zero_like(&self.#members)),* )),
        Fields::Unit => quote!(#name),
    };
    let scalar = match types.first() {
        Some(first) => quote!(<#first as #rt::Tangent>::Scalar),
        None => quote!(f64),
    };
    predicates.extend(zero_bounds);
    // The first field names the scalar type; the others must have the same.
    if generic {
        predicates.extend(types.iter().enumerate().map(|(i, t)| {
            if i == 0 {
                quote!(#t: #rt::Tangent)
            } else {
                quote!(#t: #rt::Tangent<Scalar = #scalar>)
            }
        }));
    }
    quote! {
        impl #impl_generics #rt::ZeroLike for #name #ty_generics where #(#base,)* {
            type Tangent = Self;
            fn zero_like(&self) -> Self {
                #construct
            }
        }

        impl #impl_generics #rt::Accumulate for #name #ty_generics where #(#base,)* {
            fn accumulate(&mut self, contribution: Self) {
                #(#rt::Accumulate::accumulate(&mut self.#members, contribution.#members);)*
            }
        }

        impl #impl_generics #rt::CalleeGradient for #name #ty_generics where #(#predicates,)* {
            type Gradient = Self;
            type Scalar = #scalar;
            fn into_gradient(self) -> Self {
                self
            }
            fn scaled(mut self, d: Self::Scalar) -> Self {
                let mut zero = #rt::ZeroLike::zero_like(&self);
                #rt::Tangent::scaled_add(&mut zero, d, &self);
                self = zero;
                self
            }
        }

        impl #impl_generics #rt::Tangent for #name #ty_generics where #(#predicates,)* {
            type Scalar = #scalar;
            fn scaled_add(&mut self, alpha: Self::Scalar, other: &Self) {
                #(#rt::Tangent::scaled_add(&mut self.#members, alpha, &other.#members);)*
            }
            fn inner(&self, other: &Self) -> Self::Scalar {
                #rt::zero::<Self::Scalar>() #(+ #rt::Tangent::inner(&self.#members, &other.#members))*
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::derive_tangent;
    use quote::quote;

    /// `#[tangent(crate = path)]` puts the renamed crate's path in every impl; anything else in
    /// `#[tangent(...)]` is an error naming what it takes.
    #[test]
    fn the_crate_can_be_renamed() {
        let out = derive_tangent(quote! {
            #[tangent(crate = ad)]
            struct Spring { k: f64, c: [f64; 2] }
        })
        .to_string();
        assert!(out.contains("ad :: __private"), "{out}");
        assert!(!out.contains(":: autodiff"), "{out}");
        let plain = derive_tangent(quote!(
            struct Spring {
                k: f64,
            }
        ))
        .to_string();
        assert!(plain.contains(":: autodiff :: __private"), "{plain}");
        let wrong = derive_tangent(quote! {
            #[tangent(krate = ad)]
            struct Spring { k: f64 }
        })
        .to_string();
        assert!(
            wrong.contains("compile_error") && wrong.contains("crate = path"),
            "{wrong}"
        );
    }
}
