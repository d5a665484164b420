"""What the library knows: catalog, scanning, models, vectors, faces, people, search.

The front door is `index.library.Library`; the other modules are its rooms.
Nothing here imports `assistant/`.
"""
