#!/usr/bin/python3
"""Reference outputs of the PIL operations timm's RandAugment and torchvision's ColorJitter
use, for tests/data/data_transforms_test.cpp: each op at fixed parameters on a fixed 32x32 RGB
image, written as PNGs to tests/fixtures/augment/. Run with Debian's /usr/bin/python3 (PIL).
The C++ ops must reproduce these without PIL."""
import os
import numpy as np
from PIL import Image, ImageEnhance, ImageOps

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "augment")


def make_input():
    y, x = np.mgrid[0:32, 0:32]
    r = (x * 7 + 20) % 256
    g = (y * 6 + 3 * x) % 256
    b = ((x - 16) ** 2 + (y - 12) ** 2) % 200 + 30
    img = np.stack([r, g, b], axis=-1).astype(np.uint8)
    img[10:20, 8:14] = (250, 40, 40)  # a saturated block for hue and colour
    img[24:30, 20:30] = (12, 12, 12)
    return Image.fromarray(img, "RGB")


def hue(img, factor):
    # torchvision.transforms.functional_pil.adjust_hue
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    with np.errstate(over="ignore"):
        np_h += np.uint8(factor * 255)
    h = Image.fromarray(np_h, "L")
    return Image.merge("HSV", (h, s, v)).convert("RGB")


def main():
    os.makedirs(OUT, exist_ok=True)
    img = make_input()
    img.save(os.path.join(OUT, "input.png"))
    fill = (124, 116, 104)
    ops = {
        "autocontrast": ImageOps.autocontrast(img),
        "equalize": ImageOps.equalize(img),
        "invert": ImageOps.invert(img),
        "posterize2": ImageOps.posterize(img, 2),
        "solarize128": ImageOps.solarize(img, 128),
        "solarize_add50": img.point([min(255, i + 50) if i < 128 else i for i in range(256)] * 3),
        "color0.3": ImageEnhance.Color(img).enhance(0.3),
        "color1.7": ImageEnhance.Color(img).enhance(1.7),
        "contrast0.4": ImageEnhance.Contrast(img).enhance(0.4),
        "contrast1.6": ImageEnhance.Contrast(img).enhance(1.6),
        "brightness0.5": ImageEnhance.Brightness(img).enhance(0.5),
        "brightness1.5": ImageEnhance.Brightness(img).enhance(1.5),
        "sharpness0.2": ImageEnhance.Sharpness(img).enhance(0.2),
        "sharpness1.8": ImageEnhance.Sharpness(img).enhance(1.8),
        "hue0.2": hue(img, 0.2),
        "hue-0.3": hue(img, -0.3),
        "shearx0.2_nearest": img.transform(img.size, Image.AFFINE, (1, 0.2, 0, 0, 1, 0),
                                           Image.NEAREST, fillcolor=fill),
        "sheary-0.25_bilinear": img.transform(img.size, Image.AFFINE, (1, 0, 0, -0.25, 1, 0),
                                              Image.BILINEAR, fillcolor=fill),
        "translatex5_nearest": img.transform(img.size, Image.AFFINE, (1, 0, 5, 0, 1, 0),
                                             Image.NEAREST, fillcolor=fill),
        "rotate17_bilinear": img.rotate(17, Image.BILINEAR, fillcolor=fill),
        "rotate-90_nearest": img.rotate(-90, Image.NEAREST, fillcolor=fill),
        "rotate-23_bicubic": img.rotate(-23, Image.BICUBIC, fillcolor=fill),
        "shearx0.15_bicubic": img.transform(img.size, Image.AFFINE, (1, 0.15, 0, 0, 1, 0),
                                            Image.BICUBIC, fillcolor=fill),
    }
    for name, out in ops.items():
        out.save(os.path.join(OUT, name + ".png"))
    print("wrote", len(ops) + 1, "files to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
