"""Each method's value on fixed small tensors equals its paper's formula, written out here in a
few explicit lines (loops where the paper sums), so a change to a term cannot drift silently;
and `auto` taps the layers each method's reference implementation taps."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from distillctl.losses import Step, build_term
from distillctl.losses.crd import nce_loss, other_class_negatives
from distillctl.models import create_model
from tests.test_losses import LABELS, recipe_of


@pytest.fixture(autouse=True)
def _float64():
    """Modules built inside these tests are float64, for exact comparisons; then restored."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def fixed(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


S, T = fixed(6, 5, seed=1), fixed(6, 5, seed=2)  # logits of 6 samples, 5 classes
Y = torch.tensor([0, 1, 2, 3, 4, 0])


def step(student=S, teacher=T, labels=Y, **kw) -> Step:
    return Step(kw.pop("x", torch.zeros(len(student), 1)), labels, student, teacher, **kw)


def kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def softmax(row, t=1.0):
    e = [math.exp(v / t) for v in row]
    return [v / sum(e) for v in e]


def test_ce_with_label_smoothing_is_the_smoothed_negative_log_likelihood():
    eps, k = 0.1, 5
    want = 0.0
    for row, y in zip(S.tolist(), Y.tolist()):
        p = softmax(row)
        target = [eps / k + (1 - eps) * (c == y) for c in range(k)]
        want += -sum(q * math.log(pc) for q, pc in zip(target, p)) / len(S)
    got = build_term("ce", {"label_smoothing": eps})(step())
    assert got.item() == pytest.approx(want, rel=1e-12)


def test_dkd_is_alpha_tckd_plus_beta_nckd_of_the_paper():
    """Zhao et al. 2022, eq. 1-4: b = [p_gt, 1 - p_gt], p-hat over the non-target classes."""
    alpha, beta, t = 1.0, 8.0, 4.0
    want = 0.0
    for s, te, y in zip(S.tolist(), T.tolist(), Y.tolist()):
        ps, pt = softmax(s, t), softmax(te, t)
        tckd = kl([pt[y], 1 - pt[y]], [ps[y], 1 - ps[y]])
        hat_s = [p / (1 - ps[y]) for c, p in enumerate(ps) if c != y]
        hat_t = [p / (1 - pt[y]) for c, p in enumerate(pt) if c != y]
        want += t * t * (alpha * tckd + beta * kl(hat_t, hat_s)) / len(S)
    term = build_term("dkd", {"alpha": alpha, "beta": beta, "temperature": t, "warmup": 0})
    assert term(step()).item() == pytest.approx(want, rel=1e-9)


def pearson(a, b):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    return cov / math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))


def test_dist_is_inter_and_intra_class_pearson_distance():
    """Huang et al. 2022: T^2 (beta (1 - mean_i rho(p_s,i, p_t,i)) + gamma (1 - mean_c rho))."""
    beta, gamma, t = 2.0, 2.0, 4.0
    ps = [softmax(r, t) for r in S.tolist()]
    pt = [softmax(r, t) for r in T.tolist()]
    inter = 1 - sum(pearson(a, b) for a, b in zip(ps, pt)) / len(ps)
    cols = range(5)
    intra = 1 - sum(pearson([r[c] for r in ps], [r[c] for r in pt]) for c in cols) / 5
    term = build_term("dist", {"beta": beta, "gamma": gamma, "temperature": t})
    assert term(step()).item() == pytest.approx(t * t * (beta * inter + gamma * intra), rel=1e-6)


def test_lskd_is_kd_on_z_scored_logits():
    """Sun et al. 2024: z = (l - mean) / std (unbiased, as torch.std), then T^2 KL at T."""
    t = 2.0

    def z(row):
        m = sum(row) / len(row)
        sd = math.sqrt(sum((v - m) ** 2 for v in row) / (len(row) - 1))
        return [(v - m) / sd for v in row]

    want = sum(
        t * t * kl(softmax(z(te), t), softmax(z(s), t)) for s, te in zip(S.tolist(), T.tolist())
    ) / len(S)
    got = build_term("lskd", {"temperature": t})(step()).item()
    assert got == pytest.approx(want, rel=1e-6)


