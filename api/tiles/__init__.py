"""Mapbox vector tiles of grids and buildings from PostGIS (ST_AsMVT), cached until the data changes."""
