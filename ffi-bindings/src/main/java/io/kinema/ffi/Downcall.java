package io.kinema.ffi;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * A function of a {@link NativeLibrary}, bound on first use: the library is loaded and the method
 * handle created the first time {@link #handle()} (or {@link #isPresent()}) is called, then reused.
 * Made by {@link NativeLibrary#downcall}; safe to keep in a static final field.
 */
public final class Downcall {
  private final NativeLibrary library;
  private final String symbol;
  private final FunctionDescriptor descriptor;
  private final CFunction declaration;
  private final Linker.Option[] options;

  /** The bound handle, or null until bound; {@code failure} is set instead when binding failed. */
  private volatile MethodHandle handle;

  private volatile String failure;

  Downcall(
      NativeLibrary library,
      String symbol,
      FunctionDescriptor descriptor,
      CFunction declaration,
      Linker.Option... opts) {
    this.library = library;
    this.symbol = symbol;
    this.descriptor = descriptor;
    this.declaration = declaration;
    this.options = opts.clone();
  }

  /** The C symbol this downcall binds. */
  public String symbol() {
    return symbol;
  }

  /** The function's descriptor: the handle's type is {@code descriptor().toMethodType()}. */
  public FunctionDescriptor descriptor() {
    return descriptor;
  }

  /** The C prototype the downcall was declared with, if it was declared by one. */
  public Optional<CFunction> declaration() {
    return Optional.ofNullable(declaration);
  }

  /** The library the function belongs to. */
  public NativeLibrary library() {
    return library;
  }

  /** Whether the library is available and exports the symbol. */
  public boolean isPresent() {
    return bind() != null;
  }

  /** Why the downcall cannot be made (library missing, symbol not exported), or null. */
  public String unavailableReason() {
    return bind() != null ? null : failure;
  }

  /**
   * The method handle, of type {@code descriptor.toMethodType()}. Throws {@link
   * UnsupportedOperationException} naming the symbol and the reason when it is unavailable.
   */
  public MethodHandle handle() {
    MethodHandle h = bind();
    if (h == null) throw new UnsupportedOperationException(failure);
    return h;
  }

  private MethodHandle bind() {
    MethodHandle h = handle;
    if (h != null || failure != null) return h;
    synchronized (this) {
      if (handle != null || failure != null) return handle;
      if (!library.isAvailable()) {
        failure = symbol + " is unavailable: " + library.unavailableReason();
        return null;
      }
      Optional<MemorySegment> address = library.find(symbol);
      if (address.isEmpty()) {
        failure =
            symbol
                + " is not exported by the "
                + library.id()
                + " library loaded from "
                + library.location().orElse("?");
        return null;
      }
      h = Linker.nativeLinker().downcallHandle(address.get(), descriptor, options);
      handle = h;
      return h;
    }
  }
}
