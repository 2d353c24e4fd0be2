package io.kinema.nn;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * An indexed list of child modules (PyTorch's {@code nn.ModuleList}), registered as "0", "1", ...
 * so their parameters are named {@code blocks.0.attn1.to_q.weight} and so on. Elements are read
 * from the registered children, so one replaced through {@link #replaceModule} is seen by {@link
 * #get}; such a replacement must still be an {@code M}.
 */
public final class ModuleList<M extends Module> extends Module implements Iterable<M> {
  private int size;

  public ModuleList() {}

  public ModuleList(List<? extends M> modules) {
    for (M m : modules) add(m);
  }

  /** Appends {@code module}; returns it. */
  public M add(M module) {
    return registerModule(Integer.toString(size++), module);
  }

  public int size() {
    return size;
  }

  @SuppressWarnings("unchecked")
  public M get(int index) {
    if (index < 0 || index >= size) {
      throw new IndexOutOfBoundsException(
          "ModuleList: index " + index + " out of range for " + size + " elements");
    }
    return (M) getSubmodule(Integer.toString(index));
  }

  @Override
  public Iterator<M> iterator() {
    List<M> all = new ArrayList<>(size);
    for (int i = 0; i < size; i++) all.add(get(i));
    return all.iterator();
  }
}
