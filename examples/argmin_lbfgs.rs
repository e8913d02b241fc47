//! Minimise extended Rosenbrock with argmin's L-BFGS, the gradient written by `#[differentiate]`.
//!
//! ```text
//! cargo run --release --example argmin_lbfgs
//! ```
//!
//! argmin asks a problem for its cost ([`CostFunction`]) and its gradient ([`Gradient`]) through
//! two traits. Here both come from one plain loop: `rosenbrock` is the cost as written, and the
//! `rosenbrock_grad` that `#[differentiate]` generates beside it gives the gradient, so the
//! `Gradient` impl is a one-line call. Parameters are `Vec<f64>`, which argmin-math supports
//! with its `vec` feature.

use argmin::core::observers::{Observe, ObserverMode};
use argmin::core::{CostFunction, Error, Executor, Gradient, State, KV};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use autodiff::{check_grad, differentiate};

/// Extended (chained) Rosenbrock: `Σ (1 - xᵢ)² + 100 (xᵢ₊₁ - xᵢ²)²`, minimum 0 at all ones.
#[differentiate]
fn rosenbrock(x: &[f64]) -> f64 {
    let mut f = 0.0;
    for i in 0..x.len() - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        f += a * a + 100.0 * b * b;
    }
    f
}

/// The problem argmin sees. It holds no data: the function is the whole problem.
struct Rosenbrock;

impl CostFunction for Rosenbrock {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Vec<f64>) -> Result<f64, Error> {
        Ok(rosenbrock(x))
    }
}

impl Gradient for Rosenbrock {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, x: &Vec<f64>) -> Result<Vec<f64>, Error> {
        // `rosenbrock_grad` returns (value, gradient); a `&[f64]` argument's gradient is a
        // `Vec<f64>`. argmin asks for the cost separately, so the value is dropped here.
        let (_value, grad) = rosenbrock_grad(x);
        Ok(grad)
    }
}

/// Prints the iteration number and the cost every few iterations.
struct Progress;

impl<I: State<Float = f64>> Observe<I> for Progress {
    fn observe_iter(&mut self, state: &I, _kv: &KV) -> Result<(), Error> {
        println!("{:>5}  {:>12.5e}", state.get_iter(), state.get_cost());
        Ok(())
    }
}

fn main() -> Result<(), Error> {
    let n = 10;
    // The standard start point (-1.2, 1, -1.2, 1, ...).
    let start: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
        .collect();

    // Before handing a gradient to a solver, compare it once with central differences.
    check_grad(rosenbrock, &start, &rosenbrock_grad(&start).1)?;

    // L-BFGS keeps the last `m = 7` steps to approximate the inverse Hessian; the More–Thuente
    // line search picks each step length (strong Wolfe conditions).
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7)
        .with_tolerance_grad(1e-10)?
        .with_tolerance_cost(0.0)?;

    println!("{:>5}  {:>12}", "iter", "cost");
    let result = Executor::new(Rosenbrock, solver)
        .configure(|state| state.param(start).max_iters(200))
        .add_observer(Progress, ObserverMode::Every(5))
        .run()?;

    let state = &result.state;
    let best = state
        .get_best_param()
        .expect("L-BFGS always has a best point");
    let cost = state.get_best_cost();
    println!("iterations:  {}", state.get_iter());
    println!("termination: {}", state.get_termination_status());
    println!("final cost:  {cost:.3e}");
    println!("minimiser:   {best:.8?}");

    assert!(cost < 1e-10, "L-BFGS did not converge: cost {cost:e}");
    assert!(best.iter().all(|&x| (x - 1.0).abs() < 1e-4));
    Ok(())
}
