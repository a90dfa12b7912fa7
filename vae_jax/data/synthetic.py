"""A synthetic corpus with known hidden factors; needs no download.

Each sentence is drawn from a small probabilistic grammar: four independent
factors are sampled first and every word choice depends on them, so a latent
variable has something real to capture and its true value is known:

  topic      sports / food / technology / weather / music: picks the nouns,
             agents, verbs and neutral adjectives.
  sentiment  negative / positive: picks evaluative adjectives, adverbs and
             verbs (hates / loves).
  tense      present / past: picks verb forms, is / was and time words
             (today / yesterday).
  template   one of 7 sentence shapes, 5 to 20 words long.

The vocabulary has about 250 words. Generation is deterministic in the seed;
each split has its own random stream, so the valid and test sets do not
change with `num_train`.
"""

import numpy as np

from vae_jax.data.corpus import Corpus

TOPICS = ('sports', 'food', 'technology', 'weather', 'music')
SENTIMENTS = ('negative', 'positive')
TENSES = ('present', 'past')

# Per topic: agents (people), nouns, (present, past) verbs, neutral adjectives.
_AGENTS = (
    ('coach', 'player', 'referee', 'captain'),
    ('chef', 'waiter', 'baker', 'cook'),
    ('engineer', 'programmer', 'designer', 'founder'),
    ('forecaster', 'pilot', 'farmer', 'sailor'),
    ('singer', 'drummer', 'pianist', 'conductor'),
)
_NOUNS = (
    ('game', 'match', 'team', 'ball', 'goal', 'season', 'stadium', 'race',
     'league', 'trophy'),
    ('soup', 'bread', 'pasta', 'salad', 'dinner', 'cake', 'sauce', 'meal',
     'pizza', 'dessert'),
    ('phone', 'laptop', 'software', 'app', 'computer', 'update', 'screen',
     'battery', 'network', 'robot'),
    ('rain', 'storm', 'sun', 'wind', 'snow', 'forecast', 'sky', 'cloud',
     'morning', 'weather'),
    ('song', 'album', 'concert', 'guitar', 'melody', 'chorus', 'record',
     'piano', 'show', 'tune'),
)
_VERBS = (
    (('wins', 'won'), ('plays', 'played'), ('loses', 'lost'),
     ('trains', 'trained'), ('scores', 'scored'), ('watches', 'watched')),
    (('cooks', 'cooked'), ('eats', 'ate'), ('bakes', 'baked'),
     ('serves', 'served'), ('tastes', 'tasted'), ('orders', 'ordered')),
    (('builds', 'built'), ('installs', 'installed'), ('tests', 'tested'),
     ('fixes', 'fixed'), ('designs', 'designed'), ('uses', 'used')),
    (('predicts', 'predicted'), ('measures', 'measured'),
     ('reports', 'reported'), ('expects', 'expected'), ('tracks', 'tracked'),
     ('describes', 'described')),
    (('sings', 'sang'), ('records', 'recorded'), ('performs', 'performed'),
     ('writes', 'wrote'), ('hears', 'heard'), ('composes', 'composed')),
)
_TOPIC_ADJECTIVES = (
    ('athletic', 'final', 'home', 'national', 'professional'),
    ('spicy', 'fresh', 'sweet', 'homemade', 'salty'),
    ('digital', 'wireless', 'new', 'mobile', 'electronic'),
    ('cold', 'warm', 'windy', 'cloudy', 'humid'),
    ('acoustic', 'live', 'classical', 'loud', 'rhythmic'),
)
# Per sentiment (negative, positive).
_ADJECTIVES = (
    ('terrible', 'awful', 'horrible', 'dreadful', 'poor', 'disappointing',
     'boring', 'nasty', 'miserable', 'bad'),
    ('wonderful', 'excellent', 'great', 'delightful', 'brilliant', 'amazing',
     'lovely', 'fantastic', 'superb', 'pleasant'),
)
_ADVERBS = (
    ('badly', 'poorly', 'terribly', 'awkwardly', 'sadly', 'clumsily'),
    ('beautifully', 'perfectly', 'wonderfully', 'brilliantly', 'happily',
     'gracefully'),
)
_SENTIMENT_VERBS = (
    (('hates', 'hated'), ('dislikes', 'disliked'),
     ('criticizes', 'criticized'), ('regrets', 'regretted')),
    (('loves', 'loved'), ('enjoys', 'enjoyed'), ('praises', 'praised'),
     ('admires', 'admired')),
)
# Per tense (present, past).
_COPULA = ('is', 'was')
_TIMES = (
    (('today',), ('now',), ('every', 'day'), ('these', 'days')),
    (('yesterday',), ('last', 'week'), ('last', 'night'), ('last', 'year')),
)
_NAMES = ('maria', 'john', 'alice', 'david', 'emma', 'omar', 'lena', 'kenji',
          'sara', 'paul')
