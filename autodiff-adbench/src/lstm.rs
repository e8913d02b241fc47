//! ADBench's LSTM: a character-sequence loss through an `l`-layer elementwise LSTM.
//!
//! [`lstm_objective`] is the loss written as plain loops over slices, the way a user writes it
//! for `#[differentiate]`; the attribute adds [`lstm_objective_grad`], its gradient with respect
//! to the main and extra parameters. [`lstm_gradient`] is the same gradient written by hand (the
//! "Manual" module of ADBench): a forward sweep that stores the gate values of every step, then a
//! backward sweep over the steps. [`LstmInput::read`] reads ADBench's `lstm_lL_c1024.txt` files
//! and [`LstmInput::generate`] makes small instances for tests.
//!
//! Layout of the flat arrays (as in ADBench's files):
//!
//! - `main_params`: `2·l` rows of `4·b`; layer `j` owns row `2j` (weights) and row `2j+1`
//!   (biases), each split into four `b`-long blocks: forget, ingate, outgate, change.
//! - `extra_params`: three rows of `b`: `in_weight`, `out_weight`, `out_bias`.
//! - `state`: `2·l` rows of `b`: row `2j` is layer `j`'s hidden vector, row `2j+1` its cell.
//! - `sequence`: `c` rows of `b` one-hot bits.
#![allow(
    clippy::needless_range_loop,
    reason = "the objective is index loops over flat arrays, which is what #[differentiate] reads"
)]
#![allow(
    clippy::too_many_arguments,
    reason = "ADBench's LSTM signature: sizes, two parameter arrays and two constant arrays"
)]

use std::path::Path;

use autodiff::differentiate;

/// One LSTM problem: sizes, the parameters to differentiate, and the constants.
#[derive(Clone, Debug, PartialEq)]
pub struct LstmInput {
    /// Layers.
    pub l: usize,
    /// Characters in the sequence.
    pub c: usize,
    /// Bits per character, the hidden size.
    pub b: usize,
    /// `2·l·4·b` weights and biases of the layers.
    pub main_params: Vec<f64>,
    /// `3·b`: input weight, output weight, output bias.
    pub extra_params: Vec<f64>,
    /// `2·l·b`: each layer's initial hidden and cell vectors.
    pub state: Vec<f64>,
    /// `c·b` one-hot bits.
    pub sequence: Vec<f64>,
}

impl LstmInput {
    /// Parses ADBench's format: `l c b`, then the main parameters, extra parameters, state and
    /// sequence as whitespace-separated numbers.
    ///
    /// # Errors
    /// A message naming what is missing or malformed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut tokens = text.split_ascii_whitespace();
        let mut size = |what: &str| -> Result<usize, String> {
            let tok = tokens.next().ok_or_else(|| format!("missing {what}"))?;
            tok.parse()
                .map_err(|e| format!("{what}: {tok:?} is not a size ({e})"))
        };
        let (l, c, b) = (size("l")?, size("c")?, size("b")?);
        let mut floats = |what: &str, n: usize| -> Result<Vec<f64>, String> {
            (0..n)
                .map(|k| {
                    let tok = tokens
                        .next()
                        .ok_or_else(|| format!("{what}: only {k} of {n} numbers"))?;
                    tok.parse()
                        .map_err(|e| format!("{what}[{k}]: {tok:?} is not a number ({e})"))
                })
                .collect()
        };
        let main_params = floats("main_params", 2 * l * 4 * b)?;
        let extra_params = floats("extra_params", 3 * b)?;
        let state = floats("state", 2 * l * b)?;
        let sequence = floats("sequence", c * b)?;
        if tokens.next().is_some() {
            return Err("trailing numbers after the sequence".into());
        }
        Ok(Self {
            l,
            c,
            b,
            main_params,
            extra_params,
            state,
            sequence,
        })
    }

    /// Reads an ADBench input file such as `lstm/lstm_l2_c1024.txt`.
    ///
    /// # Errors
    /// The file cannot be read or does not parse.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A deterministic instance with parameters and state in `[-1, 1)` and a random one-hot
    /// sequence, from a small linear congruential generator seeded with `seed`.
    #[must_use]
    pub fn generate(l: usize, c: usize, b: usize, seed: u64) -> Self {
        let mut rng = Lcg::new(seed);
        let mut uniform = |n: usize| (0..n).map(|_| 2.0 * rng.next_f64() - 1.0).collect();
        let main_params = uniform(2 * l * 4 * b);
        let extra_params = uniform(3 * b);
        let state = uniform(2 * l * b);
        let mut sequence = vec![0.0; c * b];
        for t in 0..c {
            let hot = (rng.next_u64() % b as u64) as usize;
            sequence[t * b + hot] = 1.0;
        }
        Self {
            l,
            c,
            b,
            main_params,
            extra_params,
            state,
            sequence,
        }
    }

    /// [`lstm_objective`] at this input.
    #[must_use]
    pub fn objective(&self) -> f64 {
        lstm_objective(
            self.l,
            self.c,
            self.b,
            &self.main_params,
            &self.extra_params,
            &self.state,
            &self.sequence,
        )
    }
}

