"""Input checks shared by every backend: a wrong size is a clear error, not a crash inside."""


def check_image(image, config):
    """Raise ValueError unless ``image`` is 1 x 3 x H x W at the model's resolution."""
    expected = (1, 3, config.height, config.width)
    if tuple(image.shape) != expected:
        raise ValueError(f'the model expects images of shape {"x".join(map(str, expected))}, '
                         f'got {"x".join(map(str, image.shape))}; Perception resizes camera '
                         f'images for you')
