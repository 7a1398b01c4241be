"""``python -m spacegroup_nn.train ...``: the ``train`` command, also under ``torchrun``.

``torchrun --nproc_per_node N -m spacegroup_nn.train --data PATH --target NAME --out DIR``
trains with DistributedDataParallel (gloo on CPU, nccl on GPU); rank 0 logs and writes
checkpoints. Multi-node: add ``--nnodes``, ``--node_rank`` and ``--rdzv_endpoint HOST:PORT``
(see ``docs/training.md``).
"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
