"""vae_jax: deep latent-variable models of text in JAX/Flax.

Data flows one way: text files -> vocabulary and tokenized splits
(`vae_jax.data`) -> fixed-shape batches -> a pure jitted step
(`vae_jax.train`) -> metrics and checkpoints -> evaluation
(`vae_jax.diagnostics`), analysis (`vae_jax.analysis`) and plots
(`vae_jax.plotting`).
"""

import importlib.metadata
import os

__version__ = "0.1.0"


def _avoid_xla_cpu_reduce_fusion_bug() -> None:
  """jaxlib 0.10's XLA:CPU YNNPACK 'reduce' fusion gives wrong numbers.

  `jit(lambda m, x: jnp.sum(m * x, -1, keepdims=True) * m)` with m [3, 3] and
  x [20000, 3, 3] is wrong in 82 % of its entries on jaxlib 0.10.2 (measured
  on the project machine; right with the fusion off). XLA reads XLA_FLAGS
  when the backend starts, so this must run before the first computation:
  importing vae_jax before using JAX is enough. A user's own setting of the
  flag is kept.
  """
  try:
    jaxlib_version = importlib.metadata.version('jaxlib')
  except importlib.metadata.PackageNotFoundError:
    return
  flags = os.environ.get('XLA_FLAGS', '')
  if (jaxlib_version.startswith('0.10.')
      and 'xla_cpu_experimental_ynn_fusion_type' not in flags):
    os.environ['XLA_FLAGS'] = (
        flags + ' --xla_cpu_experimental_ynn_fusion_type=-reduce').strip()


_avoid_xla_cpu_reduce_fusion_bug()
