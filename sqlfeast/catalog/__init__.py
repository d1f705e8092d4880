"""The browsable static catalog: pages, lineage, statistics and data test marks."""
