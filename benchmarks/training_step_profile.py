"""Where one training step's time goes: forward + loss, backward, Adam (unfused and fused).

    python benchmarks/training_step_profile.py --threads 1 --entities 14541 --relations 237

Times ``kgif.training.loop.make_step`` on random rows at PyKEEN's ConvE default (d = 200 as
10 x 20, the Kelpie study's model) and a batch of 128 rows with 3 positives each, then the
optimiser step alone with ``torch.optim.Adam`` unfused, ``foreach=True`` and ``fused=True``
(``TrainingConfig.fused_adam``). Means over the timed steps after ``--warmup`` untimed ones,
in milliseconds; the shape defaults are FB15k-237's.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from kgif.model.conve import ConvEConfig, init_conve
from kgif.training.loop import TrainingConfig, make_step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--entities", type=int, default=14_541)
    parser.add_argument("--relations", type=int, default=237)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = ConvEConfig()
    params, buffers = init_conve(config, args.entities, args.relations, seed=0)
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    step = make_step(config, TrainingConfig(label_smoothing=0.1))
    gen = torch.Generator().manual_seed(0)
    h = torch.randint(0, args.entities, (args.batch,), generator=gen)
    r = torch.randint(0, 2 * args.relations, (args.batch,), generator=gen)
    pos_rows = torch.arange(args.batch).repeat_interleave(3)
    pos_cols = torch.randint(0, args.entities, (3 * args.batch,), generator=gen)
    print(f"load average {os.getloadavg()}, {args.threads} thread(s), torch {torch.__version__}")
    for name, kwargs in (("unfused", {}), ("foreach", {"foreach": True}),
                         ("fused", {"fused": True})):
        opt = torch.optim.Adam(leaves.values(), lr=0.003, **kwargs)
        spent = {"forward + loss": 0.0, "backward": 0.0, "optimizer": 0.0}
        for i in range(args.warmup + args.steps):
            opt.zero_grad(set_to_none=True)
            a = time.perf_counter()
            loss, _ = step(leaves, buffers, h, r, pos_rows, pos_cols)
            b = time.perf_counter()
            loss.backward()
            c = time.perf_counter()
            opt.step()
            d = time.perf_counter()
            if i >= args.warmup:
                for key, value in zip(spent, (b - a, c - b, d - c), strict=True):
                    spent[key] += value
        print(f"Adam {name}: " + ", ".join(f"{k} {1000 * v / args.steps:.1f} ms"
                                          for k, v in spent.items()))
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
