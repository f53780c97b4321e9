"""Per-document attribute tables: per-date taggers keyed by (doc_id, crawl_date),
stamped with what made them."""
