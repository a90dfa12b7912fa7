"""Learning-rate halving on a validation plateau, as in the papers' code.

He et al. (2019) / Li et al. (2019): after `patience` epochs whose validation
loss is not better than the best so far (and not before `min_epoch`), the
learning rate is multiplied by `factor`, the best parameters are reloaded,
and training stops after `max_decays` such decays (0: never stops). State
is a plain dict so it goes into the checkpoint's JSON meta.
"""

import dataclasses
import math


@dataclasses.dataclass
class Plateau:
  patience: int = 5
  factor: float = 0.5
  min_epoch: int = 15
  max_decays: int = 5

  @staticmethod
  def initial_state() -> dict:
    return {'best': math.inf, 'bad_epochs': 0, 'num_decays': 0}

  def update(self, state: dict, epoch: int, value: float) -> tuple[dict, dict]:
    """Feeds the validation loss of `epoch` (0-based).

    Returns:
      (new state, actions) with actions {'improved', 'decay', 'stop'}.
    """
    s = dict(state)
    actions = {'improved': value < s['best'], 'decay': False, 'stop': False}
    if actions['improved']:
      s['best'], s['bad_epochs'] = value, 0
    else:
      s['bad_epochs'] += 1
      if s['bad_epochs'] >= self.patience and epoch + 1 >= self.min_epoch:
        s['bad_epochs'] = 0
        s['num_decays'] += 1
        actions['decay'] = True
    actions['stop'] = self.stopped(s)
    return s, actions

  def stopped(self, state: dict) -> bool:
    """Whether the decays are spent (never, when max_decays is 0)."""
    return self.max_decays > 0 and state['num_decays'] >= self.max_decays
