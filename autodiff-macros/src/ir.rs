//! The intermediate representation: SSA values, one operation per node, in structured blocks.
//!
//! A [`Graph`] holds every value the function computes as a [`Node`] indexed by a [`ValueId`]
//! (a `u32`, as in cranelift), each with the span of the user's expression it came from. The
//! order of evaluation is the [`Block`] of [`Stmt`]s: a node is evaluated where its `Stmt::Eval`
//! stands. Blocks are the unit the later regions (branches, loops) are built from; the lowering
//! of this version produces straight-line blocks only.
//!
//! The IR says nothing about types: a node is `mul(a, b)`, whatever `a` and `b` are. The runtime
//! picks the rule for the operand types.

use proc_macro2::{Span, TokenStream};
use syn::{Ident, Type};

/// An SSA value: the index of its node in [`Graph::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValueId(pub u32);

impl ValueId {
    /// The index into [`Graph::nodes`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// How the user spelled a float method: `x.sin()` or `f64::sin(x)`. The forward pass replays
/// the user's spelling so that it resolves exactly as the original does.
#[derive(Clone, Debug)]
pub enum CallForm {
    /// `receiver.name(args)`.
    Method(Ident),
    /// `path(receiver, args)`, as in `f64::sin(x)` or `T::powi(x, 2)`: the path as written.
    Path(TokenStream),
}

/// A differentiable elementwise operation of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnaryFn {
    /// The method name (`sin`), or `neg` for unary minus.
    pub name: &'static str,
}

/// A differentiable operation of two operands (`+ - * /` and two-argument float methods).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinaryFn {
    /// `add sub mul div` for the operators, else the method name (`powf`, `atan2`, ...).
    pub name: &'static str,
}

/// What a node computes.
#[derive(Clone, Debug)]
pub enum Op {
    /// The function's parameter with this index.
    Param(usize),
    /// Code with no derivative, emitted as written (its variables renamed to their values):
    /// literals, constants, inactive subexpressions, comparisons, `floor` and friends.
    Verbatim(TokenStream),
    /// `-x`, `x.sin()`, ...
    Unary(UnaryFn, CallForm, ValueId),
    /// `a + b`, `a.powf(b)`, ...
    Binary(BinaryFn, Option<CallForm>, ValueId, ValueId),
    /// `x.powi(n)`: `n` is an integer and never active.
    Powi(CallForm, ValueId, ValueId),
    /// `a.mul_add(b, c)`.
    MulAdd(CallForm, ValueId, ValueId, ValueId),
    /// `x.clamp(lo, hi)`.
    Clamp(CallForm, ValueId, ValueId, ValueId),
    /// A copy of a value, made to carry a type annotation (`let a: f64 = b;`).
    Copy(ValueId),
}

impl Op {
    /// The values this operation reads, in operand order.
    pub fn operands(&self) -> Vec<ValueId> {
        match self {
            Op::Param(_) | Op::Verbatim(_) => Vec::new(),
            Op::Unary(_, _, x) | Op::Copy(x) => vec![*x],
            Op::Binary(_, _, a, b) | Op::Powi(_, a, b) => vec![*a, *b],
            Op::MulAdd(_, a, b, c) | Op::Clamp(_, a, b, c) => vec![*a, *b, *c],
        }
    }

    /// The operands that carry a derivative (the exponent of `powi` does not).
    pub fn differentiable_operands(&self) -> Vec<ValueId> {
        match self {
            Op::Powi(_, x, _) => vec![*x],
            other => other.operands(),
        }
    }
}

/// One value of the function.
#[derive(Clone, Debug)]
pub struct Node {
    /// What it computes.
    pub op: Op,
    /// The user's expression it came from.
    pub span: Span,
    /// The user variable it was first bound to, which names it in the generated code.
    pub hint: Option<String>,
    /// A type annotation from the user's `let`.
    pub ty: Option<Type>,
}

/// A statement of the forward program.
#[derive(Clone, Debug)]
pub enum Stmt {
    /// Evaluate a node and bind its value.
    Eval(ValueId),
    /// Statements kept as written (`println!`, items), preceded by bindings of the user
    /// variables they mention to those variables' current values.
    Verbatim {
        /// `(user name, value)` pairs to bind first.
        bindings: Vec<(Ident, ValueId)>,
        /// The statement itself.
        tokens: TokenStream,
    },
}

