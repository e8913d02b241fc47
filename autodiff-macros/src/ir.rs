//! The intermediate representation: SSA values, one operation per node, in structured blocks.
//!
//! A [`Graph`] holds every value the function computes as a [`Node`] indexed by a [`ValueId`]
//! (a `u32`, as in cranelift), each with the span of the user's expression it came from. The
//! order of evaluation is the [`Block`] of [`Stmt`]s: a node is evaluated where its `Stmt::Eval`
//! stands, and regions ([`IfRegion`], [`LoopRegion`]) hold blocks of their own.
//!
//! Values are immutable, with two exceptions that mirror what the generated code does:
//! - a loop's carried value ([`Carried::phi`]) is the variable's value at the start of each
//!   iteration, held in one mutable binding that the loop updates at the end of the iteration;
//! - an array that is written to (`y[i] = v`, a [`Stmt::Store`]) is one mutable binding changed
//!   in place. Reads of it ([`Op::Index`]) are scalar values of their own, so the reverse pass
//!   never needs an array's old contents: only the index, and the adjoint array.
//!
//! Every value has a *home* block (where it is defined). A value that the reverse pass of a
//! branch or a loop body needs and that is defined there is saved: in an `Option` the `if`
//! returns, or on the loop's tape, pushed once per iteration.
//!
//! The IR says nothing about types: a node is `mul(a, b)`, whatever `a` and `b` are. The runtime
//! picks the rule for the operand types.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
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
    /// `receiver.mapv(path)` on a tensor, as in `z.mapv(f64::tanh)`: the path as written.
    Mapv(TokenStream),
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

/// An ndarray operation or tensor helper with a derivative rule: its name in
/// [`crate::rules::TENSOR`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorFn {
    /// `dot`, `t`, `sum`, `mean`, `sum_axis`, `mean_axis`, `softmax`, ...
    pub name: &'static str,
}

/// A call to another `#[differentiate]` function: the path as written, and whether each
/// argument was passed by reference (`&w`).
#[derive(Clone, Debug)]
pub struct CallFn {
    /// The function's path, as the user wrote it (`helper`, `physics::step::<T>`).
    pub path: syn::ExprPath,
    /// Per argument: written `&arg`.
    pub by_ref: Vec<bool>,
    /// The callee's gradient for a unit seed, bound with the value when the result is a float
    /// (the reverse pass scales it by the call's adjoint instead of running the callee again).
    pub grads: ValueId,
}

/// What a node computes.
#[derive(Clone, Debug)]
pub enum Op {
    /// The function's parameter with this index.
    Param(usize),
    /// Code with no derivative, emitted as written (its variables renamed to their values):
    /// literals, constants, inactive subexpressions, comparisons, `floor` and friends.
    Verbatim(TokenStream, Vec<ValueId>),
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
    /// `a[i]` (or `a[i][j]`...): an element read from an array value, the indices inactive.
    Index(ValueId, Vec<ValueId>),
    /// A value bound by a region rather than computed: an `if`'s merge of its branches, a loop's
    /// carried value or exit value, a loop variable, or a region's saved data.
    Region,
    /// The element of an active array a `for` loop visits, `x[counter]`: the loop binds the item
    /// to the given tokens, and the element's value is read from it.
    Element(ValueId, ValueId, TokenStream),
    /// An ndarray operation (`a.dot(&b)`, `a.t()`, `a.sum()`, `a.sum_axis(Axis(0))`) or a
    /// tensor helper of the runtime (`autodiff::softmax(&z, Axis(1))`): its arguments in call
    /// order, the receiver first; inactive ones (an `Axis`, labels) included.
    Tensor(TensorFn, Vec<ValueId>),
    /// `f(args)`, a call to a function that has `#[differentiate]` companions: the reverse pass
    /// calls its `f_vjp_all`.
    Call(CallFn, Vec<ValueId>),
    /// `s.field` of an active parameter struct (or of a field of one): a reference to the field,
    /// evaluated once where the function starts.
    Field(ValueId, syn::Member),
}

impl Op {
    /// The values this operation reads, in operand order.
    pub fn operands(&self) -> Vec<ValueId> {
        match self {
            Op::Param(_) | Op::Region => Vec::new(),
            Op::Verbatim(_, reads) | Op::Tensor(_, reads) | Op::Call(_, reads) => reads.clone(),
            Op::Index(a, idx) => std::iter::once(*a).chain(idx.iter().copied()).collect(),
            Op::Element(a, k, _) => vec![*a, *k],
            Op::Unary(_, _, x) | Op::Copy(x) | Op::Field(x, _) => vec![*x],
            Op::Binary(_, _, a, b) | Op::Powi(_, a, b) => vec![*a, *b],
            Op::MulAdd(_, a, b, c) | Op::Clamp(_, a, b, c) => vec![*a, *b, *c],
        }
    }

