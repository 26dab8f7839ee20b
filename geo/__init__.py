"""The pure spatial core: numpy, shapely and pyproj only, no web or database code."""
