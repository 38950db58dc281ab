"""Webhooks (`[[notify]]`): what is said of an event (`bodies.py`: Slack-compatible or
generic JSON) and one POST of it (`send.py`: a hard timeout, a short reason for a
failure, the backoff before the next try). The leader's task that finds events,
keeps the outbox and sends is console/engine/notify_loop.py; the outbox's SQL is
console/store/notify.py."""
