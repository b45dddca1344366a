"""step.py: the batched losses on what ships equal b15f441's per-photo losses (issue 38)."""

import torch
import torch.nn.functional as F

import loss
from inference import GUIDED_EPS, guided_radius
from dataset import lift_groups
from step import LIFT_TERMS, shipped_losses

# ---- b15f441's formulas, verbatim: one photo at a time, a 2-D box, five blurs of three maps each


def ref_box(radius):
    def box(x):
        shape = x.shape
        y = x.reshape((-1,) + tuple(shape[-3:])).permute(0, 3, 1, 2)
        y = F.avg_pool2d(F.pad(y, (radius,) * 4, mode="reflect"), 2 * radius + 1, stride=1)
        return y.permute(0, 2, 3, 1).reshape(shape)

    return box


def ref_fit(low_in, low_out, box, eps=GUIDED_EPS):
    """b15f441's fit_affine_maps (torch): nine products per covariance, an LU solve per window."""
    mean_in, mean_out = box(low_in), box(low_out)

    def covariance(a, b, mean_a, mean_b):
        prods = box(torch.stack([a[..., i] * b[..., j] for i in range(3) for j in range(3)], -1))
        entries = [
            prods[..., 3 * i + j] - mean_a[..., i] * mean_b[..., j] + (eps if i == j else 0.0)
            for i in range(3)
            for j in range(3)
        ]
        return torch.stack(entries, -1).reshape(tuple(prods.shape[:-1]) + (3, 3))

    cov_in = covariance(low_in, low_in, mean_in, mean_in)
    cov_io = covariance(low_in, low_out, mean_in, mean_out)
    coef_a = torch.linalg.solve(cov_in, cov_io)
    coef_b = mean_out - torch.einsum("...i,...ic->...c", mean_in, coef_a)
    shape = tuple(coef_a.shape[:-2])
    return box(coef_a.reshape(shape + (9,))).reshape(shape + (3, 3)), box(coef_b)


def ref_lift(low_in, low_out, full_in):
    h, w = low_in.shape[1:]
    a, b = ref_fit(
        low_in.permute(1, 2, 0), low_out.permute(1, 2, 0), ref_box(guided_radius(h, w))
    )
    maps = torch.cat([a.reshape(h, w, 9), b], -1).permute(2, 0, 1)[None]
    maps = F.interpolate(maps, size=tuple(full_in.shape[1:]), mode="bilinear", align_corners=False)[0]
    a, b = maps[:9].reshape(3, 3, *full_in.shape[1:]), maps[9:]
    return (torch.einsum("ihw,ichw->chw", full_in, a) + b).clamp(0, 1)


def ref_ssim(output, target):
    output, target = output[None], target[None]
    g = loss._gaussian_window(output)
    blur = lambda t: F.conv2d(
        F.conv2d(t, g.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3),
        g.view(1, 1, -1, 1).expand(3, 1, -1, 1),
        groups=3,
    )
    mu_x, mu_y = blur(output), blur(target)
    var_x, var_y = blur(output * output) - mu_x**2, blur(target * target) - mu_y**2
    cov = blur(output * target) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return 1 - ssim.mean()


def ref_global_stats(image):
    y, cb, cr = loss.ycbcr(image).flatten(1)
    levels = torch.quantile(y, torch.tensor([0.02, 0.5, 0.98]))
    chroma = loss.mean_chroma(image)
    return torch.cat([y.mean()[None], levels, chroma[None], cb.mean()[None], cr.mean()[None]])


REF = {
    "lift": loss.reconstruction_loss,
    "ssim": ref_ssim,
    "chroma": loss.chroma_loss,
    "global": lambda o, t: F.l1_loss(ref_global_stats(o), ref_global_stats(t)),
    "sat": loss.saturation_loss,
}


def ref_shipped_losses(output, inputs, targets, full_inputs, full_targets, valid):
    terms = dict.fromkeys(LIFT_TERMS, 0.0)
    for i, (h, w) in enumerate(valid):
        out, target = output[i, :, :h, :w], targets[i, :, :h, :w]
        if full_inputs[i] is not None and tuple(full_inputs[i].shape[1:]) != (h, w):
            target, out = full_targets[i], ref_lift(inputs[i, :, :h, :w], out, full_inputs[i])
        for k in LIFT_TERMS:
            terms[k] = terms[k] + REF[k](out, target)
    return {k: v / len(valid) for k, v in terms.items()}


