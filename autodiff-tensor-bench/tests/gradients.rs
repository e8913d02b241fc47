//! The gradients `#[differentiate]` generates for the ndarray models agree with the hand-written
//! ones, on small shapes (so this stays fast in a debug build), and the generated value is bit
//! for bit the function's.

use autodiff_tensor_bench::logreg::{
    logreg_loss, logreg_loss_grad, logreg_loss_hand, logreg_loss_hand_rows, LogregProblem,
};
use autodiff_tensor_bench::mlp::{
    flatten, mlp_loss, mlp_loss_f32, mlp_loss_f32_grad, mlp_loss_grad, mlp_loss_hand, MlpProblem,
};
use autodiff_tensor_bench::relative_error;

#[test]
fn mlp_f64_generated_matches_hand_written() {
    for (batch, inputs, hidden, classes, seed) in
        [(1, 1, 1, 2, 1), (7, 5, 4, 3, 2), (16, 12, 9, 10, 3)]
    {
        let p = MlpProblem::random(batch, inputs, hidden, classes, seed);
        let args = (&p.w1, &p.b1, &p.w2, &p.b2, &p.x, p.labels.as_slice());
        let (value, grad) = mlp_loss_grad(args.0, args.1, args.2, args.3, args.4, args.5);
        let (hand_value, hand_grad) = mlp_loss_hand(args.0, args.1, args.2, args.3, args.4, args.5);
        let plain = mlp_loss(args.0, args.1, args.2, args.3, args.4, args.5);
        assert_eq!(
            value.to_bits(),
            plain.to_bits(),
            "value of NAME_grad vs NAME"
        );
        assert!(
            relative_error(&[value], &[hand_value]) < 1e-12,
            "value {value} vs hand-written {hand_value}"
        );
        assert_eq!(grad.0.dim(), p.w1.dim());
        assert_eq!(grad.1.dim(), p.b1.dim());
        assert_eq!(grad.2.dim(), p.w2.dim());
        assert_eq!(grad.3.dim(), p.b2.dim());
        let err = relative_error(&flatten(&grad), &flatten(&hand_grad));
        assert!(
            err < 1e-12,
            "shape {batch}x{inputs}x{hidden}x{classes}: relative error {err:e}"
        );
    }
}

#[test]
fn mlp_f32_generated_matches_hand_written() {
    let p = MlpProblem::random(16, 12, 9, 10, 4).to_f32();
    let args = (&p.w1, &p.b1, &p.w2, &p.b2, &p.x, p.labels.as_slice());
    let (value, grad) = mlp_loss_f32_grad(args.0, args.1, args.2, args.3, args.4, args.5);
    let (hand_value, hand_grad) = mlp_loss_hand(args.0, args.1, args.2, args.3, args.4, args.5);
    let plain = mlp_loss_f32(args.0, args.1, args.2, args.3, args.4, args.5);
    assert_eq!(value.to_bits(), plain.to_bits());
    assert!(relative_error(&[value.into()], &[hand_value.into()]) < 1e-5);
    let err = relative_error(&flatten(&grad), &flatten(&hand_grad));
    assert!(err < 1e-5, "relative error {err:e}");
}

#[test]
fn mlp_vjp_scales_the_gradient() {
    let p = MlpProblem::random(5, 4, 3, 2, 5);
    let (_, grad) = mlp_loss_grad(&p.w1, &p.b1, &p.w2, &p.b2, &p.x, &p.labels);
    let (_, scaled) = mlp_loss_vjp_3(&p);
    let want: Vec<f64> = flatten(&grad).iter().map(|g| 3.0 * g).collect();
    assert!(relative_error(&flatten(&scaled), &want) < 1e-14);
}

fn mlp_loss_vjp_3(p: &MlpProblem<f64>) -> (f64, autodiff_tensor_bench::mlp::MlpGrad<f64>) {
    autodiff_tensor_bench::mlp::mlp_loss_vjp(&p.w1, &p.b1, &p.w2, &p.b2, &p.x, &p.labels, 3.0)
}

#[test]
fn logreg_generated_matches_hand_written() {
    for (n, d, seed) in [(1, 1, 1), (50, 7, 2), (300, 20, 3)] {
        let p = LogregProblem::random(n, d, seed);
        let (value, (d_w, d_b)) = logreg_loss_grad(&p.w, p.b, &p.x, &p.y);
        let (hand_value, (hand_w, hand_b)) = logreg_loss_hand(&p.w, p.b, &p.x, &p.y);
        assert_eq!(
            value.to_bits(),
            logreg_loss(&p.w, p.b, &p.x, &p.y).to_bits()
        );
        assert!(relative_error(&[value], &[hand_value]) < 1e-12);
        assert_eq!(d_w.dim(), p.w.dim());
        let got: Vec<f64> = d_w.iter().copied().chain([d_b]).collect();
        let want: Vec<f64> = hand_w.iter().copied().chain([hand_b]).collect();
        let err = relative_error(&got, &want);
        assert!(err < 1e-12, "n = {n}, d = {d}: relative error {err:e}");
        let (rows_value, (rows_w, rows_b)) = logreg_loss_hand_rows(&p.w, p.b, &p.x, &p.y);
        let rows: Vec<f64> = rows_w.iter().copied().chain([rows_b]).collect();
        assert!(relative_error(&[rows_value], &[hand_value]) < 1e-12);
        assert!(
            relative_error(&rows, &want) < 1e-12,
            "rows, n = {n}, d = {d}"
        );
    }
}