/// Knuth's MMIX linear congruential generator: enough randomness for test instances.
struct Lcg(u64);

impl Lcg {
    fn new(seed: u64) -> Self {
        let mut rng = Self(seed ^ 0x9E37_79B9_7F4A_7C15);
        rng.next_u64();
        rng
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 11
    }

    /// Uniform in `[0, 1)`, 53 bits.
    fn next_f64(&mut self) -> f64 {
        self.next_u64() as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// ADBench's LSTM loss: the negative mean log-likelihood of each next character of `sequence`
/// predicted through an `l`-layer elementwise LSTM (see the module documentation for the layout
/// of the arrays). `state` is the initial hidden and cell vectors of the layers; the body copies
/// it into a buffer that each time step updates in place.
#[differentiate(wrt(main_params, extra_params))]
pub fn lstm_objective(
    l: usize,
    c: usize,
    b: usize,
    main_params: &[f64],
    extra_params: &[f64],
    state: &[f64],
    sequence: &[f64],
) -> f64 {
    let mut s = state.to_vec();
    // The current layer's input, then its new hidden vector (the next layer's input).
    let mut x = vec![0.0; b];
    let mut ypred = vec![0.0; b];
    let mut total = 0.0;
    for t in 0..c - 1 {
        for i in 0..b {
            x[i] = sequence[t * b + i] * extra_params[i];
        }
        for j in 0..l {
            let w = 2 * j * 4 * b;
            let bias = w + 4 * b;
            let h = 2 * j * b;
            let cl = h + b;
            for i in 0..b {
                let zf = x[i] * main_params[w + i] + main_params[bias + i];
                let forget = 1.0 / (1.0 + (-zf).exp());
                let zi = s[h + i] * main_params[w + b + i] + main_params[bias + b + i];
                let ingate = 1.0 / (1.0 + (-zi).exp());
                let zo = x[i] * main_params[w + 2 * b + i] + main_params[bias + 2 * b + i];
                let outgate = 1.0 / (1.0 + (-zo).exp());
                let zc = s[h + i] * main_params[w + 3 * b + i] + main_params[bias + 3 * b + i];
                let change = zc.tanh();
                s[cl + i] = s[cl + i] * forget + ingate * change;
                s[h + i] = outgate * s[cl + i].tanh();
                x[i] = s[h + i];
            }
        }
        let mut sum = 0.0;
        for i in 0..b {
            ypred[i] = x[i] * extra_params[b + i] + extra_params[2 * b + i];
            sum += ypred[i].exp();
        }
        let lse = (sum + 2.0).ln();
        for i in 0..b {
            total += sequence[(t + 1) * b + i] * (ypred[i] - lse);
        }
    }
    -total / ((c - 1) * b) as f64
}

/// The gradient of [`lstm_objective`] with respect to `main_params` and `extra_params`, written
/// by hand: a forward sweep that keeps every step's gates, cells and hidden vectors, then a
/// backward sweep from the last step to the first. Returns the loss and the two gradients.
#[must_use]
pub fn lstm_gradient(
    l: usize,
    c: usize,
    b: usize,
    main_params: &[f64],
    extra_params: &[f64],
    state: &[f64],
    sequence: &[f64],
) -> (f64, Vec<f64>, Vec<f64>) {
    let steps = c - 1;
    let lb = l * b;
    // hidden[t][j][i] and cell[t][j][i]: row 0 is the initial state, row t+1 the state after
    // step t.
    let mut hidden = vec![0.0; (steps + 1) * lb];
    let mut cell = vec![0.0; (steps + 1) * lb];
    for j in 0..l {
        hidden[j * b..(j + 1) * b].copy_from_slice(&state[2 * j * b..(2 * j + 1) * b]);
        cell[j * b..(j + 1) * b].copy_from_slice(&state[(2 * j + 1) * b..(2 * j + 2) * b]);
    }
    // gates[t][j][g][i] for g = forget, ingate, outgate, change, tanh(cell).
    let mut gates = vec![0.0; steps * lb * 5];
    // exp(ypred) of each step, and each step's Σ exp(ypred) + 2.
    let mut expy = vec![0.0; steps * b];
    let mut denom = vec![0.0; steps];
    let (in_weight, rest) = extra_params.split_at(b);
    let (out_weight, out_bias) = rest.split_at(b);
    let mut ypred = vec![0.0; b];
    let mut total = 0.0;
    for t in 0..steps {
        let (past, future) = hidden.split_at_mut((t + 1) * lb);
        let (h_old, h_new) = (&past[t * lb..], &mut future[..lb]);
        let (past, future) = cell.split_at_mut((t + 1) * lb);
        let (c_old, c_new) = (&past[t * lb..], &mut future[..lb]);
        let seq = &sequence[t * b..(t + 1) * b];
        for j in 0..l {
            let w = &main_params[2 * j * 4 * b..(2 * j + 1) * 4 * b];
            let bias = &main_params[(2 * j + 1) * 4 * b..(2 * j + 2) * 4 * b];
            let g = &mut gates[(t * l + j) * 5 * b..(t * l + j + 1) * 5 * b];
            for i in 0..b {
                let x = if j == 0 {
                    seq[i] * in_weight[i]
                } else {
                    h_new[(j - 1) * b + i]
                };
                let hp = h_old[j * b + i];
                let forget = 1.0 / (1.0 + (-(x * w[i] + bias[i])).exp());
                let ingate = 1.0 / (1.0 + (-(hp * w[b + i] + bias[b + i])).exp());
                let outgate = 1.0 / (1.0 + (-(x * w[2 * b + i] + bias[2 * b + i])).exp());
                let change = (hp * w[3 * b + i] + bias[3 * b + i]).tanh();
                let cn = c_old[j * b + i] * forget + ingate * change;
                let th = cn.tanh();
                c_new[j * b + i] = cn;
                h_new[j * b + i] = outgate * th;
                g[i] = forget;
                g[b + i] = ingate;
                g[2 * b + i] = outgate;
                g[3 * b + i] = change;
                g[4 * b + i] = th;
            }
        }
        let last = &h_new[(l - 1) * b..];
        let e = &mut expy[t * b..(t + 1) * b];
        let mut sum = 0.0;
        for i in 0..b {
            ypred[i] = last[i] * out_weight[i] + out_bias[i];
            e[i] = ypred[i].exp();
            sum += e[i];
        }
        denom[t] = sum + 2.0;
        let lse = denom[t].ln();
        let gold = &sequence[(t + 1) * b..(t + 2) * b];
        for i in 0..b {
            total += gold[i] * (ypred[i] - lse);
        }
    }
    let loss = -total / (steps * b) as f64;

    let d_total = -1.0 / (steps * b) as f64;
    let mut d_main = vec![0.0; main_params.len()];
    let mut d_extra = vec![0.0; extra_params.len()];
    // Adjoints of the state after the step being reversed: hidden and cell of each layer.
    let mut dh = vec![0.0; lb];
    let mut dc = vec![0.0; lb];
    for t in (0..steps).rev() {
        let h_old = &hidden[t * lb..(t + 1) * lb];
        let h_new = &hidden[(t + 1) * lb..(t + 2) * lb];
        let c_old = &cell[t * lb..(t + 1) * lb];
        let seq = &sequence[t * b..(t + 1) * b];
        let gold = &sequence[(t + 1) * b..(t + 2) * b];
        // total += Σ gold ⊙ (ypred − ln(Σ exp(ypred) + 2)).
        let gold_sum: f64 = gold.iter().sum();
        let e = &expy[t * b..(t + 1) * b];
        let scale = gold_sum / denom[t];
        let last = &h_new[(l - 1) * b..];
        for i in 0..b {
            let dy = d_total * (gold[i] - scale * e[i]);
            d_extra[b + i] += dy * last[i];
            d_extra[2 * b + i] += dy;
            dh[(l - 1) * b + i] += dy * out_weight[i];
        }
        for j in (0..l).rev() {
            let w = &main_params[2 * j * 4 * b..(2 * j + 1) * 4 * b];
            let (dw, db) = d_main[2 * j * 4 * b..(2 * j + 2) * 4 * b].split_at_mut(4 * b);
            let g = &gates[(t * l + j) * 5 * b..(t * l + j + 1) * 5 * b];
            for i in 0..b {
                let (forget, ingate, outgate, change, th) =
                    (g[i], g[b + i], g[2 * b + i], g[3 * b + i], g[4 * b + i]);
                let x = if j == 0 {
                    seq[i] * in_weight[i]
                } else {
                    h_new[(j - 1) * b + i]
                };
                let hp = h_old[j * b + i];
                let d_hidden = dh[j * b + i];
                let d_out = d_hidden * th;
                let d_cell = dc[j * b + i] + d_hidden * outgate * (1.0 - th * th);
                let d_zf = d_cell * c_old[j * b + i] * forget * (1.0 - forget);
                let d_zi = d_cell * change * ingate * (1.0 - ingate);
                let d_zo = d_out * outgate * (1.0 - outgate);
                let d_zc = d_cell * ingate * (1.0 - change * change);
                dw[i] += d_zf * x;
                db[i] += d_zf;
                dw[b + i] += d_zi * hp;
                db[b + i] += d_zi;
                dw[2 * b + i] += d_zo * x;
                db[2 * b + i] += d_zo;
                dw[3 * b + i] += d_zc * hp;
                db[3 * b + i] += d_zc;
                let d_x = d_zf * w[i] + d_zo * w[2 * b + i];
                if j == 0 {
                    d_extra[i] += d_x * seq[i];
                } else {
                    dh[(j - 1) * b + i] += d_x;
                }
                // The old state's adjoints, for the step before.
                dh[j * b + i] = d_zi * w[b + i] + d_zc * w[3 * b + i];
                dc[j * b + i] = d_cell * forget;
            }
        }
    }
    (loss, d_main, d_extra)
}
