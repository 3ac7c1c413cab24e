"""The HTTP API: routes parse requests, call the service, and render its domain values."""
