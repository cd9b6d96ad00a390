#!/usr/bin/python3
"""Independent references for mindsave's image decoding and transforms (Debian python3-pil, python3-opencv).

  decode OUT FILE...    Pillow's RGB decode of each JPEG: OUT/<i>.rgb holds "height width\\n" then the pixels.
  pngs DIR              PNGs of every colour type and depth (written by Pillow and OpenCV) as DIR/<name>.png,
                        with OpenCV's IMREAD_COLOR decode (MindSpore's PNG decoder), as RGB, in DIR/<name>.rgb.
  jpegs DIR             Grey and CMYK JPEGs written by Pillow, with the RGB MindSpore makes of them, as above.
"""
import os
import sys

import numpy as np


def write_rgb(path, rgb):
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(b"%d %d\n" % (rgb.shape[0], rgb.shape[1]))
        f.write(rgb.tobytes())


def decode(out, files):
    from PIL import Image
    for i, name in enumerate(files):
        with Image.open(name) as im:
            # Pillow's draft/scale are off by default: a full-size decode with libjpeg's defaults.
            write_rgb(os.path.join(out, "%d.rgb" % i), np.asarray(im.convert("RGB")))


def opencv_rgb(path):
    import cv2
    data = np.fromfile(path, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return bgr[:, :, ::-1]


def pngs(d):
    import cv2
    from PIL import Image
    rng = np.random.default_rng(7)
    h, w = 37, 53  # not multiples of anything, so row padding and odd widths show
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (h, w), dtype=np.uint8)
    grey = rng.integers(0, 256, (h, w), dtype=np.uint8)
    images = {
        "grey8": Image.fromarray(grey, "L"),
        "grey1": Image.fromarray(grey > 127).convert("1"),
        "grey16": Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16).astype(np.int32), "I").convert("I;16"),
        "grey_alpha": Image.fromarray(np.dstack([grey, alpha]), "LA"),
        "rgb8": Image.fromarray(rgb, "RGB"),
        "rgba8": Image.fromarray(np.dstack([rgb, alpha]), "RGBA"),
        "palette": Image.fromarray(rgb, "RGB").quantize(200),
        "palette16": Image.fromarray(rgb, "RGB").quantize(16),
    }
    for name, im in images.items():
        im.save(os.path.join(d, name + ".png"))
    trans = Image.fromarray(rgb, "RGB").quantize(64)
    trans.info["transparency"] = 3
    trans.save(os.path.join(d, "palette_trns.png"), transparency=3)
    # 16-bit colour: Pillow cannot write it; OpenCV can (it stores BGR order reversed into RGB in the file).
    cv2.imwrite(os.path.join(d, "rgb16.png"), rng.integers(0, 65536, (h, w, 3), dtype=np.uint16))
    cv2.imwrite(os.path.join(d, "rgba16.png"), rng.integers(0, 65536, (h, w, 4), dtype=np.uint16))
    for name in sorted(os.listdir(d)):
        if name.endswith(".png"):
            write_rgb(os.path.join(d, name[:-4] + ".rgb"), opencv_rgb(os.path.join(d, name)))


def jpegs(d):
    from PIL import Image
    rng = np.random.default_rng(11)
    h, w = 45, 61
    smooth = np.clip(np.add.outer(np.arange(h) * 4, np.arange(w) * 3) + rng.integers(0, 30, (h, w)), 0, 255)
    grey = smooth.astype(np.uint8)
    Image.fromarray(grey, "L").save(os.path.join(d, "grey.jpg"), quality=90)
    write_rgb(os.path.join(d, "grey.rgb"), np.asarray(Image.open(os.path.join(d, "grey.jpg")).convert("RGB")))
    cmyk = np.dstack([grey, 255 - grey, grey // 2, rng.integers(0, 80, (h, w), dtype=np.uint8)]).astype(np.uint8)
    Image.fromarray(cmyk, "CMYK").save(os.path.join(d, "cmyk.jpg"), quality=90)
    # Pillow reads an Adobe CMYK JPEG inverted back to true CMYK; libjpeg gives the inverted values,
    # which MindSpore turns into RGB as r = c * k / 255 (integer division).
    raw = 255 - np.asarray(Image.open(os.path.join(d, "cmyk.jpg"))).astype(np.int64)
    k = raw[:, :, 3:4]
    write_rgb(os.path.join(d, "cmyk.rgb"), raw[:, :, :3] * k // 255)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "decode":
        decode(sys.argv[2], sys.argv[3:])
    elif command == "pngs":
        pngs(sys.argv[2])
    elif command == "jpegs":
        jpegs(sys.argv[2])
    else:
        sys.exit("unknown command " + command)
