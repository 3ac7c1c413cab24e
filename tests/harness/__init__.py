"""Test harness shared by the test tiers and the benchmarks: a control plane on fakes, a
SeaweedFS server, the platform fixture pages, polling helpers. Not part of the installed package
(users' tests need only the fakes in :mod:`meetbot.testing`)."""
