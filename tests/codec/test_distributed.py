"""Under DDP, codebook EMA statistics are summed over ranks (gloo on CPU, two processes)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank: int, port: int, out: dict) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        from echovox.codec.quantizer import EMACodebook

        torch.manual_seed(0)
        book = EMACodebook(codebook_size=4, dim=2, decay=0.0, kmeans_iters=0, dead_code_ratio=0)
        book.initialized.fill_(True)
        book.embed.copy_(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]))
        # rank 0 sees only points near code 0, rank 1 only points near code 1
        x = torch.tensor([[0.5, 0.0]]).repeat(3, 1) if rank == 0 else torch.tensor([[9.0, 0.0]])
        book.update(x, book.nearest(x))
        out[rank] = (book.cluster_size.tolist(), book.embed[:2].tolist())
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ema_statistics_are_summed_over_ranks():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(port, out), nprocs=2, join=True)
        results = dict(out)
    for rank in (0, 1):
        sizes, embed = results[rank]
        assert sizes[:2] == pytest.approx([3.0, 1.0], abs=1e-3)  # counts from both ranks
        assert embed[0] == pytest.approx([0.5, 0.0], abs=1e-3)
        assert embed[1] == pytest.approx([9.0, 0.0], abs=1e-3)
