package io.kinema.train.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import org.junit.jupiter.api.Test;

class DidYouMeanTest {
  @Test
  void distanceCountsEditsAndAdjacentTranspositions() {
    assertEquals(0, DidYouMean.distance("ema", "ema"));
    assertEquals(1, DidYouMean.distance("lerning_rate", "learning_rate")); // insertion
    assertEquals(1, DidYouMean.distance("betsa", "betas")); // transposition
    assertEquals(1, DidYouMean.distance("seed", "seen")); // substitution
    assertEquals(3, DidYouMean.distance("", "abc"));
    assertEquals(3, DidYouMean.distance("kitten", "sitting"));
  }

  @Test
  void suggestsOnlyCloseCandidates() {
    List<String> keys = List.of("learning_rate", "betas", "weight_decay", "lr_scheduler");
    assertEquals("learning_rate", DidYouMean.closest("lerning_rate", keys));
    assertEquals("betas", DidYouMean.closest("beta", keys));
    // longer names allow a third of their length: 3 edits for 10 characters
    assertEquals(3, DidYouMean.distance("lernig_rat", "learning_rate"));
    assertEquals("learning_rate", DidYouMean.closest("lernig_rat", keys));
    assertNull(DidYouMean.closest("lrnig_rat", keys)); // 4 edits for 9 characters
    assertNull(DidYouMean.closest("momentum", keys));
    assertEquals(" (did you mean 'ema'?)", DidYouMean.hint("emma", List.of("grad_clip", "ema")));
    assertEquals("", DidYouMean.hint("zzz", List.of("grad_clip", "ema")));
  }
}
