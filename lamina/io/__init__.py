"""Saving and loading: safetensors files plus JSON, never pickle (``lm.save`` / ``lm.load``).

One job per module:

- :mod:`lamina.io.format`: the file container (safetensors, metadata, checksum, validation);
- :mod:`lamina.io.atomic`: atomic writes that remove the temporary files of killed writes;
- :mod:`lamina.io.registry`: the layer registry (:func:`register_module`) and architectures;
- :mod:`lamina.io.shapes`: the parameter shapes an architecture needs, before building it;
- :mod:`lamina.io.model`: model files (architecture, weights, optimizer, preprocessing);
- :mod:`lamina.io.objects`: files of state_dicts and checkpoint dicts;
- :mod:`lamina.io.api`: :func:`save` and :func:`load` for all of them;
- :mod:`lamina.io.interop`: PyTorch state dicts;
- :mod:`lamina.io.torch_file`: reading PyTorch's ``torch.save`` files (allow-list unpickler).

The JSON codec is :mod:`lamina.codec`. Checkpoints for resuming training are
:func:`lamina.train.save_checkpoint` / :func:`lamina.train.load_checkpoint`.
"""

from lamina.io.api import load, save
from lamina.io.format import FORMAT_VERSION, read_file
from lamina.io.interop import from_torch_state_dict, to_torch_state_dict
from lamina.io.model import OPTIMIZER_PREFIX, Bundle, load_bundle
from lamina.io.registry import build_module, module_config, register_module
from lamina.io.shapes import expected_shapes, register_shapes

__all__ = ["save", "load", "load_bundle", "Bundle", "register_module", "module_config",
           "build_module", "to_torch_state_dict", "from_torch_state_dict", "read_file",
           "expected_shapes", "register_shapes", "FORMAT_VERSION", "OPTIMIZER_PREFIX"]
