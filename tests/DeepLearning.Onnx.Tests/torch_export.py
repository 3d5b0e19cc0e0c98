# Writes ONNX files with torch.onnx.export (Debian's python3-torch 1.13) plus, for each, the input X and PyTorch's
# output Y as JSON, for PythonInteropTests. Run as: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 torch_export.py OUTDIR
import json, sys, torch
from torch import nn
torch.manual_seed(0)
torch.set_num_threads(1)
out = sys.argv[1]
def export(name, model, x, opset, **kw):
    model.eval()
    with torch.no_grad():
        y = model(x)
    path = f"{out}/{name}.onnx"
    torch.onnx.export(model, x, path, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=opset, **kw)
    with open(f"{out}/{name}.json", "w") as f:
        json.dump({"shape": list(x.shape), "x": [float(v) for v in x.flatten()], "y": [float(v) for v in y.flatten()]}, f)

a = nn.Sequential(nn.Flatten(), nn.Linear(10, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2),
                  nn.Linear(16, 12), nn.LeakyReLU(0.1), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3), nn.Softmax(dim=1))
a.train()
with torch.no_grad():
    for _ in range(20):
        a(torch.randn(32, 10) * 2 + 1)
export("sequential_bn", a, torch.randn(20, 10), 17)
b = nn.Sequential(nn.Linear(10, 6), nn.Sigmoid(), nn.Linear(6, 1), nn.Sigmoid())
export("sigmoid_opset11", b, torch.randn(20, 10), 11, keep_initializers_as_inputs=True, do_constant_folding=False)
c = nn.Sequential(nn.Flatten(), nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
export("flatten_4d", c, torch.randn(20, 2, 2, 2), 14)
print("ok")
