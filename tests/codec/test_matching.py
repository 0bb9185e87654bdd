import pytest
import torch

from echovox.codec.matching import match_latents


def test_each_frame_moves_to_the_mean_of_its_nearest_reference_frames():
    # reference frames along three directions; a frame near direction 0 matches frame 0 (and,
    # with k=2, also frame 1, the next closest by cosine)
    ref = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 5.0]]).T[None]  # [1, D, P]
    latent = torch.tensor([[2.0, 0.1, 0.0], [0.0, 0.1, 1.0]]).T[None]  # [1, D, T=2]
    full = match_latents(latent, ref, k=1, weight=1.0)
    assert torch.allclose(full[0, :, 0], ref[0, :, 0])
    assert torch.allclose(full[0, :, 1], ref[0, :, 2])  # cosine, not distance: the long one
    half = match_latents(latent, ref, k=1, weight=0.5)
    assert torch.allclose(half, 0.5 * (latent + full))
    two = match_latents(latent, ref, k=2, weight=1.0)
    assert torch.allclose(two[0, :, 0], ref[0, :, :2].mean(1))


def test_weight_zero_and_empty_latent_leave_it_alone_and_k_is_capped():
    g = torch.Generator().manual_seed(0)
    latent, ref = torch.randn(2, 4, 7, generator=g), torch.randn(2, 4, 3, generator=g)
    assert torch.equal(match_latents(latent, ref, weight=0.0), latent)
    empty = latent[:, :, :0]
    assert match_latents(empty, ref).shape == (2, 4, 0)
    # k above the reference's length: every frame becomes the reference's mean frame
    out = match_latents(latent, ref, k=10, weight=1.0)
    assert torch.allclose(out, ref.mean(2, keepdim=True).expand_as(out), atol=1e-6)


def test_batch_items_match_their_own_reference():
    g = torch.Generator().manual_seed(1)
    latent, ref = torch.randn(2, 4, 5, generator=g), torch.randn(2, 4, 6, generator=g)
    both = match_latents(latent, ref, k=2, weight=0.7)
    for b in range(2):
        one = match_latents(latent[b : b + 1], ref[b : b + 1], k=2, weight=0.7)
        assert torch.allclose(both[b : b + 1], one)


@pytest.mark.parametrize(
    "latent, ref, kw, message",
    [
        (torch.zeros(4, 5), torch.zeros(1, 4, 3), {}, r"\[B, D, T\]"),
        (torch.zeros(1, 4, 5), torch.zeros(1, 3, 3), {}, "differ"),
        (torch.zeros(1, 4, 5), torch.zeros(1, 4, 0), {}, "no frames"),
        (torch.zeros(1, 4, 5), torch.zeros(1, 4, 3), {"k": 0}, "k must be"),
        (torch.zeros(1, 4, 5), torch.zeros(1, 4, 3), {"weight": 1.5}, "weight must be"),
    ],
)
def test_bad_arguments_are_named(latent, ref, kw, message):
    with pytest.raises(ValueError, match=message):
        match_latents(latent, ref, **kw)
