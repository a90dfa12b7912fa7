"""Flax linen modules: embedder, recurrent layers, encoder, latent heads,
decoder and the assembled models."""

from vae_jax.models.decoder import Decoder, token_log_probs
from vae_jax.models.embedder import Embedder, word_dropout
from vae_jax.models.encoder import Encoder
from vae_jax.models.factory import build_model
from vae_jax.models.latents import (LATENTS, GaussianLatent, VMFLatent,
                                    make_latent)
from vae_jax.models.lm import RNNLanguageModel
from vae_jax.models.recurrent import Recurrent
from vae_jax.models.vae import SentenceVAE
