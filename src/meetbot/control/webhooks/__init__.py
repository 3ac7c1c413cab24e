"""Webhooks: an outbox written with each change, delivered signed, in order, at least once.

``signing`` (Standard Webhooks), ``targets`` (SSRF guard), ``sender`` (aiohttp, the only module that
imports it), ``outbox`` (events + delivery rows in the caller's transaction), ``delivery`` (the
worker), ``service`` (use cases behind the API), ``ports`` (the repository Protocol).
"""
