"""High-availability tests: keepalived pairs, L4 front ends, multi-site topology (netns)."""
