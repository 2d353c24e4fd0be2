package io.kinema.train.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigOverridesTest {
  @TempDir Path tmp;

  @Test
  void valuesAreCastAsFastVideoDoes() {
    assertEquals(true, ConfigOverrides.cast("true"));
    assertEquals(false, ConfigOverrides.cast("False"));
    assertNull(ConfigOverrides.cast("none"));
    assertNull(ConfigOverrides.cast("null"));
    assertEquals(7, ConfigOverrides.cast("7"));
    assertEquals(-3, ConfigOverrides.cast("-3"));
    assertEquals(10_000_000_000L, ConfigOverrides.cast("10000000000"));
    assertEquals(1e-4, ConfigOverrides.cast("1e-4"));
    assertEquals(0.5, ConfigOverrides.cast(".5"));
    assertEquals(Double.NEGATIVE_INFINITY, ConfigOverrides.cast("-inf"));
    assertEquals(List.of(1, 2.5, "a"), ConfigOverrides.cast("[1, 2.5, a]"));
    assertEquals(Map.of("path", 2), ConfigOverrides.cast("{path: 2}"));
    assertEquals("outputs/run", ConfigOverrides.cast("outputs/run"));
    assertEquals("1d", ConfigOverrides.cast("1d")); // not Java's double syntax
    assertEquals("0x10", ConfigOverrides.cast("0x10"));
  }

  @Test
  void overridesSetDottedKeysAndCreateMissingMaps() {
    Map<String, Object> raw = new LinkedHashMap<>();
    raw.put("training", new LinkedHashMap<>(Map.of("loop", Map.of("max_train_steps", 10))));
    Map<String, Object> out =
        ConfigOverrides.apply(
            raw,
            List.of(
                "--training.loop.max_train_steps",
                "5",
                "--training.optimizer.betas=[0.8, 0.9]",
                "--callbacks.ema.decay",
                "0.5",
                "--training.tracker.run_name=a=b",
                "--pipeline.flow_shift",
                "-1.5"));
    assertEquals(
        Map.of(
            "training",
            Map.of(
                "loop", Map.of("max_train_steps", 5),
                "optimizer", Map.of("betas", List.of(0.8, 0.9)),
                "tracker", Map.of("run_name", "a=b")),
            "callbacks",
            Map.of("ema", Map.of("decay", 0.5)),
            "pipeline",
            Map.of("flow_shift", -1.5)),
        out);
    // the input is not changed
    assertEquals(Map.of("max_train_steps", 10), ((Map<?, ?>) raw.get("training")).get("loop"));
  }

  @Test
  void malformedOverridesAreReportedTogether() {
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                ConfigOverrides.apply(
                    Map.of("training", Map.of("loop", Map.of("max_train_steps", 10))),
                    List.of(
                        "stray",
                        "--training.loop.max_train_steps.x",
                        "3",
                        "--training..loop=1",
                        "--training.seed")));
    assertEquals(
        List.of(
            "command line: unexpected argument 'stray' (overrides look like --a.b.c VALUE)",
            "command line: training.loop.max_train_steps.x: training.loop.max_train_steps is 10,"
                + " not a map",
            "command line: training..loop: not a dotted key path (expected names like"
                + " training.loop.max_train_steps)",
            "command line: training.seed: needs a value (--training.seed VALUE)"),
        e.errors().stream().map(ConfigError::toString).toList());
  }

  @Test
  void overridesApplyBeforeValidation() {
    ConfigFixture f = new ConfigFixture(tmp);
    String broken = ConfigFixture.minimalWith("learning_rate: 1.0e-4", "learning_rate: 0");
    RunConfig c = f.load(broken, "--training.optimizer.learning_rate", "2e-5");
    assertEquals(2e-5, c.training().optimizer().learningRate());
    Map<?, ?> optimizer = (Map<?, ?>) ((Map<?, ?>) c.raw().get("training")).get("optimizer");
    assertEquals(2e-5, optimizer.get("learning_rate"));
  }

  @Test
  void cliAliasesSetTheCheckpointKeys() {
    ConfigFixture f = new ConfigFixture(tmp);
    Map<String, Object> raw = YamlIo.readSections(f.write(ConfigFixture.MINIMAL), "run.yaml");
    Map<String, Object> latest = ConfigOverrides.resumeFromCheckpoint(raw, "latest");
    Map<String, Object> out = ConfigOverrides.overrideOutputDir(latest, "elsewhere/run");
    RunConfig c = RunConfig.fromMap(out, "run.yaml", tmp);
    assertEquals("latest", c.training().checkpoint().resumeFromCheckpoint());
    // the aliases' paths are relative to the working directory, where the command was typed
    assertEquals(
        Path.of("elsewhere/run").toAbsolutePath().normalize(),
        c.training().checkpoint().outputDir());
    Map<String, Object> resumed =
        ConfigOverrides.resumeFromCheckpoint(raw, tmp.resolve("data").toString());
    assertEquals(
        tmp.resolve("data").toString(),
        RunConfig.fromMap(resumed, "run.yaml", tmp).training().checkpoint().resumeFromCheckpoint());
  }
}
