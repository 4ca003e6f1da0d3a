"""Destination zones: a called number's canonical form and its longest-prefix zone.

Calling `engine.numbers.normalise_msisdn` (phonenumbers) costs tens of microseconds, far too much
per CDR, and it refuses short codes that rating must still price. So the rating path uses
`NumberCanonicaliser`, which applies the same rewriting rules as `normalise_msisdn` without the
validity check: "00..." and long digit strings without a plus become international, a national
number ("07700 900123") gets the default region's country code, and anything else (999, 112, 767,
118118) is kept as the digits given. Zones then match on that text by longest prefix, so a zone
lists E.164 prefixes ("+447") and short-code prefixes ("999") side by side.
"""

from __future__ import annotations

from typing import Iterable

import phonenumbers

_SEPARATORS = str.maketrans("", "", " -().")
# A national number needs a few digits after its trunk prefix; "0" or "01" alone are short codes.
_MIN_NATIONAL_LENGTH = 7
_CACHE_LIMIT = 200_000


class NumberCanonicaliser:
    """Callable: host-network number text -> canonical text for zone matching."""

    def __init__(self, default_region: str):
        self.country_code = str(phonenumbers.country_code_for_region(default_region))
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(default_region)
        self.national_prefix = (metadata.national_prefix if metadata else None) or ""
        self._national = self.national_prefix
        self._national_length = len(self.national_prefix)
        self._plus_country = "+" + self.country_code

    def __call__(self, text: str) -> str:
        # The shapes host networks actually send, without allocating more than the result.
        if text.isdigit():
            if text.startswith("00"):
                return "+" + text[2:]
            if self._national and text.startswith(self._national) and len(text) >= _MIN_NATIONAL_LENGTH:
                return self._plus_country + text[self._national_length :]
            return "+" + text if len(text) > 10 else text
        if text[:1] == "+" and text[1:].isdigit():
            return text
        return self.canonical(text)

    def canonical(self, text: str) -> str:
        cleaned = text.strip().translate(_SEPARATORS)
        if cleaned.startswith("+") or not cleaned.isdigit():
            return cleaned
        if cleaned.startswith("00"):
            return "+" + cleaned[2:]
        prefix = self.national_prefix
        if prefix and cleaned.startswith(prefix) and len(cleaned) >= _MIN_NATIONAL_LENGTH:
            return "+" + self.country_code + cleaned[len(prefix) :]
        if len(cleaned) > 10:
            # Host networks often send international numbers without the plus (TON=1).
            return "+" + cleaned
        return cleaned


class CachedCanonicaliser(NumberCanonicaliser):
    """For subscriber numbers: few distinct values, each seen thousands of times a file."""

    def __init__(self, default_region: str):
        super().__init__(default_region)
        self.cache: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        cached = self.cache.get(text)
        if cached is None:
            cached = NumberCanonicaliser.__call__(self, text)
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()  # bounded, whatever a file holds
            self.cache[text] = cached
        return cached


class PrefixTable:
    """Longest-prefix match of canonical numbers to zone values.

    A dict per prefix plus the distinct prefix lengths, longest first: a lookup is at most one
    slice and one dict probe per distinct length (typically 3-8), with no per-call allocation
    beyond the slices.
    """

    def __init__(self, prefixes: Iterable[tuple[str, object]], stem_length: int = 7):
        self._by_prefix: dict[str, object] = {}
        for prefix, value in prefixes:
            if prefix in self._by_prefix:
                raise ValueError(f"prefix {prefix!r} is listed twice (expected each prefix in one zone)")
            self._by_prefix[prefix] = value
        self._lengths = tuple(sorted({len(p) for p in self._by_prefix}, reverse=True))
        # Answers are cached by a number's first `stem_length` characters, except for stems that
        # a longer prefix starts with (there the rest of the number matters). `by_stem` maps a stem
        # to its zone, or "" for no zone; a hot loop may probe it before calling `match`, and must
        # call `match` when the stem is not there (the dict may be emptied at any call).
        self.stem_length = stem_length
        self._ambiguous = frozenset(p[:stem_length] for p in self._by_prefix if len(p) > stem_length)
        self.by_stem: dict[str, object] = {}

    def match(self, number: str):
        """The value of the longest prefix of `number`, or None."""
        stem = number[: self.stem_length]
        found = self.by_stem.get(stem)
        if found is not None:
            return found or None
        found = self.match_uncached(number)
        if stem not in self._ambiguous:
            if len(self.by_stem) >= _CACHE_LIMIT:
                self.by_stem.clear()
            self.by_stem[stem] = found or ""  # "" caches "no zone" too
        return found

    def match_uncached(self, number: str):
        by_prefix = self._by_prefix
        size = len(number)
        for length in self._lengths:
            if length <= size:
                value = by_prefix.get(number[:length])
                if value is not None:
                    return value
        return None

    def __len__(self) -> int:
        return len(self._by_prefix)
