"""Proxy-blind end-to-end encryption between a client and the one worker that serves a request
(`cocoon-e2e/1`, spec/e2e.md). Pure: no sockets, no clock reads; time and randomness are passed in.

- `suite`: the HPKE suite (RFC 9180 Base mode), key ids and a worker's HPKE key pair.
- `padding`: the size buckets that blunt the length side channel.
- `envelope`: the request envelope: its plaintext routing header, per-key wraps, sealed body; opening
  it in the spec's order of checks.
- `frames`: the response frames (counter nonces, a `final` frame last) and the hash receipts cover.
- `keyring`: a worker's current and previous key; `replay`: the cache of envelopes already opened.
"""
