"""Asserts that a headless-Chromium screenshot of build/report.html shows the plots: the PNG
(decoded here with zlib, no imaging library) must contain enough pixels of the plot series
colours, and Chromium's DOM dump must hold both SVG plots with their points.

    check_report_png.py SCREENSHOT.png DOM.html
"""
import struct
import sys
import zlib

SERIES = [(0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28), (0x2C, 0xA0, 0x2C)]


def pixels(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG {header}"
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return [(r[i], r[i + 1], r[i + 2]) for r in rows for i in range(0, stride, bpp)]


def main(png, dom):
    counts = {c: 0 for c in SERIES}
    for p in pixels(png):
        for c in SERIES:
            if all(abs(p[k] - c[k]) <= 8 for k in range(3)):
                counts[c] += 1
    html = open(dom).read()
    plotted = sum(counts.values())
    ok = plotted >= 200 and 'id="top1-plot"' in html and 'id="sqnr-plot"' in html and html.count('class="point"') >= 2
    print(f"report screenshot: {plotted} plot-series pixels; top-1 and SQNR plots {'present' if ok else 'MISSING'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(*sys.argv[1:3])
