"""llm-compressor's GPTQ (quantize_weight, eager CPU torch) on the shapes of
gptq_kernel.c: best of 3 per shape, scales from its minmax observer (not timed).
Environment: see tests/fixtures/scripts/make_quant_fixtures.py (llmcompressor 0.14.0.1)."""
import time

import torch
from compressed_tensors.quantization import QuantizationArgs
from llmcompressor.modifiers.gptq.gptq_quantize import quantize_weight
from llmcompressor.observers.base import Observer

torch.set_num_threads(2)
torch.manual_seed(1)
for out, inp in ((1536, 576), (576, 1536)):
    w = 0.02 * torch.randn(out, inp)
    x = torch.randn(4096, inp)
    h = (2.0 / 4096) * (x.T @ x)
    for actorder in (None, "weight"):
        args = QuantizationArgs(num_bits=4, symmetric=False, type="int", strategy="group",
                                group_size=64, actorder=actorder, observer="memoryless_minmax")
        obs = Observer.load_from_registry("memoryless_minmax", base_name="weight", args=args)
        obs(w)
        qp = obs.get_qparams()
        best = 1e9
        for _ in range(3):
            t0 = time.perf_counter()
            quantize_weight(w.clone().unsqueeze(0), h.clone().unsqueeze(0),
                            qp["scale"].unsqueeze(0), qp["zero_point"].unsqueeze(0), None, args,
                            blocksize=128, percdamp=0.01)
            best = min(best, time.perf_counter() - t0)
        print(f"llm-compressor gptq ({out}, {inp}) 4-bit g64 asym actorder={actorder}: "
              f"{best:.4f} s")
