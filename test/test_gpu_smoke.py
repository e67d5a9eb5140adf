"""benchmarks/gpu_smoke.py, run on the CPU rows: the checks a GPU machine runs, and a failure."""

from pathlib import Path
import shutil
import subprocess
import sys

ROOT = Path(__file__).resolve().parents[1]


def test_smoke_passes_working_rows_and_fails_a_backend_that_cannot_start(tmp_path):
    model = shutil.copytree(ROOT / 'models' / 'default', tmp_path / 'model', ignore=(
        shutil.ignore_patterns('*.onnx', 'auto_backend.json', 'engines')))
    run = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'gpu_smoke.py'), '--model', str(model),
         '--device', 'cpu', '--rows', 'pytorch-fp32,onnxruntime,openvino-bf16,tensorrt-fp16',
         '--repeats', '1'], capture_output=True, text=True, timeout=300)
    lines = {line.split()[0]: line for line in run.stdout.splitlines() if line.strip()}
    assert run.returncode == 1, run.stdout + run.stderr
    assert lines['pytorch-fp32'].endswith('pass') and '1.00x' in lines['pytorch-fp32']
    assert lines['onnxruntime'].endswith('pass')
    assert lines['openvino-bf16'].endswith('pass')
    assert 'FAILED to start: RuntimeError: the TensorRT backend cannot run' in lines[
        'tensorrt-fp16']
