package io.kinema.tensor.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Kinema's own CUDA kernels: which PTX module holds each, its parameters in order, and how to
 * launch it. The CUDA backend loads a {@link Module}'s PTX ({@link Module#ptx()}), looks kernels up
 * by name and passes arguments as {@link Kernel#params()} lists them; {@code docs/GPU.md}
 * ("Kernels") explains every kernel's semantics and launch, and the sources are {@code
 * tensor/src/main/cuda}.
 *
 * <p>Codes passed as {@code int} parameters: dtypes are {@link io.kinema.tensor.DType} ordinals;
 * {@code op} is the ordinal of {@link io.kinema.tensor.backend.UnaryOp}, {@link
 * io.kinema.tensor.backend.BinaryOp} or {@link io.kinema.tensor.backend.ReduceOp}; {@code kind} of
 * a random fill is the {@link io.kinema.tensor.backend.RandomKind} ordinal, of a reduction a {@link
 * ReduceKind} code; masks are {@link MaskKind} codes. Pointers point at a view's first element;
 * strides are in elements. Structs are encoded by {@link KernelStructs}.
 *
 * <p>The PTX is built by Maven when nvcc is installed (see {@code tensor/pom.xml}); without it
 * {@link Module#ptx()} is empty and the CUDA backend must report its kernels as unavailable.
 */
public final class KernelCatalog {
  private KernelCatalog() {}

  /** Resource folder of the PTX modules. */
  public static final String PTX_FOLDER = "/io/kinema/tensor/cuda/ptx/";

  /** The PTX modules: one per kernel family, one source file each ({@code NAME.cu}). */
  public enum Module {
    ELEMENTWISE("elementwise"),
    REDUCE("reduce"),
    SOFTMAX("softmax"),
    NORM("norm"),
    ROTARY("rotary"),
    ADAMW("adamw"),
    RANDOM("random"),
    ATTENTION("attention"),
    ATTENTION_BACKWARD("attention_backward"),
    ATTENTION_F32("attention_f32"),
    INDEX("index");

    private final String fileName;

    Module(String fileName) {
      this.fileName = fileName;
    }

    /**
     * The source and PTX base name, e.g. {@code reduce} for {@code reduce.cu}/{@code reduce.ptx}.
     */
    public String fileName() {
      return fileName;
    }

    /** The class-path resource of the PTX. */
    public String resource() {
      return PTX_FOLDER + fileName + ".ptx";
    }

    /**
     * The PTX text, NUL-terminated as {@code cuModuleLoadData} wants it; empty when the kernels
     * were not built (no nvcc at build time).
     */
    public Optional<byte[]> ptx() {
      try (InputStream in = KernelCatalog.class.getResourceAsStream(resource())) {
        if (in == null) return Optional.empty();
        byte[] text = in.readAllBytes();
        return Optional.of(Arrays.copyOf(text, text.length + 1));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read the PTX resource " + resource(), e);
      }
    }
  }

  /** A kernel parameter's C type, with its size in the parameter buffer. */
  public enum ParamType {
    /** A device pointer (nullable where the kernel says so). */
    PTR(8),
    I32(4),
    I64(8),
    U64(8),
    F32(4),
    F64(8),
    /** {@code kinema_shape} ({@link KernelStructs#shape}). */
    SHAPE(KernelStructs.SHAPE_BYTES),
    /** {@code kinema_strides} ({@link KernelStructs#strides}). */
    STRIDES(KernelStructs.STRIDES_BYTES),
    /** {@code kinema_attention_args} ({@link KernelStructs.AttentionArgs}). */
    ATTENTION_ARGS(KernelStructs.ATTENTION_ARGS_BYTES);

    private final int bytes;

    ParamType(int bytes) {
      this.bytes = bytes;
    }

    public int bytes() {
      return bytes;
    }

    /** True for the structs passed by value. */
    public boolean isStruct() {
      return this == SHAPE || this == STRIDES || this == ATTENTION_ARGS;
    }
  }

  /** One parameter: its name in the CUDA source and its type. */
  public record Param(String name, ParamType type) {}

  /**
   * How a kernel is launched: the block ({@code blockX} x {@code blockY} threads, the size the
   * kernel is written for), the largest block it accepts ({@code maxThreads}: larger than the
   * default for row kernels that take any multiple of 32), the dynamic shared memory in bytes, and
   * the grid, in words.
   */
  public record Launch(int blockX, int blockY, int maxThreads, int dynamicSmem, String grid) {
    /** Dynamic shared memory a kernel gets without raising its attribute. */
    public static final int DEFAULT_SMEM_LIMIT = 48 * 1024;

    public int threads() {
      return blockX * blockY;
    }

    /** True when the launcher must set {@code CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES}. */
    public boolean needsSmemOptIn() {
      return dynamicSmem > DEFAULT_SMEM_LIMIT;
    }
  }

  /** A kernel: its module, entry name, parameters in order, launch and a one-line summary. */
  public record Kernel(
      Module module, String name, List<Param> params, Launch launch, String summary) {
    public Kernel {
      params = List.copyOf(params);
    }
  }

  /** Every kernel, in module order. */
  public static List<Kernel> kernels() {
    return KERNELS;
  }

  /** The kernels of one module. */
  public static List<Kernel> kernels(Module module) {
    return KERNELS.stream().filter(k -> k.module() == module).toList();
  }

  /** The kernel named {@code name}. */
  public static Kernel kernel(String name) {
    Kernel k = BY_NAME.get(name);
    if (k == null) {
      throw new IllegalArgumentException("no CUDA kernel named '" + name + "' in KernelCatalog");
    }
    return k;
  }

  // ---------------------------------------------------------------- launches

  /** Element-wise grid-stride kernels. */
  private static final Launch GRID_STRIDE =
      new Launch(256, 1, 256, 0, "min(ceil(work / 256), 32 * SMs), grid-stride loop");

  /** A block per row; any multiple of 32 threads up to 1024. */
  private static final Launch PER_ROW = new Launch(256, 1, 1024, 0, "rows");

  private static final Launch PER_OUTPUT = new Launch(256, 1, 256, 0, "number of outputs");

  private static final String[] FLOATS = {"f32", "bf16", "f16", "f64"};
  private static final String[] HALVES = {"bf16", "f16"};

  /** The head dims of the flash attention kernels ({@code _d64}, {@code _d128}, {@code _d256}). */
  private static final int[] FLASH_HEAD_DIMS = {64, 128, 256};

  // ---------------------------------------------------------------- the table

  private static final List<Kernel> KERNELS = new ArrayList<>();

  static {
    elementwise();
    reduce();
    softmax();
    norm();
    rotary();
    adamw();
    random();
    attention();
    attentionSimt();
    index();
  }

  private static final Map<String, Kernel> BY_NAME = new LinkedHashMap<>();

  static {
    for (Kernel k : KERNELS) {
      if (BY_NAME.put(k.name(), k) != null)
        throw new IllegalStateException("duplicate " + k.name());
    }
  }

  private static void elementwise() {
    Module m = Module.ELEMENTWISE;
    add(
        m,
        "kinema_fill",
        GRID_STRIDE,
        "dst = a bit pattern of elem_bytes (1, 2, 4, 8) bytes",
        ptr("dst"),
        i32("elem_bytes"),
        u64("bits"),
        shape("shape"),
        strides("dst_st"),
        i64("n"));
    add(
        m,
        "kinema_copy",
        GRID_STRIDE,
        "strided copy converting dtypes with Casts' rules",
        ptr("src"),
        i32("src_dtype"),
        strides("src_st"),
        ptr("dst"),
        i32("dst_dtype"),
        strides("dst_st"),
        shape("shape"),
        i64("n"));
    add(
        m,
        "kinema_copy_contig",
        new Launch(256, 1, 256, 0, "min(ceil(n / 8 / 256), 32 * SMs), grid-stride loop"),
        "dense copy converting dtypes; F32 <-> BF16/F16 8 elements per thread step",
        ptr("src"),
        i32("src_dtype"),
        ptr("dst"),
        i32("dst_dtype"),
        i64("n"));
    add(
        m,
        "kinema_unary_f32",
        GRID_STRIDE,
        "out = op(x) in f32 for F32/BF16/F16 operands",
        i32("op"),
        ptr("x"),
        i32("x_dtype"),
        strides("x_st"),
        ptr("out"),
        i32("out_dtype"),
        strides("out_st"),
        shape("shape"),
        i64("n"),
        f32("p1"),
        f32("p2"));
    for (String t : new String[] {"f32", "bf16", "f16"}) {
      add(
          m,
          "kinema_unary_contig_" + t,
          new Launch(256, 1, 256, 0, "min(ceil(n / (16 / elem bytes) / 256), 32 * SMs)"),
          "dense out = op(x), 16 bytes per thread step",
          i32("op"),
          ptr("x"),
          ptr("out"),
          i64("n"),
          f32("p1"),
          f32("p2"));
    }
    add(
        m,
        "kinema_unary_f64",
        GRID_STRIDE,
        "out = op(x) in f64",
        i32("op"),
        ptr("x"),
        strides("x_st"),
        ptr("out"),
        strides("out_st"),
        shape("shape"),
        i64("n"),
        f64("p1"),
        f64("p2"));
    add(
        m,
        "kinema_unary_int",
        GRID_STRIDE,
        "out = op(x) in 64-bit integers, wrapping to out's width",
        i32("op"),
        ptr("x"),
        i32("x_dtype"),
        strides("x_st"),
        ptr("out"),
        i32("out_dtype"),
        strides("out_st"),
        shape("shape"),
        i64("n"),
        f64("p1"),
        f64("p2"));
    add(
        m,
        "kinema_gelu_tanh_backward_f32",
        GRID_STRIDE,
        "out = g * gelu_tanh'(x) in f32; g, x and out all of dtype (F32/BF16/F16)",
        ptr("g"),
        strides("g_st"),
        ptr("x"),
        strides("x_st"),
        ptr("out"),
        strides("out_st"),
        i32("dtype"),
        shape("shape"),
        i64("n"));
    add(
        m,
        "kinema_gelu_tanh_backward_f64",
        GRID_STRIDE,
        "out = g * gelu_tanh'(x) in f64",
        ptr("g"),
        strides("g_st"),
        ptr("x"),
        strides("x_st"),
        ptr("out"),
        strides("out_st"),
        shape("shape"),
        i64("n"));
    add(
        m,
        "kinema_logical_not",
        GRID_STRIDE,
        "out (BOOL) = !(x != 0) for any dtype",
        ptr("x"),
        i32("x_dtype"),
        strides("x_st"),
        ptr("out"),
        strides("out_st"),
        shape("shape"),
        i64("n"));
    add(
        m,
        "kinema_binary_f32",
        GRID_STRIDE,
        "out = op(a, b) in f32 (comparisons write BOOL)",
        i32("op"),
        ptr("a"),
        i32("a_dtype"),
        strides("a_st"),
        ptr("b"),
        i32("b_dtype"),
        strides("b_st"),
        ptr("out"),
        i32("out_dtype"),
        strides("out_st"),
        shape("shape"),
        i64("n"));
    for (String t : new String[] {"f32", "bf16", "f16"}) {
      add(
          m,
          "kinema_binary_contig_" + t,
          new Launch(256, 1, 256, 0, "min(ceil(n / (16 / elem bytes) / 256), 32 * SMs)"),
          "dense out = op(a, b) with b dense or one broadcast scalar (arithmetic ops)",
          i32("op"),
          ptr("a"),
          ptr("b"),
          i32("b_dtype"),
          i32("b_scalar"),
          ptr("out"),
          i64("n"));
    }
    add(
        m,
        "kinema_binary_f64",
        GRID_STRIDE,
        "out = op(a, b) in f64 (comparisons write BOOL)",
        i32("op"),
        ptr("a"),
        strides("a_st"),
        ptr("b"),
        strides("b_st"),
        ptr("out"),
        strides("out_st"),
        shape("shape"),
        i64("n"));
    add(
        m,
        "kinema_binary_int",
        GRID_STRIDE,
        "out = op(a, b) in 64-bit integers (comparisons write BOOL)",
        i32("op"),
        ptr("a"),
        i32("a_dtype"),
        strides("a_st"),
        ptr("b"),
        i32("b_dtype"),
        strides("b_st"),
        ptr("out"),
        i32("out_dtype"),
        strides("out_st"),
        shape("shape"),
        i64("n"));
    add(
        m,
        "kinema_logical",
        GRID_STRIDE,
        "out (BOOL) = truth(a) AND/OR truth(b) for any dtypes",
        i32("op"),
        ptr("a"),
        i32("a_dtype"),
        strides("a_st"),
        ptr("b"),
        i32("b_dtype"),
        strides("b_st"),
        ptr("out"),
        strides("out_st"),
        shape("shape"),
        i64("n"));
    add(
        m,
        "kinema_where",
        GRID_STRIDE,
        "out = cond ? a : b, moving elem_bytes-sized bit patterns",
        ptr("cond"),
        strides("cond_st"),
        ptr("a"),
        strides("a_st"),
        ptr("b"),
        strides("b_st"),
        ptr("out"),
        strides("out_st"),
        shape("shape"),
        i64("n"),
        i32("elem_bytes"));
  }

  private static void reduce() {
    Module m = Module.REDUCE;
    for (String t : FLOATS) {
      add(
          m,
          "kinema_reduce_rows_" + t,
          new Launch(
              256,
              1,
              256,
              0,
              "(num_out, splits); warp_per_output != 0: (ceil(num_out / 8), splits)"),
          "partial reductions, a block (or warp) per (output, split)",
          i32("kind"),
          ptr("x"),
          shape("kept"),
          strides("kept_x"),
          shape("red"),
          strides("red_x"),
          i64("n"),
          i64("num_out"),
          i32("splits"),
          ptr("means"),
          f64("p"),
          ptr("partials"),
          i32("warp_per_output"));
      add(
          m,
          "kinema_reduce_cols_" + t,
          new Launch(32, 8, 256, 0, "(ceil(num_out / 32), splits)"),
          "partial reductions, 32 consecutive outputs per block",
          i32("kind"),
          ptr("x"),
          shape("kept"),
          strides("kept_x"),
          shape("red"),
          strides("red_x"),
          i64("n"),
          i64("num_out"),
          i32("splits"),
          ptr("means"),
          f64("p"),
          ptr("partials"));
    }
    add(
        m,
        "kinema_reduce_finish",
        new Launch(256, 1, 256, 0, "ceil(num_out / 256)"),
        "combines the partials of each output in order and finishes the op",
        i32("op"),
        i32("kind"),
        ptr("partials"),
        i32("splits"),
        i64("num_out"),
        i64("n"),
        f64("param"),
        ptr("out"),
        i32("out_dtype"),
        shape("kept"),
        strides("kept_out"),
        ptr("values"));
    add(
        m,
        "kinema_reduce_int",
        PER_OUTPUT,
        "SUM/PROD/MAX/MIN of integers in 64-bit arithmetic, a block per output",
        i32("op"),
        ptr("x"),
        i32("x_dtype"),
        shape("kept"),
        strides("kept_x"),
        shape("red"),
        strides("red_x"),
        i64("n"),
        ptr("out"),
        i32("out_dtype"),
        strides("kept_out"));
    add(
        m,
        "kinema_argreduce",
        new Launch(256, 1, 256, 0, "number of lines"),
        "argmax/argmin (I64) along a dim, first index wins, NaN is the extreme",
        i32("is_max"),
        ptr("x"),
        i32("x_dtype"),
        shape("lines"),
        strides("lines_x"),
        strides("lines_out"),
        i64("len"),
        i64("stride"),
        ptr("out"));
  }

  private static void softmax() {
    Module m = Module.SOFTMAX;
    for (String t : FLOATS) {
      add(
          m,
          "kinema_softmax_" + t,
          PER_ROW,
          "softmax / log-softmax over the last dim of dense rows",
          ptr("x"),
          ptr("y"),
          i64("len"),
          i32("log_softmax"));
      add(
          m,
          "kinema_softmax_inner_" + t,
          GRID_STRIDE,
          "softmax / log-softmax over a dim with inner > 1, a thread per row",
          ptr("x"),
          ptr("y"),
          i64("outer"),
          i64("len"),
          i64("inner"),
          i32("log_softmax"));
      add(
          m,
          "kinema_softmax_backward_" + t,
          PER_ROW,
          "gradient of softmax / log-softmax over the last dim",
          ptr("y"),
          ptr("dy"),
          ptr("dx"),
          i64("len"),
          i32("log_softmax"));
    }
  }

  private static void norm() {
    Module m = Module.NORM;
    Launch backward =
        new Launch(256, 1, 1024, 0, "ceil(rows / rows_per_block); any multiple of 32 threads");
    for (String t : FLOATS) {
      add(
          m,
          "kinema_layer_norm_" + t,
          PER_ROW,
          "layer norm of dense rows, saving mean and rstd",
          ptr("x"),
          ptr("w"),
          ptr("b"),
          ptr("y"),
          ptr("mean_out"),
          ptr("rstd_out"),
          i64("n"),
          f64("eps"));
      add(
          m,
          "kinema_rms_norm_" + t,
          PER_ROW,
          "RMS norm of dense rows, saving rstd",
          ptr("x"),
          ptr("w"),
          ptr("y"),
          ptr("rstd_out"),
          i64("n"),
          f64("eps"));
      add(
          m,
          "kinema_layer_norm_backward_" + t,
          backward,
          "layer norm dx, and per-block partial dweight/dbias",
          ptr("dy"),
          ptr("x"),
          ptr("w"),
          ptr("mean"),
          ptr("rstd"),
          ptr("dx"),
          ptr("dw_partial"),
          ptr("db_partial"),
          i64("rows"),
          i64("n"),
          i64("rows_per_block"));
      add(
          m,
          "kinema_rms_norm_backward_" + t,
          backward,
          "RMS norm dx, and per-block partial dweight",
          ptr("dy"),
          ptr("x"),
          ptr("w"),
          ptr("rstd"),
          ptr("dx"),
          ptr("dw_partial"),
          i64("rows"),
          i64("n"),
          i64("rows_per_block"));
    }
    for (String a : new String[] {"f32", "f64"}) {
      add(
          m,
          "kinema_column_sum_" + a,
          new Launch(256, 1, 256, 0, "ceil(n / 256)"),
          "sums per-block partials column by column in block order",
          ptr("partials"),
          i64("blocks"),
          i64("n"),
          ptr("out"),
          i32("out_dtype"));
    }
  }

  private static void rotary() {
    for (String t : FLOATS) {
      add(
          Module.ROTARY,
          "kinema_rotary_" + t,
          GRID_STRIDE,
          "rotary embedding (backward != 0: rotation by -angle), a thread per pair",
          ptr("x"),
          ptr("cos"),
          i32("cos_dtype"),
          ptr("sin"),
          i32("sin_dtype"),
          ptr("out"),
          shape("pairs"),
          strides("x_st"),
          strides("cos_st"),
          strides("sin_st"),
          strides("out_st"),
          i64("n_pairs"),
          i32("interleaved"),
          i32("backward"));
    }
  }

  private static void adamw() {
    add(
        Module.ADAMW,
        "kinema_adamw",
        GRID_STRIDE,
        "one fused AdamW step, optionally on f32 master weights",
        ptr("param"),
        i32("param_dtype"),
        ptr("master"),
        ptr("grad"),
        i32("grad_dtype"),
        ptr("exp_avg"),
        ptr("exp_avg_sq"),
        i32("state_dtype"),
        i64("n"),
        f32("decay"),
        f32("beta1"),
        f32("one_minus_beta1"),
        f32("beta2"),
        f32("one_minus_beta2"),
        f32("neg_step"),
        f32("bc2_sqrt"),
        f32("eps"),
        i32("maximize"));
  }

  private static void random() {
    add(
        Module.RANDOM,
        "kinema_random_32",
        new Launch(256, 1, 256, 0, "ceil(ceil(n / 4) / 256): a thread per Philox block"),
        "Philox fill of 1-, 2- and 4-byte dtypes, bit-identical to the CPU",
        i32("kind"),
        u64("seed"),
        u64("offset"),
        f64("a"),
        f64("b"),
        ptr("out"),
        i32("dtype"),
        i64("n"));
    add(
        Module.RANDOM,
        "kinema_random_64",
        new Launch(256, 1, 256, 0, "ceil(ceil(n / 2) / 256): a thread per Philox block"),
        "Philox fill of F64 and I64, bit-identical to the CPU",
        i32("kind"),
        u64("seed"),
        u64("offset"),
        f64("a"),
        f64("b"),
        ptr("out"),
        i32("dtype"),
        i64("n"));
  }

  private static void attention() {
    for (String t : HALVES) {
      for (int d : FLASH_HEAD_DIMS) {
        // Tiles of padded rows (d + 8 16-bit elements): two key blocks (K, V) of 64 keys, the
        // first also staging Q; at d = 256 a separate Q [64] and key blocks of 32.
        int tileRows = d <= 128 ? 2 * 64 : 64 + 2 * 32;
        add(
            Module.ATTENTION,
            "kinema_flash_attention_" + t + "_d" + d,
            new Launch(128, 1, 128, tileRows * (d + 8) * 2, "(B * H, ceil(Sq / 64))"),
            "flash attention forward with tensor cores, saving lse",
            ptr("q"),
            ptr("k"),
            ptr("v"),
            ptr("out"),
            ptr("lse"),
            ptr("mask"),
            attentionArgs("a"));
      }
    }
    for (String t : HALVES) {
      add(
          Module.ATTENTION_BACKWARD,
          "kinema_flash_attention_bwd_delta_" + t,
          new Launch(256, 1, 256, 0, "ceil(B * H * Sq / 8): a warp per row"),
          "Delta = rowsum(dO * O), the first step of the backward",
          ptr("out"),
          ptr("dout"),
          ptr("delta"),
          attentionArgs("a"),
          i32("head_dim"));
      for (int d : FLASH_HEAD_DIMS) {
        int qb = d == 64 ? 64 : 32; // query rows per step of the key pass
        int kb = d == 64 ? 64 : 32; // keys per step of the query pass
        add(
            Module.ATTENTION_BACKWARD,
            "kinema_flash_attention_bwd_dkdv_" + t + "_d" + d,
            new Launch(
                128,
                1,
                128,
                (2 * 64 + 2 * qb) * (d + 8) * 2 + qb * (2 * 4 + 16), // + lse, Delta, ranges
                "(B * H, ceil(Sk / 64) * " + flashDkdvColumnParts(d) + ")"),
            "dK and dV, a CTA per 64 keys (and 128 columns) walking the query blocks that see them",
            ptr("q"),
            ptr("k"),
            ptr("v"),
            ptr("dout"),
            ptr("lse"),
            ptr("delta"),
            ptr("dk"),
            ptr("dv"),
            ptr("mask"),
            attentionArgs("a"));
        add(
            Module.ATTENTION_BACKWARD,
            "kinema_flash_attention_bwd_dq_" + t + "_d" + d,
            new Launch(128, 1, 128, (2 * 64 + 2 * kb) * (d + 8) * 2, "(B * H, ceil(Sq / 64))"),
            "dQ, a CTA per 64 query rows walking the key blocks they see",
            ptr("q"),
            ptr("k"),
            ptr("v"),
            ptr("dout"),
            ptr("lse"),
            ptr("delta"),
            ptr("dq"),
            ptr("mask"),
            attentionArgs("a"));
      }
    }
  }

  /**
   * CTAs per 64-key block of the flash dK/dV kernel: at d = 256 two, each accumulating 128 of the
   * gradient columns (the whole 16 x 256 dK and dV would not fit a thread's registers).
   */
  static int flashDkdvColumnParts(int d) {
    return d <= 128 ? 1 : d / 128;
  }

  /**
   * The F32/F64 attention kernels ({@code attention_f32.cu}): a CTA of 128 threads (D <= 64) or 256
   * owns 32 rows; tile D takes head dims {@code d}, {@code dv} up to D (zero-padded tiles).
   */
  private static void attentionSimt() {
    for (String t : new String[] {"f32", "f64"}) {
      int e = t.equals("f32") ? 4 : 8; // element bytes
      add(
          Module.ATTENTION_F32,
          "kinema_attention_bwd_delta_" + t,
          new Launch(256, 1, 256, 0, "ceil(B * H * Sq / 8): a warp per row"),
          "Delta = rowsum(dO * O), the first step of the backward",
          ptr("out"),
          ptr("dout"),
          ptr("delta"),
          attentionArgs("a"),
          i32("dv"));
      for (int d : simtHeadDims(t)) {
        int threads = d <= 64 ? 128 : 256;
        int tile = 32 * (d + 1) * e, block = 32 * 33 * e; // a [32][D + 1] tile, a [32][33] block
        add(
            Module.ATTENTION_F32,
            "kinema_attention_" + t + "_d" + d,
            new Launch(threads, 1, threads, 3 * tile + block, "(B * H, ceil(Sq / 32))"),
            "fused attention forward without tensor cores, saving lse",
            ptr("q"),
            ptr("k"),
            ptr("v"),
            ptr("out"),
            ptr("lse"),
            ptr("mask"),
            attentionArgs("a"),
            i32("d"),
            i32("dv"),
            f64("scale"));
        add(
            Module.ATTENTION_F32,
            "kinema_attention_bwd_dkdv_" + t + "_d" + d,
            new Launch(
                threads,
                1,
                threads,
                4 * tile + 2 * block + 32 * (2 * e + 16), // + lse, Delta, key ranges
                "(B * H, ceil(Sk / 32))"),
            "dK and dV, a CTA per 32 keys walking the query blocks that see them",
            ptr("q"),
            ptr("k"),
            ptr("v"),
            ptr("dout"),
            ptr("lse"),
            ptr("delta"),
            ptr("dk"),
            ptr("dv_out"),
            ptr("mask"),
            attentionArgs("a"),
            i32("d"),
            i32("dv"),
            f64("scale"));
        add(
            Module.ATTENTION_F32,
            "kinema_attention_bwd_dq_" + t + "_d" + d,
            new Launch(threads, 1, threads, 4 * tile + block, "(B * H, ceil(Sq / 32))"),
            "dQ, a CTA per 32 query rows walking the key blocks they see",
            ptr("q"),
            ptr("k"),
            ptr("v"),
            ptr("dout"),
            ptr("lse"),
            ptr("delta"),
            ptr("dq"),
            ptr("mask"),
            attentionArgs("a"),
            i32("d"),
            i32("dv"),
            f64("scale"));
      }
    }
  }

  /** The head-dim tiles of the F32/F64 attention kernels (F64 stops at 128: shared memory). */
  static int[] simtHeadDims(String dtype) {
    return dtype.equals("f32") ? new int[] {32, 64, 128, 256} : new int[] {32, 64, 128};
  }

  private static void index() {
    Module m = Module.INDEX;
    add(
        m,
        "kinema_gather",
        GRID_STRIDE,
        "gather / index_select of raw elem_bytes-sized elements; a bad index sets *bad",
        ptr("x"),
        strides("x_st"),
        i64("x_dim_stride"),
        i64("x_dim_size"),
        ptr("index"),
        i32("index_dtype"),
        strides("idx_st"),
        ptr("out"),
        strides("out_st"),
        shape("shape"),
        i64("n"),
        i32("elem_bytes"),
        ptr("bad"));
    add(
        m,
        "kinema_index_check",
        GRID_STRIDE,
        "sets *bad when an index is outside [0, size)",
        ptr("index"),
        i32("index_dtype"),
        strides("idx_st"),
        shape("shape"),
        i64("n"),
        i64("size"),
        ptr("bad"));
    add(
        m,
        "kinema_scatter_add",
        new Launch(256, 1, 256, 0, "min(ceil(num_lines / 256), 32 * SMs), grid-stride loop"),
        "deterministic scatter_add, a thread per line along dim walking it in order",
        ptr("self"),
        strides("self_st"),
        i64("self_dim_stride"),
        ptr("index"),
        i32("index_dtype"),
        strides("idx_st"),
        i64("idx_dim_stride"),
        ptr("src"),
        strides("src_st"),
        i64("src_dim_stride"),
        shape("lines"),
        i64("num_lines"),
        i64("len"),
        i32("dtype"),
        ptr("bad"));
  }

  // ---------------------------------------------------------------- table helpers

  private static void add(Module m, String name, Launch launch, String summary, Param... params) {
    KERNELS.add(new Kernel(m, name, List.of(params), launch, summary));
  }

  private static Param ptr(String name) {
    return new Param(name, ParamType.PTR);
  }

  private static Param i32(String name) {
    return new Param(name, ParamType.I32);
  }

  private static Param i64(String name) {
    return new Param(name, ParamType.I64);
  }

  private static Param u64(String name) {
    return new Param(name, ParamType.U64);
  }

  private static Param f32(String name) {
    return new Param(name, ParamType.F32);
  }

  private static Param f64(String name) {
    return new Param(name, ParamType.F64);
  }

  private static Param shape(String name) {
    return new Param(name, ParamType.SHAPE);
  }

  private static Param strides(String name) {
    return new Param(name, ParamType.STRIDES);
  }

  private static Param attentionArgs(String name) {
    return new Param(name, ParamType.ATTENTION_ARGS);
  }
}
