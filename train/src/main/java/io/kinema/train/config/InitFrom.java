package io.kinema.train.config;

import java.nio.file.Path;

/** Where a model role's weights come from ({@code models.<role>.init_from}). */
public sealed interface InitFrom {
  /**
   * {@code preset:<name>}: a freshly initialized model of a built-in architecture ({@link
   * Presets}).
   */
  record Preset(String name) implements InitFrom {
    @Override
    public String toString() {
      return Presets.PREFIX + name;
    }
  }

  /**
   * A pretrained diffusers model on disk.
   *
   * @param path the path as configured, made absolute (a pipeline folder, a {@code transformer}
   *     folder, or a {@code .safetensors} file / index)
   * @param configFile the {@code config.json} the architecture was read from
   * @param weights what to open with {@code SafetensorsCheckpoint.open}: the folder's sharded index
   *     or single {@code diffusion_pytorch_model.safetensors}, the folder itself when it holds
   *     other {@code .safetensors} files, or the configured file
   */
  record Pretrained(Path path, Path configFile, Path weights) implements InitFrom {
    @Override
    public String toString() {
      return path.toString();
    }
  }
}
