# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What counts as a secret, and how a secret is hidden: the one rule every output path uses.

Task results, error lines, ``-v`` output, the deploy history, the CLI's tables and rendered config files all
decide with ``is_secret_name`` and hide secrets in text with ``mask_text``, so a value hidden in one place is
hidden in every other.

Secret names. A name is cut into lower-case segments at every character that is not a letter or digit
(``_``, ``-``, ``.``, ...) and where camelCase starts a new word (``dbPassword`` -> ``db``, ``password``;
``APIKey`` -> ``api``, ``key``). Trailing segments that only qualify what comes before them are dropped: a version
or number (``v2``, ``1``), an encoding (``pem``, ``der``, ``b64``, ``base64``, ``hex``) or ``old``, ``new``,
``prev``, ``current`` (``x_api_key_v2``, ``private_key_pem``); then digits at the end of a segment (``key2``).
The name is not secret when its last segment measures or rules a secret: ``length``, ``len``, ``count``, ``age``,
``policy``, ``strength``, ``complexity``, ``min``, ``max``, ``attempts``, ``retries`` (``password_min_length``,
``max_password_age``, ``keys_count``). Otherwise it is secret when

* a segment contains ``password``, ``passwd``, ``passphrase``, ``passcode``, ``passkey``, ``secret`` or
  ``credential`` anywhere, or two adjacent segments spell one of them (``Pass``+``Word``, ``pass``+``phrase``):
  ``PGPASSWORD``, ``dbpasswd``, ``dbPassWord``, ``PASS-WORD``, ``pass_phrase``, ``client_secret``;
* its last segment names a secret itself: ``key``, ``keys``, ``token``, ``tokens``, ``pass``, ``pw``, ``pwd``,
  ``auth``, ``authorization`` and the run-together ``apikey``, ``privkey``, ``privatekey``, ``accesskey``,
  ``secretkey``, ``sshkey``, ``authkey``, ``signingkey``, ``masterkey``, ``encryptionkey``, or it ends in ``token``
  (``apitoken``, ``authtoken``): ``api_key``, ``backup_key``, ``private-key``, ``GITHUB_TOKEN``, ``db_pass``,
  ``db_pw``, ``basic_auth``, ``ssh_keys`` - unless the segment before it is a count word (``max``, ``min``,
  ``num``, ``number``, ``count``, ``total``, ``n``): ``max_tokens`` and ``num_keys`` are numbers.

So a word that only contains one of those letters is not secret: ``keyboard_layout``, ``monkey``, ``key_name``,
``api_key_id``, ``author``, ``tokenizer_model``, ``passage``, ``bypass``, ``compass_word``. Any other word after the
secret one keeps the name secret, on the safe side: ``password_file``, ``db_password_hash``.

URLs. ``mask_text`` (also known as ``mask_urls``) replaces the password of every ``scheme://user:password@host``
inside a text with ``MASK``, keeping the user and the host: ``mysql://app:********@db/x``. The userinfo is everything
between ``://`` and the last ``@`` before the next blank or quote, so a password holding ``/``, ``?``, ``#`` or ``@``
is masked whole (one holding blanks: up to the first ``@`` on its line); the password is what follows the first
``:``. A user without a password is left as it is.

Free text. ``mask_text`` also hides the value written after a secret name: ``password=PW`` (keyword DSNs, query
strings, environment lists), ``"password": "PW"`` (JSON), ``--token PW``, ``Authorization: Bearer PW``, and in prose
(``password PW``) a value that does not read as a word, so ``password authentication failed`` stays as it is. Only the
value is replaced; see ``mask_text``.

Known values. ``Masker`` remembers the values seen under secret names and scrubs them (and URL passwords) from any
later text; the deploy history and Frigga's log tails use it.

