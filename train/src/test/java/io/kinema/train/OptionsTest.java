package io.kinema.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class OptionsTest {
  @Test
  void defaults() {
    assertEquals(new Options(500, 0, 50, false), Options.parse());
  }

  @Test
  void valuesAsNextArgumentOrAfterEquals() {
    assertEquals(
        new Options(20, 7, 5, false),
        Options.parse("--steps", "20", "--seed", "7", "--log-every", "5"));
    assertEquals(new Options(20, -3, 50, false), Options.parse("--steps=20", "--seed=-3"));
    assertEquals(new Options(0, 0, 50, false), Options.parse("--steps", "0"));
  }

  @Test
  void helpWinsOverWhateverFollows() {
    assertTrue(Options.parse("--help").help());
    assertTrue(Options.parse("--steps", "3", "-h", "--bogus").help());
  }

  @Test
  void badArgumentsNameTheProblem() {
    assertEquals(
        "unknown argument '--stepz'",
        assertThrows(IllegalArgumentException.class, () -> Options.parse("--stepz", "3"))
            .getMessage());
    assertEquals(
        "--steps needs a value",
        assertThrows(IllegalArgumentException.class, () -> Options.parse("--steps")).getMessage());
    assertEquals(
        "--seed expects an integer, got 'abc'",
        assertThrows(IllegalArgumentException.class, () -> Options.parse("--seed", "abc"))
            .getMessage());
    assertEquals(
        "--steps expects an integer, got '99999999999'",
        assertThrows(IllegalArgumentException.class, () -> Options.parse("--steps=99999999999"))
            .getMessage());
    assertEquals(
        "--steps must be >= 0, got -1",
        assertThrows(IllegalArgumentException.class, () -> Options.parse("--steps", "-1"))
            .getMessage());
    assertEquals(
        "--log-every must be >= 1, got 0",
        assertThrows(IllegalArgumentException.class, () -> Options.parse("--log-every=0"))
            .getMessage());
  }

  @Test
  void jobsPrintUsageOrAnError() {
    var out = new ByteArrayOutputStream();
    var err = new ByteArrayOutputStream();
    PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
    PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
    assertEquals(0, Jobs.run(new String[] {"--help"}, o, e));
    assertTrue(out.toString(StandardCharsets.UTF_8).startsWith("usage: java -jar train.jar"));
    assertEquals(2, Jobs.run(new String[] {"--nope"}, o, e));
    assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("train: unknown argument '--nope'"));
  }
}
