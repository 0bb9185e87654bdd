from __future__ import annotations

import torch

from echovox.codec import CodecConfig, RVQCodec
from echovox.codec.quantizer import EMACodebook, ResidualVectorQuantizer, kmeans


def test_kmeans_finds_separated_clusters():
    torch.manual_seed(0)
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    x = torch.cat([c + 0.1 * torch.randn(200, 2) for c in centres])
    found, counts = kmeans(x, 3, iters=10)
    dist = torch.cdist(centres, found).min(dim=1).values
    assert dist.max() < 0.2
    assert counts.sum() == 600


def test_dead_codes_are_revived_from_encoder_outputs():
    torch.manual_seed(0)
    book = EMACodebook(codebook_size=16, dim=4, decay=0.9, kmeans_iters=0, dead_code_ratio=0.1)
    book.initialized.fill_(True)
    # every code but one sits far from the data, so only code 0 is ever chosen
    book.embed.fill_(100.0)
    book.embed[0] = 0.0
    book.embed_sum.copy_(book.embed)
    book.cluster_size.fill_(1.0)
    x = torch.randn(256, 4)
    assert bool((book.nearest(x) == 0).all())
    threshold = 0.1 * 256 / 16
    for _ in range(30):  # EMA usage of the 15 unused codes decays below the threshold
        book.update(x, book.nearest(x))
        if book.last_revived:
            break
    assert book.last_threshold == threshold
    assert book.last_revived >= 15
    # revived codes now lie on encoder outputs and win vectors
    assert float(book.embed.abs().max()) < 10
    assert len(torch.unique(book.nearest(x))) > 8
    # and a code whose usage stays at the uniform share is never dead
    assert book.utilisation()["dead_fraction"] < 0.5


def test_threshold_scales_with_batch_size():
    book = EMACodebook(codebook_size=8, dim=2, kmeans_iters=0, dead_code_ratio=0.5)
    book.initialized.fill_(True)
    for n in (64, 1024):
        x = torch.randn(n, 2)
        book.update(x, book.nearest(x))
        assert book.last_threshold == 0.5 * n / 8


def test_quantizer_dropout_is_per_item_and_all_counts_decode():
    torch.manual_seed(0)
    codec = RVQCodec(CodecConfig.from_name("tiny", quantizer_dropout=1.0))
    codec.train()
    wav = torch.randn(32, 1, 640) * 0.1
    out = codec(wav)
    counts = set(out.n_q.tolist())
    assert len(counts) > 1 and counts <= {1, 2, 3, 4}
    codec.eval()
    codes = codec.encode(wav)
    prev_err = None
    latent = codec.encoder(wav).detach()
    for n in range(1, codec.n_codebooks + 1):
        audio = codec.decode(codes[:, :n])
        assert audio.shape == (32, 1, 640) and torch.isfinite(audio).all()
        # each extra codebook lowers the latent quantisation error
        err = float((codec.quantizer.decode(codes[:, :n]) - latent).pow(2).mean())
        if prev_err is not None:
            assert err < prev_err
        prev_err = err


def test_every_stage_sends_gradient_to_the_encoder():
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(dim=8, n_codebooks=3, codebook_size=16, quantizer_dropout=0)
    x = torch.randn(4, 8, 50)
    rvq.train()
    rvq(x)  # k-means init
    rvq.eval()
    # eval mode: no updates; take the gradient of the commitment loss of stage 3 alone
    xg = x.clone().requires_grad_(True)
    flat = xg.transpose(1, 2).reshape(-1, 8)
    residual = flat
    for book in rvq.codebooks[:2]:
        residual = residual - book.lookup(book.nearest(residual.detach())).detach()
    book = rvq.codebooks[2]
    loss = (residual - book.lookup(book.nearest(residual.detach())).detach()).pow(2).mean()
    (g,) = torch.autograd.grad(loss, xg)
    assert float(g.abs().sum()) > 0
    # the module's own loss is the mean of per-stage losses and also reaches x
    xg2 = x.clone().requires_grad_(True)
    out = rvq(xg2)
    (g2,) = torch.autograd.grad(out.commitment_loss, xg2)
    assert float(g2.abs().sum()) > 0


def test_straight_through_and_ema_moves_codebook_to_data():
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(dim=2, n_codebooks=1, codebook_size=4, quantizer_dropout=0)
    rvq.train()
    data = torch.tensor([[3.0, 3.0], [-3.0, 3.0], [3.0, -3.0], [-3.0, -3.0]])
    x = (data.repeat(50, 1) + 0.05 * torch.randn(200, 2)).T[None]  # [1, 2, 200]
    book = rvq.codebooks[0]
    book.initialized.fill_(True)  # start each code 1.0 off its cluster; EMA must pull it in
    book.embed.copy_(data + 1.0)
    book.cluster_size.fill_(50.0)  # the uniform share, so no code counts as dead
    book.embed_sum.copy_(book.embed * 50.0)
    xg = x.clone().requires_grad_(True)
    for _ in range(300):
        out = rvq(xg)
    # gradient passes straight through the quantiser
    (g,) = torch.autograd.grad(out.quantized.sum(), xg)
    assert torch.allclose(g, torch.ones_like(g))
    dist = torch.cdist(data, rvq.codebooks[0].embed).min(dim=1).values
    assert dist.max() < 0.2
