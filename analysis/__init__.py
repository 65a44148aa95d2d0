"""Video Arena Lab."""
