"""Alerts: rules that watch each pass and the daemon's clock, an engine that opens and
resolves alerts in the state, and delivery of their messages to webhooks beside the passes."""
