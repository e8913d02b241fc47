//! A first tensor program: train a small neural network to separate two interleaving half
//! moons, with the gradient written by `#[differentiate]`.
//!
//! The network is `tanh(x·W1 + b1)·W2 + b2`: 2 inputs, 16 hidden units, 2 classes. Its loss is
//! the mean softmax cross-entropy, written with ndarray exactly as one would evaluate it; the
//! macro adds `loss_grad`, which returns the loss and the gradients of the four parameters (the
//! ones named in `wrt`) as arrays of their shapes. Training is plain full-batch gradient descent.
//! At the end the program draws the learned decision regions and the loss curve as SVG files.
//!
//! ```text
//! cargo run --release --example mlp
//! ```

use std::f64::consts::PI;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use autodiff::differentiate;
use ndarray::{Array1, Array2, Axis};

/// The mean cross-entropy of the network's predictions for the points `x` (one a row) against
/// their `labels`. Only the weights and biases are active: the data are constants.
#[differentiate(wrt(w1, b1, w2, b2))]
fn loss(
    w1: &Array2<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    b2: &Array1<f64>,
    x: &Array2<f64>,
    labels: &[usize],
) -> f64 {
    let hidden = (x.dot(w1) + b1).mapv(f64::tanh);
    let logits = hidden.dot(w2) + b2;
    autodiff::cross_entropy(&logits, labels)
}

/// The gradient `loss_grad` returns: one array per active parameter, in argument order.
type Grad = (Array2<f64>, Array1<f64>, Array2<f64>, Array1<f64>);

/// The network's parameters.
struct Mlp {
    w1: Array2<f64>,
    b1: Array1<f64>,
    w2: Array2<f64>,
    b2: Array1<f64>,
}

impl Mlp {
    /// Small random weights (scaled by `1 / sqrt(fan-in)`) and zero biases.
    fn new(inputs: usize, hidden: usize, classes: usize, rng: &mut Rng) -> Self {
        let scale = |fan_in: usize| 1.0 / (fan_in as f64).sqrt();
        Self {
            w1: Array2::from_shape_simple_fn((inputs, hidden), || scale(inputs) * rng.normal()),
            b1: Array1::zeros(hidden),
            w2: Array2::from_shape_simple_fn((hidden, classes), || scale(hidden) * rng.normal()),
            b2: Array1::zeros(classes),
        }
    }

    /// The loss on a data set and its gradient, from the generated `loss_grad`.
    fn loss_and_grad(&self, x: &Array2<f64>, labels: &[usize]) -> (f64, Grad) {
        loss_grad(&self.w1, &self.b1, &self.w2, &self.b2, x, labels)
    }

    /// One step of gradient descent: every parameter moves against its gradient.
    fn step(&mut self, rate: f64, (d_w1, d_b1, d_w2, d_b2): &Grad) {
        self.w1.scaled_add(-rate, d_w1);
        self.b1.scaled_add(-rate, d_b1);
        self.w2.scaled_add(-rate, d_w2);
        self.b2.scaled_add(-rate, d_b2);
    }

    /// The probability of class 1 for each point: the forward pass of `loss` up to the logits,
    /// then a two-class softmax, `e^z1 / (e^z0 + e^z1)`.
    fn prob_class1(&self, x: &Array2<f64>) -> Array1<f64> {
        let hidden = (x.dot(&self.w1) + &self.b1).mapv(f64::tanh);
        let logits = hidden.dot(&self.w2) + &self.b2;
        logits
            .rows()
            .into_iter()
            .map(|z| 1.0 / (1.0 + (z[0] - z[1]).exp()))
            .collect()
    }

    /// The fraction of points whose most likely class is their label.
    fn accuracy(&self, x: &Array2<f64>, labels: &[usize]) -> f64 {
        let p = self.prob_class1(x);
        let right = p
            .iter()
            .zip(labels)
            .filter(|&(&p, &l)| usize::from(p > 0.5) == l)
            .count();
        right as f64 / labels.len() as f64
    }
}

/// SplitMix64: a tiny, seeded, reproducible generator (no `rand` dependency).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

