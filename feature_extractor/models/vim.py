"""Vision Mamba (Vim; Zhu et al., ICML 2024): bidirectional selective state-space blocks on patches.

Published layout (paper Table 1): patch 16, stride 16, a class token in the *middle* of the
patch sequence, learned position embedding, 24 blocks, state size 16, expansion 2:

| variant | width D | blocks | params (paper) |
| --- | --- | --- | --- |
| Vim-Ti | 192 | 24 | 7M |
| Vim-S | 384 | 24 | 26M |
| Vim-B | 768 | 24 | 98M |

A block is ``x + mixer(RMSNorm(x))``. The mixer projects ``(B, L, D)`` to ``x, z`` of
width E = 2D; ``x`` goes through two directions, each with its own parameters: a causal
depthwise 1-D convolution (kernel 4) + SiLU, a projection to ``(dt, B, C)`` (dt of rank
ceil(D/16)), ``dt_proj`` back to E, and the selective scan :func:`selective_scan` with
``A = -exp(A_log)`` and skip ``D``, gated by SiLU(z). The backward direction runs on the
flipped sequence and is flipped back; the two outputs are averaged and projected to D.
The pooled feature is the final RMSNorm'ed class token ``(B, D)`` (768 for Vim-B;
projected to 1024 by the wrapper in :mod:`feature_extractor.registry`). Parameter names
follow the authors' release (``layers.N.mixer.in_proj``, ``conv1d_b``, ``A_b_log`` ...), so
their checkpoints load through ``--init-weights``.

The scan: ``h_t = exp(dt_t A) h_{t-1} + dt_t B_t u_t``, ``y_t = C_t . h_t + D u_t``. The
reference here is plain torch and runs anywhere: inside chunks of ``chunk`` steps the
recurrence is solved in closed form from cumulative sums of ``dt A`` (a masked
``(chunk, chunk)`` decay matrix per channel and state, exponent <= 0, so no overflow),
and chunks are chained by their last state — O(L * chunk) work, L / chunk Python steps.
When ``mamba_ssm`` is installed and the tensors are on CUDA, its fused kernel
``selective_scan_fn`` (same arguments) is used instead.

Shapes for a 336x336 input, Vim-S: patches (B, 441, 384); with the class token
(B, 442, 384); every block (B, 442, 384); pooled (B, 384).
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from feature_extractor.models.convnext import _drop_path
from feature_extractor.registry import register_backbone

logger = logging.getLogger(__name__)

__all__ = ["VisionMamba", "BiMamba", "selective_scan", "selective_scan_ref", "fused_scan_available", "VIM_VARIANTS"]


def selective_scan_ref(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                       D: torch.Tensor | None = None, z: torch.Tensor | None = None,
                       delta_bias: torch.Tensor | None = None, delta_softplus: bool = True,
                       chunk: int = 4) -> torch.Tensor:
    """Selective scan in plain torch (float32 inside), the arguments of ``mamba_ssm``'s kernel.

    Parameters
    ----------
    u, delta : Tensor
        ``(batch, E, L)`` input and step sizes (before ``delta_bias`` / softplus).
    A : Tensor
        ``(E, N)`` state matrix (negative entries).
    B, C : Tensor
        ``(batch, N, L)`` input-dependent input and output matrices.
    D : Tensor, optional
        ``(E,)`` skip connection.
    z : Tensor, optional
        ``(batch, E, L)`` gate: the output is multiplied by SiLU(z).
    delta_bias : Tensor, optional
        ``(E,)`` added to ``delta`` before the softplus.
    delta_softplus : bool
        Apply softplus to ``delta``.
    chunk : int
        Steps solved in closed form at a time (default 4: fastest on CPU; memory grows with ``chunk**2``).

    Returns
    -------
    Tensor
        ``(batch, E, L)`` in the dtype of ``u``.
    """
    dtype = u.dtype
    u, delta, A, B, C = (t.float() for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.float()[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    b, e, length = u.shape
    n = A.shape[1]
    log_decay = delta.unsqueeze(-1) * A[None, :, None, :]  # (b, E, L, N), <= 0
    drive = (delta * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)  # (b, E, L, N)
    h = u.new_zeros(b, e, n)
    ys = []
    for start in range(0, length, chunk):
        a = log_decay[:, :, start:start + chunk].cumsum(2)  # (b, E, T, N): log prod of decays up to t
        t = a.shape[2]
        causal = torch.ones(t, t, dtype=torch.bool, device=u.device).tril()  # [t, s]: s <= t
        gap = (a.unsqueeze(3) - a.unsqueeze(2)).masked_fill(~causal[None, None, :, :, None], float("-inf"))
        states = torch.einsum("betsn,besn->betn", gap.exp(), drive[:, :, start:start + chunk])  # (b, E, T, N)
        states = states + a.exp() * h.unsqueeze(2)
        ys.append(torch.einsum("betn,bnt->bet", states, C[:, :, start:start + chunk]))  # (b, E, T)
        h = states[:, :, -1]
    y = torch.cat(ys, dim=2)  # (b, E, L)
    if D is not None:
        y = y + u * D.float()[None, :, None]
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(dtype)


def _fused_scan():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    return selective_scan_fn


def fused_scan_available() -> bool:
    """True when ``mamba_ssm``'s fused selective-scan kernel can be imported."""
    return _fused_scan() is not None


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True) -> torch.Tensor:
    """The fused ``mamba_ssm`` kernel on CUDA when installed, else :func:`selective_scan_ref`."""
    fused = _fused_scan() if u.is_cuda else None
    if fused is not None:
        return fused(u.contiguous(), delta.contiguous(), A.contiguous(), B.contiguous(), C.contiguous(), D, z,
                     delta_bias, delta_softplus)
    return selective_scan_ref(u, delta, A, B, C, D, z, delta_bias, delta_softplus)


