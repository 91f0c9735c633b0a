"""A random-weight U²-Net in ONNX, which the background remover (rembg) loads as it would the real one.

U²-Net (Qin et al., 2020) is an encoder-decoder of "residual U-blocks" (RSU-L: a small U-Net
of height L inside each stage; RSU-4F dilates instead of pooling) with six side outputs
fused by a 1x1 convolution; rembg feeds input "input.1" (N, 3, H, W) and reads the first
output's first channel. Batch normalisation is folded into the convolutions' biases, as an
inference export has it. The weights are random, so the masks are noise: every test that
shows one says so. `u2netp` is the 4.7 MB variant rembg offers beside `u2net`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# (in, middle, out) channels of each encoder and decoder stage, and the side outputs' inputs.
SIZES = {
    "u2netp": {"encoder": [(3, 16, 64)] + [(64, 16, 64)] * 5, "decoder": [(128, 16, 64)] * 5, "side": [64] * 6},
    "u2net": {
        "encoder": [(3, 32, 64), (64, 32, 128), (128, 64, 256), (256, 128, 512), (512, 256, 512), (512, 256, 512)],
        "decoder": [(1024, 256, 512), (1024, 128, 256), (512, 64, 128), (256, 32, 64), (128, 16, 64)],
        "side": [64, 64, 128, 256, 512, 512],
    },
}
ENCODER_HEIGHTS = [7, 6, 5, 4, "4F", "4F"]
DECODER_HEIGHTS = ["4F", 4, 5, 6, 7]


class Graph:
    """ONNX nodes and random weights, added one operation at a time."""

    def __init__(self, seed: int) -> None:
        self.random = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.count}"

    def constant(self, value: np.ndarray) -> str:
        name = self.name("c")
        self.weights.append(numpy_helper.from_array(value, name))
        return name

    def op(self, kind: str, inputs: list[str], **attributes: object) -> str:
        out = self.name(kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], **attributes))
        return out

    def conv(self, x: str, cin: int, cout: int, size: int = 3, dilation: int = 1) -> str:
        weight = self.random.standard_normal((cout, cin, size, size)) * np.sqrt(2.0 / (cin * size * size))
        bias = self.random.standard_normal(cout) * 0.01
        return self.op(
            "Conv",
            [x, self.constant(weight.astype(np.float32)), self.constant(bias.astype(np.float32))],
            kernel_shape=[size, size],
            dilations=[dilation, dilation],
            pads=[dilation * (size // 2)] * 4,
        )

    def block(self, x: str, cin: int, cout: int, dilation: int = 1) -> str:
        return self.op("Relu", [self.conv(x, cin, cout, 3, dilation)])

    def pool(self, x: str) -> str:
        return self.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)

    def join(self, *xs: str) -> str:
        return self.op("Concat", list(xs), axis=1)

    def upsample_like(self, x: str, like: str) -> str:
        """`x` resized bilinearly to the height and width of `like`."""
        head = self.op("Slice", [self.op("Shape", [x]), self.constant(np.array([0])), self.constant(np.array([2]))])
        tail = self.op("Slice", [self.op("Shape", [like]), self.constant(np.array([2])), self.constant(np.array([4]))])
        sizes = self.op("Concat", [head, tail], axis=0)
        return self.op("Resize", [x, "", "", sizes], mode="linear", coordinate_transformation_mode="pytorch_half_pixel")

    def rsu(self, x: str, height: int | str, cin: int, mid: int, cout: int) -> str:
        """One residual U-block."""
        into = self.block(x, cin, cout)
        if height == "4F":
            h1 = self.block(into, cout, mid)
            h2 = self.block(h1, mid, mid, 2)
            h3 = self.block(h2, mid, mid, 4)
            h4 = self.block(h3, mid, mid, 8)
            d3 = self.block(self.join(h4, h3), 2 * mid, mid, 4)
            d2 = self.block(self.join(d3, h2), 2 * mid, mid, 2)
            return self.op("Add", [self.block(self.join(d2, h1), 2 * mid, cout), into])
        down = [self.block(into, cout, mid)]
        for _ in range(int(height) - 2):
            down.append(self.block(self.pool(down[-1]), mid, mid))
        up = self.block(self.join(self.block(down[-1], mid, mid, 2), down[-1]), 2 * mid, mid)
        for level in range(int(height) - 2, 0, -1):
            up = self.block(
                self.join(self.upsample_like(up, down[level - 1]), down[level - 1]),
                2 * mid,
                cout if level == 1 else mid,
            )
        return self.op("Add", [up, into])


def u2net(variant: str = "u2netp", seed: int = 0) -> onnx.ModelProto:
    sizes, graph = SIZES[variant], Graph(seed)
    encoded, x = [], "input.1"
    for stage, (height, (cin, mid, cout)) in enumerate(zip(ENCODER_HEIGHTS, sizes["encoder"], strict=True)):
        x = graph.rsu(graph.pool(x) if stage else x, height, cin, mid, cout)
        encoded.append(x)
    decoded, x = [], encoded[-1]
    for height, (cin, mid, cout), skip in zip(DECODER_HEIGHTS, sizes["decoder"], encoded[-2::-1], strict=True):
        x = graph.rsu(graph.join(graph.upsample_like(x, skip), skip), height, cin, mid, cout)
        decoded.append(x)
    sides: list[str] = []
    for features, channels in zip([*decoded[::-1], encoded[-1]], sizes["side"], strict=True):
        side = graph.conv(features, channels, 1)
        sides.append(graph.upsample_like(side, sides[0]) if sides else side)
    fused = graph.conv(graph.join(*sides), 6, 1, 1)
    outputs = []
    for number, logits in enumerate([fused, *sides]):
        graph.nodes.append(helper.make_node("Sigmoid", [logits], [f"d{number}"]))
        outputs.append(helper.make_tensor_value_info(f"d{number}", TensorProto.FLOAT, ["N", 1, "H", "W"]))
    inputs = [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, "H", "W"])]
    model = helper.make_model(
        helper.make_graph(graph.nodes, f"{variant}_random_weights", inputs, outputs, graph.weights),
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="atelier tests",
    )
    model.ir_version = 8
    model.doc_string = f"{variant} with RANDOM weights (seed {seed}): a test model, not a trained one"
    onnx.checker.check_model(model)
    return model


def write(folder: Path, variant: str = "u2netp") -> Path:
    """`<variant>.onnx` in `folder` (rembg's U2NET_HOME), made once."""
    path = folder / f"{variant}.onnx"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        onnx.save(u2net(variant), path)
    return path