    /// Whether the value the forward pass binds is a reference already: a field (`&p.w`) or an
    /// inactive `&expr` kept as written.
    pub fn holds_reference(&self) -> bool {
        match self {
            Op::Field(..) => true,
            Op::Verbatim(tokens, _) => matches!(
                tokens.clone().into_iter().next(),
                Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '&'
            ),
            _ => false,
        }
    }

    /// The operands that carry a derivative (the exponent of `powi` and indices do not).
    pub fn differentiable_operands(&self) -> Vec<ValueId> {
        match self {
            Op::Powi(_, x, _) => vec![*x],
            Op::Tensor(f, args) => crate::rules::tensor_differentiable(f.name)
                .iter()
                .filter_map(|&i| args.get(i).copied())
                .collect(),
            Op::Verbatim(..) => Vec::new(),
            Op::Index(a, _) | Op::Element(a, _, _) => vec![*a],
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
    /// Whether its binding is changed in place (an array written to): `let mut`.
    pub mutable: bool,
    /// Whether it may be changed by method calls (`v.push(x)`), which the IR does not see: the
    /// reverse pass never reads it again.
    pub changed_by_calls: bool,
    /// The user's expression, as text (for the graph export).
    pub source: Option<String>,
    /// Whether the value is a reference to a float where the user reads one: a loop variable
    /// over an inactive array by reference (`for v in c.iter()`), which the generated code
    /// passes to the runtime's rules as it is, not behind another `&`.
    pub reference: bool,
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
    /// `array[indices] = value`, in place.
    Store {
        /// The array (a mutable binding).
        array: ValueId,
        /// The indices, inactive.
        indices: Vec<ValueId>,
        /// The value written.
        value: ValueId,
        /// The user's assignment.
        span: Span,
    },
    /// `if cond { then } else { else_ }`.
    If(Box<IfRegion>),
    /// A loop.
    Loop(Box<LoopRegion>),
}

/// A branch: two blocks, and the values that differ between them merged into new values.
#[derive(Clone, Debug)]
pub struct IfRegion {
    /// The condition, an inactive `bool` value.
    pub cond: ValueId,
    /// Run when `cond` holds.
    pub then_block: Block,
    /// Run otherwise (empty for an `if` without `else`).
    pub else_block: Block,
    /// `(merged, from then, from else)`: the variables the branches leave with different values.
    pub merges: Vec<(ValueId, ValueId, ValueId)>,
    /// What the then branch saves for the reverse pass (an `Option` of a tuple).
    pub then_saved: ValueId,
    /// What the else branch saves.
    pub else_saved: ValueId,
}

/// How a loop iterates.
#[derive(Clone, Debug)]
pub enum LoopKind {
    /// `for PAT in ITER`: `iter` is evaluated once before the loop; `pattern` is what each item
    /// is matched against, its variables bound to `vars` (per-iteration values).
    For {
        /// The iterator, evaluated before the loop.
        iter: ValueId,
        /// What each item is matched against: the user's pattern (without `mut`), a value's
        /// identifier, or `(counter, item)` over an active array.
        pattern: TokenStream,
        /// The values the pattern binds directly (a loop variable, the counter).
        bound: Vec<ValueId>,
        /// The iterable is a range written out (`a..b`, `a..=b`, `(a..b).rev()`): its reverse
        /// can walk the range backwards instead of a tape of the loop variable.
        range: bool,
    },
    /// `loop` (also what `while` becomes: a `loop` whose body starts with the test).
    Loop,
}

/// A variable the loop body changes: one binding for its value at each iteration's start.
#[derive(Clone, Debug)]
pub struct Carried {
    /// The value at the start of an iteration (home: the body).
    pub phi: ValueId,
    /// The value before the loop.
    pub init: ValueId,
    /// The value at the end of the body.
    pub next: ValueId,
    /// The value after the loop (home: the block holding the loop).
    pub exit: ValueId,
}

/// A loop: its body runs once per iteration; `broke` (if any) ends it after the iteration in
/// which it became true.
#[derive(Clone, Debug)]
pub struct LoopRegion {
    /// How it iterates.
    pub kind: LoopKind,
    /// The body.
    pub body: Block,
    /// The variables the body changes.
    pub carried: Vec<Carried>,
    /// The body's `break` flag at the end of the body, when the body can break.
    pub broke: Option<ValueId>,
    /// Names the loop's tape (a `Vec` of one entry of saved values per iteration, declared
    /// where the function starts) and, for a loop inside a loop or branch, is the value of the
    /// tape's length when this run of the loop starts (home: the block holding the loop).
    pub tape: ValueId,
    /// The user's loop, for spans.
    pub span: Span,
}

impl LoopRegion {
    /// For a `for` loop over a range written out (`for i in a..b`): the range's value and the
    /// loop variable.
    pub fn range_and_var(&self) -> Option<(ValueId, ValueId)> {
        match &self.kind {
            LoopKind::For {
                iter,
                bound,
                range: true,
                ..
            } => Some((*iter, *bound.first()?)),
            _ => None,
        }
    }
}

/// A sequence of statements: the function body, a branch, a loop body.
#[derive(Clone, Debug, Default)]
pub struct Block {
    /// In evaluation order.
    pub stmts: Vec<Stmt>,
    /// This block's id, unique in the graph (the function body is 0).
    pub id: u32,
}

/// A running maximum or minimum: a value a `for` loop over a range carries from one iteration
/// to the next as `m = m.max(e)` (or `e.max(m)`, `min`, `f64::max(m, e)`), read by nothing
/// else in the loop. Lowering adds a second carried value, `won`, the loop variable of the last
/// iteration whose `e` became `m` (`None` if none did), so that the reverse pass sends `m`'s
/// adjoint to that iteration's `e` and needs no saved `m` per iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extremum {
    /// The `max`/`min` node.
    pub node: ValueId,
    /// Its operand that is the running value at the iteration's start.
    pub running: ValueId,
    /// `won` after the loop.
    pub won: ValueId,
    /// The loop variable.
    pub at: ValueId,
}

/// The whole function.
#[derive(Clone, Debug)]
pub struct Graph {
    /// Every value, indexed by [`ValueId`].
    pub nodes: Vec<Node>,
    /// Whether each value depends on an active parameter (found while lowering).
    pub varied: Vec<bool>,
    /// The forward program.
    pub body: Block,
    /// The value the function returns.
    pub ret: ValueId,
    /// Parameter names, indexed like [`Op::Param`].
    pub param_names: Vec<Ident>,
    /// The loops' running maxima and minima, found after lowering (see [`Extremum`]).
    pub extrema: Vec<Extremum>,
    /// Each value's identifier and its adjoint's, made on first use: codegen asks for them
    /// several times per value, and making one validates and formats a string.
    pub names: std::cell::OnceCell<Vec<(Ident, Ident)>>,
}

impl Graph {
    /// The node behind a value.
    pub fn node(&self, v: ValueId) -> &Node {
        &self.nodes[v.index()]
    }

