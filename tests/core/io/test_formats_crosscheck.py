"""Cross-checks against independent implementations.

- gsplat's `export_splats` (format="ply_compressed" and "splat") writes files our readers must read
  back close to the input. gsplat keeps SH bands 1–3 in its compressed PLY (8-bit, [-4, 4]),
  drops splats with opacity < 1/255 and sorts splats in Morton order.
- Niantic's reference C++ library (nianticlabs/spz, built from source) wrote the embedded `.spz`
  files below from the embedded input, as versions 2, 3 and 4: our encoder produces byte-identical
  payloads and our decoder reads theirs. REF_DECODED_OURS_V3 is what the reference decoder made of
  our v3 encoding of the same input (via its PLY writer: logit/log float32 round trip).
"""
from __future__ import annotations

import base64
import gzip
import zlib

import numpy as np
import pytest
import torch

from avatar_studio.core.gaussians import SH_C0, GaussianSet
from avatar_studio.core.io.compressed_ply import decode_compressed_ply, encode_compressed_ply
from avatar_studio.core.io.splat import decode_splat, encode_splat
from avatar_studio.core.io.spz import decode_spz, encode_spz
from support import random_gaussians


def _b(*chunks: str) -> bytes:
    return zlib.decompress(base64.b64decode("".join(chunks)))


def _gsplat_bytes(g: GaussianSet, fmt: str) -> bytes:
    from gsplat.exporter import export_splats
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))  # noqa: E731
    logit = np.log(g.opacities / (1 - g.opacities))
    return export_splats(t(g.means), t(np.log(g.scales)), t(g.quats), t(logit), t(g.sh[:, :1]), t(g.sh[:, 1:]),
                         format=fmt)


def _gsplat_order(g: GaussianSet) -> np.ndarray:
    """Indices of g in the order gsplat stores them (opacity filter, then Morton sort)."""
    from gsplat.exporter import sort_centers
    keep = np.nonzero(g.opacities > 1 / 255)[0]
    order = sort_centers(torch.from_numpy(g.means[keep]), torch.arange(len(keep))).numpy()
    return keep[order]


