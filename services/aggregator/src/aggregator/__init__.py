"""The aggregator: the single writer of incident state (Faust), and the `incidentctl` tool."""
