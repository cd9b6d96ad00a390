#!/usr/bin/python3
"""Independent references for mindsave's image decoding and transforms (Debian python3-pil, python3-opencv).

  decode OUT FILE...    Pillow's RGB decode of each JPEG: OUT/<i>.rgb holds "height width\\n" then the pixels.
  pngs DIR              PNGs of every colour type and depth (written by Pillow and OpenCV) as DIR/<name>.png,
                        with OpenCV's IMREAD_COLOR decode (MindSpore's PNG decoder), as RGB, in DIR/<name>.rgb.
  jpegs DIR             Grey and CMYK JPEGs written by Pillow, with the RGB MindSpore makes of them, as above.
  transforms OUT FILE...  OpenCV (MindSpore's back end) on each photo i: OUT/<i>_<op>.rgb (uint8) or .f32
                        ("height width channels\n" then float32 HWC or CHW): Resize(256) and Resize((224, 224))
                        with each interpolation, CenterCrop(224), and the seed pipeline Decode, Resize(256),
                        CenterCrop(224), Normalize(ImageNet mean, std), HWC2CHW.
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
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
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


def write_f32(path, a):
    a = np.ascontiguousarray(a, dtype=np.float32)
    with open(path, "wb") as f:
        f.write(b"%d %d %d\n" % a.shape)
        f.write(a.tobytes())


def shorter_side(h, w, size):
    # MindSpore's ResizeOp: floor in float32.
    f = np.float32
    if h < w:
        return size, int(np.floor(f(w) / f(h) * f(size)))
    return int(np.floor(f(h) / f(w) * f(size))), size


def center_crop(img, ch, cw):
    h, w = img.shape[:2]
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[y:y + ch, x:x + cw]


def transforms(out, files):
    import cv2
    inters = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "cubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA}
    mean = np.array([0.485 * 255, 0.456 * 255, 0.406 * 255], dtype=np.float32)
    std = np.array([0.229 * 255, 0.224 * 255, 0.225 * 255], dtype=np.float32)
    for i, name in enumerate(files):
        rgb = opencv_rgb(name)  # IMREAD_COLOR: identical to MindSpore's JPEG decode without EXIF rotation here
        h, w = rgb.shape[:2]
        oh, ow = shorter_side(h, w, 256)
        for label, inter in inters.items():
            if label != "linear" and i % 3:
                continue  # every interpolation on a third of the photos, linear on all
            write_rgb(os.path.join(out, "%d_short_%s.rgb" % (i, label)), cv2.resize(rgb, (ow, oh), interpolation=inter))
            write_rgb(os.path.join(out, "%d_square_%s.rgb" % (i, label)), cv2.resize(rgb, (224, 224), interpolation=inter))
            if i % 9 == 0:  # float images through the same interpolation
                f = rgb.astype(np.float32) / 255
                write_f32(os.path.join(out, "%d_float_%s.f32" % (i, label)), cv2.resize(f, (224, 224), interpolation=inter))
        resized = cv2.resize(rgb, (ow, oh), interpolation=cv2.INTER_LINEAR)
        crop = center_crop(resized, 224, 224)
        write_rgb(os.path.join(out, "%d_crop.rgb" % i), crop)
        normalized = (crop.astype(np.float32) - mean) / std
        write_f32(os.path.join(out, "%d_seed.f32" % i), normalized.transpose(2, 0, 1))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "decode":
        decode(sys.argv[2], sys.argv[3:])
    elif command == "pngs":
        pngs(sys.argv[2])
    elif command == "jpegs":
        jpegs(sys.argv[2])
    elif command == "transforms":
        transforms(sys.argv[2], sys.argv[3:])
    else:
        sys.exit("unknown command " + command)
