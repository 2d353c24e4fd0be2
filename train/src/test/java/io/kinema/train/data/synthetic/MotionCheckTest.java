package io.kinema.train.data.synthetic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.train.media.Video;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class MotionCheckTest {
  private static final ShapesClips CLIPS = new ShapesClips(4, 16, 16);

  @Test
  void everyRenderedClipMatchesItsCaption() {
    for (int i = 0; i < 600; i++) {
      ShapesClips.Clip clip = CLIPS.clip(3, i);
      MotionCheck.Result r = MotionCheck.measure(clip.content(), video(clip.pixels(), 4));
      assertTrue(r.found() && r.matches(), clip.caption() + " (clip " + i + "): " + r);
      assertTrue(r.along() > 4 && Math.abs(r.across()) < 0.5, clip.caption() + ": " + r);
    }
  }

  @Test
  void aStillOrReversedOrWrongColouredClipDoesNot() {
    ShapesClips.Clip clip = CLIPS.clip(3, 0);
    ShapesClips.Content c = clip.content();
    float[] px = clip.pixels();
    int plane = 4 * 16 * 16, frame = 16 * 16;
    float[] still = px.clone(), reversed = px.clone();
    for (int ch = 0; ch < 3; ch++) {
      for (int t = 0; t < 4; t++) {
        System.arraycopy(px, ch * plane, still, ch * plane + t * frame, frame);
        System.arraycopy(px, ch * plane + (3 - t) * frame, reversed, ch * plane + t * frame, frame);
      }
    }
    MotionCheck.Result s = MotionCheck.measure(c, video(still, 4));
    assertTrue(s.found() && !s.matches() && s.along() == 0, s.toString());
    MotionCheck.Result r = MotionCheck.measure(c, video(reversed, 4));
    assertTrue(r.found() && !r.matches() && r.along() < -4, r.toString());
    ShapesClips.Colour other =
        c.colour() == ShapesClips.Colour.RED ? ShapesClips.Colour.BLUE : ShapesClips.Colour.RED;
    MotionCheck.Result w =
        MotionCheck.measure(new ShapesClips.Content(c.shape(), other, c.direction()), video(px, 4));
    assertFalse(w.found() || w.matches(), w.toString());
  }

  @Test
  void parsesDemoCaptionsOnly() {
    assertEquals(
        Optional.of(
            new ShapesClips.Content(
                ShapesClips.Shape.CIRCLE, ShapesClips.Colour.RED, ShapesClips.Direction.LEFT)),
        MotionCheck.parse(" a Red circle  moving left"));
    assertEquals(Optional.empty(), MotionCheck.parse("a red circle moving sideways"));
    assertEquals(Optional.empty(), MotionCheck.parse("a cat playing piano"));
  }

  @Test
  void summaryCountsTheDemoCaptions() {
    List<String> captions = new ArrayList<>();
    List<Video> videos = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      ShapesClips.Clip clip = CLIPS.clip(5, i);
      captions.add(clip.caption());
      videos.add(video(clip.pixels(), 4));
    }
    // The third clip under another clip's caption: a different colour or direction.
    ShapesClips.Clip other = CLIPS.clip(5, 3);
    captions.set(2, other.caption());
    captions.add("a cat playing piano");
    videos.add(videos.getFirst());
    String s = MotionCheck.summary(captions, videos).orElseThrow();
    assertTrue(s.startsWith("motion as captioned in 2/3 samples"), s);
    assertEquals(Optional.empty(), MotionCheck.summary(List.of("a cat"), List.of(videos.get(0))));
  }

  /** [3, T, H, W] pixels as a video. */
  private static Video video(float[] cthw, int frames) {
    int plane = frames * 16 * 16;
    float[] thwc = new float[cthw.length];
    for (int i = 0; i < plane; i++) {
      for (int ch = 0; ch < 3; ch++) thwc[3 * i + ch] = cthw[ch * plane + i];
    }
    return new Video(thwc, frames, 16, 16, 4);
  }
}
