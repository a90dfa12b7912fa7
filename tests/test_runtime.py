"""`runtime`: glibc heap settings and the persistent compilation cache.

`reuse_freed_memory` is checked on glibc itself, in fresh processes (the
settings must precede the first large allocation): a 40 MB block, which
glibc serves with its own `mmap` by default, comes from the heap with the
settings and stays there after `free`. What that does for XLA:CPU's
per-call buffers (page faults per step) is a figure the benchmark prints
(`train_page_faults_per_step`), not a test: it depends on the machine. On
the project machine a 40 MB XLA temporary faulted 9,766 pages a call by
default and 0 with the setting; on one CI machine it faulted 9,765 with
the setting, so no test asserts it.
"""

import os
import subprocess
import sys

import pytest

GLIBC_SCRIPT = '''
import ctypes, ctypes.util, sys
from vae_jax import runtime
libc = ctypes.CDLL(ctypes.util.find_library("c"))
class MallInfo2(ctypes.Structure):
  _fields_ = [(n, ctypes.c_size_t) for n in (
      "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
      "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
if sys.argv[1] == "reuse":
  assert runtime.reuse_freed_memory()
size = 40 << 20
before = libc.mallinfo2().hblkhd
first = libc.malloc(size)
mmapped = libc.mallinfo2().hblkhd - before
libc.free(first)
heap_after_free = libc.mallinfo2().arena
second = libc.malloc(size)
print(mmapped, heap_after_free, int(first == second))
libc.free(second)
'''


def _glibc_run(mode: str) -> tuple[int, int, int]:
  out = subprocess.run([sys.executable, '-c', GLIBC_SCRIPT, mode],
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  mmapped, heap, same = out.stdout.split()
  return int(mmapped), int(heap), int(same)


def _is_glibc_with_mallinfo2() -> bool:
  import ctypes  # pylint: disable=g-import-not-at-top
  import ctypes.util  # pylint: disable=g-import-not-at-top
  name = ctypes.util.find_library('c')
  if not name:
    return False
  libc = ctypes.CDLL(name)
  return (hasattr(libc, 'gnu_get_libc_version')
          and hasattr(libc, 'mallinfo2'))


@pytest.mark.skipif(not _is_glibc_with_mallinfo2(),
                    reason='needs glibc 2.33 or newer (mallinfo2)')
def test_reuse_freed_memory_keeps_large_blocks_in_the_heap():
  size = 40 << 20
  mmapped, _, _ = _glibc_run('default')
  assert mmapped >= size  # glibc's default: a block this large is mmapped
  mmapped, heap_after_free, same = _glibc_run('reuse')
  assert mmapped == 0  # ... with the settings it comes from the heap,
  assert heap_after_free >= size  # stays mapped after free (no trim),
  assert same == 1  # and the next block of that size reuses it.


CACHE_SCRIPT = '''
import os, sys
from vae_jax import runtime
import jax, jax.numpy as jnp
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
print("DIR", runtime.enable_compilation_cache(sys.argv[1]))
f = jax.jit(lambda x: jnp.tanh(x @ x.T).sum() * 3.0 + 0.5)
print("VALUE", float(f(jnp.arange(12.0).reshape(3, 4) / 10)))
print("HITS", events.count("/jax/compilation_cache/cache_hits"))
'''


def _cached_run(path: str) -> dict[str, str]:
  env = {k: v for k, v in os.environ.items()
         if k != 'JAX_COMPILATION_CACHE_DIR'}
  out = subprocess.run([sys.executable, '-c', CACHE_SCRIPT, path],
                       capture_output=True, text=True, timeout=120, env=env)
  assert out.returncode == 0, out.stderr[-2000:]
  return dict(line.split(' ', 1) for line in out.stdout.splitlines()
              if line.split(' ', 1)[0] in ('DIR', 'VALUE', 'HITS'))


def test_compilation_cache_is_reused_by_the_next_process(tmp_path):
  cache = tmp_path / 'cache'
  first = _cached_run(str(cache))
  assert first['DIR'] == str(cache) and first['HITS'] == '0'
  assert any(cache.iterdir())  # the executable was written
  second = _cached_run(str(cache))
  assert int(second['HITS']) >= 1  # ... and read back instead of compiled
  assert second['VALUE'] == first['VALUE']


def test_compilation_cache_off_and_default_dir(monkeypatch, tmp_path):
  from vae_jax import runtime  # pylint: disable=g-import-not-at-top
  assert runtime.enable_compilation_cache('') is None
  monkeypatch.delenv('JAX_COMPILATION_CACHE_DIR', raising=False)
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
  assert runtime.default_compilation_cache_dir() == str(
      tmp_path / 'vae_jax' / 'jax')
  monkeypatch.setenv('JAX_COMPILATION_CACHE_DIR', '/somewhere/else')
  assert runtime.default_compilation_cache_dir() == '/somewhere/else'
