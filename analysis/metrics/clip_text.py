"""OpenAI CLIP's text side in plain torch: the byte-level BPE tokenizer and the text transformer.

Used by ``appearance_style`` (VBench: CLIP ViT-B/32 similarity of every frame to the style text). Written
from the published description of CLIP's tokenizer and text tower, with the parameter names of OpenAI's
checkpoints so that the text weights load strictly from the same ``ViT-B-32.pt`` as the image tower.

Tokenizer (:class:`BpeTokenizer`), reading OpenAI's merges file ``bpe_simple_vocab_16e6.txt.gz`` (gzip, UTF-8:
a header line, then one merge ``"a b"`` per line; the first 48,894 merges are used):

* vocabulary: the 256 byte symbols (bytes mapped to printable characters), the same 256 with the end-of-word
  mark ``</w>``, one entry per merge (the two halves joined), then ``<|startoftext|>`` and ``<|endoftext|>``:
  49,408 ids for the real file;
* text cleaning: ``ftfy.fix_text`` when ftfy is installed (else Unicode NFC and straight quotes: identical for
  ASCII text, which all VBench prompts are), HTML entities unescaped twice, runs of whitespace to one space,
  stripped, lower-cased;
* pre-tokenisation as CLIP's pattern: the special tokens, the contractions ``'s 't 're 've 'm 'll 'd``, runs
  of letters (Unicode category L*), single digits (category N*), runs of other non-space characters;
* each piece: UTF-8 bytes -> byte symbols, last symbol marked ``</w>``, then the lowest-ranked adjacent merge
  applied repeatedly until none applies;
* ids framed by start/end tokens and zero-padded to the model's context length (77); a longer text is an error,
  as in CLIP's ``tokenize`` without truncation.

Text tower (:class:`ClipText`): token embedding + positional embedding, causal pre-LN transformer
(QuickGELU), ``ln_final``, the row at the end-of-text token (the largest id), times ``text_projection``.
"""

from __future__ import annotations

import gzip
import html
import math
import os
import re
import unicodedata
from functools import lru_cache

import torch
from torch import nn

from .backbones import ClipTransformer, ClipVisual, clip_visual_from_state_dict

SOT, EOT = "<|startoftext|>", "<|endoftext|>"
N_MERGES = 49152 - 256 - 2  # merges OpenAI's tokenizer uses from its file (the file holds more)
CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


@lru_cache
def byte_symbols() -> list[tuple[int, str]]:
    """Byte value -> printable character, in vocabulary order (GPT-2's reversible byte mapping).

    Printable bytes (``!``..``~``, ``¡``..``¬``, ``®``..``ÿ``) map to themselves and come first; the other 68
    bytes map to code points 256, 257, ... in byte order and follow. Returns the 256 characters in vocabulary
    order, as (byte, char) pairs.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    order = list(printable)
    chars = [chr(b) for b in printable]
    extra = 0
    for b in range(256):
        if b not in printable:
            order.append(b)
            chars.append(chr(256 + extra))
            extra += 1
    return list(zip(order, chars, strict=True))


@lru_cache
def byte_encoder() -> dict[int, str]:
    return dict(byte_symbols())


def _clean(text: str) -> str:
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:  # ftfy's defaults on ASCII text are the identity; cover the common non-ASCII cases
        text = unicodedata.normalize("NFC", text)
        text = text.translate({0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"'})
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip().lower()


def _category(ch: str) -> str:
    return unicodedata.category(ch)[0]


def pre_tokenize(text: str) -> list[str]:
    """Split cleaned text into CLIP's pieces (leftmost alternative first at each position, spaces skipped)."""
    pieces, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        special = next((s for s in (SOT, EOT) if text.startswith(s, i)), None)
        if special is not None:
            pieces.append(special)
            i += len(special)
            continue
        contraction = next((c for c in CONTRACTIONS if text.startswith(c, i)), None)
        if contraction is not None:
            pieces.append(contraction)
            i += len(contraction)
            continue
        cat = _category(ch)
        if cat == "L":
            j = i + 1
            while j < n and _category(text[j]) == "L":
                j += 1
        elif cat == "N":
            j = i + 1
        elif ch.isspace():
            i += 1
            continue
        else:
            j = i + 1
            while j < n and not text[j].isspace() and _category(text[j]) not in ("L", "N"):
                j += 1
        pieces.append(text[i:j])
        i = j
    return pieces


