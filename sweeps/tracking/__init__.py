"""The sweep's MLflow record, written from the driver only.

- `client`: the MLflow client, the sweep's parent run, and every reach into MLflow beyond plain client
  calls (pinned by tests/sweeps/tracking/test_client.py);
- `journal`: every write journaled on local disk first, applied by one thread, idempotently;
- `entries`: what each kind of journal entry holds, checked when a journal is read;
- `tracker`: the Tune callback that turns trials into the journal's entries.

`python -m sweeps.push` applies what a journal still holds. Names of tags, roles and params are
record.names'; params are written typed (record.params).
"""
