"""The reference network's TL codec: schema, typed messages, TCP frames and the connection PoW.

Pure core: no sockets, no event loop, no clock. `codec` encodes and decodes the typed messages of
`types`, `generic` decodes any constructor of a schema, `frames` splits the TCP byte stream and `pow`
is the proof of work a server asks of every new connection.
"""