def _angle_deg(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    b = b * np.sign(np.sum(a * b, axis=1) + 1e-300)[:, None]
    return np.degrees(4 * np.arcsin(np.clip(np.linalg.norm(a - b, axis=1) / 2, 0, 1)))


@pytest.mark.parametrize("degree", [0, 3])
def test_gsplat_compressed_ply_reads_back(rng, degree):
    g = random_gaussians(900, rng, degree)
    g.sh[:, 1:] = np.clip(g.sh[:, 1:], -3.9, 3.9)
    r = decode_compressed_ply(_gsplat_bytes(g, "ply_compressed"))
    ref = g.subset(_gsplat_order(g))
    assert len(r) == len(ref) and r.sh_degree == degree  # gsplat keeps the SH bands
    ext = g.means.max(0) - g.means.min(0)
    assert np.all(np.abs(r.means - ref.means) <= ext / 2046 + 1e-6)
    assert np.abs(np.log(r.scales / ref.scales)).max() <= np.log(g.scales.max() / g.scales.min()) / 2046 + 1e-5
    assert np.abs(r.opacities - ref.opacities).max() <= 1 / 510 + 1e-6
    rgb_range = (g.sh[:, 0].max(0) - g.sh[:, 0].min(0)) * SH_C0
    assert np.all(np.abs(r.sh[:, 0] - ref.sh[:, 0]) * SH_C0 <= rgb_range / 510 + 1e-5)
    assert _angle_deg(r.quats, ref.quats).max() < 0.25
    if degree:
        assert np.abs(r.sh[:, 1:] - ref.sh[:, 1:]).max() <= 1 / 64 + 1e-6


@pytest.mark.parametrize("degree", [0, 1, 3])
def test_our_compressed_ply_packs_like_gsplat(rng, degree):
    """Given gsplat's splat order, our writer packs the same bits: only float ties may differ
    (we quantise in float64, gsplat in float32)."""
    g = random_gaussians(700, rng, degree)
    g.opacities[:] = np.clip(g.opacities, 0.01, 0.99)
    ours = encode_compressed_ply(g.subset(_gsplat_order(g)), sort=False)
    theirs = _gsplat_bytes(g, "ply_compressed")
    body = lambda d: np.frombuffer(d[d.index(b"end_header\n") + 11:], np.uint8)  # noqa: E731
    a, b = body(ours), body(theirs)
    assert a.shape == b.shape
    assert np.count_nonzero(a != b) <= max(2, a.size // 2000)


@pytest.mark.parametrize("degree", [0, 2])
def test_gsplat_splat_reads_back(rng, degree):
    g = random_gaussians(500, rng, degree)
    g.sh[:, 0] = np.clip(g.sh[:, 0], -1.7, 1.7)
    r = decode_splat(_gsplat_bytes(g, "splat"))
    order = np.lexsort(g.means.T[::-1])
    back = np.lexsort(r.means.T[::-1])
    ref, r = g.subset(order), r.subset(back)
    np.testing.assert_array_equal(r.means, ref.means)  # float32 verbatim
    np.testing.assert_allclose(r.scales, ref.scales, rtol=1e-6)
    assert np.abs(r.opacities - ref.opacities).max() <= 1 / 255 + 1e-6  # gsplat truncates
    assert (np.abs(r.sh[:, 0] - ref.sh[:, 0]) * SH_C0).max() <= 1 / 255 + 1e-6
    assert _angle_deg(r.quats, ref.quats).max() < 1.8  # gsplat truncates: up to 1/128 per component


def test_our_splat_matches_gsplat_records(rng):
    g = random_gaussians(300, rng, 0)
    ours = decode_splat(encode_splat(g))
    theirs = decode_splat(_gsplat_bytes(g, "splat"))
    a, b = np.lexsort(ours.means.T[::-1]), np.lexsort(theirs.means.T[::-1])
    np.testing.assert_array_equal(ours.means[a], theirs.means[b])
    assert np.abs(ours.opacities[a] - theirs.opacities[b]).max() <= 1 / 255 + 1e-6  # we round, gsplat truncates


# ---------------------------------------------------------------------- Niantic reference
INPUT = _b(
    "eNpdl/lbzWvUxutszVJKNGkuSpHSvL9rNexd7fY3nFSkwZAyHZlnp+iQhkOiyJAhU0nkSKj2sxDShEQIEUnGUIaIXnmv95f3ua7nD1jPfd+f"
    "dT91tbVcbGws1tXyLLPEHCvai+ClVzKz1jajpLdS7v+unJwcyv2/4xgqRs6qAcqLTPFupAVOS9zGPFb64uGETcK9BiKa0HwQQt4b0YQvVlRd"
    "W8G2rvejMcvVZaoGAbS4o4B9MjTExpGDaVNPGeit8Ec5jc3c54kS7P/mNDz8NgLXDtPDJzrF7NwkL4zLCJE9WONPz04nQmeKNT1TN6QSr6ds"
    "/iVvmvJ6AGflwlOJehq73m8Yhqep0PfbTfBikAhVk9Qh/o4UO0K3gfoGwFUdYzwrreeBm60Ntu2ScBtUTUmuqpY52T7mHiZu58YkqUI0twi/"
    "b8uGaSk6mHNrEpoYZYJSjRS9WtRgn6MIQ0yaILZJhV5dtcINjWns20ieoj2VufBn3rQlvYV1BRlSV6A1ucX/A52x/jSnfazs9mov/Bxymo2P"
    "08OqCyPwZkExBIkk+KQslWvc5I9noAzClw+mS3cN0OHUcVagEkADzQbJ0vf4kf7ACqbtNIxeHDeirwcOQXmPD929u0u4bJsvapZtZUtyLNBw"
    "vimaPmqAZDcxamXcKe33PhX1RnzB3ktm5KKjg19Dt7Py3JEU5p0PafJKUPnmJjcu0pPLNL7ye86/y1Jwe+d/aKCriheOOWPmClO2YDiPST8N"
    "wFXqQrr9WuBtjSKd2edKEw3Xs/qlPAUF2THzHV40d3I7y58vQM9tI+jjnOVQe4xHN7NkmYu+JwqyOqDr5GDU77TDwoRY1vFdgv9NLuAik4BG"
    "x1+CyXna5AD2dMf9MOs8FkBn46/LGo76krpHNTNN18RCD1OaopcDV72keNIfPC4ni7HycT2gpdkvn5ij9fNM1pq5DLtXdLKv9iK2Am7A3X8V"
    "yO8wMUGhFRaE7OEiV8mDZO924cvLx7g+PfvmTP9WirMWuODkemVsWv2QJa52xYypA5njWyndUrMFwzgnWq/dn46eFJBmhDvlPO7lzh/lKYnn"
    "2PBQR1yt3sHuiuRwqpUQDS/MBO2rPB5cNhbeHQLca/cZFmR1s93a9igtC2U9NTx9fVHD/dEjpKn2P5hHtSa5Sx3o3h4xrHKR0thP72TJQg+U"
    "jq9nggPquGXeGDy1Ngsaz0pRo1MZ7s8W4f1H96A1VpUulzTDlbeRZH9xFjz9IxdWjo+kr6v3cHO1L8N+ecFv/9aaxXByb1x/a6r2mjCqaB02"
    "dkmxpW0LyDlY0uZGNZSk3GFLPomowE2eKSVK6Yb5TvZXvCOBigZteV8HIQpCil76mHv7OQDDHANZbtBofGijhZV636CplMOKiHLZ9Foei32j"
    "4MTAUdSvsAdeqXSy0jCkN098WV4ZT8k4n42N8qD2KnlSe/Qa5HzHUPpxJ4jfymNJvhIzTnXDm3YKOOOQKsYGO+M/0y2Yqh6P6tp6ULPPhfJj"
    "17Kx4mOoVWdOKcJwrj3GiUb7qqC/+0u2cfFOoYXZD656qApM6gnH7+kHsDrrBB6+NAnWNYtQZ8bDsgnVYnqcnA21MjOKDTGnB2uvs/OqviSq"
    "ty3v94eUXhTvZ4/7meCE9wMptP4qBBr7oX8X41ZNDcCLdXnQJRyFNfI6OFiVWLsHYtHV3bJrRyQkkIuDg+22tFpel9bGvGG5VzxJoL6Qi9zO"
    "09LmeFaUYIMh7/rRRqPnMNnVGwvyLSErlEe4sRFKLrtgso8yOpU/YhnDXXFa4CA2+6eUfmwQU/NsN8+KLA/W1DoITtg1QprInMInmKJrULlw"
    "/uRrXF3gCO6vBA76/NunafJba+o2M8dTQTvYxhwp7fswROheJCKHMXdZh6sJZV2xpKaB6VCi5kd/L7xfrjHbB1Od8tjYuKE4O3g4Xsgh8Ff1"
    "R4NZjlzgGQle9iiCZ1v0aWXVEAy7eJZ9e+9PwV7LZOOe+1OX7TnWWmhDUef0qd+Nk1A71JuUjoziJv7ww8OjN7JBDsOxJnMobvJvBvXVPpj0"
    "ur6cFHgsTEwHh1xL4qVqeLKukXVfEP3i4TQ68OwyvnOdAV8CeyDmvyBouyOlpG0ZcHb6OK4wZTP30GGnMMs6GhrGyLAwVw5PTTxKykcaISJC"
    "japanCjgRDo7K+AJ3XXYj3U+NN+0mW0arIw1FsNpZ+RG2DGZR1WHkTIXS28MSnwOeyv1UeGADSZ0/82uPfHHB3VLONEpTyrdcRb07g+hFmU7"
    "qokpYqJTEnI/kiMTa/jTjiXElt4bhLOnDKWfU/KgcHYADp38UGg/0A93uleCZ4MlzrMxQT3f/aw8X4TZFUPLw76Lae6wHaA22pyCn5rREHll"
    "WrnIi3qvW1B+8wjsdV/P1njOYXtfDSPt+Jb/ZXDSWu5s9/TfWZVOOC1b40N07YM2kIMrmSQrUXuwMsWVulCMlS4IQn55bKwl++jqjG++tDI1"
    "OQXMOuiGn50TgM/iceYOZ/i7zhNX4BsI3C1Pwx/aolFYHLOW8SRW3815iJDq53SyioE61GY/im5HRUJbRABJPJjM6hCHe/Ousjw5LSxbMBrL"
    "Hu+H9z8DMDuohTui6YsHJ10H4+YBlH/SDHWKsxklS0nxwk2P160iUnx/h5kIO7jx5cZU+92BdS3UQe2AV2x5zmb4McqQFFYq/ubT4RcKEFFs"
    "95u/ff59E5VJqXF67JM+T4LCTaw3ypm8tqnSoeX3wHutG21WUIZ9p6TI/nRian+OwTW16vjygTy2BXtgge5b2YAyHrcl+UKGnQPNa/0I+fU9"
    "bKQ2R6H7o5iklqczByeynAqOWru6WVDdJ/juO5rWbQoE7Ss8PipvlqUPEGLFYjl8oaeBTosd0Xy6kM1OkGLxIznQ8HGntGl3IP2FGglSnShO"
    "K4Od/yil7EAt9qTKC0UVzRicMQVUrutinuMgenWgPxbdzZNt+LKTex1GwjUvdbmW7hSuj0vhYzNowo5GFqZwn3lGi2jI9AihW6mUQkOy2OtK"
    "cxy9RZ3+XFEPudlizCjs4CLdpbgtOQcKQx2w4rwmSm5VMeVOIV7dXyvzzA2gOdNCId7YnjRuadPtoM9s7h6g9NX53MKrPF2LnckCGuywyEGO"
    "Ahw7YMAoTzQ9ykF2Ho8bx6+Akhh3rM8RoMOXF2xstBM2x9qyPxfx9KrfQMjZ4EpctyIVPlUm9VgXUtYyAD1JGlq2u3ievmZJt7Yq4q3BCrTP"
    "SoDzzz2GWnV5bsbqHGHpqxxhYcEjcPHYjZZnSijJpwPkvpmTwhAz2rB+F+xNFFOs3LAysbUYI9/tYUoBpuh50QJTo6vBOtcXRVG5Qv5EALpp"
    "HobrSUbkkq2NNkcvsd58P3qnfVxW2SuhqUaFLLrXjkbtH0zpDaVgruVJdx4kc1ZuEhyutZx92jcCbbfrYcXadkhJ98IbVlLZsOU8+rz/B9Rs"
    "rSmmVBF7bVrY7U/e9DHMkPna8PSf37/M94wzvVRUpfDS+5A9dQl+uLYZi6Nt2ALUwqVtn1hbdwkMkmlg19tsYV+PuFaazunaLf7N4L6sRk7P"
    "xjoUk/hMA9Pd2x93pltQSttWCHwgRfmOHeVrBCK84P4A9pUZ4f5hw3DmnlQWtsMP3xZqcZUnvelr0nF41GZAxQXWZDSrjA1N8ae7QWGyff4S"
    "UkgsZgm9uvgsSo8aEk7Dx+kStI8Yz9Fcf0yaWQ7q4db40scQDRILmMNDb8wqVpF1LvMjOpYG825bkf9gY5L5NbEPtiLS6d4gDK6T0pmP29gz"
    "NwvUzGwENm4pna+eDFKFGJx5tomZpQrYyTmN5ZURTLh1e55QoCEP4V/b4H6nGLfsy6eZ5wg9GqQ0zkadXfzgijmFTWzXHhVU+uyM69zSINqJ"
    "R4PNRnCgyhtb9Z+C4lhFerrGGvs9SWQjEn6999BgbsZULxo57yXrctYj53cj6ObbJXB6goQWhGySaT9BtGsoY/kwGBWlI/GM3nEQDwnA4WlF"
    "XH2KHz49WAELxmjT4RYj7FU+xM5fCqDEWVvKv8T7EkTWsPNzLWhhrimVtO6GL+PElO5d6vZXhBi75iezhH/3MsNSK2r4dBWY/RsueJQWhV5w"
    "puNtQdygj/eE/ZVVuJ7otVzfvlGZtYhQ5xAuuulMg0ab/PoT8BjpO5S9tHTBhYEqqLBJEasqXPHb9QEsfdWvHpQ9EmaaONGTZ+2QNUpA2gfc"
    "aantMlZeyJNTIzKnH0gzDN+zr+t7wch4JOliDKy5xmPPx0LZ8ZmA6PoFFsVpY8Ese4x0DmYvSgIwWKeem10mJJfaauiYoEk2OQ6km7CHfZBK"
    "6bxRlyx/kZiM599iDsPVsb/RL89JMuHsNSla7PqVGQMlT/3rpmyAZAiMULoHDYqONLFqAClWPeOGuehzrm2HhBqR1r/7Uh+Xnnsa4UINFVLp"
    "eAALWn3w1hBNiHsuRT3jrTDezwmnj++PPXNvswPx7nhO+kOmPF9K8zIArto5UuZaDSoWyJHUT0hbJU3cpEqeqs+PY/d/2qPg9Gf2QbMb1nRz"
    "2LYiBJbU8BhRNRWuPBBixukfQD0fmNcSBzw0ScSMz/I0JPUDd1Dfg94E/EFHZqiTIGsMdZo4wsQLUgoSqjI7HzdcMvc+461V0WW/M/4PzbrJ"
    "dQ==")
REF_V2 = _b(
    "eNoB1gIp/R+LCAAAAAAAAANl0l9IFEEcB/CxC1+S9AJhKYoRKi5IXSLqgoQh0M4HY8GIw8DG4zi6rG76YxJqN09iBLFimEjBgiFnZWzk4foQ"
    "bBR5L8FAPVwEMQXB9VQqZ5Ee08yupinLPuyX3f3t57ffUydbjS0AgCp5BioAGC0Die3g3bIobAPHa0E2ANqD4Nse8KEokpUg/lv8WBaL5aBm"
    "XowFQGlJNFeD10WRWRBtdWBHSXyZEw80MBgA9Jf4viBeFMXnMrB1URwuid0VIL8L3AqAZBD8qQVjRdFUCT4GwZmSyJaDJz9FZwC8XBIVS+Je"
    "UfQviNkacLMk6Fys2vlUf+zrZPDy/LWqCUrpnWFreCJrZacnZsbtqYHseMIZapnpbZpOtE6dTj1rHhxvmnzYMjN09vlA6j4hpO8GpT2p7jRO"
    "0qs4TeM9l0gX7ktdp8l0d7wz2dGBcVc8lr6SuNB3Mfa0vb6/vqXtwOMG433wtr3vTWO2jo3ufHQudrBx7NCRt10Nr6ZPTM42p3rvHt2b3R+m"
    "3GEsyim0dd2AFBpMt7nJbcYMGVq6jmSIGVKhlSmY3AkzrMn7dN2ClBuMebfrzHtY120ZYhXSXJ4UzJCDQhgSiFzd4oS7jGFu+rOImmVxqmZh"
    "notwoo2EwgiakHDkckseLuJYXiMELRkaKpSzUCGj5yKQaFGIbGhyzJkr323pLoJYHsiVoZylQhNKRcan4RUalzTi00xFcxWNuypkUUmL6Hpm"
    "lUY301wZylkGdMIhrBEYyXmKTTR7leat0QwhFDK183nkK1zEPJpao6Qx7n2aCuUsouFQ2IFmYUVhwTWav0aPZquQRCDVoizseIpNtJU1En+N"
    "pk+LrqMRn2b+RyNqlq1omYLXELyhIXRdQ/zdaoRHcnmrMOLT6BptQ0NUbUIjkpbzf5BHW9cQjv/RoKFCRStk8qohsgfIo21uiOk35C9panp+"
    "EAQAAKjHWC0=")
REF_V3 = _b(
    "eNoB6QIW/R+LCAAAAAAAAANl0lFIFEEYB/CRCyGS1KLYiGwk0nux9iHsBB/mJTsJ7cCQKyFGOaTL6iZNJdRuXgqhlxVFJQwWRDkRYyMPzyJa"
    "6qEriOahh6sgpkC46MFUTkM9ppldTVOWfdg/u/vt79t/7fm6gAcAUCBPTx4Aj3JA837wYV2k94HKMhD3gKuFYK4IfMqIcD4I/RHz62I5FxQv"
    "ilEPyK6J6kPgTUbElsSVU+BAVnxfECMa6PMAuiJ+LolnGfEtB+xZFmey4lgeSB0F9zwgXAhWy8BoRlTlg8+FoD4r4rlg8rdo8YCXayJvTQxk"
    "xIMl8bYY3M0KutB0KPH1dMWPqcJbi20FE5TSh4Pm4ETcjM9MzI5b073x8eZEf81sd9VMc930pciT6r7xqqnHNbP9DU97I0OEkJ4OSrsinVEc"
    "pq04SkNdN0k77oncoeFoZ6gl3NiIcXuoKXq7+XrPjab3nsmPxccvvh57daHmZMXIzFx994nSknO+cNF8a+hsQ/jL0PNf46UvBirLS1Yr391f"
    "Gdw7nTnYcXnpSGf5WEvt4TbKE4wFOYWWrgcghQGmW9zgFmMBGZq6jmSIGVKhGUsbPOFjWJP36boJKQ8w5tyuM+dhXbdkiFVIkymSNrwJ5MWQ"
    "QGTrJifcZgxzw51F1CyTUzUL86SfE23Y60PQgIQjm5vysBHH8hohaMowoEI5C6VjetIPiRaEyIIGx5zZ8t2mbiOI5YFsGcpZKjSgVMRcGt6g"
    "cUkjLs1QNFvRuK1CFpQ0v67HNml0N82WoZwVgAmfF2sE+pOOYhfN2qQ5azS8CHkN7VoKuQobMYem1ihpjDufpkI5i2jY60tAI72hMOEWzV2j"
    "Q7NUSPyQakHmSziKXbSNNRJ3jYZLC26jEZdm/EcjapalaLG00xC8oyF0W0Pc3WqE+5MpMz3s0ugWbUdDVG28w5KWdH+QQ9vWEI7/0WBAhYqW"
    "jqVUQ2QPkEPb3RDDbchff/r0cSAEAAAs2Gcg")
REF_V4 = _b(
    "eNrzcw8OYGFgYBAAYmYeBjYFBlQwE0pPgNKSUFoASltCaQMcfE8o7QClLRgh9AUmCK2xVf+vwoRGFoZZjAxpfAxn//x/wc1go8uwlZkhTpDh"
    "qRzDla//M/kZUn78f//n/zc2BsVP/xczM/z9/d9TlOHw1/8rPv+P0mMQ+vv/4cf/cyQYJjIzNHz///Lz/81f/99jZGD59t/k739ZHoYb0gx1"
    "zAyZggy/dBkWf/3vxs9wU5Ah7O//rWwMqz/8z2Zm2Pv7P8/v/1O+/m/7/P+4IkPl3/9ghwk0MjA0fEwS3XFb3/LRWsG8T8UCK8ESBo2MDA0N"
    "Dd3TFkxbuXXB1u0rdy7bsKVj67K0HZN9d9a4bU8L3hKSv85z4jK3tXN9d06O3tiRPx2usaCgoLasoaE6v7w+IbOhKKG+IaU6t6A0oTa/pCGz"
    "vjwlOzMxMSGhNCWpvjAtqzYnCazRgZGJ4RTz6vOK8v6Hlu739lW1nLP9aViNsrqaq0Wm3PuiFPPozFvTd71epr57io2Z2i+bk63fp3Fu+Spc"
    "FvlZstxsabafWDHIoIQLjKWcDNcuG8tsUH15ge2odYTsqja5iSFrbI6tepj1wPjDOin35UyaDFoMOgyhxzI2t85z3/0sY62RW5GZxjz2heeV"
    "bydvCV35MU3ctj+r9+IyLkn7N2LH22fOv5rmNz96V9z8N8+3sKo23GF9zL5+uv3ul+VrU+zmJ7mefMzEJvd23uLAnwwMJ5PChATjTgvUPJmy"
    "YMNBdZVVLYmXg+/xJ+75/ONG0Mv3mfXz3J41zmFd3OH/7LlNWmmDxaXLHBpdjO1sPA/deZIKbThKKp1niR3kY9GVidoq91JJo13mV1iu84qH"
    "FeHKS8tebWFzMNbM4Cu4NUFsSYDV6TlbovsPl/PMnb6juulYvEP4VkHegG28K73O/LuhPFFE7Y2qt6eQg/DDrf63zj3W6510/uKyx+9STO5l"
    "17dVtyeEHHRZFn9tFQAkAURw")
REF_DECODED_OURS_V3 = _b(
    "eNqtlwFMVVUYx89ghCjlGz2gLUmRNCWzFxjSfOd81xYTERZLbTOHgZHRrGWmbaW0GzP3BGLilFIkn0wSnitqNQ2Dc+4aDedykS1y+sI3U1Gk"
    "JExqrbnuue/e9867790nJGxnh93L+d/zP993ft8HQqcwKl0HSCmkA64MeHH65+R4vIvWkpls+2/LsDHelRGsnPes0xhI+5EAIR9BaAb4h5v6"
    "n2nvGEIKf8f8Q6H+Z4F3VF+n/522Tp8VQVMxacqCJmKhmrKuiSJoqutkAmh4gYSkV4knIRM+mFKIK+ens1HlO7ql5xIuXL0br9wzmYz88ToU"
    "XN9L9jakwGPbVnFfqkaxoMU925j/W/ybxWZf+v74XgP7A8EzWHhmgmcLTcWkKUfSRGi4GtCcv9S4zmSzMpJhQXYDzdo3nxWsaCPcY03PSfz+"
    "LsDfdndrPnN81bBm0hfqWps6HFyDBj07mN8zP1eHfs7aHoyZDxA86+u1GYL7k6ng2So/aHh+yETIAVN+qJo73wQk36BIeopubvieXKuNY78U"
    "MLrjyGxQhprw+UdjyKeTG5ye1lbM48l9Hu/oAL8W9+ujwT3zWEq6Z5uYY0TYHwQ967kVMiP9vRGfkPWCpmzS5J7NmmJ+qOuUfoKGS9S5gtSS"
    "ZlKIS5ijvxFvkbrJK55YLX/321/CHV/lajFNWa/AvD4Z/LF06+cd8MyCnt1CLAM5RgQP+nkb+zP2bNzHgGchP2RTfoiaYn6YNfWzKlXX53sA"
    "9WawusQSvLDocfbWxgS4knqV8njyuHK/3nOr4e/CZvisvR3y6l4gobxwR2GQfBsGSWYG0SgMIuEMCviKkB8mTTmPoYonJCQvom+csJPToz+R"
    "7VszmMonWNqqOPl9HZg6F3d2OgnPXx5TjyeTBbkrMsgn8MI9FgahiWNQwDMKzw9dc7iMIV83IKmc3Mr9l6xIX05cF5exBlxPeK2BNTWYx/fS"
    "xXJSkdQF71XFwPJbrSzIXYNBxQIvuGebBS8mgkFKdAZZ1qhJDG1YzFDvg6zP+zB4t26j+adeptVXH2K85nAGNw1V4V8vrNXuqm3d11329QoL"
    "ctfghUN/pvGJ6oxm1rww7uMMCwaF1Sgamh+SRY0K0xTy4zpGynT192z6Y2UyHK4apKkVdWTn/dMYv6ecT/zOtn/yiMZfnr8wuFtgENc0uOsT"
    "GFR8G14EPIyRQVY1KgKDAp6l0LrXu1itrf1q3XmeHBi4D+z32tnh5kRoS/B08ZrD72xZVjLe4XJhzqX6+np2zuulAndRkLv82wHPEXgxEQyK"
    "VqNQlBqlPsuvAXRloYR6Z7GSt++CRVlxLC0pFu6+cF6L6Z/HDjj58Hq9ZH9jI0wpO8r2wSCxZpB7vAyiURhE/heDgucYWvdKNwE6UafGNZMe"
    "I0lw8MxNuvbkUdJ3eipwJvHB+TQyslFjML+rvz/5IYQzKNAzRuiT5Tvtk9H4+mSLuufuI6h4s9pLPEeyRsvhtaGztLInlu4q+7mT5y+K82g1"
    "duDyZZK2IU9jMGeUwF0Ienbo58w9S9EYhMbOoDvpk029d6mLIvkjipTZ7J/kHhKfew23FCWxZw7lsHfsq3DO02edRXMS1f9zZMzrTdPSTezj"
    "lhbw80gyMchm3bNEZNB4+mTJokZZaRo9o6DpXsLQtHgJKen0RlMqGUk5Q3pjslnPN/doNefLHx7APLZH2uZq/RLn0s0laREYZPSMjgh9ckj/"
    "asGgieqTkWWf/B//o45i")


def _reference_input() -> GaussianSet:
    a = np.frombuffer(INPUT, "<f4").reshape(16, 59)
    return GaussianSet(a[:, 0:3], a[:, 3:7], a[:, 7:10], a[:, 10], a[:, 11:].reshape(16, 16, 3))


def _ngsp_payload(data: bytes) -> bytes:
    from avatar_studio.core.io.spz import _unpack_ngsp
    return _unpack_ngsp(data, "x")[1]


@pytest.mark.parametrize("version", [2, 3, 4])
def test_spz_encoder_is_byte_identical_to_niantic(version):
    g = _reference_input()
    ref = {2: REF_V2, 3: REF_V3, 4: REF_V4}[version]
    ours = encode_spz(g, version) if version < 4 else None
    if version < 4:
        assert gzip.decompress(ours) == gzip.decompress(ref)
    else:
        pytest.importorskip("zstandard")
        ours = encode_spz(g, 4)
        assert ours[:32] == ref[:32]  # header
        assert _ngsp_payload(ours) == _ngsp_payload(ref)


@pytest.mark.parametrize("version", [2, 3, 4])
def test_spz_decoder_reads_niantic_files(version):
    if version == 4:
        pytest.importorskip("zstandard")
    g = _reference_input()
    r = decode_spz({2: REF_V2, 3: REF_V3, 4: REF_V4}[version])
    assert len(r) == 16 and r.sh_degree == 3
    assert np.abs(r.means - g.means).max() <= 2.0**-13 + 1e-7
    assert np.abs(r.sh[:, 1:4] - g.sh[:, 1:4]).max() <= 9 / 256 + 1e-6
    assert _angle_deg(r.quats, g.quats).max() < (15 if version == 2 else 0.25)


def test_niantic_decoder_agrees_with_ours():
    a = np.frombuffer(REF_DECODED_OURS_V3, "<f4").reshape(16, 59)
    ours = decode_spz(encode_spz(_reference_input(), 3))
    np.testing.assert_allclose(a[:, 0:3], ours.means, atol=1e-6)
    assert _angle_deg(a[:, 3:7], ours.quats).max() < 1e-3
    np.testing.assert_allclose(a[:, 7:10], ours.scales, rtol=1e-5)
    np.testing.assert_allclose(a[:, 10], ours.opacities, atol=1e-5)
    np.testing.assert_allclose(a[:, 11:].reshape(16, 16, 3), ours.sh, atol=1e-5)
