"""Events: a worker's raw outbox records (lossless Codex messages plus worker records) translated
into codeswarm's event schema (docs/events.md). Pure: no I/O, so the translation can change
without redeploying workers."""
