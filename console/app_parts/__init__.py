"""The App's parts, one family of keys each with the workers they start, mixed into
`console.app.GonogoApp` (which keeps the engine, the snapshot, the one list of
Bindings and the routing of errors): `keys.py` (what each key may do now, the help
and the palette), `rollout_keys.py` (the actions and ack), `reads.py` (the detail
screens' reads), `review_keys.py` (the go/no-go review), `demo_keys.py`."""