def mixed_batch():
    """Six items padded to 32 x 48: two landscape sizes lifted to twice their size (in an
    interleaved order), one at its stored size (no lift) and one crop (no full photo)."""
    g = torch.Generator().manual_seed(0)
    rand = lambda *shape: torch.rand(*shape, generator=g)
    valid = [(24, 32), (32, 48), (24, 32), (32, 48), (24, 32), (32, 48)]
    full = [(48, 64), (64, 96), (48, 64), (64, 96), None, (32, 48)]
    inputs, targets = rand(6, 3, 32, 48), rand(6, 3, 32, 48)
    full_inputs = [None if s is None else rand(3, *s) for s in full]
    full_targets = [None if s is None else rand(3, *s) for s in full]
    return inputs, targets, full_inputs, full_targets, valid


def test_lift_groups_keep_items_of_one_network_and_lifted_size_together_their_photos_stacked():
    _, _, full_inputs, full_targets, valid = mixed_batch()
    groups = lift_groups(full_inputs, full_targets, valid)
    assert [items for items, _, _ in groups] == [[0, 2], [1, 3], [4], [5]]
    items, stacked_in, stacked_target = groups[1]
    assert torch.equal(stacked_in, torch.stack([full_inputs[1], full_inputs[3]]))
    assert torch.equal(stacked_target, torch.stack([full_targets[1], full_targets[3]]))
    assert groups[2][1:] == (None, None)  # a crop carries no full photo


def test_batched_losses_and_gradients_equal_the_per_photo_reference():
    inputs, targets, full_inputs, full_targets, valid = mixed_batch()
    output = torch.rand(6, 3, 32, 48, generator=torch.Generator().manual_seed(1), requires_grad=True)
    weights = dict.fromkeys(LIFT_TERMS, 1.0)
    lifts = lift_groups(full_inputs, full_targets, valid)
    new = shipped_losses(output, inputs, targets, lifts, valid, weights)
    ref = ref_shipped_losses(output, inputs, targets, full_inputs, full_targets, valid)
    for k in LIFT_TERMS:
        assert abs(new[k].item() - ref[k].item()) < 1e-5 * max(1.0, abs(ref[k].item())), k
        (g_new,) = torch.autograd.grad(new[k], output, retain_graph=True)
        (g_ref,) = torch.autograd.grad(ref[k], output, retain_graph=True)
        assert torch.allclose(g_new, g_ref, atol=1e-6, rtol=1e-4), k


def test_a_windowed_lift_is_that_window_of_the_whole_lift_and_its_losses_see_only_it():
    """lift_crop: the lift computed for a window of the lifted photo equals the same window of the
    whole lift (F.interpolate's bilinear weights, rows and columns apart), so the losses on a
    windowed batch are the per-photo reference on the windows cut from the whole lifts."""
    inputs, targets, full_inputs, full_targets, valid = mixed_batch()
    output = torch.rand(6, 3, 32, 48, generator=torch.Generator().manual_seed(1), requires_grad=True)
    cut = [(0, 0, 30, 40), (17, 55, 38, 41), (11, 24, 30, 40), (26, 0, 38, 41)]  # top, left, h, w
    win_inputs, win_targets, win_valid, lifted = list(full_inputs), list(full_targets), list(valid), []
    for i, (top, left, ch, cw) in enumerate(cut):
        h, w = valid[i]
        whole = ref_lift(inputs[i, :, :h, :w], output[i, :, :h, :w], full_inputs[i])
        lifted.append(whole[:, top : top + ch, left : left + cw])
        win_inputs[i] = full_inputs[i][:, top : top + ch, left : left + cw]
        win_targets[i] = full_targets[i][:, top : top + ch, left : left + cw]
        win_valid[i] = (h, w, top, left) + tuple(full_inputs[i].shape[1:])
    lifts = lift_groups(win_inputs, win_targets, win_valid)
    assert [items for items, _, _ in lifts] == [[0, 2], [1, 3], [4], [5]]
    weights = dict.fromkeys(LIFT_TERMS, 1.0)
    new = shipped_losses(output, inputs, targets, lifts, win_valid, weights)
    for k in LIFT_TERMS:
        ref = sum(REF[k](lifted[i], win_targets[i]) for i in range(4))
        ref = ref + REF[k](output[4, :, :24, :32], targets[4, :, :24, :32]) + REF[k](output[5], targets[5])
        assert abs(new[k].item() - ref.item() / 6) < 1e-5 * max(1.0, abs(ref.item())), k


