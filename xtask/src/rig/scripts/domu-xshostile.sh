# domU test: no disk; xenstore-hostile pushes past every xenstore quota over this domain's ring,
# reaches for other domains' nodes, then floods until dom0 writes data/stop.
xenstore-hostile