def _dt_proj(rank: int, inner: int, dt_min: float = 1e-3, dt_max: float = 0.1) -> nn.Linear:
    """``rank -> inner`` with a bias giving softplus(bias) log-uniform in [dt_min, dt_max]."""
    proj = nn.Linear(rank, inner)
    nn.init.uniform_(proj.weight, -rank ** -0.5, rank ** -0.5)
    dt = torch.exp(torch.rand(inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=1e-4)
    with torch.no_grad():
        proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
    return proj


class BiMamba(nn.Module):
    """Bidirectional selective-state-space mixer: (B, L, D) -> (B, L, D)."""

    def __init__(self, dim: int, d_state: int = 16, expand: int = 2, d_conv: int = 4):
        super().__init__()
        inner, rank = expand * dim, math.ceil(dim / 16)
        self.inner, self.rank, self.d_state = inner, rank, d_state
        self.in_proj = nn.Linear(dim, 2 * inner, bias=False)
        self.out_proj = nn.Linear(inner, dim, bias=False)
        a_log = torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(inner, 1)  # (E, N)
        for suffix in ("", "_b"):
            setattr(self, "conv1d" + suffix, nn.Conv1d(inner, inner, d_conv, groups=inner, padding=d_conv - 1))
            setattr(self, "x_proj" + suffix, nn.Linear(inner, rank + 2 * d_state, bias=False))
            setattr(self, "dt_proj" + suffix, _dt_proj(rank, inner))
        self.A_log = nn.Parameter(a_log.clone())
        self.A_b_log = nn.Parameter(a_log.clone())
        self.D = nn.Parameter(torch.ones(inner))
        self.D_b = nn.Parameter(torch.ones(inner))

    def _direction(self, x: torch.Tensor, z: torch.Tensor, suffix: str) -> torch.Tensor:
        """One scan direction: x, z (B, E, L) -> (B, E, L)."""
        length = x.shape[-1]
        conv, x_proj, dt_proj = (getattr(self, n + suffix) for n in ("conv1d", "x_proj", "dt_proj"))
        a_log, d = (self.A_log, self.D) if suffix == "" else (self.A_b_log, self.D_b)
        x = F.silu(conv(x)[..., :length])  # causal conv: (B, E, L)
        dbc = x_proj(x.transpose(1, 2))  # (B, L, R + 2N)
        dt, b_mat, c_mat = dbc.split([self.rank, self.d_state, self.d_state], dim=-1)
        delta = (dt @ dt_proj.weight.t()).transpose(1, 2)  # (B, E, L); bias added inside the scan
        return selective_scan(x, delta, -torch.exp(a_log.float()), b_mat.transpose(1, 2), c_mat.transpose(1, 2),
                              d.float(), z, dt_proj.bias.float(), True)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(hidden).transpose(1, 2).chunk(2, dim=1)  # 2 x (B, E, L)
        fwd = self._direction(x, z, "")
        bwd = self._direction(x.flip(-1), z.flip(-1), "_b").flip(-1)
        return self.out_proj(((fwd + bwd) / 2).transpose(1, 2))  # (B, L, D)


class VimBlock(nn.Module):
    """Pre-norm residual block: (B, L, D) -> (B, L, D)."""

    def __init__(self, dim: int, d_state: int, drop_path: float):
        super().__init__()
        self.norm = nn.RMSNorm(dim, eps=1e-5)
        self.mixer = BiMamba(dim, d_state)
        self.drop_path = float(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + _drop_path(self.mixer(self.norm(x)), self.drop_path, self.training)


class VisionMamba(nn.Module):
    """Vim trunk returning the final-normed middle class token ``(B, embed_dim)``.

    Parameters
    ----------
    embed_dim : int
        Width D (Ti 192, S 384, B 768).
    depth : int
        Number of blocks (24).
    d_state : int
        State size N (16).
    patch_size : int
        Side of the square patches, also their stride (16).
    image_size : int
        Input side; sets the length of the position embedding.
    in_chans : int
        Input channels.
    drop_path_rate : float
        Stochastic depth, rising linearly to this value over the blocks (default 0).
    """

    def __init__(self, embed_dim: int = 384, depth: int = 24, d_state: int = 16, patch_size: int = 16,
                 image_size: int = 224, in_chans: int = 3, drop_path_rate: float = 0.0):
        super().__init__()
        side = image_size // patch_size
        if side < 1:
            raise ValueError(f"Vim: image size {image_size} is smaller than the patch size {patch_size}")
        self.num_patches = side * side
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(in_chans, embed_dim, patch_size, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches + 1, embed_dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        rates = [drop_path_rate * k / max(depth - 1, 1) for k in range(depth)]
        self.layers = nn.ModuleList([VimBlock(embed_dim, d_state, rates[k]) for k in range(depth)])
        self.norm_f = nn.RMSNorm(embed_dim, eps=1e-5)
        self.out_dim = int(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed.proj(x).flatten(2).transpose(1, 2)  # (B, P, D)
        if tokens.shape[1] != self.num_patches:
            raise ValueError(f"Vim: input {tuple(x.shape[-2:])} gives {tokens.shape[1]} patches; "
                             f"the model was built for {self.num_patches}")
        mid = self.num_patches // 2
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        x = torch.cat([tokens[:, :mid], cls, tokens[:, mid:]], dim=1) + self.pos_embed  # (B, P + 1, D)
        for layer in self.layers:
            x = layer(x)  # (B, P + 1, D)
        return self.norm_f(x)[:, mid]  # (B, D)


#: name -> (width, published parameter count with the 1000-class head)
VIM_VARIANTS: dict[str, tuple[int, float]] = {"vim_tiny": (192, 7e6), "vim_small": (384, 26e6), "vim_base": (768, 98e6)}


def _register(name: str, width: int) -> None:
    def factory(in_chans: int = 3, image_size: int = 336, **kw) -> VisionMamba:
        kw.setdefault("embed_dim", width)
        return VisionMamba(in_chans=in_chans, image_size=image_size, **kw)

    factory.__qualname__ = f"factory_{name}"
    register_backbone(name)(factory)


for _name, (_width, _) in VIM_VARIANTS.items():
    _register(_name, _width)