/// Two interleaving half circles, `n` points each, with Gaussian noise: class 0 on the upper
/// arc centred at (0, 0), class 1 on the lower arc centred at (1, 0.5).
fn two_moons(n: usize, noise: f64, rng: &mut Rng) -> (Array2<f64>, Vec<usize>) {
    let mut x = Array2::zeros((2 * n, 2));
    let mut labels = Vec::with_capacity(2 * n);
    for i in 0..2 * n {
        let t = PI * rng.uniform();
        let (px, py, label) = if i < n {
            (t.cos(), t.sin(), 0)
        } else {
            (1.0 - t.cos(), 0.5 - t.sin(), 1)
        };
        x[[i, 0]] = px + noise * rng.normal();
        x[[i, 1]] = py + noise * rng.normal();
        labels.push(label);
    }
    (x, labels)
}

fn main() -> std::io::Result<()> {
    let mut rng = Rng(2024);
    let (x, labels) = two_moons(100, 0.15, &mut rng);
    let mut net = Mlp::new(2, 16, 2, &mut rng);

    // Full-batch gradient descent with a fixed rate.
    let rate = 0.5;
    let steps = 3000;
    let mut curve = Vec::with_capacity(steps + 1);
    let start = Instant::now();
    println!("{:>5}  {:>8}  {:>8}", "step", "loss", "accuracy");
    for step in 0..=steps {
        let (value, grad) = net.loss_and_grad(&x, &labels);
        curve.push(value);
        if step % 250 == 0 {
            let acc = net.accuracy(&x, &labels);
            println!("{step:>5}  {value:>8.4}  {:>7.1}%", 100.0 * acc);
        }
        if step < steps {
            net.step(rate, &grad);
        }
    }
    let accuracy = net.accuracy(&x, &labels);
    println!(
        "trained in {:.1?}: loss {:.4}, accuracy {:.1}%",
        start.elapsed(),
        curve[steps],
        100.0 * accuracy
    );

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir)?;
    let regions = dir.join("mlp_decision_boundary.svg");
    std::fs::write(&regions, decision_svg(&net, &x, &labels))?;
    let losses = dir.join("mlp_loss.svg");
    std::fs::write(&losses, loss_svg(&curve))?;
    // Relative to the working directory when inside it (`target/…` from the workspace root).
    let cwd = std::env::current_dir().unwrap_or_default();
    for path in [&regions, &losses] {
        println!(
            "wrote {}",
            path.strip_prefix(&cwd).unwrap_or(path).display()
        );
    }
    Ok(())
}

// ---- Drawing: plain SVG text, no plotting crate. ----

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 45.0;
const BOTTOM: f64 = 45.0;

const BLUE: [f64; 3] = [31.0, 119.0, 180.0];
const ORANGE: [f64; 3] = [255.0, 127.0, 14.0];

/// `rgb(...)` of `colour` faded towards white: `strength = 0` is white, `1` the colour.
fn tint(colour: [f64; 3], strength: f64) -> String {
    let c = |v: f64| (255.0 + (v - 255.0) * strength).round();
    format!("rgb({},{},{})", c(colour[0]), c(colour[1]), c(colour[2]))
}

/// The plot area inside the margins and the data ranges it shows; `log_y` puts y on a
/// logarithmic scale.
struct Frame {
    x: (f64, f64),
    y: (f64, f64),
    log_y: bool,
}

impl Frame {
    const W: f64 = WIDTH - LEFT - RIGHT;
    const H: f64 = HEIGHT - TOP - BOTTOM;

    fn sx(&self, v: f64) -> f64 {
        LEFT + (v - self.x.0) / (self.x.1 - self.x.0) * Self::W
    }

    fn sy(&self, v: f64) -> f64 {
        let (v, lo, hi) = if self.log_y {
            (v.log10(), self.y.0.log10(), self.y.1.log10())
        } else {
            (v, self.y.0, self.y.1)
        };
        TOP + Self::H - (v - lo) / (hi - lo) * Self::H
    }

