"""What a test sees in a demo picture, on its pixels."""

from __future__ import annotations

from PIL import Image as PILImage


def eyes(picture: PILImage.Image) -> int:
    """The cats drawn, counted on the pixels: each cat has two pure white eyes (connected white areas above the
    caption strip)."""
    grey = picture.convert("L")
    width, height = grey.size
    pixels = grey.load()
    seen: set[tuple[int, int]] = set()
    blobs = 0
    for y in range(height - 24):
        for x in range(width):
            if pixels[x, y] != 255 or (x, y) in seen:
                continue
            blobs += 1
            todo = [(x, y)]
            seen.add((x, y))
            while todo:
                cx, cy = todo.pop()
                for nx, ny in ((cx + 1, cy), (cx - 1, cy), (cx, cy + 1), (cx, cy - 1)):
                    if 0 <= nx < width and 0 <= ny < height - 24 and (nx, ny) not in seen and pixels[nx, ny] == 255:
                        seen.add((nx, ny))
                        todo.append((nx, ny))
    return blobs // 2
