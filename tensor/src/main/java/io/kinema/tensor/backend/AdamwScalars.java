package io.kinema.tensor.backend;

/**
 * The f32 scalars of one fused AdamW step ({@link Backend#adamwStep}), each the value the composed
 * tensor ops would hold: {@code decay = (float) (1 - lr · weight_decay)}, {@code negStep = (float)
 * (-lr / (1 - beta1^t))}, {@code bc2Sqrt = (float) sqrt(1 - beta2^t)}, the betas, {@code 1 - beta}s
 * and eps rounded to f32. With {@code maximize} the gradient is negated.
 */
public record AdamwScalars(
    float decay,
    float beta1,
    float oneMinusBeta1,
    float beta2,
    float oneMinusBeta2,
    float negStep,
    float bc2Sqrt,
    float eps,
    boolean maximize) {}