def test_consistency_mse_is_mean_teachers_softmax_mse():
    """mean_i (1/K) sum_k (softmax(s_i/T)_k - softmax(t_i/T)_k)^2 (softmax_mse_loss / batch)."""
    t = 2.0
    want = sum(
        sum((a - b) ** 2 for a, b in zip(softmax(s, t), softmax(te, t))) / len(s)
        for s, te in zip(S.tolist(), T.tolist())
    ) / len(S)
    term = build_term("consistency", {"form": "mse", "temperature": t})
    assert term(step()).item() == pytest.approx(want, rel=1e-12)


def test_consistency_softplus_is_the_one_sided_logit_gap():
    """mean_i (1/K) sum_k log(1 + exp(theta (s_ik - t_ik)))."""
    theta = 0.5
    want = sum(
        sum(math.log(1 + math.exp(theta * (a - b))) for a, b in zip(s, te)) / len(s)
        for s, te in zip(S.tolist(), T.tolist())
    ) / len(S)
    term = build_term("consistency", {"form": "softplus", "theta": theta})
    assert term(step()).item() == pytest.approx(want, rel=1e-12)


def test_pseudo_ce_is_smoothed_cross_entropy_on_the_teachers_top_class_above_a_confidence():
    """Sohn et al. 2020 (FixMatch) eq. 4: (1/B) sum_b 1(max p_T >= tau) H(q_b, p_S)."""
    alpha, k = 0.2, 5
    probs = [softmax(te) for te in T.tolist()]
    floor = sorted(max(p) for p in probs)[2]  # keeps the 4 most confident of 6
    kept = [i for i, p in enumerate(probs) if max(p) >= floor]
    want = 0.0
    for i in kept:
        target = max(range(k), key=lambda c: probs[i][c])
        log_p = [math.log(v) for v in softmax(S[i].tolist())]
        q = [(1 - alpha) * (c == target) + alpha / k for c in range(k)]
        want -= sum(qc * lp for qc, lp in zip(q, log_p))
    unlabelled = torch.full((6,), -1)  # true labels play no part
    # FixMatch's masked mean (eq. 4): the dropped samples count as 0 in a mean over the batch
    term = build_term("pseudo_ce", {"alpha": alpha, "min_confidence": floor})
    assert term(step(labels=unlabelled)).item() == pytest.approx(want / 6, rel=1e-9)
    assert int(term.samples(unlabelled)) == len(kept) == 4
    # mean_over=kept: the mean over the kept samples only
    options = {"alpha": alpha, "min_confidence": floor, "mean_over": "kept"}
    term = build_term("pseudo_ce", options)
    assert term(step(labels=unlabelled)).item() == pytest.approx(want / len(kept), rel=1e-9)


FS, FT = fixed(4, 3, 2, 2, seed=3), fixed(4, 6, 2, 2, seed=4)  # student / teacher maps


def test_plain_feature_matching_is_the_per_sample_mean_squared_distance():
    """regressor=false: L = mean_i (1/d) ||f_i - g_i||^2."""
    term = build_term("fitnet", {"regressor": False})
    term.build_pair(0, ("s", (6, 2, 2)), ("t", (6, 2, 2)))
    g = fixed(4, 6, 2, 2, seed=5)
    want = sum(((a - b) ** 2).sum().item() / a.numel() for a, b in zip(g, FT)) / 4
    assert term.pair_loss(0, g, FT).item() == pytest.approx(want, rel=1e-12)


def test_sp_matches_tung_and_mori():
    """G = F F^T, rows L2-normalised; L = ||G_s - G_t||_F^2 / b^2."""

    def g(f):
        rows = (f.flatten(1) @ f.flatten(1).T).tolist()
        return [[v / math.sqrt(sum(x * x for x in r)) for v in r] for r in rows]

    gs, gt = g(FS), g(FT)
    want = sum((a - b) ** 2 for ra, rb in zip(gs, gt) for a, b in zip(ra, rb)) / 16
    assert build_term("sp", {}).pair_loss(0, FS, FT).item() == pytest.approx(want, rel=1e-12)


