"""The map wall: case heatmap bins, per-grid metrics, totals and lists, live report stream."""
