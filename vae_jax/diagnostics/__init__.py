"""Evaluation diagnostics: IW-NLL, mutual information, active units."""

from vae_jax.diagnostics.active_units import active_units
from vae_jax.diagnostics.iw import importance_weighted_nll
from vae_jax.diagnostics.mutual_info import (mutual_information_dataset,
                                             mutual_information_minibatch)