def test_pkt_is_kl_between_cosine_similarity_distributions():
    """Passalis & Tefas 2018 (RepDistiller's PKT): K = (cos + 1) / 2, rows normalised,
    L = mean over all (i, j) of p_t log(p_t / p_s)."""

    def probabilities(f):
        e = F.normalize(f.flatten(1), dim=1).tolist()
        k = [[(sum(a * b for a, b in zip(u, v)) + 1) / 2 for v in e] for u in e]
        return [[v / sum(r) for v in r] for r in k]

    ps, pt = probabilities(FS), probabilities(FT)
    want = sum(b * math.log(b / a) for ra, rb in zip(ps, pt) for a, b in zip(ra, rb)) / 16
    got = build_term("pkt", {"eps": 0.0}).pair_loss(0, FS, FT).item()
    assert got == pytest.approx(want, rel=1e-9)


def smooth_l1(a, b):
    d = abs(a - b)
    return 0.5 * d * d if d < 1 else d - 0.5


def test_rkd_is_distance_and_angle_potentials_of_park_et_al():
    es, et = FS.flatten(1).tolist(), FT.flatten(1).tolist()
    n = len(es)

    def dist(e):
        d = [[math.dist(e[i], e[j]) for j in range(n)] for i in range(n)]
        mean = sum(v for r in d for v in r if v > 0) / (n * (n - 1))
        return [v / mean for r in d for v in r]

    def angle(e):
        out = []
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    u = [a - b for a, b in zip(e[j], e[i])]
                    v = [a - b for a, b in zip(e[k], e[i])]
                    nu, nv = math.hypot(*u), math.hypot(*v)
                    out.append(
                        0.0 if nu == 0 or nv == 0 else sum(a * b for a, b in zip(u, v)) / (nu * nv)
                    )
        return out

    distance = sum(map(smooth_l1, dist(es), dist(et))) / (n * n)
    ang = sum(map(smooth_l1, angle(es), angle(et))) / n**3
    got = build_term("rkd", {}).pair_loss(0, FS, FT).item()
    assert got == pytest.approx(25 * distance + 50 * ang, rel=1e-9)


def test_nst_is_the_polynomial_kernel_mmd_of_channel_patterns():
    """Huang & Wang 2017: k(a, b) = (a . b)^2 over L2-normalised per-channel patterns."""
    want = 0.0
    for s, t in zip(FS, FT):
        a = [F.normalize(c.flatten(), dim=0) for c in s]
        b = [F.normalize(c.flatten(), dim=0) for c in t]

        def mean_k(u, v):
            return sum(float(x @ y) ** 2 for x in u for y in v) / (len(u) * len(v))

        want += (mean_k(b, b) + mean_k(a, a) - 2 * mean_k(a, b)) / len(FS)
    assert build_term("nst", {}).pair_loss(0, FS, FT).item() == pytest.approx(want, rel=1e-9)


def test_cc_is_the_taylor_expanded_gaussian_correlation_of_peng_et_al():
    """k(a, b) = exp(-gamma ||a - b||^2) = exp(-2 gamma) exp(2 gamma a.b) for unit a, b,
    expanded to order P; L = ||C_s - C_t||^2 / n^2."""
    gamma, order = 0.4, 2

    def c(f):
        e = F.normalize(f.flatten(1), dim=1).tolist()
        return [
            [
                math.exp(-2 * gamma)
                * sum(
                    (2 * gamma) ** p / math.factorial(p) * sum(x * y for x, y in zip(u, v)) ** p
                    for p in range(order + 1)
                )
                for v in e
            ]
            for u in e
        ]

    cs, ct = c(FS), c(FT)
    want = sum((a - b) ** 2 for ra, rb in zip(cs, ct) for a, b in zip(ra, rb)) / 16
    got = build_term("cc", {"gamma": gamma, "order": order}).pair_loss(0, FS, FT).item()
    assert got == pytest.approx(want, rel=1e-12)


