from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from echovox.codec.discriminators import CombinedDiscriminator
from echovox.codec.losses import (
    Balancer,
    SpectralLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from echovox.codec.metrics import codebook_usage, si_sdr


def test_balancer_normalises_gradient_norms():
    y = torch.zeros(1, 4, requires_grad=True)
    c1 = torch.tensor([[3.0, 4.0, 0.0, 0.0]])  # |c1| = 5
    c2 = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    bal = Balancer({"a": 1.0, "b": 3.0}, total_norm=2.0, ema_decay=0.9)
    grad = bal({"a": (y * c1).sum(), "b": 1000 * (y * c2).sum()}, y)
    # each loss gets total_norm * w / sum(w) of the gradient, along its own direction,
    # whatever its raw scale: a -> 2 * 1/4 * c1/5, b -> 2 * 3/4 * c2
    expected = 0.5 * c1 / 5 + 1.5 * c2
    assert torch.allclose(grad, expected, atol=1e-6)
    assert bal.last_norms == pytest.approx({"a": 5.0, "b": 1000.0})
    # the EMA: after a step where b's raw gradient is 10x smaller, its scale uses the running
    # mean of norms (1000 and 100, weights 0.9 and 1) rather than the new norm alone
    grad2 = bal({"a": (y * c1).sum(), "b": 100 * (y * c2).sum()}, y)
    ema_b = (0.9 * 1000 + 100) / (0.9 + 1)
    assert grad2[0, 2].item() == pytest.approx(1.5 * 100 / ema_b, rel=1e-5)
    assert grad2[0, 0].item() == pytest.approx(0.5 * 3 / 5, rel=1e-5)


def test_balancer_uses_per_item_norm_mean():
    y = torch.zeros(2, 3, requires_grad=True)
    c = torch.tensor([[1.0, 0.0, 0.0], [0.0, 3.0, 4.0]])  # per-item norms 1 and 5
    bal = Balancer({"a": 1.0}, total_norm=1.0)
    grad = bal({"a": (y * c).sum()}, y)
    assert torch.allclose(grad, c / 3.0)
    with pytest.raises(ValueError, match="positive weight"):
        Balancer({"a": 0.0})({"a": (y * c).sum()}, y)


def test_si_sdr_known_values():
    torch.manual_seed(0)
    ref = torch.randn(16000)
    assert float(si_sdr(ref * 0.3, ref)) > 60  # scale-invariant
    noise = torch.randn(16000)
    noise = noise - (noise @ ref) / (ref @ ref) * ref  # orthogonal to ref
    noise = noise / noise.norm() * ref.norm() * 0.1  # 20 dB below
    assert float(si_sdr(ref + noise, ref)) == pytest.approx(20.0, abs=0.05)


def test_spectral_loss_is_zero_on_identity_and_grows_with_error():
    loss = SpectralLoss(8000, (64, 128, 256), (10, 20, 32))
    x = torch.randn(2, 1, 4000) * 0.1
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    small = float(loss(x + 0.001 * torch.randn_like(x), x))
    big = float(loss(x + 0.1 * torch.randn_like(x), x))
    assert 0 < small < big
    # it weighs a quiet band's error as a loud one's: halving a signal costs the same at any level
    assert float(loss(0.5 * x, x)) == pytest.approx(float(loss(0.05 * x, 0.1 * x)), rel=1e-3)
    y = (x + 0.01 * torch.randn_like(x)).requires_grad_()
    loss(y, x).backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="one mel band count"):
        SpectralLoss(8000, (64, 128), (10,))


def test_adversarial_losses_and_feature_matching():
    real = [torch.full((2, 5), 2.0)]
    fake = [torch.full((2, 5), -2.0)]
    assert float(discriminator_loss(real, fake, "hinge")) == 0.0  # both margins met
    assert float(generator_adversarial_loss(fake, "hinge")) == 3.0
    assert float(discriminator_loss(real, fake, "lsgan")) == pytest.approx(1 + 4)
    with pytest.raises(ValueError):
        generator_adversarial_loss(fake, "wasserstein")
    f = [[torch.ones(2, 3) * 2]]
    assert float(feature_matching_loss(f, f)) == 0.0
    assert float(feature_matching_loss(f, [[torch.ones(2, 3)]])) == pytest.approx(0.5)


def test_discriminators_shapes():
    disc = CombinedDiscriminator((64, 128), 4, (2, 3), 4, 16)
    out = disc(torch.randn(2, 1, 1000))
    assert len(out.logits) == 4 and len(out.features) == 4
    assert all(torch.isfinite(lg).all() for lg in out.logits)


def test_codebook_usage_sees_a_narrow_codebook():
    codes = torch.zeros(1, 2, 1000, dtype=torch.long)
    codes[0, 0] = torch.arange(1000) % 200  # 200 of 1024 entries, uniformly
    codes[0, 1] = torch.randint(0, 1024, (1000,))
    u = codebook_usage(codes, 1024)
    assert u[0]["used"] == 200 and u[0]["perplexity"] == pytest.approx(200, rel=1e-6)
    assert u[0]["dead_fraction"] == pytest.approx(1 - 200 / 1024)
    assert u[1]["used"] > 500
    assert not math.isnan(np.mean([x["perplexity"] for x in u]))