    /// The identifier the generated code binds a value to; see [`value_ident`].
    pub fn value_ident(&self, v: ValueId) -> Ident {
        self.names()[v.index()].0.clone()
    }

    /// The identifier of a value's adjoint: `__d_{variable}_{id}` or `__d_t{id}`.
    pub fn adjoint_ident(&self, v: ValueId) -> Ident {
        self.names()[v.index()].1.clone()
    }

    fn names(&self) -> &[(Ident, Ident)] {
        self.names.get_or_init(|| {
            (0..self.nodes.len())
                .map(|i| {
                    let v = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
                    let hint = match self.nodes[i].op {
                        Op::Param(p) => self.param_names.get(p).map(ToString::to_string),
                        _ => self.nodes[i].hint.clone(),
                    };
                    let base = value_name(hint.as_deref(), v);
                    let adjoint = Ident::new(&format!("__d{}", &base[1..]), Span::mixed_site());
                    (value_ident(&self.nodes, &self.param_names, v), adjoint)
                })
                .collect()
        })
    }
}

/// Whether `a` and `b` are the same program up to the tokens they carry (literals, types,
/// paths): the same operations on the same values, in the same statements and regions. The
/// generic copy of a function (see [`crate::concrete`]) lowers to such a graph, and then shares
/// the analyses of the original that do not read tokens.
pub fn same_shape(a: &Graph, b: &Graph) -> bool {
    use std::mem::discriminant;
    fn blocks(a: &Block, b: &Block) -> bool {
        a.id == b.id
            && a.stmts.len() == b.stmts.len()
            && a.stmts.iter().zip(&b.stmts).all(|pair| match pair {
                (Stmt::Eval(x), Stmt::Eval(y)) => x == y,
                (Stmt::Verbatim { bindings: x, .. }, Stmt::Verbatim { bindings: y, .. }) => {
                    x.len() == y.len() && x.iter().zip(y).all(|((_, u), (_, v))| u == v)
                }
                (
                    Stmt::Store {
                        array,
                        indices,
                        value,
                        ..
                    },
                    Stmt::Store {
                        array: a2,
                        indices: i2,
                        value: v2,
                        ..
                    },
                ) => array == a2 && indices == i2 && value == v2,
                (Stmt::If(x), Stmt::If(y)) => {
                    x.cond == y.cond
                        && x.merges == y.merges
                        && x.then_saved == y.then_saved
                        && x.else_saved == y.else_saved
                        && blocks(&x.then_block, &y.then_block)
                        && blocks(&x.else_block, &y.else_block)
                }
                (Stmt::Loop(x), Stmt::Loop(y)) => {
                    let kinds = match (&x.kind, &y.kind) {
                        (
                            LoopKind::For {
                                iter, bound, range, ..
                            },
                            LoopKind::For {
                                iter: i2,
                                bound: b2,
                                range: r2,
                                ..
                            },
                        ) => iter == i2 && bound == b2 && range == r2,
                        (LoopKind::Loop, LoopKind::Loop) => true,
                        _ => false,
                    };
                    kinds
                        && x.tape == y.tape
                        && x.broke == y.broke
                        && x.carried.len() == y.carried.len()
                        && x.carried.iter().zip(&y.carried).all(|(c, d)| {
                            (c.phi, c.init, c.next, c.exit) == (d.phi, d.init, d.next, d.exit)
                        })
                        && blocks(&x.body, &y.body)
                }
                _ => false,
            })
    }
    a.ret == b.ret
        && a.extrema == b.extrema
        && a.nodes.len() == b.nodes.len()
        && a.nodes.iter().zip(&b.nodes).all(|(x, y)| {
            let functions = match (&x.op, &y.op) {
                (Op::Unary(f, ..), Op::Unary(g, ..)) => f.name == g.name,
                (Op::Binary(f, ..), Op::Binary(g, ..)) => f.name == g.name,
                _ => true,
            };
            discriminant(&x.op) == discriminant(&y.op)
                && functions
                && x.op.operands() == y.op.operands()
                && x.mutable == y.mutable
                && x.changed_by_calls == y.changed_by_calls
        })
        && blocks(&a.body, &b.body)
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
/// `%3 = mul(%1, %2) ; a` (the variable a value was first bound to follows `;`); regions indent
/// their blocks.
impl std::fmt::Display for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
        self.fmt_block(f, &self.body, 0)?;
        write!(f, "return %{}", self.ret.0)
    }
}

