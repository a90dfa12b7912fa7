"""The one exception type of the data pipeline."""


class DataError(ValueError):
  """A corpus, vocabulary or batching input is missing or malformed.

  The message always names the file (and line, where there is one) and says
  what to do about it, so a binary can print it instead of a traceback.
  """
