import pytest
import torch

from echovox.codec.matching import match_latents, match_residuals


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
        (torch.zeros(1, 4, 5), torch.zeros(1, 4, 3), {"keys": torch.zeros(1, 2, 5)}, "together"),
        (
            torch.zeros(1, 4, 5),
            torch.zeros(1, 4, 3),
            {"keys": torch.zeros(1, 2, 4), "reference_keys": torch.zeros(1, 2, 3)},
            "must be",
        ),
    ],
)
def test_bad_arguments_are_named(latent, ref, kw, message):
    with pytest.raises(ValueError, match=message):
        match_latents(latent, ref, **kw)


def test_keys_choose_the_neighbours_and_the_reference_gives_the_values():
    # matched by the keys (frame 0's key points at reference frame 1), whatever the latents say
    ref = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T[None]  # [1, D=2, P=2]
    ref_keys = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).T[None]  # [1, E=3, P=2]
    latent = torch.tensor([[5.0, 0.0]]).T[None]  # [1, D, T=1]: by itself nearest frame 0
    keys = torch.tensor([[0.0, 0.1, 2.0]]).T[None]  # nearest reference key: frame 1
    out = match_latents(latent, ref, k=1, weight=1.0, keys=keys, reference_keys=ref_keys)
    assert torch.allclose(out[0, :, 0], ref[0, :, 1])
    assert torch.allclose(match_latents(latent, ref, k=1, weight=1.0)[0, :, 0], ref[0, :, 0])


def test_match_residuals_keeps_the_first_codebook_and_takes_the_prompts_residuals():
    g = torch.Generator().manual_seed(2)
    first, resid = torch.randn(1, 4, 6, generator=g), torch.randn(1, 4, 6, generator=g)
    ref_first, ref_resid = torch.randn(1, 4, 5, generator=g), torch.randn(1, 4, 5, generator=g)
    ref_first[0, :, 3] = first[0, :, 2] * 2  # same direction: frame 2's match by cosine
    out = match_residuals(first + resid, first, ref_first + ref_resid, ref_first, k=1, weight=1.0)
    assert torch.allclose(out[0, :, 2], first[0, :, 2] + ref_resid[0, :, 3], atol=1e-6)
    # every frame: its own first codebook plus one of the reference's residuals
    got = (out - first)[0].T  # [T, D]
    assert float(torch.cdist(got, ref_resid[0].T).min(1).values.max()) < 1e-5
    half = match_residuals(first + resid, first, ref_first + ref_resid, ref_first, k=1, weight=0.5)
    assert torch.allclose(half, first + 0.5 * (resid + got.T[None]), atol=1e-6)
    with pytest.raises(ValueError, match="must match"):
        match_residuals(first + resid, first[:, :, :3], ref_first + ref_resid, ref_first)
