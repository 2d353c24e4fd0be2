package io.kinema.train.cli;

import io.kinema.diffusion.wan.WanTransformer3D;
import io.kinema.nn.lora.Lora;
import io.kinema.nn.lora.LoraConfig;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code train.jar lora extract|merge}: FastVideo's LoRA extraction and merging scripts
 * (training-infra.md §8) over diffusers-layout transformers.
 */
@Command(
    name = "lora",
    mixinStandardHelpOptions = true,
    description = "Extract a LoRA adapter from two models, or merge one into a model.",
    subcommands = {LoraCommand.Extract.class, LoraCommand.Merge.class})
final class LoraCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return Cli.EXIT_USAGE;
  }

  /** base + fine-tuned -> adapter of rank r (truncated SVD of each weight difference). */
  @Command(
      name = "extract",
      mixinStandardHelpOptions = true,
      description =
          "Extract the difference between a fine-tuned and a base transformer as a rank-r LoRA"
              + " adapter (diffusers format, alpha = rank).")
  static final class Extract implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(
        names = "--base",
        required = true,
        paramLabel = "DIR",
        description = "Base transformer (diffusers folder).")
    Path base;

    @Option(
        names = "--tuned",
        required = true,
        paramLabel = "DIR",
        description = "Fine-tuned transformer (diffusers folder).")
    Path tuned;

    @Option(names = "--rank", required = true, description = "Adapter rank.")
    int rank;

    @Option(
        names = "--output",
        required = true,
        paramLabel = "FILE",
        description = "Adapter .safetensors to write.")
    Path output;

    @Option(
        names = "--target-modules",
        split = ",",
        description = "Modules to adapt (PEFT suffixes; default: ${DEFAULT-VALUE}).",
        defaultValue = "to_q,to_k,to_v,to_out.0")
    List<String> targets;

    @Override
    public Integer call() throws Exception {
      if (rank < 1) throw new IllegalArgumentException("--rank must be >= 1, got " + rank);
      try (WanTransformer3D b = WanTransformer3D.fromPretrained(base, DType.F32);
          WanTransformer3D t = WanTransformer3D.fromPretrained(tuned, DType.F32);
          var s = Scope.open()) {
        Map<String, Tensor> adapter =
            Lora.extract(
                b.stateDict(),
                t.stateDict(),
                LoraConfig.of(rank, rank, targets),
                Lora.DEFAULT_PREFIX,
                null,
                new Generator(0));
        Lora.save(
            output,
            adapter,
            Lora.extractedConfig(adapter, Lora.DEFAULT_PREFIX),
            Lora.DEFAULT_PREFIX);
        spec.commandLine()
            .getOut()
            .println(
                "wrote " + adapter.size() / 2 + " adapted layers (rank " + rank + ") to " + output);
      }
      return 0;
    }
  }

  /** base + adapter -> merged transformer. */
  @Command(
      name = "merge",
      mixinStandardHelpOptions = true,
      description =
          "Merge a LoRA adapter into a base transformer and save the result (diffusers layout).")
  static final class Merge implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(
        names = "--base",
        required = true,
        paramLabel = "DIR",
        description = "Base transformer (diffusers folder).")
    Path base;

    @Option(
        names = "--adapter",
        required = true,
        paramLabel = "FILE",
        description = "LoRA .safetensors (diffusers/PEFT keys).")
    Path adapter;

    @Option(
        names = "--output",
        required = true,
        paramLabel = "DIR",
        description = "Folder for the merged transformer.")
    Path output;

    @Override
    public Integer call() throws Exception {
      try (WanTransformer3D model = WanTransformer3D.fromPretrained(base);
          Lora.LoraFile file = Lora.load(adapter, Lora.DEFAULT_PREFIX)) {
        List<String> names = Lora.attach(model, file.tensors(), file.config(), Lora.DEFAULT_PREFIX);
        Lora.merge(model);
        model.saveDiffusers(output);
        spec.commandLine()
            .getOut()
            .println("merged " + names.size() + " adapted layers; wrote " + output);
      }
      return 0;
    }
  }
}
