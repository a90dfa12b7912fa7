"""Learning-rate halving on a validation plateau (He et al. / Li et al.)."""

from vae_jax.train.plateau import Plateau


def run(plateau, losses):
  state, log = plateau.initial_state(), []
  for epoch, value in enumerate(losses):
    state, actions = plateau.update(state, epoch, value)
    log.append(tuple(k for k in ('improved', 'decay', 'stop') if actions[k]))
  return state, log


def test_decays_after_patience_bad_epochs_and_not_before_min_epoch():
  p = Plateau(patience=2, factor=0.5, min_epoch=4, max_decays=2)
  # epochs are 0-based, min_epoch 1-based: epoch 3 (the 4th) may decay
  state, log = run(p, [5.0, 4.0, 4.5, 4.2, 3.9, 4.0, 4.1, 4.0])
  assert log == [('improved',), ('improved',), (), ('decay',), ('improved',),
                 (), ('decay', 'stop'), ('stop',)]
  assert state == {'best': 3.9, 'bad_epochs': 1, 'num_decays': 2}


def test_min_epoch_holds_the_decay_back():
  p = Plateau(patience=1, factor=0.5, min_epoch=3, max_decays=5)
  # epoch 1 is bad but held back (2 < 3); epoch 2 decays, and epoch 3 too
  # (patience 1)
  _, log = run(p, [1.0, 2.0, 2.0, 2.0])
  assert log == [('improved',), (), ('decay',), ('decay',)]


def test_max_decays_zero_never_stops():
  p = Plateau(patience=1, factor=0.5, min_epoch=0, max_decays=0)
  state, log = run(p, [1.0] + [2.0] * 6)
  assert state['num_decays'] == 6
  assert not any('stop' in a for a in log)
  assert not p.stopped(state)
  assert Plateau(max_decays=2).stopped({'best': 1.0, 'bad_epochs': 0,
                                        'num_decays': 2})
