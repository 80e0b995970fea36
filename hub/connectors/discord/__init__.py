"""Discord connector groundwork: event translation, reply chains, sinks and the Stop button.

The plugin object, its settings and lifecycle (a discord.py client started with the app) come
with the connector step once the shared dispatch lands; see docs/discord.md.
"""
