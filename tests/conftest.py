"""Session set-up of the test suite.

Imports vae_jax before any test computes, so its XLA:CPU workaround (see
vae_jax/__init__.py) is in XLA_FLAGS when the backend starts.

Turns on JAX's persistent compilation cache in a directory of this session
(also for the binaries the tests start, through JAX_COMPILATION_CACHE_DIR):
many tests build the same steps (the same model, config and shapes) as
separate jitted functions, and the binaries' runs compile what in-process
runs compiled; reading the executable back replaces compiling it. The
directory is new each session, so no test depends on an earlier run.
Under pytest-xdist (`-n 2`, the README's command) each worker is a session
with its own cache directory, and on a GPU no worker preallocates the
device's memory (two would not fit).

Where JAX has only its CPU backend, XLA's backend (LLVM) optimisation is off
for the tests and the processes they start: the tests' programs are tiny
and run a few steps, so compiling them is most of the suite's time, and
level 0 roughly halves it (tests/train/test_steps.py: 96 -> 53 s of CPU).
Every path a test compares is compiled the same way. The training and
evaluation binaries keep XLA's default level outside the tests, and
tests/test_xla_workaround.py runs its check with the default flags.
"""

import importlib.metadata
import os

import jax
import pytest

import vae_jax  # noqa: F401  pylint: disable=unused-import
from vae_jax import runtime


def _accelerator_plugin_installed() -> bool:
  names = (d.metadata['Name'] or '' for d in importlib.metadata.distributions())
  return any(n.lower().replace('_', '-').startswith(
      ('jax-cuda', 'jax-rocm', 'libtpu')) for n in names)


if os.environ.get('PYTEST_XDIST_WORKER'):
  os.environ.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')
if ('xla_backend_optimization_level' not in os.environ.get('XLA_FLAGS', '')
    and not _accelerator_plugin_installed()):
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '')
                             + ' --xla_backend_optimization_level=0').strip()


@pytest.fixture(scope='session', autouse=True)
def compilation_cache(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('xla_cache'))
  old_env = os.environ.get('JAX_COMPILATION_CACHE_DIR')
  os.environ['JAX_COMPILATION_CACHE_DIR'] = path
  runtime.enable_compilation_cache(path)
  yield path
  if old_env is None:
    os.environ.pop('JAX_COMPILATION_CACHE_DIR', None)
  else:
    os.environ['JAX_COMPILATION_CACHE_DIR'] = old_env
  jax.config.update('jax_compilation_cache_dir', None)


@pytest.fixture(scope='session', autouse=True)
def full_float32_matmuls():
  """On a GPU or TPU, float32 matmuls in full precision.

  The tests compare paths that compute the same function (fast against
  plain, cuDNN against scan, closed forms against enumeration) to float32
  tolerances. An accelerator's default precision runs float32 matmuls in
  TF32 or bfloat16 passes (about 1e-3 relative), which would fail them for
  a reason unrelated to the code. On a CPU this changes nothing.
  """
  if jax.default_backend() == 'cpu':
    yield
    return
  with jax.default_matmul_precision('highest'):
    yield