class BpeTokenizer:
    """CLIP's byte-level BPE tokenizer over a merges file (module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
        # Lines 2 .. N_MERGES + 1, as OpenAI reads them: a blank line (a short file's final newline) is kept as an
        # empty merge, which adds the vocabulary entry "" (shifting the start/end ids) and never applies.
        merges = [tuple(line.split()) for line in lines[1 : N_MERGES + 1]]
        if any(len(m) not in (0, 2) for m in merges):
            raise ValueError(f"{path} is not a BPE merges file (a line does not hold exactly two symbols)")
        symbols = [c for _, c in byte_symbols()]
        vocab = [*symbols, *(c + "</w>" for c in symbols), *("".join(m) for m in merges), SOT, EOT]
        self.encoder = {tok: i for i, tok in enumerate(vocab)}
        self.ranks = {m: r for r, m in enumerate(merges)}
        self.sot, self.eot = self.encoder[SOT], self.encoder[EOT]
        self._cache: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self.encoder)

    def bpe(self, piece: str) -> list[str]:
        """Symbols of one pre-tokenised piece (already mapped to byte symbols) after all merges."""
        if piece in self._cache:
            return self._cache[piece]
        word = [*piece[:-1], piece[-1] + "</w>"]
        while len(word) > 1:
            ranked = [(self.ranks.get(p, math.inf), p) for p in zip(word, word[1:], strict=False)]
            best_rank, best = min(ranked, key=lambda t: t[0])
            if best_rank == math.inf:
                break
            merged, i = [], 0
            while i < len(word):  # merge every non-overlapping occurrence, left to right
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self._cache[piece] = word
        return word

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without the start/end tokens."""
        enc = byte_encoder()
        ids: list[int] = []
        for piece in pre_tokenize(_clean(text)):
            if piece in (SOT, EOT):
                ids.append(self.encoder[piece])
                continue
            ids.extend(self.encoder[s] for s in self.bpe("".join(enc[b] for b in piece.encode("utf-8"))))
        return ids

    def tokenize(self, text: str, context_length: int = 77) -> torch.Tensor:
        """(1, context_length) int64 ids: start, tokens, end, zeros. Raises ValueError if the text is too long."""
        ids = [self.sot, *self.encode(text), self.eot]
        if len(ids) > context_length:
            raise ValueError(f"text of {len(ids)} tokens is longer than CLIP's context of {context_length}: {text!r}")
        out = torch.zeros(1, context_length, dtype=torch.long)
        out[0, : len(ids)] = torch.tensor(ids)
        return out


