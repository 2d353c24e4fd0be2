// adamw.cu: one fused AdamW (and Adam, with decay = 1) step over a parameter tensor.
//
// The same arithmetic as io.kinema.nn.optim.Adam.step with decoupled weight decay, in f32 and in
// the same order, each operation rounded once (explicit _rn intrinsics: no contraction), so F32
// parameters with F32 state get the CPU optimizer's bits:
//   p = p * decay                                   decay = (float) (1 - lr * weight_decay)
//   m = m * beta1 + g * (1 - beta1)
//   v = v * beta2 + (g * (1 - beta2)) * g
//   p = p + (m * neg_step) / (sqrt(v) / bc2_sqrt + eps)
//                                                   neg_step = (float) (-lr / (1 - beta1^t)),
//                                                   bc2_sqrt = (float) sqrt(1 - beta2^t)
// g is the gradient, negated when maximize != 0. Every scalar is the f32 the CPU's scalar
// tensors hold; the Java side computes them in double and rounds.
//
// Dtypes: param F32/BF16/F16; grad any float dtype; exp_avg and exp_avg_sq share state_dtype
// (F32, or the param's 16-bit type). With `master` (an F32 copy of the parameter, nullable) the
// update runs on the master and the param receives it rounded: mixed-precision training with f32
// master weights. 16-bit values are rounded once per step here (the CPU rounds after each op).
// All buffers dense, n elements; param and master may not alias other operands.
//
// Launch: block 256, grid min(ceil(n / 256), 32 * SMs) (grid-stride loop). No shared memory.

#include "kinema_cuda.h"

extern "C" __global__ void kinema_adamw(void* param, int param_dtype, float* master,
                                        const void* grad, int grad_dtype, void* exp_avg,
                                        void* exp_avg_sq, int state_dtype, i64 n, float decay,
                                        float beta1, float one_minus_beta1, float beta2,
                                        float one_minus_beta2, float neg_step, float bc2_sqrt,
                                        float eps, int maximize) {
  for (i64 i = global_thread(); i < n; i += global_threads()) {
    float g = load_f32(grad, i, grad_dtype);
    if (maximize) g = -g;
    float p = master != nullptr ? master[i] : load_f32(param, i, param_dtype);
    float m = load_f32(exp_avg, i, state_dtype), v = load_f32(exp_avg_sq, i, state_dtype);
    p = __fmul_rn(p, decay);
    m = __fadd_rn(__fmul_rn(m, beta1), __fmul_rn(g, one_minus_beta1));
    v = __fadd_rn(__fmul_rn(v, beta2), __fmul_rn(__fmul_rn(g, one_minus_beta2), g));
    float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), bc2_sqrt), eps);
    p = __fadd_rn(p, __fdiv_rn(__fmul_rn(m, neg_step), denom));
    store_f32(exp_avg, i, state_dtype, m);
    store_f32(exp_avg_sq, i, state_dtype, v);
    if (master != nullptr) master[i] = p;
    store_f32(param, i, param_dtype, p);
  }
}