    /// Light grid lines, tick labels, axis titles and the frame.
    fn axes(
        &self,
        svg: &mut String,
        x_ticks: &[f64],
        y_ticks: &[f64],
        x_title: &str,
        y_title: &str,
    ) {
        let bottom = TOP + Self::H;
        for &t in x_ticks {
            let x = self.sx(t);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}" stroke="#000" stroke-opacity="0.1"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{t}</text>"##,
                bottom + 16.0
            );
        }
        for &t in y_ticks {
            let y = self.sy(t);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#000" stroke-opacity="0.1"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{t}</text>"##,
                LEFT + Self::W,
                LEFT - 6.0,
                y + 4.0
            );
        }
        let _ = writeln!(
            svg,
            r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#000"/>
<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{x_title}</text>
<text transform="translate(16 {:.1}) rotate(-90)" font-size="12" text-anchor="middle">{y_title}</text>"##,
            Self::W,
            Self::H,
            LEFT + Self::W / 2.0,
            HEIGHT - 10.0,
            TOP + Self::H / 2.0
        );
    }
}

fn header(title: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="{:.1}" y="28" font-size="15" text-anchor="middle">{title}</text>
"##,
        LEFT + Frame::W / 2.0
    )
}

/// The plane shaded by the network's confidence (blue: class 0, orange: class 1, white where it
/// is unsure), the boundary where both classes are equally likely, and the training points.
fn decision_svg(net: &Mlp, x: &Array2<f64>, labels: &[usize]) -> String {
    let frame = Frame {
        x: (-1.6, 2.6),
        y: (-1.1, 1.6),
        log_y: false,
    };
    // P(class 1) at the corners of a grid of nx × ny cells, row by row from the top.
    let (nx, ny) = (168_usize, 108_usize);
    let corner = |i: usize, j: usize| {
        (
            frame.x.0 + (frame.x.1 - frame.x.0) * i as f64 / nx as f64,
            frame.y.1 - (frame.y.1 - frame.y.0) * j as f64 / ny as f64,
        )
    };
    let mut grid = Array2::zeros(((nx + 1) * (ny + 1), 2));
    for (k, mut point) in grid.axis_iter_mut(Axis(0)).enumerate() {
        let (px, py) = corner(k % (nx + 1), k / (nx + 1));
        point[0] = px;
        point[1] = py;
    }
    let prob = net.prob_class1(&grid);
    let p = |i: usize, j: usize| prob[j * (nx + 1) + i];
    let to_svg = |(px, py): (f64, f64)| (frame.sx(px), frame.sy(py));

    let mut svg = header("Two moons: decision regions of a 2-16-2 tanh MLP");

    // Cells in 8 shades per class by their centre's confidence; a run of equal shades along a
    // row is one rectangle.
    let shade = |i: usize, j: usize| {
        let centre = (p(i, j) + p(i + 1, j) + p(i, j + 1) + p(i + 1, j + 1)) / 4.0;
        ((centre - 0.5) * 16.0).round() as i32
    };
    svg.push_str("<g shape-rendering=\"crispEdges\">\n");
    for j in 0..ny {
        let mut i = 0;
        while i < nx {
            let s = shade(i, j);
            let run = (i..nx).take_while(|&k| shade(k, j) == s).count();
            let (x0, y0) = to_svg(corner(i, j));
            let (x1, y1) = to_svg(corner(i + run, j + 1));
            let colour = if s < 0 { BLUE } else { ORANGE };
            let _ = writeln!(
                svg,
                r#"<rect x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                x1 - x0 + 0.3,
                y1 - y0 + 0.3,
                tint(colour, 0.5 * f64::from(s.abs()) / 8.0)
            );
            i += run;
        }
    }
    svg.push_str("</g>\n");

    // The p = 0.5 contour by marching squares: in each cell, the points where p − 0.5 changes
    // sign along an edge (linearly interpolated), joined in pairs.
    let mut path = String::new();
    for j in 0..ny {
        for i in 0..nx {
            let corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
            let mut crossings = Vec::with_capacity(4);
            for e in 0..4 {
                let (a, b) = (corners[e], corners[(e + 1) % 4]);
                let (fa, fb) = (p(a.0, a.1) - 0.5, p(b.0, b.1) - 0.5);
                if (fa < 0.0) != (fb < 0.0) {
                    let t = fa / (fa - fb);
                    let (ax, ay) = to_svg(corner(a.0, a.1));
                    let (bx, by) = to_svg(corner(b.0, b.1));
                    crossings.push((ax + t * (bx - ax), ay + t * (by - ay)));
                }
            }
            for pair in crossings.chunks_exact(2) {
                let _ = write!(
                    path,
                    "M{:.1} {:.1}L{:.1} {:.1}",
                    pair[0].0, pair[0].1, pair[1].0, pair[1].1
                );
            }
        }
    }
    let _ = writeln!(
        svg,
        r##"<path d="{path}" stroke="#333" stroke-width="1.5" fill="none"/>"##
    );

    for (point, &label) in x.rows().into_iter().zip(labels) {
        let colour = if label == 0 { BLUE } else { ORANGE };
        let (cx, cy) = to_svg((point[0], point[1]));
        let _ = writeln!(
            svg,
            r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="3.5" fill="{}" stroke="white" stroke-width="0.8"/>"#,
            tint(colour, 1.0)
        );
    }

    frame.axes(
        &mut svg,
        &[-1.0, 0.0, 1.0, 2.0],
        &[-1.0, -0.5, 0.0, 0.5, 1.0, 1.5],
        "x₁",
        "x₂",
    );
    // A legend in the top left corner.
    let (lx, ly) = (LEFT + 12.0, TOP + 18.0);
    let _ = writeln!(
        svg,
        r##"<rect x="{:.1}" y="{:.1}" width="238" height="24" fill="white" fill-opacity="0.85" stroke="#999"/>
<circle cx="{:.1}" cy="{ly:.1}" r="4" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12">class 0</text>
<circle cx="{:.1}" cy="{ly:.1}" r="4" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12">class 1</text>
<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="#333" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" font-size="12">p = 0.5</text>"##,
        lx - 6.0,
        ly - 12.0,
        lx + 6.0,
        tint(BLUE, 1.0),
        lx + 14.0,
        ly + 4.0,
        lx + 80.0,
        tint(ORANGE, 1.0),
        lx + 88.0,
        ly + 4.0,
        lx + 150.0,
        lx + 170.0,
        lx + 176.0,
        ly + 4.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// The training loss against the step, on a logarithmic axis from the 1-2-5 tick below its
/// smallest value to the one above its largest.
fn loss_svg(curve: &[f64]) -> String {
    let lo = curve.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = curve.iter().copied().fold(0.0, f64::max);
    let mut ticks = Vec::new();
    for e in lo.log10().floor() as i32..=hi.log10().ceil() as i32 {
        for m in [1.0, 2.0, 5.0] {
            ticks.push(m * 10f64.powi(e));
        }
    }
    let bottom = ticks.iter().copied().rfind(|&t| t <= lo).unwrap_or(lo);
    let top = ticks.iter().copied().find(|&t| t >= hi).unwrap_or(hi);
    ticks.retain(|&t| (bottom..=top).contains(&t));
    let last = (curve.len() - 1) as f64;
    let frame = Frame {
        x: (0.0, last),
        y: (bottom, top),
        log_y: true,
    };

    let mut svg = header("Training loss: mean cross-entropy, full-batch gradient descent");
    let mut points = String::new();
    for (step, &v) in curve.iter().enumerate() {
        let _ = write!(points, "{:.1},{:.1} ", frame.sx(step as f64), frame.sy(v));
    }
    let _ = writeln!(
        svg,
        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
        points.trim_end(),
        tint(BLUE, 1.0)
    );
    let x_ticks: Vec<f64> = (0..=6)
        .map(|k| (last * f64::from(k) / 6.0).round())
        .collect();
    frame.axes(&mut svg, &x_ticks, &ticks, "step", "loss (log scale)");
    svg.push_str("</svg>\n");
    svg
}
