"""The corruption names of the -C releases (their file and folder names), in the releases' order:
the 15 common corruptions, then the 4 extras (Hendrycks & Dietterich 2019)."""

RELEASE_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)
