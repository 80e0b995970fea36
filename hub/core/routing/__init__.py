"""The router's parts: selection, catalog, health, fair queue and failover (see hub.core.router)."""
