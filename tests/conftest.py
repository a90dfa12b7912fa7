"""Imports vae_jax before any test computes, so its XLA:CPU workaround
(see vae_jax/__init__.py) is in XLA_FLAGS when the backend starts."""

import vae_jax  # noqa: F401  pylint: disable=unused-import
