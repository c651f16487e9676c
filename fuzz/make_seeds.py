#!/usr/bin/env python3
"""Write the small seed inputs of fuzz/corpus/idx and fuzz/corpus/image
(standard library only; the files are committed, this records how they
were made). Run from anywhere: python3 fuzz/make_seeds.py
Every seed is drawn here: no dataset content is kept in the repository."""
import gzip
import os
import struct
import zlib

here = os.path.dirname(os.path.abspath(__file__))


def put(sub, name, data):
    with open(os.path.join(here, "corpus", sub, name), "wb") as f:
        f.write(data)


# ---- IDX: two drawn 28x28 digits (a ring, a bar) and three labels, plain and gzip ----
def drawn_digit(kind):
    rows = []
    for y in range(28):
        for x in range(28):
            r2 = (x - 13.5) ** 2 + (y - 13.5) ** 2
            ink = 36 <= r2 <= 81 if kind == 0 else 12 <= x <= 15 and 4 <= y <= 23
            rows.append(255 if ink else 0)
    return bytes(rows)


pixels = drawn_digit(0) + drawn_digit(1)
labels = bytes([0, 1, 7])
images = struct.pack(">IIII", 0x803, 2, 28, 28) + pixels
put("idx", "images-2x28x28", images)
put("idx", "images-2x28x28.gz", gzip.compress(images, mtime=0))
put("idx", "labels-3", struct.pack(">II", 0x801, 3) + labels)
put("idx", "labels-3.gz", gzip.compress(struct.pack(">II", 0x801, 3) + labels, mtime=0))
put("idx", "images-1x3x2", struct.pack(">IIII", 0x803, 1, 3, 2) + bytes(range(6)))

# ---- images: a digit-like 8x6 picture as PGM (P5, P2) and several PNG kinds --
w, h = 6, 8
gray = [[255 if 1 <= x <= 4 and y in (1, 6) or x in (1, 4) and 1 <= y <= 6 else 0
         for x in range(w)] for y in range(h)]
put("image", "digit.pgm", b"P5\n# seed\n%d %d\n255\n" % (w, h) + bytes(sum(gray, [])))
put("image", "digit-ascii.pgm",
    b"P2\n%d %d\n15\n" % (w, h) + b"\n".join(b" ".join(b"%d" % (v // 17) for v in row) for row in gray) + b"\n")


def png(width, height, color_type, depth, rows, palette=None, trns=None, interlace=0):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace))
    if palette:
        out += chunk(b"PLTE", palette)
    if trns:
        out += chunk(b"tRNS", trns)
    raw = b"".join(b"\x00" + r for r in rows)   # filter type 0 on every row
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


put("image", "gray8.png", png(w, h, 0, 8, [bytes(r) for r in gray]))
put("image", "gray16.png", png(w, h, 0, 16, [b"".join(struct.pack(">H", v * 257) for v in r) for r in gray]))
put("image", "rgb.png", png(w, h, 2, 8, [bytes(c for v in r for c in (v, v // 2, 255 - v)) for r in gray]))
put("image", "rgba.png", png(w, h, 6, 8, [bytes(c for v in r for c in (0, 0, 0, v)) for r in gray]))
put("image", "palette.png", png(w, h, 3, 1, [bytes([sum((1 if r[x] else 0) << (7 - x) for x in range(w))]) for r in gray],
                                palette=b"\xff\xff\xff\x00\x00\x00", trns=b"\x80"))
put("image", "gray-alpha.png", png(3, 2, 4, 8, [bytes([9, 255, 200, 128, 0, 0]), bytes([255, 0, 0, 255, 90, 30])]))
