"""The Slack connector (in progress): event translation (`events.py`) and the sink (`sink.py`).

The plugin object, its settings and the lifecycle (slack-bolt `AsyncApp` in Socket Mode or
HTTP mode) come with the connector step, on top of the shared reply dispatch. Nothing here is
registered as an entry point yet.
"""
