"""The worker: connects out to proxies, serves their requests through an OpenAI-compatible engine.

Where things happen:

- composition: :mod:`.build` (``build_worker``: engine client, chain side, identity, proxy policy,
  stats server; what ``cocoon worker run`` and the tests call);
- the process: :mod:`.service` (``WorkerService``: one reconnecting link per proxy, the offer it
  declares, engine health probes, the stats app);
- one request: :mod:`.serve` (``RequestServer``: validate again, inject the max-tokens cap and
  ``include_usage``, relay each engine read at once, **meter usage** from the stream, sign the
  receipt, abort the engine call on Cancel), writing each answer through :mod:`.answer`
  (``PlainAnswer``) or, for an end-to-end encrypted request, :mod:`.sealed` (open the envelope,
  ``SealedAnswer``: sealed frames and a v2 receipt the blind proxy checks);
- what it attests: :mod:`.attest` (the signed statement in every certificate, with its end-to-end
  key, and ``ReceiptSigner``);
- being paid: :mod:`.payouts` (``WorkerPayouts``: worker contract per proxy, **checks each signed
  payment update**, keeps the latest signed payout on disk, cashes out at the thresholds);
- before serving: :mod:`.preflight` (does the model fit the declared GPU) and :mod:`.capabilities`
  (the engine's context length and the OpenAI endpoints it serves, declared in the offer).
"""
