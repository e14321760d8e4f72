"""Readable generated run names such as ``brisk-otter-17``."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "amber", "bold", "brisk", "calm", "clever", "crisp", "daring", "eager", "fancy", "gentle", "glad",
    "golden", "happy", "honest", "jolly", "keen", "kind", "lively", "lucky", "mellow", "merry", "mighty",
    "nimble", "noble", "polite", "proud", "quick", "quiet", "rapid", "rosy", "shiny", "silent", "smart",
    "snowy", "steady", "sunny", "swift", "tidy", "vivid", "warm", "wise", "witty", "zesty",
)
_NOUNS = (
    "badger", "bear", "bison", "crane", "deer", "dolphin", "eagle", "falcon", "ferret", "finch", "fox",
    "gecko", "heron", "ibis", "koala", "lark", "lemur", "lynx", "marten", "mole", "moose", "newt", "otter",
    "owl", "panda", "puffin", "quail", "raven", "robin", "seal", "shrew", "sloth", "stork", "swan", "tapir",
    "tiger", "toad", "trout", "viper", "walrus", "wolf", "wren", "yak", "zebra",
)


def generate_run_name() -> str:
    """A short, readable, probably-unique run name: adjective-noun-number."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(1, 99)}"