def test_vid_is_the_gaussian_negative_log_likelihood_after_pooling_the_larger_map():
    """Ahn et al. 2019 / RepDistiller VID: 0.5 mean((mu - t)^2 / var + log var), var = softplus
    + eps per channel; the student's 4x4 map is pooled to the teacher's 2x2 first."""
    term = build_term("vid", {})
    term.build_pair(0, ("s", (3, 4, 4)), ("t", (6, 2, 2)))
    student = fixed(4, 3, 4, 4, seed=6)
    regressor = term.regressors[0]
    assert [m.kernel_size for m in regressor if isinstance(m, torch.nn.Conv2d)] == [(1, 1)] * 3
    assert all(m.bias is None for m in regressor if isinstance(m, torch.nn.Conv2d))
    mu = regressor(F.avg_pool2d(student, 2))
    var = torch.log1p(torch.exp(term.log_scales[0])) + 1e-5
    want = 0.0
    for n in range(4):
        for c in range(6):
            for i in range(2):
                for j in range(2):
                    v = var[c].item()
                    want += 0.5 * (
                        (mu[n, c, i, j].item() - FT[n, c, i, j].item()) ** 2 / v + math.log(v)
                    )
    assert term.pair_loss(0, student, FT).item() == pytest.approx(want / FT.numel(), rel=1e-9)
    assert var[0].item() == pytest.approx(5.0, rel=1e-9)  # init_variance


def test_crd_nce_loss_is_the_reference_formula():
    """RepDistiller crd/criterion.py: -(log P/(P + K Pn) + sum log K Pn/(Q + K Pn)) / batch."""
    scores, n_data = fixed(3, 5, seed=7).abs(), 50
    k = 4
    want = 0.0
    for row in scores.tolist():
        m = k / n_data
        want -= math.log(row[0] / (row[0] + m + 1e-7))
        want -= sum(math.log(m / (q + m + 1e-7)) for q in row[1:])
    assert nce_loss(scores, n_data).item() == pytest.approx(want / 3, rel=1e-12)


def test_crd_negatives_are_distinct_samples_of_other_classes():
    index = torch.arange(0, 200, 7)
    negatives = other_class_negatives(LABELS, index, k=150)
    assert negatives.shape == (len(index), 150)
    assert not (LABELS[negatives] == LABELS[index][:, None]).any()
    assert all(len(set(row.tolist())) == 150 for row in negatives)


def test_crd_caps_negatives_at_the_smallest_other_class_pool():
    student, teacher = _models((1, 40))
    crd = recipe_of("crd").bind(student, teacher, (1, 40), LABELS).terms[0]
    assert crd.k == 200 - 20 and crd.sampling == "other_class"  # 10 classes of 20
    uniform = recipe_of("crd", crd={"sampling": "uniform", "negatives": 64})
    assert uniform.bind(student, teacher, (1, 40), LABELS).terms[0].k == 64