Pure Python, no imports beyond the standard library: modules on hosts use it too.
"""

from __future__ import annotations

import re
import typing as t

MASK = "********"

# A segment, or two adjacent segments run together ("pass"+"word", "pass"+"phrase"), containing one of these is a
# secret wherever it stands ("pgpassword", "clientsecret", "dbPassWord").
SECRET_PARTS: tuple[str, ...] = ("password", "passwd", "passphrase", "passcode", "passkey", "secret", "credential")
# A last segment equal to one of these names a secret ("api_key", "basic_auth", "db_pw"), or ending in "token".
SECRET_NOUNS: frozenset[str] = frozenset((
    "key", "keys", "token", "tokens", "pass", "pw", "pwd", "auth", "authorization",
    "apikey", "privkey", "privatekey", "accesskey", "secretkey", "sshkey", "authkey", "signingkey", "masterkey",
    "encryptionkey",
))
SECRET_SUFFIX = "token"
# ... unless the segment before it makes the name a count ("max_tokens", "num_keys").
COUNT_WORDS: frozenset[str] = frozenset(("max", "min", "num", "number", "count", "total", "n"))
# A name whose last segment is one of these is a number or a rule about a secret, not the secret
# ("password_min_length", "max_password_age", "password_policy", "keys_count").
MEASURE_WORDS: frozenset[str] = frozenset((
    "length", "len", "count", "age", "policy", "strength", "complexity", "min", "max", "attempts", "retries",
))
# Trailing segments that only qualify the secret before them: a version or number ("api_key_v2", "api_key_1"),
# an encoding ("private_key_pem", "token_b64"), old/new ("db_password_old").
QUALIFIERS: frozenset[str] = frozenset(("pem", "der", "b64", "base64", "hex", "old", "new", "prev", "current"))

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[^a-z0-9]+")
_VERSION = re.compile(r"v?[0-9]+")
# The same few hundred variable names come back with every result: decide each once.
_CACHE: dict[str, bool] = {}


def name_segments(name: str) -> list[str]:
    """The lower-case segments of a name as the secret rule sees them.

    Trailing qualifier segments (a version ``v2``, a number, ``pem``...) are dropped, then digits at the end of a
    segment (``key2`` -> ``key``).
    """
    words = [w for w in _SPLIT.split(_CAMEL.sub("_", name).lower()) if w]
    while len(words) > 1 and (_VERSION.fullmatch(words[-1]) or words[-1] in QUALIFIERS):
        words.pop()
    return [w for w in (w.rstrip("0123456789") for w in words) if w]


def _decide(name: str) -> bool:
    segments = name_segments(name)
    if not segments:
        return False
    last = segments[-1]
    if last in MEASURE_WORDS:
        return False
    if any(part in segment for segment in segments for part in SECRET_PARTS):
        return True
    # A secret word written in two segments: "pass"+"word", "Pass"+"Phrase" (not "compass"+"word").
    if any(part.startswith(a) and (a + b).startswith(part)
           for a, b in zip(segments, segments[1:]) for part in SECRET_PARTS):
        return True
    if not (last in SECRET_NOUNS or last.endswith(SECRET_SUFFIX)):
        return False
    return len(segments) < 2 or segments[-2] not in COUNT_WORDS


def is_secret_name(name: object) -> bool:
    """Whether a variable, field or config key name holds a secret (rule in the module docstring).

    :param name: any object; only a non-empty ``str`` can be secret.
    :returns: True for a secret name.
    """
    if not isinstance(name, str) or not name:
        return False
    known = _CACHE.get(name)
    if known is None:
        if len(_CACHE) > 20000:  # generated names (per-host keys) must not grow it for ever
            _CACHE.clear()
        known = _CACHE[name] = _decide(name)
    return known


# scheme://  then the userinfo: everything up to the LAST "@" before the next blank, quote or bracket. RFC 3986
# forbids a raw "/", "?", "#" or "@" in it, but users write them in passwords and git and curl accept them.
# Failing that, "user:" and a password holding blanks up to the first "@" on the line ("https://u:a b@h").
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)"
                           r"(?P<userinfo>[^\s\"'<>]*|[^\s\"'<>/:@]+:[^\"'<>\r\n@]*?)@")
# A secret name and its value inside free text (log lines, messages, commands), tried at every word start (a
# lookahead, so "environment=DB_PASSWORD=x" is seen at both names): the name, bare or quoted ("password",
# "'API_KEY'", "--db-password"), then "=", "=>", ":" or blanks, then the value: a quoted text, or what runs to the
# next blank, quote, ",", ";", "&" or "|" (separators of environment lists and query strings).
_PAIR = re.compile(r"(?<![\w.\-])(?=(?P<q>[\"']?)(?P<name>-{0,2}[A-Za-z_][\w.\-]*)(?P=q)"
                   r"(?P<sep>[ \t]*=>?[ \t]*|[ \t]*:[ \t]*|[ \t]+)"
                   r"(?P<value>'(?:[^'\\\n]|\\.)*'?|\"(?:[^\"\\\n]|\\.)*\"?|[^\s'\",;&|]+))")
# "Authorization: Bearer X": the credential follows a scheme word.
_AUTH_SCHEMES = frozenset(("bearer", "basic", "digest", "token", "negotiate", "ntlm", "apikey"))
_CREDENTIAL = re.compile(r"[ \t]+(?P<value>[^\s'\",;]+)")
# A word of prose: what follows "password" or "token" in "password reset failed" is no secret.
_PLAIN_WORD = re.compile(r"(?:[A-Z]?[a-z]+|[A-Z]+)(?:[-'][a-z]+)*")
# Written after a value in prose ("password X: ...", "token X."): not part of the value.
_TRAILING = ".,;:)]}>"
# Values that hold no secret: YAML's and Python's none and booleans, a YAML alias ("db_password: *pw").
_NO_VALUES = frozenset(("null", "~", "none", "nil", "true", "false"))
_ALIAS = re.compile(r"\*[\w.\-]+")
# Secret words too common in prose to take the next word as their value ("the key is 42", "pass 2 of 3").
_WEAK_WORDS = frozenset(("key", "keys", "pass", "auth", "authorization"))


def _value_span(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    """Where the secret of one name/value candidate is, or None when the candidate holds none (rule in
    ``mask_text``)."""
    name = m.group("name")
    option = name.startswith("-")
    bare = name.lstrip("-")
    value = m.group("value")
    start, end = m.start("value"), m.end("value")
    quoted = value[:1] in ("'", '"')
    inner = value[1:-1] if quoted and len(value) > 1 and value[-1] == value[0] else value.strip("'\"")
    if not inner or inner == MASK or (not quoted and (value.lower() in _NO_VALUES or ":" in m.group("sep") and _ALIAS.fullmatch(value))):
        return None
    if bare.lower() == "bearer":  # "Bearer X" wherever it is written
        return (start, end) if not _PLAIN_WORD.fullmatch(value.rstrip(_TRAILING)) else None
    if not is_secret_name(bare):
        return None
    sep = m.group("sep").strip()
    if not quoted and value.lower() in _AUTH_SCHEMES:  # "Authorization: Bearer X", "token: Basic X"
        cred = _CREDENTIAL.match(text, end)
        if cred is None or cred.group("value") == MASK:
            return None
        return cred.start("value"), cred.end("value")
    if not sep and not option and name_segments(bare) in ([w] for w in _WEAK_WORDS):
        return None
    if quoted:  # keep the quotes: '"password": "********"' stays JSON
        return (start + 1, end - 1) if len(value) > 1 and value[-1] == value[0] else (start + 1, end)
    if sep.startswith("="):
        return start, end
    if option:  # "--token X"
        return None if value.startswith("-") else (start, end)
    if sep == ":" and (m.group("q") or not text[text.rfind("\n", 0, m.start()) + 1:m.start()].strip(" \t-")):
        return start, end  # '"password": x' (JSON, Python), or "password: x" beginning a line (YAML, env dumps)
    trimmed = value.rstrip(_TRAILING)
    if not trimmed or trimmed == MASK or _PLAIN_WORD.fullmatch(trimmed):
        return None
    return start, start + len(trimmed)


def _secret_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every secret value ``mask_text`` hides in ``text``, sorted and disjoint."""
    spans: list[tuple[int, int]] = []
    for m in _PAIR.finditer(text):
        if spans and m.start() < spans[-1][1]:
            continue  # a name inside a value already hidden ("password Sup3rS3cretPW: broken")
        span = _value_span(text, m)
        if span is not None and span[0] < span[1] and (not spans or span[0] >= spans[-1][1]):
            spans.append(span)
    return spans


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, password = match.group("userinfo").partition(":")
    if not colon or not password or password == MASK:
        return match.group(0)
    return "%s%s:%s@" % (match.group("scheme"), user, MASK)


