"""PyTorch eager side of benches/gpu_embed.rs: the same networks, weights, inputs and batch sizes.

Run by the bench (`--torch PYTHON`), not by hand. Reads the weights files the bench names (timm
tensor names; the learned embedder's shape from its safetensors metadata) and the inputs and
candle's f32 reference vectors from the exchange file, and prints one tab-separated line per
measurement: ROW, model, variant, batch, panels/s, smallest cosine to candle's vectors.

Both sides standardise the convolution weights once at load (BiT's weight standardisation does
not depend on the input), so neither pays for it per forward pass. Needs torch only: the
safetensors files are read here with the standard library.
"""

import argparse
import json
import struct
import sys
import time

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "U8": torch.uint8}


def read_safetensors(path):
    """Tensors and metadata of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    base = 8 + length
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        raw = bytearray(data[base + start : base + end])
        tensor = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]) if raw else torch.empty(0)
        tensors[name] = tensor.reshape(info["shape"])
    return tensors, metadata


def standardised(weight, eps):
    """BiT weight standardisation per output channel (biased variance), as timm's StdConv2d."""
    w = weight.float()
    flat = w.flatten(1)
    mean = flat.mean(1, keepdim=True)
    var = ((flat - mean) ** 2).mean(1, keepdim=True)
    return ((flat - mean) / torch.sqrt(var + eps)).reshape(w.shape)


class ResNetV2(torch.nn.Module):
    """timm's ResNetV2 (pre-activation bottlenecks, StdConv2d, GroupNorm) from timm-named weights."""

    def __init__(self, tensors, prefix, layers, groups, eps):
        super().__init__()
        self.groups = groups
        self.convs = torch.nn.ParameterDict()
        self.norms = torch.nn.ParameterDict()
        self.plan = []

        def conv(name, stride):
            weight = tensors[f"{prefix}{name}.weight"]
            key = name.replace(".", "_")
            self.convs[key] = torch.nn.Parameter(standardised(weight, eps), requires_grad=False)
            kernel = weight.shape[-1]
            return (key, stride, ((stride - 1) + (kernel - 1)) // 2)

        def norm(name):
            key = name.replace(".", "_")
            self.norms[key + "_w"] = torch.nn.Parameter(tensors[f"{prefix}{name}.weight"].float(), requires_grad=False)
            self.norms[key + "_b"] = torch.nn.Parameter(tensors[f"{prefix}{name}.bias"].float(), requires_grad=False)
            return key

        self.stem = conv("stem.conv", 2)
        for stage, depth in enumerate(layers):
            for block in range(depth):
                p = f"stages.{stage}.blocks.{block}."
                stride = 2 if block == 0 and stage > 0 else 1
                self.plan.append(
                    {
                        "downsample": conv(p + "downsample.conv", stride) if block == 0 else None,
                        "norm1": norm(p + "norm1"),
                        "conv1": conv(p + "conv1", 1),
                        "norm2": norm(p + "norm2"),
                        "conv2": conv(p + "conv2", stride),
                        "norm3": norm(p + "norm3"),
                        "conv3": conv(p + "conv3", 1),
                    }
                )
        self.norm = norm("norm")

    def _conv(self, x, spec):
        key, stride, padding = spec
        return F.conv2d(x, self.convs[key], stride=stride, padding=padding)

    def _norm_relu(self, x, key):
        return F.relu(F.group_norm(x, self.groups, self.norms[key + "_w"], self.norms[key + "_b"], 1e-5))

    def feature_map(self, x):
        x = self._conv(x, self.stem)
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)
        for b in self.plan:
            pre = self._norm_relu(x, b["norm1"])
            shortcut = self._conv(pre, b["downsample"]) if b["downsample"] else x
            y = self._conv(pre, b["conv1"])
            y = self._conv(self._norm_relu(y, b["norm2"]), b["conv2"])
            y = self._conv(self._norm_relu(y, b["norm3"]), b["conv3"])
            x = y + shortcut
        return self._norm_relu(x, self.norm)


def halves(n):
    return [(0, n), (0, n)] if n < 2 else [(0, n // 2), (n // 2, n)]


class Learned(torch.nn.Module):
    """models/src/learned.rs `LearnedNet`: levels, ranks, levels in; mean + 2x2 grid pooled,
    standardised over the channels, projected, L2-normalised."""

    def __init__(self, tensors, metadata):
        super().__init__()
        fields = dict(item.split("=", 1) for item in metadata.split())
        layers = [int(v) for v in fields["layers"].split(",")]
        self.backbone = ResNetV2(tensors, "backbone.", layers, int(fields["groups"]), float(fields["eps"]))
        self.projection_w = torch.nn.Parameter(tensors["projection.weight"].float(), requires_grad=False)
        self.projection_b = torch.nn.Parameter(tensors["projection.bias"].float(), requires_grad=False)

    def forward(self, pixels):
        levels = pixels[:, 0:1]
        x = torch.cat([levels, pixels[:, 1:2], levels], 1)
        m = self.backbone.feature_map(x).float()
        h, w = m.shape[2], m.shape[3]
        parts = [m.mean((2, 3))]
        for y0, y1 in halves(h):
            for x0, x1 in halves(w):
                parts.append(m[:, :, y0:y1, x0:x1].mean((2, 3)))
        f = torch.cat(parts, 1)
        c = f - f.mean(1, keepdim=True)
        c = c / torch.sqrt((c * c).mean(1, keepdim=True) + 1e-4)
        p = F.linear(c, self.projection_w.float(), self.projection_b.float())
        return p / torch.sqrt((p * p).sum(1, keepdim=True) + 1e-8)


class R50(torch.nn.Module):
    def __init__(self, tensors):
        super().__init__()
        self.backbone = ResNetV2(tensors, "", [3, 4, 6, 3], 32, 1e-8)

    def forward(self, images):
        return self.backbone.feature_map(images).float().mean((2, 3))


def build(model, path):
    tensors, metadata = read_safetensors(path)
    if model == "small":
        return Learned(tensors, metadata["panelscope.learned"])
    return R50(tensors)


def min_cosine(a, b):
    return F.cosine_similarity(a.float().cpu(), b.float().cpu(), dim=1).min().item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--weights", required=True, help="model=path,...")
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    exchange, _ = read_safetensors(args.exchange)
    batches = [int(b) for b in args.batches.split(",")]
    print(f"torch {torch.__version__} on {device}", file=sys.stderr)
    variants = [("channels-first f32", torch.float32, torch.contiguous_format)]
    if device.type == "cuda":
        variants += [
            ("channels-first f16", torch.float16, torch.contiguous_format),
            ("channels-last f16", torch.float16, torch.channels_last),
        ]
    for item in args.weights.split(","):
        model, path = item.split("=", 1)
        inputs = exchange[f"{model}.inputs"]
        reference = exchange[f"{model}.reference"]
        for name, dtype, memory_format in variants:
            net = build(model, path).to(device=device, dtype=dtype, memory_format=memory_format).eval()
            for batch in batches:
                x = inputs[:batch].to(device=device, dtype=dtype).contiguous(memory_format=memory_format)
                with torch.inference_mode():
                    for _ in range(max(args.warmup, 1)):
                        out = net(x)
                    cos = min_cosine(out, reference[:batch])
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    start = time.perf_counter()
                    for _ in range(args.iters):
                        net(x)
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    seconds = time.perf_counter() - start
                print(f"ROW\t{model}\t{name}\t{batch}\t{batch * args.iters / seconds:.1f}\t{cos:.6f}", flush=True)


if __name__ == "__main__":
    main()
