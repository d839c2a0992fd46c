import numpy as np

from vaegan.visuals.projection import align, nice_limit, project


def test_same_latents_give_the_same_axes_twice():
    latents = np.random.default_rng(0).normal(size=(500, 16)) * np.arange(1, 17)
    first, second = project(latents), project(latents.copy())
    assert np.array_equal(first, second)
    assert np.allclose(project(latents, previous=first), first)


def test_a_rotated_or_reflected_copy_is_aligned_back():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(300, 2)) * [3.0, 1.0]
    theta = 2.1
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    for transform in (rotation, rotation @ np.diag([1.0, -1.0])):
        assert np.allclose(align(reference @ transform, reference), reference - reference.mean(0), atol=1e-9)


def test_pca_axis_sign_is_fixed_so_flipping_inputs_does_not_flip_frames():
    latents = np.random.default_rng(2).normal(size=(200, 8)) * np.arange(8, 0, -1)
    # Negating the data flips the scores unless the axis sign is pinned by the loadings.
    assert np.allclose(np.abs(project(latents)), np.abs(project(-latents)))


def test_two_d_latents_are_shown_as_they_are():
    z = np.random.default_rng(3).normal(size=(50, 2))
    assert np.array_equal(project(z, previous=z[::-1]), z)


def test_limit_is_shared_and_rounded():
    assert nice_limit([np.array([[0.5, -1.7]]), np.array([[2.2, 0.1]])]) == 2.5
    assert nice_limit([np.array([[5.2, 0.0]])]) == 6.0
