"""The client daemon: an OpenAI-compatible HTTP API in front of attested connections to proxies.

Where things happen, one module each:

- `client.build` composes the daemon (`build_client`: chain side, identity, proxy policy, pool,
  receipts, the HTTP API; what ``cocoon client run`` and the tests call);
- `cocoon.api.validation` validates a request (the protocol layer, shared with the worker);
- `client.http_api` routes: thin aiohttp handlers (body limit, validate, write) and `make_client_app`;
- `client.fast_lane` serves the plain inference POSTs straight off the socket and hands every other
  request to aiohttp (`FastLaneSite`); `client.http1_lane` is its wire format (pure);
- `client.access` guards the routes (one middleware, and one gate the fast lane shares): web origins
  (`client.cors`), API keys (`client.keys`, the key file) and their daily budgets (`client.budget`),
  usage per key;
- `client.serving` serves a validated request (`ClientServing`): short model names, starting it on
  the backend, the receipt lookup and the facts of /jsonstats;
- `client.relay` turns one answer into a response (`AnswerRelay`): the worker's statement, receipt
  following, usage-chunk hold and cost fields, error events, ``[DONE]`` last, cancellation;
- `client.responses` holds what serving returns: `WholeAnswer` and `EventStream` (no aiohttp);
- `client.openai_out` shapes answers for OpenAI callers (pure: cost fields, error bodies, re-framing);
- `client.backend` is the edge to the network as protocols (`InferenceBackend`, `BackendAnswer`);
- `client.network` talks to the proxies (`ProxyPool`, the real backend), `client.network_answer`
  sends one request through a proxy and reads its answer (`NetworkAnswer`), `client.e2e_send`
  seals a request end to end and sends it again when its workers fail it (`E2ESender`),
  `client.proxy_queries` asks each proxy for its model list and balance, and
  `client.model_list` merges their worker types into `/v1/models` (context length, endpoints, prices);
- `client.fake_backend` is the backend without a network (`FakeBackend`, scripted answers);
- `client.receipts` verifies each answer's signed receipt and keeps the recent ones;
- `client.payments` pays: the client contracts on chain and their routes;
- `client.model_names`, `client.stats` and `client.dashboard`: short names, counters, the status page.
"""
