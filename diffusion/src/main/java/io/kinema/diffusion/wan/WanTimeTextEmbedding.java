package io.kinema.diffusion.wan;

import io.kinema.nn.Layer;
import io.kinema.nn.Linear;
import io.kinema.nn.Module;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;

/**
 * Wan's condition embedder (diffusers' {@code WanTimeTextImageEmbedding}, text-to-video part),
 * registered as {@code condition_embedder}: the timestep's sinusoidal features ({@code
 * timesteps_proj}, no parameters), the time MLP {@code time_embedder} (Linear-SiLU-Linear, freqDim
 * -> D -> D), {@code time_proj} (SiLU then Linear D -> 6D: the blocks' modulation) and the text MLP
 * {@code text_embedder} (Linear-tanh GELU-Linear, textDim -> D -> D).
 *
 * <p>Precision as diffusers: the features are computed in F32 (F64 for an F64 model) and cast to
 * {@code time_embedder}'s dtype (kept F32 in half-precision models); {@code temb} is then cast to
 * the activation dtype before {@code time_proj}.
 */
public final class WanTimeTextEmbedding extends Module {
  private final int freqDim;

  /** What the embedder returns: all three are new tensors of the caller's scope. */
  public record Output(Tensor temb, Tensor timestepProj, Tensor context) {}

  WanTimeTextEmbedding(WanConfig c, DType dtype, DType keepDtype, Generator gen) {
    long d = c.innerDim();
    this.freqDim = c.freqDim();
    registerModule(
        "time_embedder",
        new EmbeddingMlp(c.freqDim(), d, d, EmbeddingMlp.Activation.SILU, keepDtype, gen));
    registerModule("time_proj", new Linear(d, 6 * d, true, dtype, gen));
    registerModule(
        "text_embedder",
        new EmbeddingMlp(c.textDim(), d, d, EmbeddingMlp.Activation.GELU_TANH, dtype, gen));
  }

  /**
   * @param timestep {@code [B]}, any numeric dtype (values are read on the host)
   * @param text {@code [B, S, textDim]} in the activation dtype {@code act}
   * @param up the dtype of the float32 islands (F64 for an F64 model, else F32)
   */
  Output forward(Tensor timestep, Tensor text, DType act, DType up, WanTransformer3D.Trace trace) {
    return forward(timestep, text, act, up, false, trace);
  }

  /**
   * @param timestep any shape (flattened: one row of features per value), any numeric dtype
   * @param f64Features compute the sinusoid in double and round it once to {@code up}, as the
   *     original Wan code ({@code sinusoidal_embedding_1d}, float64) does; otherwise diffusers'
   *     float32 arithmetic
   */
  Output forward(
      Tensor timestep,
      Tensor text,
      DType act,
      DType up,
      boolean f64Features,
      WanTransformer3D.Trace trace) {
    try (var s = Scope.open()) {
      // The sinusoid is computed on the host (as the reference does, in double or float32) and
      // moved to the model's device.
      Tensor features =
          timestepFeatures(timestep.toDoubleArray(), freqDim, f64Features ? DType.F64 : up)
              .to(up)
              .to(text.device());
      WanTransformer3D.record(trace, "condition_embedder.timesteps_proj.out", features);
      EmbeddingMlp timeEmbedder = (EmbeddingMlp) getSubmodule("time_embedder");
      Tensor temb = timeEmbedder.forward(features.to(timeEmbedder.weightDtype())).to(act);
      WanTransformer3D.record(trace, "temb", temb);
      Tensor proj = ((Layer) getSubmodule("time_proj")).forward(temb.silu());
      WanTransformer3D.record(trace, "condition_embedder.time_proj.out", proj);
      Tensor context = ((Layer) getSubmodule("text_embedder")).forward(text);
      WanTransformer3D.record(trace, "condition_embedder.text_embedder.out", context);
      return new Output(s.keep(temb), s.keep(proj), s.keep(context));
    }
  }

  /**
   * diffusers' {@code get_timestep_embedding(t, freqDim, flip_sin_to_cos=True,
   * downscale_freq_shift=0)}: {@code a_i = t * exp(-ln(10000) * i / half)}, {@code i < half =
   * freqDim / 2}, laid out {@code [cos(a_0..), sin(a_0..)]} (cosine half first), shape {@code [B,
   * freqDim]}. In F32 the intermediate values are rounded to float where PyTorch's float32 ops
   * round them (the exponent, its quotient, the exponential, the product); in F64 everything is
   * double.
   */
  static Tensor timestepFeatures(double[] t, int freqDim, DType dtype) {
    int half = freqDim / 2, b = t.length;
    double[] out = new double[b * freqDim];
    boolean f64 = dtype == DType.F64;
    float logMax32 = (float) -Math.log(10000.0);
    for (int i = 0; i < half; i++) {
      double freq;
      if (f64) {
        freq = Math.exp(-Math.log(10000.0) * i / half);
      } else {
        float exponent = (float) ((double) logMax32 * i);
        exponent = (float) ((double) exponent / half);
        freq = (float) Math.exp(exponent);
      }
      for (int r = 0; r < b; r++) {
        double a = f64 ? t[r] * freq : (float) ((double) (float) t[r] * freq);
        out[r * freqDim + i] = Math.cos(a);
        out[r * freqDim + half + i] = Math.sin(a);
      }
    }
    try (Tensor v = Tensor.of(out, b, freqDim)) {
      return v.to(f64 ? DType.F64 : DType.F32);
    }
  }

  @Override
  public String toString() {
    return "WanTimeTextEmbedding(freqDim=" + freqDim + ")";
  }
}
