package io.kinema.train.method;

import io.kinema.nn.optim.LRScheduler;
import io.kinema.nn.optim.Optimizer;
import io.kinema.tensor.Generator;
import io.kinema.train.model.RoleModel;
import java.util.Map;

/**
 * What the fine-tuning methods share: one trainable {@code student} role, its AdamW and LR
 * schedule, and the counter-based stream of the step's random draws.
 */
abstract class StudentMethod implements TrainingMethod {
  final RoleModel student;
  final Generator gen;
  private final Optimizer optimizer;
  private final LRScheduler scheduler;

  StudentMethod(RoleModel student, OptimizerSpec optim, long seed) {
    if (!student.trainable()) {
      throw new IllegalArgumentException(name() + ": the student role must be trainable");
    }
    this.student = student;
    this.gen = new Generator(seed);
    this.optimizer = optim.optimizer(student.trainableParameters());
    this.scheduler = optim.lrScheduler(optimizer);
  }

  @Override
  public String name() {
    return getClass().getSimpleName();
  }

  @Override
  public Map<String, RoleModel> roles() {
    return Map.of("student", student);
  }

  @Override
  public Map<String, Optimizer> optimizers() {
    return Map.of("student", optimizer);
  }

  @Override
  public Map<String, LRScheduler> schedulers() {
    return Map.of("student", scheduler);
  }

  @Override
  public Generator generator() {
    return gen;
  }

  @Override
  public void close() {
    optimizer.close();
  }
}
