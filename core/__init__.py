"""Alpha's domain and shared library: identifiers, fills, positions, configuration, clients."""
