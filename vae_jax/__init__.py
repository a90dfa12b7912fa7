"""vae_jax: deep latent-variable models of text in JAX/Flax.

Data flows one way: text files -> vocabulary and tokenized splits
(`vae_jax.data`) -> fixed-shape batches -> a pure jitted step
(`vae_jax.train`) -> metrics and checkpoints -> evaluation
(`vae_jax.diagnostics`), analysis (`vae_jax.analysis`) and plots
(`vae_jax.plotting`).
"""

__version__ = "0.1.0"