class ClipText(nn.Module):
    """OpenAI CLIP's text tower (``encode_text``): (B, context) ids -> (B, embed) unnormalised embeddings."""

    def __init__(self, vocab: int, context: int, width: int, depth: int, embed: int) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.zeros(context, width))
        self.transformer = ClipTransformer(width, depth, max(1, width // 64), causal=True)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.zeros(width, embed))

    @property
    def context_length(self) -> int:
        return self.positional_embedding.shape[0]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(ids) + self.positional_embedding
        x = self.ln_final(self.transformer(x))
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection


TEXT_KEYS = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.", "text_projection")


def clip_text_from_state_dict(sd: dict[str, torch.Tensor]) -> ClipText:
    """Build a :class:`ClipText` from the top-level text keys of a full CLIP state dict, loaded strictly."""
    text = {k: v for k, v in sd.items() if k.startswith(TEXT_KEYS)}
    vocab, width = sd["token_embedding.weight"].shape
    depth = len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")})
    with torch.device("meta"):
        model = ClipText(vocab, sd["positional_embedding"].shape[0], width, depth, sd["text_projection"].shape[1])
    model.load_state_dict(text, strict=True, assign=True)
    return model.eval()



def check_vocabulary(tokenizer: BpeTokenizer, text: ClipText) -> None:
    """Raise a RuntimeError naming both sizes when the vocabulary file has more tokens than the text tower embeds
    (a vocabulary that does not belong to the checkpoint)."""
    if len(tokenizer) > text.token_embedding.num_embeddings:
        raise RuntimeError(
            f"the vocabulary file has {len(tokenizer)} tokens but the checkpoint's text tower only "
            f"{text.token_embedding.num_embeddings}"
        )

class ClipStyle(nn.Module):
    """CLIP ViT-B/32 for appearance_style: the image tower as ``forward``, the text tower and tokenizer beside.

    ``forward`` maps CLIP-normalised (B, 3, 224, 224) images to image embeddings (so a
    :class:`~analysis.metrics.batching.FrameRunner` runs it frame by frame); :meth:`text_features` encodes one
    text. ``logit_scale`` is CLIP's learned temperature (log), read from the checkpoint.
    """

    def __init__(self, visual: ClipVisual, text: ClipText, logit_scale: torch.Tensor, tokenizer: BpeTokenizer) -> None:
        super().__init__()
        self.visual = visual
        self.text = text
        self.logit_scale = nn.Parameter(logit_scale.reshape(()).clone(), requires_grad=False)
        self.tokenizer = tokenizer
        check_vocabulary(tokenizer, text)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)

    def text_features(self, text: str) -> torch.Tensor:
        """(embed,) float32 unnormalised text embedding of ``text`` (one pass, batch of one)."""
        ids = self.tokenizer.tokenize(text, self.text.context_length).to(self.logit_scale.device)
        with torch.inference_mode():
            return self.text(ids)[0].float().cpu()

    def scale(self) -> float:
        """CLIP's logit scale, exp(logit_scale), as the float32 value CLIP multiplies by."""
        return float(self.logit_scale.detach().float().exp().cpu())


def clip_style_from_state_dict(sd: dict[str, torch.Tensor], vocabulary: str | os.PathLike[str]) -> ClipStyle:
    """Image and text towers of one CLIP state dict plus the tokenizer of ``vocabulary`` (merges file).

    Raises RuntimeError (naming the file) for an unreadable vocabulary or one larger than the text tower's.
    """
    try:
        tokenizer = BpeTokenizer(vocabulary)
    except (OSError, ValueError, UnicodeDecodeError, EOFError) as e:
        raise RuntimeError(f"cannot read CLIP's vocabulary {vocabulary}: {type(e).__name__}: {e}") from None
    return ClipStyle(
        clip_visual_from_state_dict(sd), clip_text_from_state_dict(sd), sd["logit_scale"], tokenizer
    ).eval()


def style_text(prompt: str) -> str:
    """The text appearance_style compares frames with: VBench's style phrase when the prompt ends with one.

    VBench's appearance_style prompts are ``"<scene>, <style>"`` (or ``"<scene> <style>"`` for the Hokusai
    style) and VBench compares frames with the style phrase alone (its ``auxiliary_info``); every one of its
    90 prompts ends with one of the nine phrases below. Any other prompt is used whole.
    """
    for style in sorted(VBENCH_STYLES, key=len, reverse=True):
        if prompt.endswith(style) and len(prompt) > len(style):
            return style
    return prompt


VBENCH_STYLES = (
    "Van Gogh style",
    "oil painting",
    "by Hokusai, in the style of Ukiyo",
    "black and white",
    "pixel art",
    "in cyberpunk style",
    "animated style",
    "watercolor painting",
    "surrealism style",
)

