"""The proxy: accepts workers and clients, routes requests, meters answers, keeps the ledger, settles.

Where things happen:

- composition: :mod:`.build` (``build_proxy``: ledger, chain side, worker admission, identity,
  listeners, stats server; what ``cocoon proxy run`` and the tests call);
- the process: :mod:`.service` (``ProxyService``: both attested listeners, client control queries,
  ``/jsonstats``);
- who may serve: :mod:`.admission` (**a worker's attestation is checked** against the config's or the
  root's allowlists: image, MRTD, RTMRs, model);
- connected workers: :mod:`.workers` (``WorkerPool``: offers, in-flight counts, what was measured),
  what is learned of each from its answers in :mod:`.estimates` (decayed time to first token, time per
  output token and success; optimistic for new and long-idle workers);
- **a worker is chosen** in :mod:`.selection` (pure ``choose_worker``: model, price ceiling, capacity,
  the best of a few drawn at random, price breaking ties);
- one request: :mod:`.routing` (``Router``: reserve, queue, choose, relay, retry before the first
  chunk, cancel, **meter** the answer and record its cost), with its parts in :mod:`.answer_writer`,
  :mod:`.held_answer`, :mod:`.slot_wait`, :mod:`.e2e_routing`, :mod:`.no_worker` and
  :mod:`.try_measure`;
- money off chain: :mod:`.accounts` (reservations and ``RequestCost``, never above the reservation),
  :mod:`.ledger` (SQLite WAL: one transaction per finished request);
- money on chain: :mod:`.settlement` (its own module map: channels, commits, **payments signed**,
  charges and payouts sent, payment updates pushed);
- a root params change: :mod:`.redeploy` (**a contract under the new params is deployed** and served
  on while the old one closes).
"""
