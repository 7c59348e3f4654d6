"""Noisy inputs for the robustness study (section 2.3.5): character typos, dropped sentences, shuffled sentences.

Each function takes a document, a strength in [0, 1] and a ``random.Random``; strength 0 returns it unchanged."""
from __future__ import annotations

import random
import string

from .data import sentences

KINDS = ("typos", "drop_sentences", "shuffle_sentences")


def typos(text: str, strength: float, rng: random.Random) -> str:
    """Each word of 3+ letters gets, with probability ``strength``, one keyboard-style error: swap of two adjacent
    letters, deletion, insertion or substitution of a letter."""
    words = text.split(" ")
    for i, w in enumerate(words):
        if len(w) < 3 or rng.random() >= strength:
            continue
        j = rng.randrange(len(w) - 1)
        op = rng.randrange(4)
        c = rng.choice(string.ascii_lowercase)
        if op == 0:
            w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
        elif op == 1:
            w = w[:j] + w[j + 1:]
        elif op == 2:
            w = w[:j] + c + w[j:]
        else:
            w = w[:j] + (c if c != w[j] else chr((ord(c) - 96) % 26 + 97)) + w[j + 1:]
        words[i] = w
    return " ".join(words)


def drop_sentences(text: str, strength: float, rng: random.Random) -> str:
    """Each sentence is dropped with probability ``strength``; at least one sentence is kept."""
    s = sentences(text)
    keep = [x for x in s if rng.random() >= strength]
    if not keep and s:
        keep = [rng.choice(s)]
    return " ".join(keep)


def shuffle_sentences(text: str, strength: float, rng: random.Random) -> str:
    """A fraction ``strength`` of the sentence positions (at least two when > 0) is permuted among itself;
    strength 1 shuffles the whole document."""
    s = sentences(text)
    k = round(strength * len(s))
    if strength > 0:
        k = max(k, 2)
    k = min(k, len(s))
    if k < 2:
        return " ".join(s)
    pos = sorted(rng.sample(range(len(s)), k))
    moved = pos[:]
    while moved == pos:  # a real permutation: at least one sentence changes place
        rng.shuffle(moved)
    out = s[:]
    for p, q in zip(pos, moved):
        out[p] = s[q]
    return " ".join(out)


def apply(kind: str, text: str, strength: float, rng: random.Random) -> str:
    fns = {"typos": typos, "drop_sentences": drop_sentences, "shuffle_sentences": shuffle_sentences}
    if kind not in fns:
        raise ValueError(f"unknown noise {kind!r}; valid kinds: {', '.join(KINDS)}")
    return fns[kind](text, strength, rng) if strength > 0 else text
