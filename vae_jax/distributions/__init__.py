"""Latent distributions as plain jnp functions and pytree posteriors."""

from vae_jax.distributions.base import Posterior
from vae_jax.distributions.gaussian import (DiagGaussianPosterior,
                                            gaussian_entropy, gaussian_kl,
                                            gaussian_log_prob, gaussian_sample,
                                            standard_normal_kl)