def secret_values(text: str) -> list[str]:
    """The secret values ``mask_text`` would hide in ``text`` (outside URLs), unquoted: for a ``Masker`` to learn
    them from a config file and scrub them wherever else they appear.

    :param text: any text.
    :returns: the values, in order of appearance.
    """
    if not isinstance(text, str) or not text:
        return []
    return [text[a:b].strip("'\"") for a, b in _secret_spans(text)]


def mask_text(text: str) -> str:
    """``text`` with every secret written in it replaced by ``MASK``: the one rule for free text (log lines,
    messages, commands, URLs).

    * URL passwords: ``https://u:pw/x#y@host/x`` -> ``https://u:********@host/x`` (see the module docstring);
    * the value after a secret name (``is_secret_name``) and ``=`` or ``=>``: ``host=db password=PW`` ->
      ``host=db password=********``, ``?token=T&x=1`` -> ``?token=********&x=1``, ``'API_KEY' => '********'``
      (a quoted value keeps its quotes);
    * after a quoted secret name and ``:`` (JSON, Python): ``"password": "********"``; after a bare one and ``:``
      at the start of a line (YAML, environment dumps): ``password: ********``;
    * after an option: ``--db-password ********``, ``--token=********``;
    * the credential after a scheme word: ``Authorization: Bearer ********``, ``Bearer ********``;
    * in prose (``password X``, ``db_password: X``) the value only when it does not read as a word (a digit, a
      symbol, mixed case): ``password Sup3rS3cretPW: broken build`` -> ``password ********: broken build``, but
      ``password authentication failed``, ``the key is 42`` and ``db_password: must be a string`` stay.

    Only the value is replaced: quotes, a ``:`` or ``.`` written after it and the rest of the line stay. A name
    inside a value already hidden is not read again. Values already ``MASK`` stay as they are.

    :param text: any text; other values are returned unchanged.
    :returns: the masked text.
    """
    if not isinstance(text, str):
        return text
    if "://" in text and "@" in text:
        text = _URL_USERINFO.sub(_mask_userinfo, text)
    spans = _secret_spans(text)
    if not spans:
        return text
    out = []
    pos = 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append(MASK)
        pos = end
    out.append(text[pos:])
    return "".join(out)


# The older name of the text rule: every caller gets the whole rule, not only its URL part.
mask_urls = mask_text


# Values shorter than this are masked under their key but not scrubbed from free text: replacing every "1" or
# "on" in every message would destroy the log and protect nothing.
MIN_SCRUB_LENGTH = 4


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
                if is_secret_name(k):
                    self.add_secret(v)
                else:
                    self.learn(v)
        elif isinstance(data, (list, tuple)):
            for v in data:
                self.learn(v)

    def scrub(self, text: str | None) -> str | None:
        """``text`` after the text rule (``mask_text``) with every known secret value replaced by ``MASK``."""
        if not text:
            return text
        text = mask_text(text)
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
                if is_secret_name(k):
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
