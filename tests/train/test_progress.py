"""Progress reports the recent rate and an ETA from it."""

import pytest

import json

from vae_jax.train.logging_utils import (MetricWriter, Progress, metrics_line,
                                         read_metrics)


class FakeClock:

  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


def test_rate_follows_the_recent_window():
  clock = FakeClock()
  p = Progress(total_steps=1000, window=2, clock=clock)
  assert p.update(0, 0.0) == {}  # starts the clock
  # 10 steps a second, 100 tokens a step, for three intervals.
  for step in (10, 20, 30):
    clock.now += 1.0
    rates = p.update(step, 1000.0)
  assert rates['steps_per_sec'] == pytest.approx(10.0)
  assert rates['tokens_per_sec'] == pytest.approx(1000.0)
  assert rates['eta_sec'] == pytest.approx(97.0)
  # The machine gets 5x slower: after `window` intervals only that shows.
  for step in (32, 34):
    clock.now += 1.0
    rates = p.update(step, 200.0)
  assert rates['steps_per_sec'] == pytest.approx(2.0)
  assert rates['tokens_per_sec'] == pytest.approx(200.0)
  assert rates['eta_sec'] == pytest.approx((1000 - 34) / 2.0)


def test_excluded_time_is_not_training_time():
  clock = FakeClock()
  p = Progress(total_steps=100, window=5, clock=clock)
  p.update(0, 0.0)
  clock.now += 1.0
  p.update(10, 50.0)
  clock.now += 4.0  # 3 s of it evaluation
  p.exclude(3.0)
  rates = p.update(20, 50.0)
  assert rates['steps_per_sec'] == pytest.approx(20 / 2.0)


def test_epoch_eta_and_the_line_of_a_run_that_may_stop_early():
  clock = FakeClock()
  p = Progress(total_steps=1000, window=2, clock=clock)
  p.update(0, 0.0, epoch_steps_left=90)
  clock.now += 2.0
  rates = p.update(10, 400.0, epoch_steps_left=80)  # 5 steps a second
  assert rates['epoch_eta_sec'] == pytest.approx(16.0)
  assert rates['eta_sec'] == pytest.approx(198.0)
  line = Progress.line(10, 1000, 1, rates, {'loss': 3.0}, eta_is_bound=True)
  assert line == ('step 10/1000 (1.0%) epoch 1 | loss 3.000 | 200 tok/s, '
                  'epoch ends in 0m16s, ETA <= 3m18s')
  assert 'ETA 3m18s' in Progress.line(10, 1000, 1, rates, {})
  # aggressive training shows its encoder steps per decoder update, and
  # leaves them out once the mode has ended (0 a step)
  line = Progress.line(10, 1000, 1, rates,
                       {'loss': 3.0, 'encoder_steps': 53.85})
  assert '| loss 3.000 | encoder steps 53.9 an update | 200 tok/s' in line
  # 80 steps of this epoch at 5 a second (16 s), then 910 at 5 x 54.85
  assert line.endswith(', ETA 0m19s if the aggressive mode ends with this '
                       'epoch, 3m18s if it lasts')
  assert 'encoder' not in Progress.line(10, 1000, 1, rates,
                                        {'encoder_steps': 0.0})


def test_metrics_file_cut_short_by_a_crash_still_reads_and_resumes(tmp_path):
  path = tmp_path / 'metrics.jsonl'
  recs = [{'split': 'train', 'step': s, 'epoch': 0.1 * s, 'loss': 5.0 - s}
          for s in (1, 2, 3)]
  body = ''.join(json.dumps(r) + '\n' for r in recs)
  path.write_text(body + '{"split": "train", "step": 4, "lo')  # killed here
  assert read_metrics(str(path)) == recs
  # Resuming from step 2 keeps steps 1-2 and drops the unfinished line.
  MetricWriter(str(path)).truncate_after(2)
  assert read_metrics(str(path)) == recs[:2]
  assert path.read_text().endswith('\n')
  # A damaged line that is not the last one is an error naming the line.
  path.write_text(json.dumps(recs[0]) + '\n{"split": "tr\n' + body)
  with pytest.raises(ValueError, match='line 2'):
    read_metrics(str(path))


def test_the_validation_line_shows_active_units():
  # the per-epoch line of a VAE run: AU is an int and must not be dropped
  valid = {'rec': 101.25, 'kl': 3.5, 'num_sentences': 3370.0,
           'num_tokens': 73760.0, 'mi': 2.25, 'au': 7, 'note': 'x'}
  assert metrics_line(valid) == 'rec 101.250, kl 3.500, mi 2.250, au 7'