def test_terms_of_weight_zero_are_zero_and_cost_nothing():
    inputs, targets, full_inputs, full_targets, valid = mixed_batch()
    zero = dict.fromkeys(LIFT_TERMS, 0.0)
    lifts = lift_groups(full_inputs, full_targets, valid)
    terms = shipped_losses(inputs, inputs, targets, lifts, valid, zero)
    assert all(v.item() == 0 for v in terms.values())


def test_auto_loader_workers_leave_a_small_cpus_cores_to_the_network_and_feed_a_gpu():
    from train import loader_workers

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert loader_workers("auto", cpu, cpus=2) == 0
    assert loader_workers("auto", cpu, cpus=16) == 4
    assert loader_workers("auto", gpu, cpus=16) == 12
    assert loader_workers("auto", gpu, cpus=2) == 1
    assert loader_workers(3, cpu, cpus=2) == 3


def test_the_closed_form_fit_is_the_lu_solve_in_float64_also_on_flat_and_grey_windows():
    """fit_affine_planes solves each window's 3x3 system by cofactors, in numpy (prediction) and in
    torch (training): the maps of b15f441's LU solve carried out in float64, to float32 rounding,
    on a photo with a flat patch and a grey patch (its channels equal: singular but for the
    ridge). Measured: 1.3e-4 at most, where b15f441's LU solve in float32 is 5.4e-5 off."""
    import numpy as np

    from inference import fit_maps

    g = torch.Generator().manual_seed(3)
    low_in = torch.rand(40, 56, 3, generator=g)
    low_in[:12, :20] = 0.5 + 1e-4 * torch.rand(12, 20, 3, generator=g)  # flat
    low_in[20:, 30:] = torch.rand(20, 26, 1, generator=g).expand(20, 26, 3)  # grey
    low_out = (low_in**0.8 * torch.tensor([1.1, 1.0, 0.9]) + 0.02).clamp(0, 1)
    ref_a, ref_b = ref_fit(low_in.double(), low_out.double(), ref_box(guided_radius(40, 56)))
    a, b = fit_maps(low_in.numpy(), low_out.numpy())
    assert np.abs(a - ref_a.numpy()).max() < 3e-4 and np.abs(b - ref_b.numpy()).max() < 3e-4
    chw = [t.permute(2, 0, 1) for t in (low_in, low_out)]
    lifted = loss.guided_lift(chw[0], chw[1], chw[0])
    assert (lifted.double() - ref_lift(*(t.double() for t in chw), chw[0].double())).abs().max() < 3e-4


def test_ssim_over_chunks_of_photos_equals_the_whole_batch_and_its_gradient(monkeypatch):
    """ssim_loss on a CPU takes a few photos at a time (CPU_SSIM_PIXELS): uneven chunks (2, 2, 1)
    give the mean and the gradient of the whole batch at once."""
    g = torch.Generator().manual_seed(2)
    x = torch.rand(5, 3, 24, 32, generator=g, requires_grad=True)
    y = torch.rand(5, 3, 24, 32, generator=g)
    values = {}
    for pixels in (2 * 24 * 32, 10**9):
        monkeypatch.setattr(loss, "CPU_SSIM_PIXELS", pixels)
        value = loss.ssim_loss(x, y)
        values[pixels] = (value.item(), torch.autograd.grad(value, x)[0])
    (v1, g1), (v2, g2) = values.values()
    ref = sum(ref_ssim(x[i], y[i]) for i in range(5)) / 5
    assert abs(v1 - v2) < 1e-6 and abs(v1 - ref.item()) < 1e-6
    assert torch.allclose(g1, g2, atol=1e-8, rtol=1e-5)
