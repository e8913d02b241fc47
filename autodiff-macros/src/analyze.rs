//! Activity analysis: which values carry a derivative.
//!
//! A value is *varied* when an active parameter reaches it, and *useful* when it reaches the
//! returned value. Lowering already knows which values are varied (it needs to, to keep constant
//! code as written). This pass finds the useful ones, backwards, through operations, array
//! writes and reads, branch merges and loop-carried values (a loop is a cycle, so the pass runs
//! to a fixed point). Only values that are both varied and useful get an adjoint; everything else
//! is emitted once, in the forward pass, as written.

use crate::ir::{Block, Graph, LoopKind, Stmt, ValueId};

/// The result of the analysis, indexed by value.
pub struct Activity {
    /// Varied and useful: the value gets an adjoint.
    pub active: Vec<bool>,
}

impl Activity {
    /// Whether value `v` gets an adjoint.
    pub fn is_active(&self, v: ValueId) -> bool {
        self.active.get(v.index()).copied().unwrap_or(false)
    }
}

/// Computes which values of `graph` get an adjoint.
pub fn activity(graph: &Graph) -> Activity {
    // "If `from` is useful, so is `to`."
    let mut edges: Vec<(ValueId, ValueId)> = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let from = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
        for to in node.op.differentiable_operands() {
            edges.push((from, to));
        }
    }
    collect_edges(&graph.body, &mut edges);

    let n = graph.nodes.len();
    // A worklist from the result back along the edges: each edge followed once.
    let mut next: Vec<Vec<ValueId>> = vec![Vec::new(); n];
    for &(from, to) in &edges {
        if let Some(out) = next.get_mut(from.index()) {
            out.push(to);
        }
    }
    let mut useful = vec![false; n];
    let mut work = Vec::new();
    if let Some(u) = useful.get_mut(graph.ret.index()) {
        *u = true;
        work.push(graph.ret);
    }
    while let Some(from) = work.pop() {
        for &to in next.get(from.index()).map_or(&[][..], Vec::as_slice) {
            if let Some(u) = useful.get_mut(to.index()) {
                if !*u {
                    *u = true;
                    work.push(to);
                }
            }
        }
    }
    let varied = |i: usize| graph.varied.get(i).copied().unwrap_or(false);
    Activity {
        active: (0..n).map(|i| varied(i) && useful[i]).collect(),
    }
}

/// The edges regions add: array writes, merges, loop-carried values.
fn collect_edges(block: &Block, edges: &mut Vec<(ValueId, ValueId)>) {
    for stmt in &block.stmts {
        match stmt {
            Stmt::Eval(_) | Stmt::Verbatim { .. } => {}
            Stmt::Store { array, value, .. } => edges.push((*array, *value)),
            Stmt::If(r) => {
                for (out, t, e) in &r.merges {
                    edges.push((*out, *t));
                    edges.push((*out, *e));
                }
                collect_edges(&r.then_block, edges);
                collect_edges(&r.else_block, edges);
            }
            Stmt::Loop(l) => {
                for c in &l.carried {
                    edges.push((c.exit, c.phi));
                    edges.push((c.phi, c.next));
                    edges.push((c.phi, c.init));
                }
                if let LoopKind::For { .. } = l.kind {}
                collect_edges(&l.body, edges);
            }
        }
    }
}

/// What kind of value a node holds, as far as syntax tells: the generated code uses plain float
/// arithmetic for scalars, and the runtime's broadcasting operations (by reference, never
/// moving a value the reverse pass reads) for anything that may be a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A float: `f64`, `f32`, `T: Float`, an element read from an array.
    Scalar,
    /// An ndarray array or view.
    Tensor,
    /// Not known (a tensor product of unknown ranks, an inactive expression of some type): the
    /// general code, right for scalars and tensors alike.
    Unknown,
}

impl Kind {
    fn join(self, other: Kind) -> Kind {
        match (self, other) {
            (Kind::Tensor, _) | (_, Kind::Tensor) => Kind::Tensor,
            (Kind::Unknown, _) | (_, Kind::Unknown) => Kind::Unknown,
            _ => Kind::Scalar,
        }
    }
}

