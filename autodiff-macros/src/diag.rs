//! The error collector: every error found in one function, reported together.
//!
//! Stages report into [`Diagnostics`] and keep going, so a user sees all the unsupported pieces
//! of a function in one build. Only the entry point turns the collection into `compile_error!`.

use proc_macro2::Span;
use std::fmt::Display;

/// The errors gathered while expanding one function.
#[derive(Default)]
pub struct Diagnostics {
    errors: Option<syn::Error>,
}

impl Diagnostics {
    /// Records an error at `span`.
    pub fn error(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error already built (for instance by a syn parser).
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(all) => all.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// Whether anything has been reported.
    pub fn has_errors(&self) -> bool {
        self.errors.is_some()
    }

    /// The combined error, if any.
    pub fn into_result(self) -> syn::Result<()> {
        match self.errors {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
