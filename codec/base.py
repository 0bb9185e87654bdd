"""The `Codec` interface every codec implements (our frame and RVQ codecs, pretrained EnCodec).

Callers hold a `Codec` and never care which one: `encode(wav [B, 1, S]) -> codes [B, Q, T]`,
`decode(codes) -> wav [B, 1, S']`. `encode_audio` takes raw numpy audio at any rate and runs
`echovox.audio.prepare_waveform` first, because forgetting to resample before encoding
silently ruins quality.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from echovox.audio import AudioError, prepare_waveform


def best_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Codec(nn.Module, ABC):
    """Abstract codec. Subclasses set sample_rate, frame_rate, n_codebooks, codebook_size and
    implement `_encode_frames` and `decode`; chunking and input checks live here."""

    sample_rate: int
    frame_rate: float
    n_codebooks: int
    codebook_size: int
    # chunked encoding: chunk length and the context seen on each side, in seconds
    chunk_seconds: float = 30.0
    chunk_context_seconds: float = 1.0

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate / self.frame_rate))

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def bitrate(self, n_q: int | None = None) -> float:
        n_q = self.n_codebooks if n_q is None else n_q
        return n_q * self.frame_rate * math.log2(self.codebook_size)

    # encoding ------------------------------------------------------------------------------
    @abstractmethod
    def _encode_frames(self, wav: Tensor, n_q: int) -> Tensor:
        """wav [B, 1, S] on the model's device -> codes [B, n_q, ceil(S / hop)]."""

    @abstractmethod
    def decode(self, codes: Tensor) -> Tensor:
        """codes [B, Q, T] (1 <= Q <= n_codebooks) -> wav [B, 1, T * hop] float32, on the
        device the codes came from (the model may run on a GPU either way)."""

    # expected decoding: hooks that expose the residual codebooks and the decoder --------------
    def codebook_vectors(self) -> list[Tensor]:
        """Each codebook's vectors, [K, D] per codebook, in residual order. A codec whose
        latent is the sum of its codebooks' vectors implements this and `decode_latent`."""
        raise NotImplementedError(f"{type(self).__name__} does not expose its codebooks")

    def decode_latent(self, latent: Tensor) -> Tensor:
        """latent [B, D, T] (a sum of codebook vectors) -> wav [B, 1, T * hop] float32."""
        raise NotImplementedError(f"{type(self).__name__} does not decode latents")

    @torch.inference_mode()
    def decode_expected(self, probs: Tensor) -> Tensor:
        """probs [B, Q, T, K]: a distribution over each codebook's K entries per frame ->
        wav [B, 1, T * hop], decoded from the expected latent sum_q E_{probs_q}[codebook_q].

        Why: an RVQ latent is a sum of one vector per codebook, so when a model is unsure of
        a residual codebook the expected vector is its least-squares estimate, and a guessed
        code adds a whole wrong residual instead. One-hot rows decode exactly like `decode`.
        """
        home = probs.device
        return self.decode_latent(self.expected_latent(probs)).float().to(home)

    @torch.inference_mode()
    def expected_latent(self, probs: Tensor) -> Tensor:
        """probs [B, Q, T, K] -> the expected latent [B, D, T] on the codec's device."""
        if probs.dim() != 4 or probs.shape[-1] != self.codebook_size:
            raise ValueError(
                f"probs must be [B, Q, T, {self.codebook_size}], got {tuple(probs.shape)}"
            )
        if not 1 <= probs.shape[1] <= self.n_codebooks:
            raise ValueError(f"probs have {probs.shape[1]} codebooks; model has {self.n_codebooks}")
        if not torch.isfinite(probs).all():
            raise ValueError("probs must be finite")
        probs = probs.to(self.device, torch.float32)
        books = self.codebook_vectors()[: probs.shape[1]]
        latent = sum(torch.matmul(probs[:, q], book.float()) for q, book in enumerate(books))
        return latent.transpose(1, 2)

    @torch.inference_mode()
    def codes_latent(self, codes: Tensor) -> Tensor:
        """codes [B, Q, T] -> the latent [B, D, T] they stand for (the sum of their codebook
        vectors), on the codec's device: what `decode` would decode."""
        codes = self.check_codes(codes).to(self.device)
        books = self.codebook_vectors()[: codes.shape[1]]
        latent = sum(book.float()[codes[:, q]] for q, book in enumerate(books))  # [B, T, D]
        return latent.transpose(1, 2)

    def check_wav(self, wav: Tensor) -> Tensor:
        if not isinstance(wav, Tensor):
            raise TypeError(f"wav must be a torch.Tensor [B, 1, S], got {type(wav).__name__}")
        if wav.dim() != 3 or wav.shape[1] != 1:
            raise ValueError(
                f"wav must be [B, 1, S] mono at {self.sample_rate} Hz, got {tuple(wav.shape)}; "
                "use encode_audio() for raw audio at any rate or channel count"
            )
        if wav.shape[-1] == 0:
            raise AudioError("wav has no samples")
        if not torch.isfinite(wav).all():
            raise AudioError("wav contains NaN or infinite samples")
        return wav.float()

    def check_n_q(self, n_q: int | None) -> int:
        n_q = self.n_codebooks if n_q is None else int(n_q)
        if not 1 <= n_q <= self.n_codebooks:
            raise ValueError(f"n_q must be in 1..{self.n_codebooks}, got {n_q}")
        return n_q

    @torch.inference_mode()
    def encode(self, wav: Tensor, n_q: int | None = None) -> Tensor:
        """wav [B, 1, S] at `sample_rate` -> codes [B, n_q, ceil(S / hop)] long, on the
        device `wav` came from (the model runs on its own device, e.g. a GPU).

        Audio longer than `chunk_seconds` is encoded in chunks that each see
        `chunk_context_seconds` of audio on both sides; only the codes of the chunk's own
        frames are kept, so memory is bounded by the chunk and the seams see the same context
        as the middle."""
        wav = self.check_wav(wav)
        n_q = self.check_n_q(n_q)
        home = wav.device  # results go back where the input came from
        hop = self.hop_length
        chunk_frames = max(1, int(self.chunk_seconds * self.frame_rate))
        n_frames = math.ceil(wav.shape[-1] / hop)
        if n_frames <= chunk_frames:
            return self._encode_frames(wav.to(self.device), n_q).to(home)
        ctx = int(math.ceil(self.chunk_context_seconds * self.frame_rate))
        wav = torch.nn.functional.pad(wav, (0, n_frames * hop - wav.shape[-1]))
        out = []
        for f0 in range(0, n_frames, chunk_frames):
            f1 = min(n_frames, f0 + chunk_frames)
            a, b = max(0, f0 - ctx), min(n_frames, f1 + ctx)
            piece = wav[..., a * hop : b * hop].to(self.device)
            codes = self._encode_frames(piece, n_q)
            out.append(codes[..., f0 - a : f1 - a].cpu())
        return torch.cat(out, dim=-1).to(home)

    def encode_audio(self, audio: np.ndarray, sr: int, n_q: int | None = None) -> Tensor:
        """Raw audio ([S] or [S, C] numpy, any rate) -> codes [1, n_q, T]. Resamples with soxr,
        mixes to mono, clips to [-1, 1] and rejects NaN (`AudioError`)."""
        wav = prepare_waveform(audio, sr, self.sample_rate)
        return self.encode(torch.from_numpy(wav)[None, None], n_q=n_q)

    def decode_audio(self, codes: Tensor) -> np.ndarray:
        """codes [1, Q, T] or [Q, T] -> mono float32 numpy [S] at `sample_rate`."""
        if codes.dim() == 2:
            codes = codes[None]
        if codes.shape[0] != 1:
            raise ValueError("decode_audio takes a single item; use decode() for batches")
        return self.decode(codes)[0, 0].cpu().numpy()

    def check_codes(self, codes: Tensor) -> Tensor:
        if not isinstance(codes, Tensor) or codes.dim() != 3:
            raise ValueError(
                f"codes must be a LongTensor [B, Q, T], got {getattr(codes, 'shape', codes)}"
            )
        if codes.dtype.is_floating_point:
            raise ValueError(f"codes must be integers, got {codes.dtype}")
        if not 1 <= codes.shape[1] <= self.n_codebooks:
            raise ValueError(f"codes have {codes.shape[1]} codebooks; model has {self.n_codebooks}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"codes must lie in [0, {self.codebook_size})")
        return codes.long()

    # persistence ---------------------------------------------------------------------------
    @abstractmethod
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write config.json plus safetensors weights into `directory`."""

    @staticmethod
    def from_pretrained(path_or_id: str | Path, device: str | torch.device | None = None) -> Codec:
        """Load any codec: one of our checkpoint directories, a transformers EnCodec directory,
        or a hub id such as "facebook/encodec_24khz" (needs network or a local HF cache).

        Dispatches on config.json: `"model_type": "encodec"` -> `EncodecCodec`, our
        `"codec_type": "frame"` -> `FrameCodec` and `"rvq"` -> `RVQCodec`. `device=None`
        picks CUDA when present."""
        from echovox.checkpoint import CheckpointError, read_json

        from .frame import FrameCodec
        from .model import RVQCodec
        from .pretrained import EncodecCodec

        device = best_device() if device is None else torch.device(device)
        path = Path(path_or_id)
        if path.is_dir():
            config = read_json(path / "config.json")
            if config.get("codec_type") == "frame":
                model = FrameCodec.load_directory(path)
            elif config.get("codec_type") == "rvq":
                model = RVQCodec.load_directory(path)
            elif config.get("model_type") == "encodec":
                model = EncodecCodec.load(str(path))
            else:
                raise CheckpointError(f"{path}/config.json describes no known codec: {config}")
        elif path.exists():
            raise CheckpointError(f"{path} is a file; a codec checkpoint is a directory")
        elif "encodec" in str(path_or_id).lower():
            model = EncodecCodec.load(str(path_or_id))
        else:
            raise CheckpointError(f"no codec checkpoint at {path_or_id}")
        return model.to(device).eval()
