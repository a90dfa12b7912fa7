r"""PyTorch reference models for the speed comparison of issue 6.

Not part of vae_jax: nothing here is imported by the library, the binaries
or the tests, and torch is not a dependency of the project (setup.cfg).
`benchmark_torch.py` times, in its own environment, the two PTB models that
`python -m experiments.benchmark` times in JAX, written the way the public
PyTorch code of He et al. (2019) and Li et al. (2019) writes them
(github.com/jxhe/vae-lagging-encoder, github.com/bohanli/
vae-pretraining-encoder: modules/encoders/enc_lstm.py,
modules/decoders/dec_lstm.py, data/text_data.py, text.py):

* VAE: nn.Embedding(V, 256) -> nn.LSTM(256, 256, batch_first=True); the
  last hidden state -> nn.Linear(256, 2 x 32, bias=False) -> mean, log
  variance; z = mean + eps std; KL to N(0, I) in closed form. Decoder:
  nn.Embedding(V, 256), dropout 0.5, every input [embedding; z],
  nn.LSTM(256 + 32, 256) from c0 = W z, h0 = tanh(c0), dropout 0.5 on its
  outputs, nn.Linear(256, V, bias=False), cross-entropy summed over a
  sentence, loss = mean over the batch of (reconstruction + KL) (KL weight
  1: the weight does not change the cost).
* LM: the same decoder without z (zero initial state).
* SGD lr 1.0, momentum 0, clip_grad_norm_ 5, zero_grad every step.
* Vocabulary: <pad> <s> </s> <unk> + the PTB train words (10,002 ids, the
  same ids as `vae_jax.data.Vocabulary.build`), read from the same files.
* Batching, `--batching`:
  - `equal`: their loader (`MonoTextData.create_data_batch`): sentences
    sorted by length, sentences of one length cut into batches of up to 32,
    the batch order shuffled with a fixed seed. No padding; the encoder
    takes nn.LSTM's h_n. This is the configuration of the reference figures
    quoted in issue 6 (4,600-4,700 tokens/s for the VAE).
  - `bucketed`: our `BucketedBatcher`'s batches (boundaries given by
    `--buckets`, the train boundaries `experiments.benchmark` prints in
    `train_buckets`): padded to the bucket's length, exactly 32 rows (the
    last batch of a bucket filled with empty rows), cross-entropy masked
    with ignore_index=<pad>, the encoder state gathered at </s>, as the JAX
    model computes it. A like-for-like view of the same padded work.

Tokens counted are real targets (words + </s>, not <s>, not padding), as in
experiments.benchmark. Each (model, batching) runs in a fresh subprocess so
that its peak RSS (ru_maxrss) is its own.

Setup (outside the repository; the CPU wheel, not the multi-GB CUDA one):

  python3 -m venv /work/torch_venv
  /work/torch_venv/bin/pip install /opt/wheels/torch-2.13.0+cpu-*.whl numpy

Run from the repository root:

  /work/torch_venv/bin/python experiments/torch_reference/benchmark_torch.py \
      --data_dir=/work/shared/data/ptb --models=vae,lm --steps=60 \
      --batching=equal,bucketed --json_out=/tmp/torch_bench.json

Figures measured on the 2-core CPU machine beside the JAX benchmark:
BUILD_NOTES.md, "Issue 6: speed", "PyTorch side by side".
"""
