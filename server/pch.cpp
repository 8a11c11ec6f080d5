// Carries the server's precompiled header (server/CMakeLists.txt); every server library reuses it.
