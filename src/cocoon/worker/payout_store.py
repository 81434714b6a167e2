"""The worker's latest signed payout per proxy contract, on disk (``<data_dir>/payouts.json``).

One JSON object keyed by proxy contract (raw): ``{"tokens": n, "boc": hex, "last": bool}``; ``last``
marks the proxy's final signed payout (``ext_worker_last_payout_request_signed``). Written through a
temporary file and an atomic rename, so a crash leaves the previous file or the new one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from cocoon.payments.counterpart import ChannelView
from cocoon.payments.params import Tokens


def load_saved(path: Path | None, channel: ChannelView) -> None:
    """Fill ``channel``'s signed payout from the file, if it holds one for its proxy contract."""
    if path is None or not path.exists():
        return
    saved = json.loads(path.read_text()).get(channel.proxy_contract.raw)
    if saved:
        channel.signed, channel.signed_tokens = bytes.fromhex(saved["boc"]), Tokens(int(saved["tokens"]))
        channel.signed_final = bool(saved.get("last", False))


def save(path: Path | None, channels: Iterable[ChannelView]) -> None:
    """Write the signed payout of every channel that holds one (nothing without a ``path``)."""
    if path is None:
        return
    doc = {
        ch.proxy_contract.raw: {"tokens": ch.signed_tokens, "boc": ch.signed.hex(), "last": ch.signed_final}
        for ch in channels
        if ch.signed is not None
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)