/// The kind of every value of `graph`; `tensor_params[i]` says whether parameter `i` is a
/// tensor. A function without tensors has only scalars. A value the user's `let` gives a float
/// type (`f32`, `f64`, one of `float_generics`) is a float (`let d: f64 = x.dot(y);`).
pub fn kinds(
    graph: &Graph,
    tensor_params: &[bool],
    ret_scalar: bool,
    float_generics: &[proc_macro2::Ident],
) -> Vec<Kind> {
    use crate::ir::Op;
    let n = graph.nodes.len();
    let has_tensors = tensor_params.iter().any(|t| *t)
        || graph
            .nodes
            .iter()
            .any(|node| matches!(node.op, Op::Tensor(..)));
    // Without tensors a callee's result is a float, unless it is a `Vec` or an array: passed
    // on by reference (`norm(&w)`) or returned as a function's array result, itself or through
    // the variables it flows into (`y = step(&y)` in a loop).
    let mut arrayish = vec![false; n];
    for node in &graph.nodes {
        if let Op::Call(c, args) = &node.op {
            for (a, by_ref) in args.iter().zip(&c.by_ref) {
                if *by_ref {
                    arrayish[a.index()] = true;
                }
            }
        }
    }
    if !ret_scalar {
        arrayish[graph.ret.index()] = true;
    }
    // Indexed (`s[0]`, `s[i] = …`): an array (`s = step(s, dt)` in a loop, then `s[0]`).
    for node in &graph.nodes {
        if let Op::Index(a, _) = &node.op {
            arrayish[a.index()] = true;
        }
    }
    let mut stores = Vec::new();
    for st in &graph.body.stmts {
        crate::ir::stored_arrays(st, &mut stores);
    }
    for a in stores {
        arrayish[a.index()] = true;
    }
    let mut edges: Vec<(ValueId, ValueId)> = Vec::new();
    collect_edges(&graph.body, &mut edges);
    edges.retain(|(to, _)| matches!(graph.node(*to).op, Op::Region));
    // A copy (`y.clone()`, the copy a call takes of a `let mut` array) is what it copies.
    for (i, node) in graph.nodes.iter().enumerate() {
        match &node.op {
            Op::Copy(x) => edges.push((ValueId(u32::try_from(i).unwrap_or(u32::MAX)), *x)),
            Op::Unary(f, _, x) if f.name == "clone" => {
                edges.push((ValueId(u32::try_from(i).unwrap_or(u32::MAX)), *x));
            }
            _ => {}
        }
    }
    loop {
        let mut changed = false;
        for (to, from) in &edges {
            let either = arrayish[to.index()] || arrayish[from.index()];
            if either && !(arrayish[to.index()] && arrayish[from.index()]) {
                arrayish[to.index()] = true;
                arrayish[from.index()] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let array_calls: Vec<usize> = (0..n)
        .filter(|&i| arrayish[i] && matches!(graph.nodes[i].op, Op::Call(..)))
        .collect();
    if !has_tensors && array_calls.is_empty() {
        return vec![Kind::Scalar; n];
    }
    // Region values (merges, loop-carried values) take the kinds of what flows into them.
    let mut flows: Vec<(ValueId, ValueId)> = Vec::new();
    collect_edges(&graph.body, &mut flows);
    let flows: Vec<(ValueId, ValueId)> = flows
        .into_iter()
        .filter(|(to, _)| matches!(graph.node(*to).op, Op::Region))
        .collect();
    let mut kinds = vec![Kind::Scalar; n];
    let kind_of =
        |kinds: &[Kind], v: ValueId| kinds.get(v.index()).copied().unwrap_or(Kind::Scalar);
    let declared_float = |node: &crate::ir::Node| match &node.ty {
        Some(syn::Type::Path(p)) if p.qself.is_none() => p
            .path
            .get_ident()
            .is_some_and(|i| i == "f64" || i == "f32" || float_generics.iter().any(|g| g == i)),
        _ => false,
    };
    for _ in 0..=n {
        let mut changed = false;
        for (i, node) in graph.nodes.iter().enumerate() {
            let new = match &node.op {
                _ if declared_float(node) => Kind::Scalar,
                Op::Param(p) => {
                    if tensor_params.get(*p).copied().unwrap_or(false) {
                        Kind::Tensor
                    } else {
                        Kind::Scalar
                    }
                }
                Op::Verbatim(tokens, reads) => verbatim_kind(tokens, reads, &kinds),
                Op::Index(..) | Op::Element(..) => Kind::Scalar,
                // A callee may return a float or a tensor; a field may hold either.
                Op::Call(..) if !has_tensors && !array_calls.contains(&i) => Kind::Scalar,
                Op::Call(..) | Op::Field(..) => Kind::Unknown,
                Op::Region => flows
                    .iter()
                    .filter(|(to, _)| to.index() == i)
                    .fold(Kind::Scalar, |k, (_, from)| k.join(kind_of(&kinds, *from))),
                Op::Tensor(f, args) => match f.name {
                    name if crate::rules::tensor_is_reduction(name) => Kind::Scalar,
                    // A product of two vectors is a scalar: the ranks decide.
                    "dot" => Kind::Unknown,
                    _ => args
                        .first()
                        .map_or(Kind::Tensor, |a| kind_of(&kinds, *a).join(Kind::Tensor)),
                },
                Op::Powi(_, x, _) => kind_of(&kinds, *x),
                op => op
                    .operands()
                    .iter()
                    .fold(Kind::Scalar, |k, o| k.join(kind_of(&kinds, *o))),
            };
            if kinds[i] != new {
                kinds[i] = new;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    kinds
}

/// An inactive expression is a scalar when it is a literal, a cast, or arithmetic on scalars;
/// anything mentioning a tensor or an ndarray constructor may be a tensor.
fn verbatim_kind(tokens: &proc_macro2::TokenStream, reads: &[ValueId], kinds: &[Kind]) -> Kind {
    fn mentions_arrays(tokens: proc_macro2::TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => {
                let s = i.to_string();
                s.starts_with("Array")
                    || s.starts_with("ArcArray")
                    || s.starts_with("arr")
                    || s == "array"
                    || s == "ndarray"
            }
            proc_macro2::TokenTree::Group(g) => mentions_arrays(g.stream()),
            _ => false,
        })
    }
    if let Ok(syn::Expr::Cast(_) | syn::Expr::Lit(_)) = syn::parse2::<syn::Expr>(tokens.clone()) {
        return Kind::Scalar;
    }
    let reads_tensors = reads
        .iter()
        .any(|r| kinds.get(r.index()).copied() != Some(Kind::Scalar));
    if reads_tensors || mentions_arrays(tokens.clone()) {
        Kind::Unknown
    } else {
        Kind::Scalar
    }
}
