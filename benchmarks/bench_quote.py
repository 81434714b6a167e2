"""Quote costs: parse, offline verification, DCAP verification (first and cached).

Run: .venv/bin/python benchmarks/bench_quote.py   (vectors from $COCOON_VECTORS or ../shared/vectors)
Prints per-operation times (median of several rounds) and the ratios that matter: how much the
verdict cache saves per new connection from a known peer.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from timing import per_call

from cocoon.attestation.dcap import Collateral, DcapVerifier
from cocoon.attestation.quote import parse_quote
from cocoon.attestation.quote_verify import verify_quote_offline

ROOT = Path(__file__).resolve().parent.parent
VECTORS = Path(os.environ.get("COCOON_VECTORS") or ROOT.parent / "shared" / "vectors")
IN_WINDOW = 1750331763 + 3600  # tcbInfo.issueDate + 1 h


def main() -> int:
    try:
        raw = (VECTORS / "dcap-tdx-quote.bin").read_bytes()
        collateral_json = (VECTORS / "dcap-tdx-quote-collateral.json").read_text()
    except OSError as exc:
        print(f"vectors missing ({exc}); set COCOON_VECTORS", file=sys.stderr)
        return 1
    quote = parse_quote(raw)
    collateral = Collateral.from_json(collateral_json)

    t_parse = per_call(lambda: parse_quote(raw), 2000)
    t_offline = per_call(lambda: verify_quote_offline(quote, IN_WINDOW), 50)
    t_first = per_call(lambda: DcapVerifier().verify(raw, collateral, IN_WINDOW), 20)
    cached = DcapVerifier()
    cached.verify(raw, collateral, IN_WINDOW)
    t_cached = per_call(lambda: cached.verify(raw, collateral, IN_WINDOW), 5000)
    t_collateral = per_call(lambda: Collateral.from_json(collateral_json), 50)

    print(f"quote: {len(raw)} bytes, collateral JSON: {len(collateral_json)} bytes")
    print(f"parse_quote                     {t_parse * 1e6:9.1f} us")
    print(f"offline verify (sigs + chain)   {t_offline * 1e3:9.3f} ms")
    print(f"DCAP verify, first (incl. offline) {t_first * 1e3:6.3f} ms")
    print(f"DCAP verify, cached             {t_cached * 1e6:9.1f} us")
    print(f"Collateral.from_json            {t_collateral * 1e3:9.3f} ms")
    print(f"ratio first/cached              {t_first / t_cached:9.0f}x")
    print(f"DCAP share spent offline        {t_offline / t_first:9.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