_DETERMINERS = ('the', 'this', 'that', 'my', 'our', 'their')

# Sentence shapes; upper-case symbols are expanded by `_expand`.
TEMPLATES = (
    ('SUBJ', 'SV', 'it', 'ADV', '.'),
    ('SUBJ', 'V', 'ANP', '.'),
    ('SUBJ', 'SV', 'NP', 'ADV', '.'),
    ('TIME', 'SUBJ', 'V', 'TNP', 'and', 'it', 'COP', 'SADJ', '.'),
    ('NP', 'COP', 'very', 'SADJ', 'because', 'SUBJ', 'V', 'ANP', 'ADV', '.'),
    ('SUBJ', 'said', 'that', 'SUBJ', 'V', 'ANP', 'TIME', 'and', 'everyone',
     'SV', 'it', '.'),
    ('TIME', ',', 'SUBJ', 'SV', 'NP', 'and', 'V', 'ANP', ',', 'but', 'TNP',
     'COP', 'still', 'SADJ', '.'),
)
FACTORS = {'topic': TOPICS, 'sentiment': SENTIMENTS, 'tense': TENSES,
           'template': tuple(range(len(TEMPLATES)))}
_SPLIT_STREAMS = {'train': 0, 'valid': 1, 'test': 2}
_MAX_DRAWS = 40  # Uniform draws per sentence; the longest template uses 24.


def _expand(template, topic, sentiment, tense, u) -> list[str]:
  """Expands one template; `u` is an iterator of uniforms in [0, 1)."""
  def pick(options):
    return options[int(next(u) * len(options))]

  def subject():
    if next(u) < 0.3:
      return [pick(_NAMES)]
    return [pick(_DETERMINERS), pick(_AGENTS[topic])]

  expansions = {
      'SUBJ': subject,
      'V': lambda: [pick(_VERBS[topic])[tense]],
      'SV': lambda: [pick(_SENTIMENT_VERBS[sentiment])[tense]],
      'NP': lambda: [pick(_DETERMINERS), pick(_NOUNS[topic])],
      'ANP': lambda: [pick(_DETERMINERS), pick(_ADJECTIVES[sentiment]),
                      pick(_NOUNS[topic])],
      'TNP': lambda: [pick(_DETERMINERS), pick(_TOPIC_ADJECTIVES[topic]),
                      pick(_NOUNS[topic])],
      'ADV': lambda: [pick(_ADVERBS[sentiment])],
      'SADJ': lambda: [pick(_ADJECTIVES[sentiment])],
      'COP': lambda: [_COPULA[tense]],
      'TIME': lambda: list(pick(_TIMES[tense])),
  }
  words = []
  for symbol in template:
    words.extend(expansions[symbol]() if symbol in expansions else [symbol])
  return words


def _generate_split(seed: int, stream: int, n: int):
  rng = np.random.default_rng([seed, stream])
  factors = {
      'topic': rng.integers(len(TOPICS), size=n),
      'sentiment': rng.integers(len(SENTIMENTS), size=n),
      'tense': rng.integers(len(TENSES), size=n),
      'template': rng.integers(len(TEMPLATES), size=n),
  }
  uniforms = rng.random((n, _MAX_DRAWS))
  sentences = [
      _expand(TEMPLATES[k], t, s, v, iter(row.tolist())) for k, t, s, v, row
      in zip(factors['template'].tolist(), factors['topic'].tolist(),
             factors['sentiment'].tolist(), factors['tense'].tolist(),
             uniforms)]
  return sentences, {k: v.astype(np.int32) for k, v in factors.items()}


def generate_synthetic_corpus(*, seed: int = 0, num_train: int = 10000,
                              num_valid: int = 1000,
                              num_test: int = 1000) -> Corpus:
  """Generates the synthetic corpus.

  Args:
    seed: random seed; the corpus is a deterministic function of it.
    num_train: number of training sentences.
    num_valid: number of validation sentences.
    num_test: number of test sentences.

  Returns:
    Corpus named 'synthetic' whose `labels[split]` maps 'topic', 'sentiment',
    'tense' and 'template' to <int32>[num_sentences] (indices into
    FACTORS[name]), aligned with `splits[split]`.
  """
  sizes = {'train': num_train, 'valid': num_valid, 'test': num_test}
  splits, labels, stats = {}, {}, {}
  for split, n in sizes.items():
    if n < 0:
      raise ValueError(f'num_{split} must be >= 0, got {n}')
    splits[split], labels[split] = _generate_split(
        seed, _SPLIT_STREAMS[split], n)
    stats[split] = {'sentences': n,
                    'words': sum(map(len, splits[split]))}
  return Corpus(name='synthetic', splits=splits, labels=labels, stats=stats)