impl Graph {
    fn fmt_block(
        &self,
        f: &mut std::fmt::Formatter<'_>,
        block: &Block,
        depth: usize,
    ) -> std::fmt::Result {
        let pad = "  ".repeat(depth);
        let args = |ids: &[ValueId]| {
            ids.iter()
                .map(|v| format!("%{}", v.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for stmt in &block.stmts {
            match stmt {
                Stmt::Eval(v) => {
                    let node = self.node(*v);
                    let op = match &node.op {
                        Op::Param(_) | Op::Region => continue,
                        Op::Verbatim(t, _) => format!("verbatim `{t}`"),
                        Op::Unary(u, _, x) => format!("{}({})", u.name, args(&[*x])),
                        Op::Binary(b, _, l, r) => format!("{}({})", b.name, args(&[*l, *r])),
                        Op::Powi(_, x, n) => format!("powi({})", args(&[*x, *n])),
                        Op::MulAdd(_, a, b, c) => format!("mul_add({})", args(&[*a, *b, *c])),
                        Op::Clamp(_, x, lo, hi) => format!("clamp({})", args(&[*x, *lo, *hi])),
                        Op::Copy(x) => format!("copy({})", args(&[*x])),
                        Op::Index(a, idx) => format!("index({}, [{}])", args(&[*a]), args(idx)),
                        Op::Element(a, k, _) => format!("element({})", args(&[*a, *k])),
                        Op::Tensor(t, a) => format!("{}({})", t.name, args(a)),
                        Op::Field(b, m) => {
                            format!("field({}, {})", args(&[*b]), m.to_token_stream())
                        }
                        Op::Call(c, a) => format!(
                            "call `{}`({})",
                            crate::parse::type_text(&c.path.path),
                            args(a)
                        ),
                    };
                    match &node.hint {
                        Some(h) => writeln!(f, "{pad}%{} = {op} ; {h}", v.0)?,
                        None => writeln!(f, "{pad}%{} = {op}", v.0)?,
                    }
                }
                Stmt::Verbatim { tokens, .. } => writeln!(f, "{pad}keep `{tokens}`")?,
                Stmt::Store {
                    array,
                    indices,
                    value,
                    ..
                } => {
                    writeln!(
                        f,
                        "{pad}store {}[{}] = {}",
                        args(&[*array]),
                        args(indices),
                        args(&[*value])
                    )?;
                }
                Stmt::If(r) => {
                    writeln!(f, "{pad}if %{} {{", r.cond.0)?;
                    self.fmt_block(f, &r.then_block, depth + 1)?;
                    writeln!(f, "{pad}}} else {{")?;
                    self.fmt_block(f, &r.else_block, depth + 1)?;
                    let merges: Vec<String> = r
                        .merges
                        .iter()
                        .map(|(o, t, e)| format!("%{} = (%{}, %{})", o.0, t.0, e.0))
                        .collect();
                    writeln!(f, "{pad}}} merge [{}]", merges.join(", "))?;
                }
                Stmt::Loop(l) => {
                    let carried: Vec<String> = l
                        .carried
                        .iter()
                        .map(|c| {
                            format!(
                                "%{} = (%{}, %{}) -> %{}",
                                c.phi.0, c.init.0, c.next.0, c.exit.0
                            )
                        })
                        .collect();
                    match &l.kind {
                        LoopKind::For { iter, pattern, .. } => {
                            writeln!(
                                f,
                                "{pad}for `{pattern}` in %{} carry [{}] {{",
                                iter.0,
                                carried.join(", ")
                            )?;
                        }
                        LoopKind::Loop => {
                            writeln!(f, "{pad}loop carry [{}] {{", carried.join(", "))?
                        }
                    }
                    self.fmt_block(f, &l.body, depth + 1)?;
                    match l.broke {
                        Some(b) => writeln!(f, "{pad}}} until %{}", b.0)?,
                        None => writeln!(f, "{pad}}}")?,
                    }
                }
            }
        }
        Ok(())
    }
}

/// How many times each value is used: as a node's operand, by a store, a branch's merge or a
/// loop, and as the result.
pub fn use_counts(graph: &Graph) -> Vec<usize> {
    let mut count: Vec<usize> = node_users(graph).iter().map(Vec::len).collect();
    let mut bump = |v: ValueId| {
        if let Some(c) = count.get_mut(v.index()) {
            *c += 1;
        }
    };
    let mut region_uses = Vec::new();
    collect_region_uses(&graph.body, &mut region_uses);
    for v in region_uses {
        bump(v);
    }
    bump(graph.ret);
    count
}

/// The nodes that read each value, as operands.
pub fn node_users(graph: &Graph) -> Vec<Vec<ValueId>> {
    let mut users: Vec<Vec<ValueId>> = vec![Vec::new(); graph.nodes.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        for o in node.op.operands() {
            if let Some(u) = users.get_mut(o.index()) {
                u.push(ValueId(u32::try_from(i).unwrap_or(u32::MAX)));
            }
        }
    }
    users
}

/// Values that stores, merges and loops use (beyond node operands).
pub fn collect_region_uses(b: &Block, out: &mut Vec<ValueId>) {
    for stmt in &b.stmts {
        match stmt {
            Stmt::Store { value, indices, .. } => {
                out.push(*value);
                out.extend(indices.iter().copied());
            }
            Stmt::If(r) => {
                for (_, t, e) in &r.merges {
                    out.push(*t);
                    out.push(*e);
                }
                collect_region_uses(&r.then_block, out);
                collect_region_uses(&r.else_block, out);
            }
            Stmt::Loop(l) => {
                for c in &l.carried {
                    out.push(c.init);
                    out.push(c.next);
                }
                collect_region_uses(&l.body, out);
            }
            Stmt::Verbatim { bindings, .. } => out.extend(bindings.iter().map(|(_, v)| *v)),
            Stmt::Eval(_) => {}
        }
    }
}

/// The arrays `stmt` (and the regions in it) writes into, once per write.
pub fn stored_arrays(stmt: &Stmt, out: &mut Vec<ValueId>) {
    match stmt {
        Stmt::Store { array, .. } => out.push(*array),
        Stmt::If(r) => {
            for st in r.then_block.stmts.iter().chain(&r.else_block.stmts) {
                stored_arrays(st, out);
            }
        }
        Stmt::Loop(inner) => {
            for st in &inner.body.stmts {
                stored_arrays(st, out);
            }
        }
        _ => {}
    }
}
