"""The summarizer: decides when an incident is worth a summary, and writes one (AI or rule-based)."""
