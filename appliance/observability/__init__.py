"""What an operator watches: Prometheus metrics, and log lines that name their request or delivery."""