def test_e2kd_compares_grad_cam_maps_resized_to_the_input():
    """The official code: ReLU(sum_c mean(dy/dA_c) A_c), resized to the image, then 1 - cos."""
    student, teacher = _models((1, 8, 8))
    x = fixed(5, 1, 8, 8, seed=8)
    s_feat, t_feat = {}, {}
    student.features.register_forward_hook(lambda m, i, o: s_feat.update(a=o))
    teacher.features.register_forward_hook(lambda m, i, o: t_feat.update(a=o))
    xs = x.clone().requires_grad_(True)
    s_logits, t_logits = student(xs), teacher(xs)
    target = t_logits.argmax(-1)

    def cam(logits, a):
        (g,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), a, retain_graph=True)
        m = F.relu((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
        return F.interpolate(m, size=(8, 8), mode="bilinear", align_corners=False).flatten(1)

    want = (1 - F.cosine_similarity(cam(s_logits, s_feat["a"]), cam(t_logits, t_feat["a"]))).mean()
    term = recipe_of("e2kd", e2kd={"layers": ["features"]})
    term.bind(student, teacher, (1, 8, 8), LABELS)
    total, values = term(student, teacher, x, torch.zeros(5, dtype=torch.long))
    assert values["e2kd"].item() == pytest.approx(want.item(), rel=1e-5)
    feature = recipe_of("e2kd", e2kd={"layers": ["features"], "resize": "feature"})
    feature.bind(student, teacher, (1, 8, 8), LABELS)
    _, other = feature(student, teacher, x, torch.zeros(5, dtype=torch.long))
    assert abs(other["e2kd"].item() - want.item()) > 1e-4  # the option really differs


def test_saliency_match_is_at_on_input_gradients():
    """Zagoruyko & Komodakis 2017, sec. 3.2: normalised |dy/dx|^2 channel means, then MSE."""
    student, teacher = _models((1, 8, 8))
    x = fixed(5, 1, 8, 8, seed=9).requires_grad_(True)
    target = teacher(x).argmax(-1)

    def amap(model):
        (g,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
        return F.normalize(g.pow(2).mean(1).flatten(1), dim=1)

    want = (amap(student) - amap(teacher)).pow(2).mean()
    recipe = recipe_of("saliency_match")
    recipe.bind(student, teacher, (1, 8, 8), LABELS)
    _, values = recipe(student, teacher, x.detach(), torch.zeros(5, dtype=torch.long))
    assert values["saliency_match"].item() == pytest.approx(want.item(), rel=1e-5)


def _models(shape):
    torch.manual_seed(0)
    with torch.no_grad():
        if len(shape) == 3:
            s = {"arch": "cnn", "num_classes": 10, "channels": [8, 16], "hidden": 32}
            t = {"arch": "cnn", "num_classes": 10, "channels": [32, 64]}
        else:
            s = {"arch": "cnn1d", "num_classes": 10, "channels": [8, 8, 8]}
            t = {"arch": "cnn1d", "num_classes": 10, "channels": [32, 32, 32]}
        student = create_model(s, shape)
        teacher = create_model(t, shape).eval().requires_grad_(False)
    return student, teacher


REFERENCE_TAPS = {
    # RepDistiller helper/loops.py: feat[1:-1] | feat[hint_layer=2] | feat[-2] | feat[-1]
    "at": ["features.block1", "features.block2", "features.block3"],
    "nst": ["features.block1", "features.block2", "features.block3"],
    "vid": ["features.block1", "features.block2", "features.block3"],
    "fitnet": ["features.block2"],
    "sp": ["features.block3"],
    "e2kd": ["features.block3"],
    "rkd": ["head.0"],
    "pkt": ["head.0"],
    "cc": ["head.0"],
    "crd": ["head.0"],
}


@pytest.mark.parametrize("name", sorted(REFERENCE_TAPS))
def test_auto_taps_what_the_reference_implementation_taps(name):
    student, teacher = _models((1, 40))
    recipe = recipe_of(name)
    recipe.bind(student, teacher, (1, 40), LABELS)
    term = recipe.terms[0]
    assert term.student_layers == term.teacher_layers == REFERENCE_TAPS[name]


# --- the transformer terms (TinyBERT, MiniLM), on per-token tensors with padding -------------

MASK = torch.tensor([[True, True, False], [True, True, True]])  # text 0 has 2 real tokens


def _text_step(student_features, teacher_features):
    x = torch.ones(2, 3, dtype=torch.long)
    x[0, 2] = 0
    return step(
        fixed(2, 3), fixed(2, 3, seed=3), torch.tensor([0, 1]), x=x, mask=MASK,
        student_features=student_features, teacher_features=teacher_features,
    )  # fmt: skip


def test_tinybert_hidden_mse_is_the_mean_squared_error_through_one_map_over_real_tokens():
    term = build_term("hidden_mse", {})
    term.pairs_ = [("se", "te"), ("s0", "t1")]
    term.fit = torch.nn.Linear(2, 3)
    s_e, s_0, t_e, t_1 = (
        fixed(2, 2, 3, seed=4),
        fixed(2, 2, 3, seed=5),
        fixed(2, 3, 3, seed=6),
        fixed(2, 3, 3, seed=7),
    )  # noqa: E501
    value = term(_text_step({"se": s_e, "s0": s_0}, {"te": t_e, "t1": t_1}))
    w, b = term.fit.weight.detach(), term.fit.bias.detach()
    expected = 0.0
    for s, t in ((s_e, t_e), (s_0, t_1)):  # channel-first (B, d, L)
        errors = []
        for i in range(2):
            for pos in range(3):
                if not MASK[i, pos]:
                    continue
                fitted = w @ s[i, :, pos] + b
                errors += [float(e) ** 2 for e in fitted - t[i, :, pos]]
        expected += sum(errors) / len(errors)
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_tinybert_uniform_layer_mapping_takes_the_last_teacher_block_of_each_group():
    from distillctl.errors import ConfigError
    from distillctl.losses.transformer_taps import layer_map

    assert layer_map("uniform", 2, 4, "k") == [1, 3]  # task_distill.py: i * 2 + 2 - 1
    assert layer_map("uniform", 3, 6, "k") == [1, 3, 5]
    assert layer_map([0, 2, 4], 3, 6, "k") == [0, 2, 4]
    with pytest.raises(ConfigError, match="cannot be mapped uniformly"):
        layer_map("uniform", 3, 4, "k")
    with pytest.raises(ConfigError, match="must name one teacher block"):
        layer_map([0, 9], 2, 4, "k")


def test_tinybert_attention_mse_zeroes_masked_scores_and_averages_real_pairs():
    term = build_term("attention_kl", {"form": "mse"})
    term.pairs_ = [("s", "t")]
    s, t = fixed(2, 2, 3, 3, seed=8), fixed(2, 2, 3, 3, seed=9)  # (B, heads, L, L)
    value = term(_text_step({"s": s}, {"t": t}))
    squares = [
        float(s[i, h, q, k] - t[i, h, q, k]) ** 2
        for i in range(2) for h in range(2) for q in range(3) for k in range(3)
        if MASK[i, q] and MASK[i, k]
    ]  # fmt: skip
    assert float(value) == pytest.approx(sum(squares) / len(squares), rel=1e-12)


def test_minilm_attention_and_value_relation_kl_per_head_and_real_query():
    attention = build_term("attention_kl", {"form": "kl"})
    attention.pairs_ = [("s", "t")]
    p_s, p_t = fixed(2, 2, 3, 3, seed=10).softmax(-1), fixed(2, 2, 3, 3, seed=11).softmax(-1)
    rows = [(i, h, q) for i in range(2) for h in range(2) for q in range(3) if MASK[i, q]]
    expected = sum(kl(p_t[i, h, q].tolist(), p_s[i, h, q].tolist()) for i, h, q in rows)
    value = attention(_text_step({"s": p_s}, {"t": p_t}))
    assert float(value) == pytest.approx(expected / len(rows), rel=1e-12)

    relation = build_term("value_relation", {})
    relation.pair = ("vs", "vt")
    v_s, v_t = fixed(2, 2, 3, 4, seed=12), fixed(2, 2, 3, 5, seed=13)  # head widths differ

    def vr(v, i, h, q):  # softmax over the real keys of v_q . v_k / sqrt(d)
        keys = [k for k in range(3) if MASK[i, k]]
        scores = [float(v[i, h, q] @ v[i, h, k]) / math.sqrt(v.shape[-1]) for k in keys]
        top = max(scores)
        exp = [math.exp(z - top) for z in scores]
        return [e / sum(exp) for e in exp]

    expected = sum(kl(vr(v_t, i, h, q), vr(v_s, i, h, q)) for i, h, q in rows)
    value = relation(_text_step({"vs": v_s}, {"vt": v_t}))
    assert float(value) == pytest.approx(expected / len(rows), rel=1e-9)


def test_transformer_terms_refuse_networks_without_per_token_states_or_other_head_counts():
    from distillctl.errors import ConfigError

    spec = {"num_classes": 3, "vocab_size": 50}
    teacher = create_model({"arch": "transformer", **spec, "d_model": 16, "heads": 4}, (8,))
    for name in ("hidden_mse", "attention_kl", "value_relation"):
        with pytest.raises(ConfigError, match="declares none"):
            build_term(name, {}).bind(create_model({"arch": "bow", **spec}, (8,)), teacher)
    two_heads = create_model({"arch": "transformer", **spec, "d_model": 16, "heads": 2}, (8,))
    with pytest.raises(ConfigError, match="the student has 2 heads and the teacher 4"):
        build_term("attention_kl", {}).bind(two_heads, teacher)
    build_term("hidden_mse", {}).bind(two_heads, teacher)  # hidden states: any head count
