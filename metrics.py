"""Quality metrics (../shared/GUIDE.md section 4): PSNR and SSIM on 8-bit RGB, and the look
statistics (saturation ratio, brightness bias, black level, colour cast) evaluate.py reports. No torch."""

import numpy as np


# 8-bit photos cannot be compared more finely than their rounding: an error below that of rounding
# (uniform over one level, MSE 1/12) scores as it, 58.9 dB. Identical photos would otherwise give
# infinity, and one such photo makes a mean and a paired interval infinite (a model that leaves a
# good photo exactly as it was did so in issue 38's A/B).
MSE_FLOOR = 1 / 12
PSNR_CAP = float(10 * np.log10(255.0**2 / MSE_FLOOR))


def psnr(output_uint8, target_uint8):
    """PSNR in dB of 8-bit images, at most PSNR_CAP."""
    mse = np.mean((output_uint8.astype(np.float64) - target_uint8.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, MSE_FLOOR)))


def ssim(output_uint8, target_uint8):
    """MATLAB-style SSIM: Gaussian window sigma 1.5, population covariance, 8-bit range."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            output_uint8,
            target_uint8,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
        )
    )


# The look: what PSNR averages away. Colours in CIELAB (D65, from sRGB, OpenCV's formula); luma as
# Rec. 709 weights on the 8-bit sRGB values, in levels of 255 like the brightness bias.
LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722], np.float32)


def look_stats(rgb_uint8):
    """{chroma: mean CIELAB chroma C*ab, a, b: mean a*, b*, black: 2nd-percentile luma,
    median: median luma, mean: mean level} of an 8-bit RGB image."""
    import cv2

    lab = cv2.cvtColor(rgb_uint8.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    luma = rgb_uint8.astype(np.float32) @ LUMA_WEIGHTS
    black, median = np.percentile(luma, (2, 50))
    return {
        "chroma": float(np.hypot(lab[..., 1], lab[..., 2]).mean()),
        "a": float(lab[..., 1].mean()),
        "b": float(lab[..., 2].mean()),
        "black": float(black),
        "median": float(median),
        "mean": float(rgb_uint8.mean()),
    }


def look_metrics(out, target):
    """The look of an output against its ground truth, from two look_stats: saturation_ratio (mean
    chroma over the ground truth's), brightness_bias (mean level difference), black_level (2nd-percentile
    luma difference), median_shift (median luma difference), cast_a / cast_b (mean a*, b* difference).
    The chroma ratio's denominator is at least 1 (an almost grey ground truth)."""
    return {
        "saturation_ratio": out["chroma"] / max(target["chroma"], 1.0),  # a grey photo: no blow-up
        "brightness_bias": out["mean"] - target["mean"],
        "black_level": out["black"] - target["black"],
        "median_shift": out["median"] - target["median"],
        "cast_a": out["a"] - target["a"],
        "cast_b": out["b"] - target["b"],
    }
