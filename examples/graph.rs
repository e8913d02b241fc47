//! The computation graph `#[differentiate]` builds at compile time, as Graphviz DOT.
//!
//! ```text
//! cargo run --example graph
//! ```
//!
//! Every differentiated function `f` has `f_graph() -> &'static str`: its operations labelled
//! with the source text they came from, the data flow between them, active values solid and
//! constants dashed, loops and branches drawn as clusters. This example writes the graph of a
//! small loss to `target/graph_loss.dot` and, when Graphviz's `dot` is installed, renders it to
//! `target/graph_loss.svg`.

use autodiff::differentiate;

/// A regularised loss over a slice: a loop, a branch, and a constant that stays inactive.
#[differentiate(wrt(w))]
fn loss(w: &[f64], x: &[f64], y: &[f64], lambda: f64) -> f64 {
    let mut total = 0.0;
    for i in 0..x.len() {
        let p = w[0] * x[i] + w[1];
        let r = p - y[i];
        total += if r.abs() < 1.0 {
            0.5 * r * r
        } else {
            r.abs() - 0.5
        };
    }
    total + lambda * (w[0] * w[0] + w[1] * w[1])
}

fn main() -> std::io::Result<()> {
    let dot = loss_graph();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir)?;
    let dot_path = dir.join("graph_loss.dot");
    std::fs::write(&dot_path, dot)?;
    println!(
        "wrote {} ({} lines)",
        dot_path.display(),
        dot.lines().count()
    );

    let (value, grad) = loss_grad(&[0.5, -0.2], &[1.0, 2.0, 3.0], &[0.4, 1.1, 1.3], 0.1);
    println!("loss {value:.6}, gradient {grad:?}");

    let svg_path = dir.join("graph_loss.svg");
    match std::process::Command::new("dot")
        .args(["-Tsvg", "-o"])
        .arg(&svg_path)
        .arg(&dot_path)
        .status()
    {
        Ok(status) if status.success() => println!("rendered {}", svg_path.display()),
        _ => println!(
            "Graphviz's `dot` is not installed: render the file with `dot -Tsvg` elsewhere"
        ),
    }
    Ok(())
}
