"""User files the hub reads to describe a repo: model card, config.json, safetensors header.

All of them are written by whoever can push, and shown to everyone, so each is read within bounds
and a malformed one reads as `UNREADABLE` (pages say so), never as an error of the page:

- card metadata (the YAML block): at most `MAX_METADATA_BYTES`, `MAX_YAML_ALIASES` aliases and
  `MAX_YAML_VALUES` values once aliases are expanded (a 354-byte "billion laughs" card would
  otherwise expand to 42 MB of JSON in every listing), nesting at most `MAX_DEPTH` deep;
- card body: Markdown rendered with raw HTML off, then sanitised by nh3 (the Ammonia HTML sanitiser)
  against an allow-list of tags, attributes and URL schemes, so no spelling of `javascript:`
  (entities, tabs, reference links) survives as a link;
- config.json and the safetensors header: JSON at most `MAX_DEPTH` deep, of the expected shape.

Blobs are content-addressed and never change: server.info remembers each result per blob in the
hub's bounded cache (server.cache).
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

import markdown
import nh3
import yaml

UNREADABLE = "unreadable"  # a file that is present but malformed, oversized or hostile
MAX_METADATA_BYTES = 64 * 1024
MAX_YAML_ALIASES = 100
MAX_YAML_VALUES = 10_000
MAX_DEPTH = 64
MAX_SAFETENSORS_HEADER = 16 * 1024**2
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it

_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3",
         "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup",
         "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
               "td": {"align"}, "th": {"align"}, "code": {"class"}, "ol": {"start"}}
_URL_SCHEMES = {"http", "https", "mailto"}


class UnreadableCard(ValueError):
    """Card metadata that is not a YAML mapping within the bounds above; the message says which."""


def split_card(text: str) -> tuple[dict[str, Any], str]:
    """Split `---\nyaml\n---\nbody`; unparsable or unbounded metadata counts as none (the body still renders)."""
    try:
        return card_metadata(text)
    except UnreadableCard:
        return {}, _parts(text)[1]


def card_metadata(text: str) -> tuple[dict[str, Any], str]:
    """(metadata, body) of a card; UnreadableCard when its YAML block is malformed or over the bounds."""
    header, body = _parts(text)
    if header is None:
        return {}, body
    if len(header.encode()) > MAX_METADATA_BYTES:
        raise UnreadableCard(f"the metadata block is over {MAX_METADATA_BYTES} bytes")
    try:
        _check_events(header)
        metadata = yaml.load(header, Loader=_YAML_LOADER)
    except (yaml.YAMLError, RecursionError) as error:
        raise UnreadableCard(f"the metadata block is not valid YAML ({type(error).__name__})") from None
    if metadata is None:
        return {}, body
    if not isinstance(metadata, dict):
        raise UnreadableCard("the metadata block is not a YAML mapping")
    check_bounded(metadata, MAX_YAML_VALUES)
    return _json_safe(metadata), body


def _json_safe(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata as JSON can carry it: YAML dates, binary and sets become strings, .nan/.inf null
    (model info answers would otherwise fail to serialise: a 500)."""
    try:
        return json.loads(json.dumps(metadata, default=str), parse_constant=lambda constant: None)
    except (TypeError, ValueError):  # e.g. a mapping used as a key ("? {a: 1}")
        raise UnreadableCard("the metadata has keys JSON cannot hold") from None


def _parts(text: str) -> tuple[str | None, str]:
    """(YAML block or None when the card has none, Markdown body)."""
    if not text.startswith("---"):
        return None, text
    header, separator, rest = text.partition("\n")[2].partition("\n---")
    return (header, rest.partition("\n")[2]) if separator else (None, text)


def _check_events(header: str) -> None:
    """Count aliases and nesting from the parser's events, before anything is built."""
    aliases = depth = 0
    for event in yaml.parse(header, Loader=_YAML_LOADER):
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise UnreadableCard(f"the metadata uses more than {MAX_YAML_ALIASES} YAML aliases")
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise UnreadableCard(f"the metadata is nested more than {MAX_DEPTH} deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def check_bounded(data: Any, max_values: int) -> None:
    """Raise UnreadableCard if `data`, with shared (aliased) parts counted each time they appear, holds
    more than `max_values` values or nests deeper than MAX_DEPTH: what serialising it would produce."""
    stack, seen = [(data, 1)], 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > max_values:
            raise UnreadableCard(f"the metadata expands to more than {max_values} values")
        if depth > MAX_DEPTH:
            raise UnreadableCard(f"the data is nested more than {MAX_DEPTH} deep")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, (list, tuple, set)):
            stack.extend((item, depth + 1) for item in value)


def read_card(handle: BinaryIO) -> tuple[dict[str, Any], str]:
    """(metadata, body) of a README.md blob, read from the open file `handle`."""
    return split_card(handle.read().decode("utf-8", errors="replace"))


def render_markdown(text: str) -> str:
    """Markdown to HTML that can be put in a page as is: raw HTML is shown as text, and the result goes
    through nh3's allow-list (tags, attributes, http/https/mailto/relative URLs only)."""
    md = markdown.Markdown(extensions=["tables", "fenced_code", "sane_lists"])
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return nh3.clean(md.convert(text), tags=_TAGS, attributes=_ATTRIBUTES, url_schemes=_URL_SCHEMES,
                     link_rel="nofollow noopener noreferrer")


def read_config(handle: BinaryIO) -> dict[str, Any] | str:
    """A config.json blob (the open file `handle`) as a dict, or UNREADABLE."""
    try:
        # NaN / Infinity become null: model info answers are strict JSON.
        data = json.loads(handle.read().decode("utf-8", errors="replace"), parse_constant=lambda c: None)
        if not isinstance(data, dict):
            return UNREADABLE
        check_bounded(data, MAX_YAML_VALUES)
    except (ValueError, RecursionError):  # UnreadableCard is a ValueError too
        return UNREADABLE
    return data


def safetensors_summary(handle: BinaryIO) -> tuple[int, list[str]] | str:
    """(number of parameters, dtypes) from a safetensors header (the open file `handle`) without reading
    tensors, or UNREADABLE."""
    try:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > MAX_SAFETENSORS_HEADER:
            return UNREADABLE
        header = json.loads(handle.read(length))
        total, dtypes = 0, set()
        for name, tensor in header.items():
            if name == "__metadata__":
                continue
            shape, dtype = tensor["shape"], tensor["dtype"]
            if not isinstance(dtype, str) or not all(isinstance(dim, int) and dim >= 0 for dim in shape):
                return UNREADABLE
            count = 1
            for dim in shape:
                count *= dim
            total += count
            dtypes.add(dtype)
    except (OSError, ValueError, struct.error, RecursionError, AttributeError, TypeError, KeyError):
        return UNREADABLE  # not JSON, not a {name: {"shape", "dtype"}} mapping, or cut short
    return total, sorted(dtypes)
