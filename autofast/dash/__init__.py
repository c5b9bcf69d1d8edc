"""DASH architecture search: per-layer kernel size x dilation, on a supernet of mixed convolutions."""
