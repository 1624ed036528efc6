# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Masking of secrets before anything reaches the deploy history.

Three rules, applied to everything the history callback writes:

* a key that looks secret (``is_secret_name`` of module_utils/redact.py: ``db_passwd``, ``passphrase``,
  ``api_token``, ``backup_key``, ``clientSecret``…) has its value replaced by ``MASK``, however deep it sits in a
  mapping or list;
* every value once seen under such a key is remembered and scrubbed from free text (task names, messages,
  output tails, cluster.yml), so ``echo {{ db_passwd }}`` does not leak it through stdout either;
* the password of every URL in free text (``mysql://app:PW@db/x``) is masked (``mask_urls``).

Values shorter than ``MIN_SCRUB_LENGTH`` are masked under their key but not scrubbed from free text: replacing
every "1" or "on" in every message would destroy the log and protect nothing.
"""

from __future__ import annotations

import re
import typing as t

from ansible_collections.noops.platform.plugins.module_utils.redact import MASK, is_secret_name, mask_urls

MIN_SCRUB_LENGTH = 4

# One rule for what is secret and how URL passwords are hidden, shared with every other output path.
is_secret_key = is_secret_name


class Masker:
    """Masks secret-looking keys and scrubs the secret values it has seen from text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __len__(self) -> int:
        return len(self._values)

    def add_secret(self, value: object) -> None:
        """Remember a secret value (strings and numbers; containers are walked)."""
        if isinstance(value, t.Mapping):
            for v in value.values():
                self.add_secret(v)
        elif isinstance(value, (list, tuple, set)):
            for v in value:
                self.add_secret(v)
        elif value is not None and not isinstance(value, bool):
            text = str(value)
            if len(text) >= MIN_SCRUB_LENGTH and text not in self._values and text != MASK:
                self._values.add(text)
                self._pattern = None

    def learn(self, data: object) -> None:
        """Remember the values of every secret-looking key inside ``data``."""
        if isinstance(data, t.Mapping):
            for k, v in data.items():
                if is_secret_key(k):
                    self.add_secret(v)
                else:
                    self.learn(v)
        elif isinstance(data, (list, tuple)):
            for v in data:
                self.learn(v)

    def scrub(self, text: str | None) -> str | None:
        """Replace every known secret value and every URL password inside ``text``."""
        if not text:
            return text
        text = mask_urls(text)
        if not self._values:
            return text
        if self._pattern is None:
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return self._pattern.sub(MASK, text)

    def mask(self, data: t.Any) -> t.Any:
        """A copy of ``data`` with secret keys masked and known secrets scrubbed from strings."""
        if isinstance(data, t.Mapping):
            out = {}
            for k, v in data.items():
                if is_secret_key(k):
                    self.add_secret(v)
                    out[str(k)] = MASK if v not in (None, "") else v
                else:
                    out[str(k)] = self.mask(v)
            return out
        if isinstance(data, (list, tuple)):
            return [self.mask(v) for v in data]
        if isinstance(data, str):
            return self.scrub(data)
        return data


_LINE_SECRET = re.compile(r"^(\s*-?\s*[\"']?)([A-Za-z_][\w.-]*)([\"']?\s*[:=]\s*)(\S.*)$")


def mask_document_text(text: str, masker: Masker) -> str:
    """Mask a YAML/INI-like document line by line, keeping its layout and comments.

    Used for cluster.yml: the stored copy stays readable as the operator wrote it, with each
    ``db_passwd: value`` line reduced to ``db_passwd: ********``. The values are learnt first so the
    same secret elsewhere in the text (a URL with a password in it) is scrubbed as well.
    """
    lines = text.splitlines(keepends=True)
    for line in lines:
        m = _LINE_SECRET.match(line.rstrip("\r\n"))
        if m and is_secret_key(m.group(2)):
            masker.add_secret(m.group(4).strip().strip("\"'"))
    out = []
    for line in lines:
        body = line.rstrip("\r\n")
        end = line[len(body):]
        m = _LINE_SECRET.match(body)
        if m and is_secret_key(m.group(2)):
            body = m.group(1) + m.group(2) + m.group(3) + MASK
        else:
            body = masker.scrub(body) or body
        out.append(body + end)
    return "".join(out)
