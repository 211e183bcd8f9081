"""Import the MesoNet authors' Keras ``.h5`` weights with h5py (TensorFlow is never needed).

Mapping rules (Keras 2 -> PyTorch):
- layers are matched by kind (Conv2D, BatchNormalization, Dense) in the order Keras created them (the number in the
  default layer name, ``conv2d_7``), which is the order the PyTorch modules are defined in;
- conv kernels (kh, kw, in, out) -> (out, in, kh, kw); Dense kernels (in, out) -> (out, in);
- the first Dense layer reads a channels-last flatten (H, W, C): its input columns are permuted to PyTorch's (C, H, W);
- the authors' models output P(real): the last Dense layer's weight and bias are negated, so the logit is the fake one.
Everything is assembled into a state dict first and loaded strictly, so a file that does not fit leaves the model
untouched. MesoNet declares `keras_state_dict` as its converter for ``.h5`` files (``MesoNet.weight_converters``);
this module knows no model class.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepfakeforensics.models._base import Detector
from deepfakeforensics.models._weights import WeightsError


def _layer_number(name: str) -> int:
    m = re.search(r"_(\d+)$", name)
    return int(m.group(1)) if m else 0  # Keras names the first layer of a kind without a suffix


def read_keras_layers(path: str | os.PathLike) -> dict[str, list[tuple[str, dict[str, np.ndarray]]]]:
    """The weighted layers of a Keras 2 ``.h5`` file, grouped by kind and sorted in creation order.

    Returns:
        ``{"conv": [(layer_name, {"kernel": ..., "bias": ...}), ...], "bn": [...], "dense": [...]}``.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    layers: dict[str, list[tuple[str, dict[str, np.ndarray]]]] = {"conv": [], "bn": [], "dense": []}
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            if "layer_names" not in root.attrs:
                raise WeightsError(f"{path}: not a Keras weights file (no 'layer_names' attribute)")
            for raw in root.attrs["layer_names"]:
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                group = root[name]
                arrays: dict[str, np.ndarray] = {}

                def collect(key: str, obj: object, arrays: dict[str, np.ndarray] = arrays) -> None:
                    if isinstance(obj, h5py.Dataset):
                        arrays[key.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(obj[()], dtype=np.float32)

                group.visititems(collect)
                if not arrays:
                    continue  # input, pooling, flatten, dropout, activation layers
                if "gamma" in arrays or "moving_mean" in arrays:
                    layers["bn"].append((name, arrays))
                elif "kernel" in arrays and arrays["kernel"].ndim == 4:
                    layers["conv"].append((name, arrays))
                elif "kernel" in arrays and arrays["kernel"].ndim == 2:
                    layers["dense"].append((name, arrays))
                else:
                    raise WeightsError(f"{path}: layer {name!r} has weights {sorted(arrays)} this import cannot map")
    except WeightsError:
        raise
    except Exception as e:  # truncated file, not HDF5, missing groups
        raise WeightsError(f"{path}: cannot read as a Keras .h5 file ({type(e).__name__}: {e})") from e
    for kind in layers:
        layers[kind].sort(key=lambda item: _layer_number(item[0]))
    return layers


def keras_state_dict(model: Detector, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Map the layers of a Keras ``.h5`` onto `model`'s parameter names (no change to `model`).

    `model` is a MesoNet (or any model built like the authors' Keras code) with a ``feature_shape`` (C, H, W): the
    shape flattened before its first Dense layer.
    """
    layers = read_keras_layers(path)
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    bns = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    denses = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    for kind, ours in (("conv", convs), ("bn", bns), ("dense", denses)):
        if len(layers[kind]) != len(ours):
            raise WeightsError(
                f"{path}: does not fit {model.name}: the file has {len(layers[kind])} {kind} layers, the model "
                f"{len(ours)} (a weights file of another architecture?)"
            )

    state: dict[str, torch.Tensor] = {}

    def put(key: str, value: np.ndarray, keras_name: str) -> None:
        expected = tuple(model.state_dict()[key].shape)
        if tuple(value.shape) != expected:
            raise WeightsError(
                f"{path}: does not fit {model.name}: Keras layer {keras_name!r} gives {key} shape "
                f"{tuple(value.shape)}, the model expects {expected}"
            )
        state[key] = torch.from_numpy(np.ascontiguousarray(value))

    for (kname, w), (tname, _) in zip(layers["conv"], convs, strict=True):
        put(f"{tname}.weight", w["kernel"].transpose(3, 2, 0, 1), kname)
        put(f"{tname}.bias", w["bias"], kname)
    for (kname, w), (tname, m) in zip(layers["bn"], bns, strict=True):
        put(f"{tname}.weight", w.get("gamma", np.ones(m.num_features, np.float32)), kname)
        put(f"{tname}.bias", w.get("beta", np.zeros(m.num_features, np.float32)), kname)
        put(f"{tname}.running_mean", w["moving_mean"], kname)
        put(f"{tname}.running_var", w["moving_variance"], kname)
        state[f"{tname}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    for i, ((kname, w), (tname, _)) in enumerate(zip(layers["dense"], denses, strict=True)):
        kernel, bias = w["kernel"], w["bias"]
        if i == 0:  # rows are in Keras' (H, W, C) flatten order: reorder them to PyTorch's (C, H, W)
            c, h, wd = model.feature_shape
            if kernel.shape[0] != c * h * wd:
                raise WeightsError(
                    f"{path}: does not fit {model.name}: first Dense layer {kname!r} takes {kernel.shape[0]} inputs, "
                    f"the model flattens {c}x{h}x{wd} = {c * h * wd}"
                )
            kernel = kernel.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(c * h * wd, -1)
        if i == len(denses) - 1:  # P(real) -> P(fake): sigmoid(-z) = 1 - sigmoid(z)
            kernel, bias = -kernel, -bias
        put(f"{tname}.weight", kernel.T, kname)
        put(f"{tname}.bias", bias, kname)
    return state
