"""Latent distributions as plain jnp functions and pytree posteriors."""

from vae_jax.distributions.base import Posterior
from vae_jax.distributions.gaussian import (DiagGaussianPosterior,
                                            gaussian_entropy, gaussian_kl,
                                            gaussian_log_prob, gaussian_sample,
                                            standard_normal_kl)
from vae_jax.distributions.vmf import (VMFPosterior, bessel_iv_ratio,
                                       log_bessel_iv, log_bessel_ive,
                                       log_sphere_area,
                                       uniform_sphere_log_prob,
                                       uniform_sphere_sample, vmf_entropy,
                                       vmf_kl_to_uniform, vmf_log_normalizer,
                                       vmf_log_prob, vmf_mean_resultant,
                                       vmf_sample)
