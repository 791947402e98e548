"""One run from definition to final state: planning, the copy loop, counters and positions, partitions."""
