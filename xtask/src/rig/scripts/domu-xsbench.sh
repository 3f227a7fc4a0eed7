# domU test: the xenstore request workload over this domain's ring (xenstore-bench).
xenstore-bench
