"""The optimizers a run can name, built for Keras on TensorFlow.

``adam`` updates each weight with TensorFlow's fused Adam kernel (``ResourceApplyAdam``):
one pass over the weight, its two moments and its gradient, where Keras' own Adam runs
about ten element-wise ops, each a pass over memory. The formula is Keras' (the step
size ``lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``, epsilon added after the square
root), so the numbers agree with ``keras.optimizers.Adam`` up to float rounding. It
matters for LeNet: on one CPU thread, Keras' Adam over its 4.2 million dense weights
took about a third of a batch-8 training step; the fused update takes a third of that.

``sgd`` and ``rmsprop`` are Keras' own (plain SGD is one pass already; RMSprop trains
only small models in the lab).

Import this module only after cnnlab.train.runtime has configured TensorFlow: it imports Keras.
"""

from __future__ import annotations

import keras

from cnnlab.errors import CnnlabError

OPTIMIZERS = ("adam", "sgd", "rmsprop")
ADAM_UPDATE = "ResourceApplyAdam"
KERAS_UPDATE = "keras"


class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose dense updates run TensorFlow's fused kernel.

    Falls back to Keras' update for what the kernel does not do: AMSGrad, sparse
    gradients, or a backend other than TensorFlow.
    """

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        if (
            self.amsgrad
            or keras.backend.backend() != "tensorflow"
            or isinstance(gradient, tf.IndexedSlices)
        ):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )


def _handle(variable):
    """The TensorFlow resource handle of a Keras or TensorFlow variable."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


def update_kernel(name: str) -> str:
    """What updates the weights of optimizer ``name``: :data:`ADAM_UPDATE` or Keras' own
    update (:data:`KERAS_UPDATE`). Part of a training state's identity (cnnlab.train.training):
    another kernel gives other numbers."""
    return ADAM_UPDATE if name == "adam" else KERAS_UPDATE


def build_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """The optimizer ``name`` (one of :data:`OPTIMIZERS`) with ``learning_rate``."""
    classes = {"adam": FusedAdam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    if name not in classes:
        raise CnnlabError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    if not learning_rate > 0:
        raise CnnlabError(f"lr must be > 0, got {learning_rate}")
    return classes[name](learning_rate=learning_rate)
