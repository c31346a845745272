"""One process of a two-process CPU job, run by test_sharding.py:
`python -m tests.train.distributed_worker PORT RANK`.

Initialises jax.distributed through dcmmm's config path, then sums a
region-sharded array over the global mesh; prints one JSON line of facts.
"""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

import dcmmm  # noqa: F401
from dcmmm.config import mesh_spec
from dcmmm.train.sharding import initialize_distributed, region_layout

if __name__ == "__main__":
    port, rank = sys.argv[1], int(sys.argv[2])
    spec = mesh_spec({"mesh": {"name": "regions", "coordinator_address": f"localhost:{port}",
                               "num_processes": 2, "process_id": rank}})
    initialize_distributed(spec)
    layout = region_layout(spec, 3)  # 3 regions over 2 devices: one padded region
    params = {"region": {"a": np.arange(3.0, dtype=np.float32)}, "shared": np.ones(2, np.float32)}
    placed = layout.to_mesh(params)
    total = jax.jit(lambda p: jnp.sum(p["region"]["a"]) + jnp.sum(p["shared"]))(placed)
    back = layout.to_host(placed)
    print(json.dumps({"process_index": jax.process_index(), "process_count": jax.process_count(),
                      "device_count": jax.device_count(),
                      "local_device_count": jax.local_device_count(),
                      "padded": layout.n_padded, "sum": float(total.addressable_data(0)),
                      "back": np.asarray(back["region"]["a"]).tolist()}), flush=True)
    jax.distributed.shutdown()
