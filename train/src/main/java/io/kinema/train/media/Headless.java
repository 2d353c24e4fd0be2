package io.kinema.train.media;

/**
 * Puts AWT in headless mode before any image or font code runs: the trainer renders GIFs, PNGs and
 * plots on machines without a display, where a non-headless AWT would fail to find an X server.
 */
public final class Headless {
  private Headless() {}

  /**
   * Sets {@code java.awt.headless=true} unless the user chose a value. Call it before the first use
   * of AWT; AWT reads the property once.
   */
  public static void ensure() {
    if (System.getProperty("java.awt.headless") == null) {
      System.setProperty("java.awt.headless", "true");
    }
  }
}