/// A sequence of statements (a function body; later, a branch or loop body).
#[derive(Clone, Debug, Default)]
pub struct Block {
    /// In evaluation order.
    pub stmts: Vec<Stmt>,
}

/// The whole function.
#[derive(Clone, Debug)]
pub struct Graph {
    /// Every value, indexed by [`ValueId`].
    pub nodes: Vec<Node>,
    /// The forward program.
    pub body: Block,
    /// The value the function returns.
    pub ret: ValueId,
    /// Parameter names, indexed like [`Op::Param`].
    pub param_names: Vec<Ident>,
}

impl Graph {
    /// The node behind a value.
    pub fn node(&self, v: ValueId) -> &Node {
        &self.nodes[v.index()]
    }

    /// The identifier the generated code binds a value to; see [`value_ident`].
    pub fn value_ident(&self, v: ValueId) -> Ident {
        value_ident(&self.nodes, &self.param_names, v)
    }

    /// The identifier of a value's adjoint: `__d_{variable}_{id}` or `__d_t{id}`.
    pub fn adjoint_ident(&self, v: ValueId) -> Ident {
        let hint = match self.node(v).op {
            Op::Param(i) => self.param_names.get(i).map(ToString::to_string),
            _ => self.node(v).hint.clone(),
        };
        let base = value_name(hint.as_deref(), v);
        Ident::new(&format!("__d{}", &base[1..]), Span::mixed_site())
    }
}

/// The identifier the generated code binds a value to: the parameter's own name for a
/// parameter (the generated code never shadows it), else `__{variable}_{id}` or `__t{id}`, built
/// at the mixed-site span so that no user name can clash with it.
pub fn value_ident(nodes: &[Node], param_names: &[Ident], v: ValueId) -> Ident {
    let node = &nodes[v.index()];
    if let Op::Param(i) = node.op {
        if let Some(name) = param_names.get(i) {
            return name.clone();
        }
    }
    Ident::new(&value_name(node.hint.as_deref(), v), Span::mixed_site())
}

/// `__{hint}_{id}` or `__t{id}`. The id ends every name and is unique, so no two values share a
/// name. Raw identifiers (`r#type`) drop their prefix.
fn value_name(hint: Option<&str>, v: ValueId) -> String {
    match hint {
        Some(h) => format!("__{}_{}", h.trim_start_matches("r#"), v.0),
        None => format!("__t{}", v.0),
    }
}

/// The IR as text, one statement a line, for tests and for reading:
/// `%3 = mul(%1, %2) ; a` (the variable a value was first bound to follows `;`).
impl std::fmt::Display for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let args = |ids: &[ValueId]| {
            ids.iter()
                .map(|v| format!("%{}", v.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (i, node) in self.nodes.iter().enumerate() {
            if let Op::Param(p) = node.op {
                let name = self
                    .param_names
                    .get(p)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                writeln!(f, "%{i} = param {name}")?;
            }
        }
        for stmt in &self.body.stmts {
            match stmt {
                Stmt::Eval(v) => {
                    let node = self.node(*v);
                    let op = match &node.op {
                        Op::Param(_) => continue,
                        Op::Verbatim(t) => format!("verbatim `{t}`"),
                        Op::Unary(u, _, x) => format!("{}({})", u.name, args(&[*x])),
                        Op::Binary(b, _, l, r) => format!("{}({})", b.name, args(&[*l, *r])),
                        Op::Powi(_, x, n) => format!("powi({})", args(&[*x, *n])),
                        Op::MulAdd(_, a, b, c) => format!("mul_add({})", args(&[*a, *b, *c])),
                        Op::Clamp(_, x, lo, hi) => format!("clamp({})", args(&[*x, *lo, *hi])),
                        Op::Copy(x) => format!("copy({})", args(&[*x])),
                    };
                    match &node.hint {
                        Some(h) => writeln!(f, "%{} = {op} ; {h}", v.0)?,
                        None => writeln!(f, "%{} = {op}", v.0)?,
                    }
                }
                Stmt::Verbatim { tokens, .. } => writeln!(f, "keep `{tokens}`")?,
            }
        }
        write!(f, "return %{}", self.ret.0)
    }
}
