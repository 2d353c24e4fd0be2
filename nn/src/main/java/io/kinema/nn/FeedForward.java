package io.kinema.nn;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Epilogue;
import java.util.List;

/**
 * The transformer MLP as diffusers builds it ({@code diffusers.models.attention.FeedForward}):
 * {@code net.0} = projection plus activation ({@code net.0.proj}, a Linear dim -> hidden, or dim ->
 * 2 hidden for the gated variants), {@code net.1} = dropout, {@code net.2} = Linear hidden -> dim.
 * Parameter names therefore match diffusers checkpoints: {@code ffn.net.0.proj.weight}, {@code
 * ffn.net.2.weight} (Wan: activation "gelu-approximate", i.e. {@link Activation#GELU_TANH}).
 */
public final class FeedForward extends Module implements Layer {
  /** diffusers' {@code activation_fn} values. */
  public enum Activation {
    /** "gelu": exact GELU. */
    GELU,
    /** "gelu-approximate": tanh GELU (Wan's). */
    GELU_TANH,
    /** "geglu": {@code h * gelu(gate)} with {@code [h, gate] = proj(x).chunk(2)}. */
    GEGLU,
    /** "swiglu": {@code h * silu(gate)}. */
    SWIGLU,
    /** "linear-silu": {@code silu(proj(x))}. */
    SILU;

    /** The diffusers name ("gelu", "gelu-approximate", "geglu", "swiglu", "linear-silu"). */
    public static Activation fromDiffusers(String name) {
      return switch (name) {
        case "gelu" -> GELU;
        case "gelu-approximate" -> GELU_TANH;
        case "geglu" -> GEGLU;
        case "swiglu" -> SWIGLU;
        case "linear-silu" -> SILU;
        default ->
            throw new IllegalArgumentException(
                "FeedForward: unknown activation_fn \""
                    + name
                    + "\" (expected gelu, gelu-approximate, geglu, swiglu or linear-silu)");
      };
    }

    boolean gated() {
      return this == GEGLU || this == SWIGLU;
    }
  }

  /**
   * {@code net.0}: diffusers' activation modules ({@code GELU}, {@code GEGLU}, {@code SwiGLU},
   * {@code LinearActivation}), a Linear named {@code proj} followed by the activation.
   */
  public static final class ProjActivation extends Module implements Layer {
    private final Activation activation;

    public ProjActivation(
        long dimIn, long dimOut, Activation activation, boolean bias, DType dtype, Generator gen) {
      this.activation = activation;
      registerModule(
          "proj", new Linear(dimIn, activation.gated() ? 2 * dimOut : dimOut, bias, dtype, gen));
    }

    @Override
    public Tensor forward(Tensor x) {
      Module proj = getSubmodule("proj");
      if (activation == Activation.GELU_TANH && proj instanceof Linear linear) {
        // Wan's case: the activation in the product's store (a LoRA-wrapped proj is composed).
        return linear.forward(x, Epilogue.GELU_TANH);
      }
      try (var s = Scope.open()) {
        Tensor h = ((Layer) proj).forward(x);
        Tensor y =
            switch (activation) {
              case GELU -> h.gelu();
              case GELU_TANH -> h.geluTanh();
              case SILU -> h.silu();
              case GEGLU, SWIGLU -> {
                List<Tensor> parts = h.chunk(2, -1);
                Tensor gate = parts.get(1);
                yield parts.get(0).mul(activation == Activation.GEGLU ? gate.gelu() : gate.silu());
              }
            };
        return s.keep(y);
      }
    }

    @Override
    public String toString() {
      return "ProjActivation(" + getSubmodule("proj") + ", " + activation + ")";
    }
  }

  private final long dim, hidden;

  /** Wan's FFN: tanh GELU, no dropout, biases, F32. */
  public FeedForward(long dim, long hidden, Generator generator) {
    this(dim, hidden, Activation.GELU_TANH, 0, true, DType.F32, generator);
  }

  /**
   * @param dropout probability of the dropout between the two projections (drawn from {@code
   *     generator}, which also initializes the weights; null leaves them zero and needs dropout 0)
   */
  public FeedForward(
      long dim,
      long hidden,
      Activation activation,
      double dropout,
      boolean bias,
      DType dtype,
      Generator generator) {
    this.dim = dim;
    this.hidden = hidden;
    registerModule(
        "net",
        new Sequential(
            new ProjActivation(dim, hidden, activation, bias, dtype, generator),
            new Dropout(dropout, generator),
            new Linear(hidden, dim, bias, dtype, generator)));
  }

  /** {@code net}: [0] projection + activation, [1] dropout, [2] output projection. */
  public Sequential net() {
    return (Sequential) getSubmodule("net");
  }

  @Override
  public Tensor forward(Tensor x) {
    return ((Layer) getSubmodule("net")).forward(x);
  }

  @Override
  public String toString() {
    return "FeedForward(dim=" + dim + ", hidden=" + hidden + ")";
  }
}
