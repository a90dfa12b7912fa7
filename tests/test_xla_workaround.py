"""The XLA:CPU reduce-fusion bug of jaxlib 0.10 is avoided once vae_jax is imported."""

import subprocess
import sys

SCRIPT = '''
import vae_jax  # sets XLA_FLAGS before the backend starts
import jax, jax.numpy as jnp, numpy as np
m = jax.random.normal(jax.random.key(0), (3, 3))
x = jax.random.normal(jax.random.key(1), (20000, 3, 3))
got = jax.jit(lambda m, x: jnp.sum(m * x, -1, keepdims=True) * m)(m, x)
ref = np.sum(np.asarray(m) * np.asarray(x), -1, keepdims=True) * np.asarray(m)
print(float(np.mean(~np.isclose(np.asarray(got), ref, rtol=1e-4, atol=1e-5))))
'''


def test_fused_multiply_sum_multiply_is_right():
  out = subprocess.run([sys.executable, '-c', SCRIPT], capture_output=True,
                       text=True, timeout=120, env={'PATH': '/usr/bin:/bin'})
  assert out.returncode == 0, out.stderr[-2000:]
  assert float(out.stdout.strip().splitlines()[-1]) == 0.0
