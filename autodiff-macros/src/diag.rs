//! The error collector: every error found in one function, reported together.
//!
//! Stages report into [`Diagnostics`] and keep going, so a user sees all the unsupported pieces
//! of a function in one build. Only the entry point turns the collection into `compile_error!`.

use proc_macro2::Span;
use quote::ToTokens;
use std::fmt::Display;

/// The errors gathered while expanding one function.
#[derive(Default)]
pub struct Diagnostics {
    errors: Option<syn::Error>,
    /// Code that rustc itself rejects in the original function (a wrong argument count, an
    /// operator floats do not have): generating from it is pointless, and a second message
    /// from us would only repeat rustc's.
    left_to_rustc: bool,
}

impl Diagnostics {
    /// Records an error at `span`.
    pub fn error(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error underlining all of `tokens` (the whole expression, not its first token).
    pub fn error_spanned(&mut self, tokens: &dyn ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens.to_token_stream(), message));
    }

    /// Notes code that rustc rejects on the original function: no companion is generated from
    /// it, and no message of ours is added to rustc's.
    pub fn left_to_rustc(&mut self) {
        self.left_to_rustc = true;
    }

    /// Whether anything stops code generation: an error of ours or one left to rustc.
    pub fn blocks_codegen(&self) -> bool {
        self.errors.is_some() || self.left_to_rustc
    }

    /// Records an error already built (for instance by a syn parser).
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(all) => all.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// Takes over everything `other` collected.
    pub fn absorb(&mut self, other: Diagnostics) {
        if let Some(e) = other.errors {
            self.push(e);
        }
        self.left_to_rustc |= other.left_to_rustc;
    }

    /// How many errors have been reported so far.
    pub fn error_count(&self) -> usize {
        self.errors
            .as_ref()
            .map_or(0, |e| e.clone().into_iter().count())
    }

    /// The combined error, if any.
    pub fn into_result(self) -> syn::Result<()> {
        match self.errors {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
