"""Builds a model from the `model` block of a config."""

from typing import Any, Mapping

from vae_jax.models.decoder import Decoder
from vae_jax.models.encoder import Encoder
from vae_jax.models.latents import make_latent
from vae_jax.models.lm import RNNLanguageModel
from vae_jax.models.vae import SentenceVAE

MODEL_KINDS = ('lm', 'vae')


def build_model(cfg: Mapping[str, Any], vocab_size: int, *, unk_id: int = 3,
                pad_id: int = 0, bos_id: int = 1):
  """Returns an `RNNLanguageModel` or a `SentenceVAE`.

  Args:
    cfg: the config's `model` block (see experiments/configs/default.py).
    vocab_size: V, from the vocabulary.
    unk_id, pad_id, bos_id: special ids of the vocabulary.
  """
  kind = cfg['kind']
  if kind not in MODEL_KINDS:
    raise ValueError(f'config model.kind={kind!r}: choose one of {MODEL_KINDS}')
  lstm_impl = cfg.get('lstm_impl', 'scan')
  decoder = Decoder(
      vocab_size=vocab_size, embed_dim=cfg['embed_dim'],
      hidden_size=cfg['dec_hidden'], cell_type=cfg['cell'],
      dropout_in=cfg['dec_dropout_in'], dropout_out=cfg['dec_dropout_out'],
      word_dropout=cfg['word_dropout'], z_init_state=cfg['z_init_state'],
      z_concat_input=cfg['z_concat_input'], init_scale=cfg['init_scale'],
      embed_init_scale=cfg['embed_init_scale'], unk_id=unk_id, pad_id=pad_id,
      bos_id=bos_id, unroll=cfg['unroll'], lstm_impl=lstm_impl)
  if kind == 'lm':
    return RNNLanguageModel(decoder=decoder)
  encoder = Encoder(vocab_size=vocab_size, embed_dim=cfg['embed_dim'],
                    hidden_size=cfg['enc_hidden'], cell_type=cfg['cell'],
                    init_scale=cfg['init_scale'],
                    embed_init_scale=cfg['embed_init_scale'],
                    unroll=cfg['unroll'], lstm_impl=lstm_impl)
  latent = make_latent(cfg['latent'], cfg['latent_dim'],
                       **dict(cfg.get('latent_kwargs', {}) or {}))
  return SentenceVAE(encoder=encoder, latent=latent, decoder=decoder)
