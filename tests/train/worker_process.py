"""Runs the *_worker.py scripts of these tests in processes of their own.

The forced CPU device count (XLA_FLAGS=--xla_force_host_platform_device_count)
is fixed when JAX initialises, so multi-device runs happen in subprocesses,
which print one line `RESULT <json>` for the tests to assert on.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def env(devices: int) -> dict[str, str]:
  """The environment of a worker with `devices` forced CPU devices."""
  # Optimisation level 0 roughly halves the compile time that dominates
  # these runs; every run compared is compiled the same way. Set here, not
  # only by conftest.py, which leaves it off where a GPU plugin is installed:
  # these workers run on forced CPU devices there too.
  return dict(os.environ, JAX_PLATFORMS='cpu',
              XLA_FLAGS=f'--xla_force_host_platform_device_count={devices} '
              '--xla_backend_optimization_level=0',
              PYTHONPATH=os.pathsep.join(
                  [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))


def command(script: str, *args) -> list[str]:
  return [sys.executable, os.path.join(HERE, script)] + [str(a) for a in args]


def result(name: str, returncode: int, stdout: str, stderr: str) -> dict:
  """The worker's RESULT line, or a failure showing its output."""
  lines = [l for l in stdout.splitlines() if l.startswith('RESULT ')]
  assert returncode == 0 and lines, (
      f'{name} failed ({returncode}):\n{stdout[-3000:]}\n{stderr[-5000:]}')
  return json.loads(lines[-1][len('RESULT '):])


def run(script: str, *args, devices: int, timeout: int = 600) -> dict:
  """Runs one worker to the end and returns its RESULT."""
  proc = subprocess.run(command(script, *args), env=env(devices),
                        capture_output=True, text=True, timeout=timeout,
                        check=False)
  return result(script, proc.returncode, proc.stdout, proc.stderr)
