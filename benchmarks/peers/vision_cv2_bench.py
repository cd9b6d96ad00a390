#!/usr/bin/python3
"""The seed flow's preprocessing per image in OpenCV (Debian python3-opencv, MindSpore's own back end for these
ops), the peer of bench_vision: for every dog / croissant photo, held in memory as file bytes,

  cv2.imdecode(IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION), cvtColor BGR -> RGB (MindSpore's Decode);
  cv2.resize to the shorter side 256 (MindSpore's float32 rule, INTER_LINEAR); the centre 224 x 224 crop;
  (x - mean) / std in float32 with ImageNet's statistics; HWC -> CHW as a contiguous array.

One OpenCV thread (cv2.setNumThreads(1)), as one pipeline worker. Prints JSON: seconds per image for the whole
pipeline and for the decode alone, the best of --rounds rounds of all photos.
"""
import argparse
import glob
import json
import os
import time

import cv2
import numpy as np


def shorter_side(h, w, size):
    f = np.float32
    if h < w:
        return size, int(np.floor(f(w) / f(h) * f(size)))
    return int(np.floor(f(h) / f(w) * f(size))), size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--photos', default=os.path.join(os.path.dirname(__file__), '../../../shared/data/dog_croissants'))
    ap.add_argument('--rounds', type=int, default=7)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    files = sorted(glob.glob(os.path.join(args.photos, '**', '*.jpg'), recursive=True))
    if not files:
        raise SystemExit('no photos in ' + args.photos)
    data = [np.fromfile(f, dtype=np.uint8) for f in files]
    mean = np.array([0.485 * 255, 0.456 * 255, 0.406 * 255], dtype=np.float32)
    std = np.array([0.229 * 255, 0.224 * 255, 0.225 * 255], dtype=np.float32)
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION

    def pipeline(buf):
        rgb = cv2.cvtColor(cv2.imdecode(buf, flags), cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        oh, ow = shorter_side(h, w, 256)
        resized = cv2.resize(rgb, (ow, oh), interpolation=cv2.INTER_LINEAR)
        y, x = (oh - 224) // 2, (ow - 224) // 2
        crop = resized[y:y + 224, x:x + 224]
        return np.ascontiguousarray(((crop.astype(np.float32) - mean) / std).transpose(2, 0, 1))

    def decode(buf):
        return cv2.cvtColor(cv2.imdecode(buf, flags), cv2.COLOR_BGR2RGB)

    result = {'images': len(files), 'opencv': cv2.__version__}
    for name, fn in (('pipeline', pipeline), ('decode', decode)):
        for buf in data[:8]:
            fn(buf)  # warm-up
        best = float('inf')
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            for buf in data:
                fn(buf)
            best = min(best, time.perf_counter() - t0)
        result[name + '_s_per_image'] = best / len(files)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
