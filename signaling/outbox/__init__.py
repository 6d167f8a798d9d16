"""Durable outgoing deliveries (department webhooks) and their worker.

- :mod:`signaling.outbox.signing`: the HMAC signature of both directions (pure);
- :mod:`signaling.outbox.worker`: delivers the ``outbox`` table's rows, retrying with
  backoff; the rows are the truth, so a restart loses nothing;
- :mod:`signaling.outbox.routes`: the departments' signed decision callbacks.
"""
