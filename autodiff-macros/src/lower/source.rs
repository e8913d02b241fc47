//! The source text of an expression, as the graph export and gradient traces label a node with
//! it: `x * f64::from(i)`, `v1.sin()`.
//!
//! Written here rather than with `to_string()`: that prints differently in and out of the
//! compiler, and printing every subexpression of a long expression in full made lowering
//! quadratic in its length. A label is at most [`MAX_CHARS`] characters, and an expression of more
//! than [`MAX_TOKENS`] tokens is not printed at all (its node is labelled by its operation only).

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::Visit;
use syn::Expr;

/// The longest label kept, in characters (the graph export shortens labels further).
const MAX_CHARS: usize = 80;

/// Expressions bigger than this, counted in syntax nodes, get no label.
const MAX_TOKENS: usize = 48;

/// The text of `expr`, or `None` when it is too big to label.
pub fn source_text(expr: &Expr) -> Option<String> {
    let mut size = Size(0);
    size.visit_expr(expr);
    if size.0 > MAX_TOKENS {
        return None;
    }
    let mut out = Printer::default();
    out.stream(expr.to_token_stream());
    Some(out.text)
}

/// Counts an expression's syntax nodes, stopping early once it is too big to label.
struct Size(usize);

impl<'ast> Visit<'ast> for Size {
    fn visit_expr(&mut self, e: &'ast Expr) {
        self.0 += 1;
        if self.0 <= MAX_TOKENS {
            syn::visit::visit_expr(self, e);
        }
    }
}

/// What was printed last, for the spacing of what comes next.
#[derive(Clone, Copy, PartialEq)]
enum Last {
    /// Nothing yet, or an opening delimiter: no space.
    Start,
    /// A word, literal or group: a space before another word, none before `(`, `.` or `,`.
    Word,
    /// A punctuation character joined to the next one (`:` of `::`, `+` of `+=`).
    Joint,
    /// A punctuation character that takes no space after it (`.`, `::`, `&`, `!`, `#`, a
    /// unary `-`).
    Tight,
    /// An operator: spaces around it.
    Operator,
}

#[derive(Default)]
struct Printer {
    text: String,
    last: Option<Last>,
    /// `::` just printed: a `<` after it opens generic arguments.
    after_path: bool,
    /// Open generic arguments (`::<`), whose `<` and `>` take no spaces.
    angles: usize,
}

impl Printer {
    fn push(&mut self, space: bool, text: &str, last: Last) {
        if self.text.len() >= MAX_CHARS {
            return;
        }
        if space {
            self.text.push(' ');
        }
        self.text.push_str(text);
        self.last = Some(last);
    }

    fn stream(&mut self, stream: TokenStream) {
        for tt in stream {
            let last = self.last.unwrap_or(Last::Start);
            let after_path = std::mem::take(&mut self.after_path);
            match tt {
                TokenTree::Ident(i) => {
                    let space = matches!(last, Last::Word | Last::Operator);
                    self.push(space, &i.to_string(), Last::Word);
                }
                TokenTree::Literal(l) => {
                    let space = matches!(last, Last::Word | Last::Operator);
                    self.push(space, &l.to_string(), Last::Word);
                }
                TokenTree::Group(g) => {
                    let (open, close) = match g.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::Brace => ("{ ", " }"),
                        Delimiter::None => ("", ""),
                    };
                    // A call or an index glues to what it follows; a parenthesised operand
                    // does not.
                    let glued =
                        matches!(g.delimiter(), Delimiter::Parenthesis | Delimiter::Bracket)
                            && last == Last::Word;
                    let space = !glued && matches!(last, Last::Word | Last::Operator);
                    self.push(space, open, Last::Start);
                    self.stream(g.stream());
                    self.push(false, close, Last::Word);
                }
                TokenTree::Punct(p) => {
                    let c = p.as_char();
                    let joint = p.spacing() == Spacing::Joint;
                    let mut buf = [0; 4];
                    let text = c.encode_utf8(&mut buf);
                    if last == Last::Joint {
                        // The second character of `::`, `+=`, `->`, `..`.
                        let next = if joint {
                            Last::Joint
                        } else if c == ':' || c == '.' {
                            self.after_path = c == ':';
                            Last::Tight
                        } else {
                            Last::Operator
                        };
                        self.push(false, text, next);
                        continue;
                    }
                    if c == '<' && (after_path || self.angles > 0) {
                        self.angles += 1;
                        self.push(false, text, Last::Tight);
                        continue;
                    }
                    if c == '>' && self.angles > 0 {
                        self.angles -= 1;
                        self.push(false, text, Last::Word);
                        continue;
                    }
                    let starts_path = c == ':' && joint;
                    let next = if joint {
                        Last::Joint
                    } else {
                        match c {
                            '.' | '&' | '!' | '#' | '\'' => Last::Tight,
                            ',' | ';' => Last::Operator,
                            '-' | '*' if last != Last::Word => Last::Tight,
                            _ => Last::Operator,
                        }
                    };
                    let space = match c {
                        ',' | ';' | '.' | '?' => false,
                        _ if starts_path => false,
                        _ => matches!(last, Last::Word | Last::Operator),
                    };
                    self.push(space, text, next);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(src: &str) -> Option<String> {
        source_text(&syn::parse_str(src).expect("an expression"))
    }

    #[test]
    fn labels_read_as_written() {
        for (src, want) in [
            ("x * f64::from(i)", "x * f64::from(i)"),
            ("v1.sin()", "v1.sin()"),
            ("-v6 + v5.exp().ln()", "-v6 + v5.exp().ln()"),
            ("1.0 - x[i]", "1.0 - x[i]"),
            ("(a + b) * c", "(a + b) * c"),
            ("x.powi(2) + y", "x.powi(2) + y"),
            ("a += b", "a += b"),
            ("a < b && c >= d", "a < b && c >= d"),
            ("v.iter().sum::<f64>()", "v.iter().sum::<f64>()"),
            ("f(&x, -y, *z)", "f(&x, -y, *z)"),
            ("!done", "!done"),
            ("0..n", "0..n"),
            ("x as f64", "x as f64"),
            ("s.max(t) - 2.0 * u", "s.max(t) - 2.0 * u"),
        ] {
            assert_eq!(text(src).as_deref(), Some(want), "{src}");
        }
    }

    #[test]
    fn long_expressions_are_cut_or_not_labelled() {
        let long: Vec<String> = (0..20).map(|i| format!("x{i}")).collect();
        let label = text(&long.join(" + ")).expect("twenty terms are labelled");
        assert!(label.len() <= MAX_CHARS + 4, "{label}");
        let huge: Vec<String> = (0..200).map(|i| format!("x{i}")).collect();
        assert_eq!(text(&huge.join(" + ")), None);
    }
}
